"""Media made in the tests: moving test pictures, encoded clips (with audio, rotation, variable
frame rate), probes of what a file holds, and canvases with real faces pasted on."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from reenact.media.sink import SinkConfig, VideoSink
from reenact.media.source import VideoSource

DATA = Path(__file__).resolve().parents[1] / "data"


def pattern(i: int, width: int, height: int) -> np.ndarray:
    """A smooth, moving test picture (codecs keep it well)."""
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack([(x * 255 // max(width - 1, 1)), (y * 255 // max(height - 1, 1)),
                    np.full_like(x, (i * 23) % 256)], -1).astype(np.uint8)
    s = max(4, min(width, height) // 5)
    x0 = (i * 7) % max(1, width - s)
    img[height // 3:height // 3 + s, x0:x0 + s] = (240, 240, 40)
    return img


def make_clip(path: Path, frames, *, fps: int = 25, pts: list[int] | None = None,
              time_base: Fraction | None = None, codec: str = "libx264", audio: str | None = "aac",
              audio_seconds: float | None = None, rotation: int | None = None, crf: int = 10,
              pix_fmt: str = "yuv420p") -> Path:
    """Encode a list of uint8 RGB frames; optional sine audio (codec ``audio``); explicit pts for
    variable frame rates; rotation written as a display matrix."""
    frames = list(frames)
    h, w = frames[0].shape[:2]
    tb = time_base or Fraction(1, fps)
    pts = pts if pts is not None else [int(round(i / fps / tb)) for i in range(len(frames))]
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        vs.time_base = tb
        vs.codec_context.time_base = tb
        if codec in ("libx264", "libx265"):
            vs.options = {"crf": str(crf)} if codec == "libx264" else {"crf": str(crf), "log-level": "error"}
        if rotation is not None:
            vs.set_display_rotation(rotation)
        aus = None
        if audio:
            aus = out.add_stream(audio, rate=48000)
            aus.layout = "mono"
        for img, p in zip(frames, pts):
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = p, tb
            for pk in vs.encode(f):
                out.mux(pk)
        for pk in vs.encode(None):
            out.mux(pk)
        if aus is not None:
            seconds = audio_seconds if audio_seconds is not None else float((pts[-1] + 1) * tb)
            write_sine(out, aus, seconds)
    return path


def write_sine(out, stream, seconds: float) -> None:
    rate, n = 48000, int(48000 * seconds)
    t = np.arange(n) / rate
    sine = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    fmt = stream.codec_context.format.name if stream.codec_context.format else "fltp"
    step = stream.codec_context.frame_size or 1024
    for i in range(0, n, step):
        chunk = sine[None, i:i + step]
        if fmt.startswith("s16"):
            frame = av.AudioFrame.from_ndarray((chunk * 32767).astype(np.int16), format="s16", layout="mono")
        else:
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, i
        for pk in stream.encode(frame):
            out.mux(pk)
    for pk in stream.encode(None):
        out.mux(pk)


def probe(path: Path) -> dict:
    """Facts of a file: video frames' pts (seconds), size, rotation, audio codec and duration."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        times, size, rot = [], None, 0
        for f in c.decode(vs):
            times.append(float(f.pts * f.time_base))
            size, rot = (f.width, f.height), f.rotation
        audio = None
        if c.streams.audio:
            a = c.streams.audio[0]
            c.seek(0)
            samples = sum(fr.samples for fr in c.decode(a))
            audio = (a.codec_context.name, samples / a.codec_context.sample_rate)
    return {"times": times, "size": size, "rotation": rot, "audio": audio}


def copy_through(src_path: Path, dst_path: Path, sink_cfg: SinkConfig = SinkConfig(),
                 touch=lambda f: f) -> VideoSource:
    with VideoSource(src_path) as src:
        with VideoSink(dst_path, src.info, sink_cfg, audio_from=src_path) as sink:
            for frame in src:
                sink.write(touch(frame))
    return src


def decoded_rgb(path: Path) -> list[np.ndarray]:
    """Every frame as RGB in its coded orientation, converted as every reader converts (exact)."""
    from reenact.media.decode import to_rgb
    with av.open(str(path)) as c:
        return [to_rgb(f) for f in c.decode(video=0)]


def face_canvas(width: int, height: int, places: list[tuple[str, int, int, int]]) -> np.ndarray:
    """Grey canvas with London faces pasted: (file, x, y, side)."""
    canvas = np.full((height, width, 3), 90, np.uint8)
    for name, x, y, side in places:
        face = np.asarray(Image.open(DATA / "faces" / name).convert("RGB").resize((side, side)))
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + side, width), min(y + side, height)
        canvas[y0:y1, x0:x1] = face[y0 - y:y1 - y, x0 - x:x1 - x]
    return canvas
