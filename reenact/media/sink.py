"""Video encoding in its own thread, written atomically: temp file in the target's directory,
renamed on success, removed on failure or interruption.

Decisions
- H.264 (libx264), yuv420p, ``crf`` for quality: the format every player and browser plays.
- Odd width or height: 4:2:0 needs even sizes, so the frame is padded by one replicated column or
  row (content is kept whole; the output is at most one pixel larger) and a note says so.
- Timing: every frame keeps its own pts and time base, so variable frame rates survive; the
  stream's nominal rate is the input's average rate.
- Rotation: frames arrive upright (reenact.media.decode); edited pixels are turned back to the
  input's coded orientation and its display matrix is written unchanged, so edited and untouched
  frames agree and players show the output as they show the input.
- Colour: RGB goes back to YUV with the input's matrix and range, and the stream carries the
  input's colour tags; a frame the pipeline did not touch is encoded from its decoded YUV as is.
- Audio: the input's audio packets are copied (remuxed, interleaved with the video) when the output
  container can hold the codec, otherwise decoded and re-encoded to AAC.
"""
from __future__ import annotations

import os
import queue
import tempfile
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import Interpolation

from reenact.atomic import chmod_like_new_file
from reenact.errors import ReenactError
from reenact.frame import Frame
from reenact.media.audio import AudioCopier
from reenact.media.decode import coded
from reenact.media.info import VideoInfo

_END = object()
# How long an interrupted run waits for the encoder to finish its frame (a hung one is left).
ABORT_WAIT_S = 60.0
# Containers without per-frame timestamps: frames are numbered at the input's average rate.
CONSTANT_RATE_FORMATS = ("avi",)
# Containers FFmpeg writes but Reenact does not offer (PyAV cannot tell which codecs they hold).
REFUSED_FORMATS = {"mpegts": "MPEG-TS output is not supported"}
# Chroma is averaged over each 2x2 block with exact rounding: the closest 4:2:0 picture to the RGB
# (measured against the decoder's accurate RGB: about 0.15 levels mean error on a real clip).
_TO_YUV = Interpolation.AREA | Interpolation.ACCURATE_RND


@dataclass(frozen=True)
class SinkConfig:
    """codec: FFmpeg encoder; crf: x264 constant rate factor (0 lossless .. 51 worst, 18 is
    visually lossless); preset: x264 speed/size trade-off ("veryfast": 3.2 ms CPU per 640x360
    frame against 8.3 for "medium", files 9% larger at the same crf; measured here); audio: "copy" (copy where the container
    allows, else AAC), "aac" (always re-encode) or "none"; threads: encoder threads (None or 0:
    the encoder's choice, for x264 about 1.5 per core plus look-ahead threads; a file run on a
    small machine gives it 1, see reenact.runtime.threads)."""

    codec: str = "libx264"
    crf: int = 18
    preset: str = "veryfast"
    pix_fmt: str = "yuv420p"
    audio: str = "copy"
    queue_size: int = 8
    threads: int | None = None


def check_output_path(path: str | Path, codec: str = "libx264") -> str:
    """Fail before any work when ``path`` cannot hold ``codec``; returns the container format name."""
    p = Path(path)
    if p.exists() and p.is_dir():
        raise ReenactError(f"{p}: is a directory; give an output file name such as out.mp4")
    if not p.parent.exists():
        raise ReenactError(f"{p}: the folder {p.parent} does not exist")
    if not p.suffix:
        raise ReenactError(f"{p}: no file extension; use .mp4, .mov or .mkv")
    try:
        with av.open(os.devnull, "w", format=_format_for(p)) as probe:
            supported = probe.supported_codecs
            name = probe.format.name
    except ValueError:
        raise ReenactError(f"{p}: unknown video container {p.suffix!r}; use .mp4, .mov or .mkv") from None
    if name in REFUSED_FORMATS:
        raise ReenactError(f"{p}: {REFUSED_FORMATS[name]}; use .mp4, .mov or .mkv")
    codec_name = av.codec.Codec(codec, "w").canonical_name
    if codec_name not in supported:
        raise ReenactError(f"{p}: a {p.suffix} file cannot hold {codec_name} video; "
                           f"use .mp4, .mov or .mkv")
    return name


def _format_for(path: Path) -> str:
    guesses = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
               ".avi": "avi", ".gif": "gif", ".ts": "mpegts"}
    ext = path.suffix.lower()
    if ext in guesses:
        return guesses[ext]
    raise ValueError(ext)


def even_pad(image: np.ndarray) -> np.ndarray:
    """Pad an (H, W, 3) image to even height and width by replicating its last row/column."""
    h, w = image.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return image
    return np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


class VideoSink:
    """Encode ``Frame`` records to ``path`` on a background thread.

    ``info`` describes the source (rate, rotation, colour); ``audio_from`` is a media file whose
    audio goes into the output (usually the input video), or None. Use as a context manager: a
    clean exit finishes and renames the file; an exception (or Ctrl-C) removes the temp file, so
    nothing appears under ``path``. ``close(complete=False)`` ends the audio where the video ends.
    """

    def __init__(self, path: str | Path, info: VideoInfo, cfg: SinkConfig = SinkConfig(),
                 audio_from: str | Path | None = None):
        self.path = Path(path)
        self.cfg = cfg
        self.info = info
        self.format = check_output_path(self.path, cfg.codec)
        self._constant_rate = self.format in CONSTANT_RATE_FORMATS
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=f".part{self.path.suffix}",
                                   dir=self.path.parent)
        os.close(fd)
        self.tmp_path = Path(tmp)
        self.frames_written = 0
        self.encode_time = 0.0  # seconds spent converting and encoding (on the encode thread)
        self.padded = False
        self.notes: list[str] = []
        # AVI: AAC's priming gives the audio a negative start, and shifting every stream by it
        # pushed the second video frame into the third frame slot (an empty frame, 51 of 50).
        options = {"avoid_negative_ts": "disabled"} if self._constant_rate else {}
        self._out = av.open(str(self.tmp_path), "w", format=self.format, options=options)
        self._audio = AudioCopier(audio_from, self._out, cfg.audio) if audio_from and cfg.audio != "none" else None
        if self._audio is not None and self._audio.note:
            self.notes.append(self._audio.note)
        self._stream = None
        self._last_time = 0.0
        self._durations: dict[int, int] = {}
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, cfg.queue_size))
        self._error: BaseException | None = None
        self._aborted = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reenact-encode", daemon=True)
        self._thread.start()
        self._closed = False

    # -- producer side ---------------------------------------------------------------------
    def write(self, frame: Frame) -> None:
        """Queue one frame for encoding (blocks while the encoder is behind)."""
        if self._error is not None:
            raise self._error
        while True:
            try:
                self._queue.put(frame, timeout=0.1)
                return
            except queue.Full:
                if self._error is not None:
                    raise self._error

    # -- encoder thread --------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is _END:
                    break
                if not self._aborted.is_set():
                    t0 = time.perf_counter()
                    self._encode(item)
                    self.encode_time += time.perf_counter() - t0
            if self._stream is not None and not self._aborted.is_set():
                for packet in self._stream.encode(None):
                    self._mux_video(packet)
        except BaseException as e:
            self._error = e
            while True:  # keep draining so the producer never blocks on a dead encoder
                if self._queue.get() is _END:
                    break

    def _open_stream(self, frame: Frame) -> None:
        h, w = coded(frame.image, self.info.rotation).shape[:2]
        if h % 2 or w % 2:
            self.padded = True
            self.notes.append(f"odd frame size {w}x{h}: padded to {w + w % 2}x{h + h % 2} for H.264 4:2:0")
        rate = self.info.rate or Fraction(25)
        s = self._out.add_stream(self.cfg.codec, rate=rate)
        s.width, s.height = w + w % 2, h + h % 2
        s.pix_fmt = self.cfg.pix_fmt
        # AVI stores a frame rate, not timestamps: one time unit per frame, or every unit between
        # two frames becomes an empty frame (a 25 fps clip read as 600 fps).
        s.time_base = 1 / Fraction(rate) if self._constant_rate else (frame.time_base or self.info.time_base)
        s.codec_context.time_base = s.time_base
        s.options = {"crf": str(self.cfg.crf), "preset": self.cfg.preset}
        s.codec_context.thread_count = self.cfg.threads or 0
        if self._constant_rate:  # AVI has no presentation times to reorder B-frames by
            s.options["bf"] = "0"
        cc = s.codec_context
        cc.colorspace, cc.color_range = self.info.colorspace, self.info.color_range
        cc.color_primaries, cc.color_trc = self.info.color_primaries, self.info.color_trc
        if self.info.display_matrix is not None:
            s.set_display_matrix(list(self.info.display_matrix))
        self._stream = s

    def _av_frame(self, frame: Frame) -> av.VideoFrame:
        src = frame.av_frame
        untouched = not frame.edited and src is not None
        if untouched and not self.padded and src.format.name == self.cfg.pix_fmt \
                and (src.width, src.height) == (self._stream.width, self._stream.height):
            return src
        image = coded(frame.image, self.info.rotation)
        rgb = av.VideoFrame.from_ndarray(even_pad(image), format="rgb24")
        return rgb.reformat(format=self.cfg.pix_fmt, dst_colorspace=self.info.colorspace,
                            dst_color_range=self.info.color_range, interpolation=_TO_YUV)

    def _mux_video(self, packet: av.Packet) -> None:
        dur = self._durations.pop(packet.pts, None)
        if dur is not None and packet.time_base == self._stream.codec_context.time_base:
            packet.duration = dur
        self._out.mux(packet)

    def _encode(self, frame: Frame) -> None:
        if self._stream is None:
            self._open_stream(frame)
        f = self._av_frame(frame)
        if self._constant_rate:
            f.pts, f.time_base = self.frames_written, self._stream.time_base
        else:
            f.pts = frame.pts
            f.time_base = frame.time_base or self._stream.time_base
        f.pict_type = av.video.frame.PictureType.NONE
        src = frame.av_frame
        if src is not None and src.duration and not self._constant_rate:
            # The encoder drops frame durations; packets get them back by pts, so the last
            # frame keeps its length and the stream's duration matches the input's.
            self._durations[frame.pts] = src.duration
        for packet in self._stream.encode(f):
            self._mux_video(packet)
        t = frame.time
        if t is not None:
            self._last_time = max(self._last_time, t)
            if self._audio is not None:
                self._audio.copy_until(t)  # interleave: audio up to the current video time
        self.frames_written += 1

    # -- lifecycle -------------------------------------------------------------------------
    def close(self, complete: bool = True) -> Path:
        """Finish encoding, add the rest of the audio (all of it, or only up to the last video
        frame when ``complete`` is False) and rename the temp file to ``path``."""
        if self._closed:
            return self.path
        self._closed = True
        try:
            self._queue.put(_END)
            self._thread.join()
            if self._error is not None:
                raise self._error
            if self.frames_written == 0:
                raise ReenactError(f"{self.path}: no frame to write")
            if self._audio is not None:
                frame_dur = float(1 / (self.info.rate or 25))
                self._audio.copy_until(None if complete else self._last_time + frame_dur)
                self._audio.finish()
            self._out.close()
            chmod_like_new_file(self.tmp_path)
            os.replace(self.tmp_path, self.path)
            return self.path
        except BaseException:
            self._discard()
            raise

    def abort(self) -> None:
        """Stop and remove the temp file; nothing appears under ``path``."""
        if self._closed:
            return
        self._closed = True
        self._aborted.set()
        # The encoder skips what is queued once aborted, so it ends within one frame's encode. Its
        # container is closed only after it ended: closing it under a frame still being encoded
        # (a 5 s wait ran out on a loaded machine) can crash the process on its way out.
        deadline = time.monotonic() + ABORT_WAIT_S
        while self._thread.is_alive() and time.monotonic() < deadline:
            try:
                self._queue.put(_END, timeout=0.1)
                break
            except queue.Full:
                continue
        self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():  # a hung encoder: leave it its container, remove the file
            self.tmp_path.unlink(missing_ok=True)
            return
        self._discard()

    def _discard(self) -> None:
        try:
            self._out.close()
        except Exception:  # a half-written container may fail to close; it is deleted anyway
            pass
        if self._audio is not None:
            self._audio.close()
        self.tmp_path.unlink(missing_ok=True)

    def __enter__(self) -> "VideoSink":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
