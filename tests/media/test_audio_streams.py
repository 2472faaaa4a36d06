"""Audio in the output: every stream of the input, and codecs the container refuses re-encoded
(reenact.media.audio)."""
from __future__ import annotations

import av

from helpers.clips import copy_through, make_clip, pattern, write_sine


def _clip_with_two_audio_streams(path, codecs=("aac", "libopus"), frames=25, fps=25):
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = [out.add_stream(c, rate=48000) for c in codecs]
        for a in audio:
            a.layout = "mono"
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(pattern(i, 64, 48), format="rgb24")
            f.pts = i
            for packet in video.encode(f):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        for a in audio:
            write_sine(out, a, frames / fps)
    return path


def _audio_codecs(path):
    with av.open(str(path)) as c:
        return [s.codec_context.name for s in c.streams.audio]


def test_every_audio_stream_is_kept(tmp_path):
    two = _clip_with_two_audio_streams(tmp_path / "two.mkv")
    assert _audio_codecs(two) == ["aac", "opus"]
    out = tmp_path / "out.mkv"
    copy_through(two, out)
    assert _audio_codecs(out) == ["aac", "opus"]  # was ["aac"]


def test_opus_into_mov_is_reencoded_not_a_traceback(tmp_path):
    src = make_clip(tmp_path / "in.webm", [pattern(i, 64, 48) for i in range(10)], codec="libvpx-vp9",
                    audio="libopus")
    out = tmp_path / "out.mov"
    copy_through(src, out)  # was av.error.ArgumentError when the header was written
    assert _audio_codecs(out) == ["aac"]
