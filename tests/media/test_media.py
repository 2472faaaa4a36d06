"""reenact.media: decode/encode round trips on clips made here with PyAV (and a real one)."""
from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np
import pytest

from reenact.errors import ReenactError
from reenact.frame import Frame
from reenact.media.sink import SinkConfig, VideoSink, check_output_path
from reenact.media.source import SourceConfig, VideoSource

from conftest import DATA
from helpers.clips import copy_through, decoded_rgb, make_clip, pattern, probe, write_sine


# -- tests -------------------------------------------------------------------------------------------
def test_round_trip_keeps_frames_timing_size_and_audio(tmp_path):
    src = make_clip(tmp_path / "in.mp4", [pattern(i, 160, 96) for i in range(30)], fps=25)
    dst = tmp_path / "out.mp4"
    copy_through(src, dst)
    a, b = probe(src), probe(dst)
    assert len(b["times"]) == 30 and b["size"] == (160, 96)
    np.testing.assert_allclose(b["times"], a["times"], atol=1e-6)
    assert b["audio"][0] == "aac" and abs(b["audio"][1] - a["audio"][1]) < 0.03
    assert abs(a["audio"][1] - 1.2) < 0.05  # the sine track really is there


def test_untouched_frames_are_encoded_from_the_decoded_picture(tmp_path):
    """With lossless x264 (crf 0) a frame the pipeline did not touch comes back bit-exact."""
    src = make_clip(tmp_path / "in.mp4", [pattern(i, 64, 48) for i in range(6)], audio=None)
    dst = tmp_path / "out.mp4"
    copy_through(src, dst, SinkConfig(crf=0))
    for x, y in zip(decoded_rgb(src), decoded_rgb(dst)):
        assert np.array_equal(x, y)


def test_edited_frames_go_back_with_the_source_colour_matrix(tmp_path):
    """An edited frame (RGB -> YUV again) of a real clip stays within chroma rounding of the
    original: no brightness or colour shift between edited and untouched frames."""
    src = DATA / "video" / "single_face_small.mp4"

    def touch(f: Frame) -> Frame:
        f.edited = True
        return f

    dst = tmp_path / "out.mp4"
    copy_through(src, dst, SinkConfig(crf=0), touch)
    for x, y in zip(decoded_rgb(src), decoded_rgb(dst)):
        d = x.astype(int) - y.astype(int)
        assert abs(d.mean()) < 0.1  # no bias (swscale's fast path would give about 1 level)
        assert np.abs(d).mean() < 0.5 and np.percentile(np.abs(d), 99) <= 3


def test_variable_frame_rate_timestamps_are_kept(tmp_path):
    tb = Fraction(1, 1000)
    pts = [0, 40, 80, 200, 230, 260, 400, 433, 466, 500]
    src = make_clip(tmp_path / "vfr.mkv", [pattern(i, 96, 64) for i in range(10)], pts=pts,
                    time_base=tb, audio=None)
    dst = tmp_path / "out.mp4"
    copy_through(src, dst)
    np.testing.assert_allclose(probe(dst)["times"], [p / 1000 for p in pts], atol=1e-3)


def test_rotation_metadata_is_kept(tmp_path):
    src = make_clip(tmp_path / "rot.mp4", [pattern(i, 64, 48) for i in range(3)], rotation=90, audio=None)
    with VideoSource(src) as s:
        assert s.info.rotation == 90
    dst = tmp_path / "out.mp4"
    copy_through(src, dst)
    assert probe(dst)["rotation"] == 90


def test_odd_size_is_padded_to_even(tmp_path):
    frames = [pattern(i, 65, 49) for i in range(3)]
    src = make_clip(tmp_path / "odd.mkv", frames, codec="libx264", pix_fmt="yuv444p", audio=None)
    dst = tmp_path / "out.mp4"
    with VideoSource(src) as s:
        assert (s.info.width, s.info.height) == (65, 49)
        with VideoSink(dst, s.info, SinkConfig(crf=0)) as sink:
            for f in s:
                sink.write(f)
        assert sink.padded and any("padded" in n for n in sink.notes)
    out = decoded_rgb(dst)
    assert out[0].shape == (50, 66, 3)
    # Content stays where it was; the new column repeats the last one.
    assert np.abs(out[0][:49, :65].astype(int) - frames[0].astype(int)).mean() < 3


@pytest.mark.parametrize("codec,ext", [("libx265", "mp4"), ("libvpx-vp9", "webm")])
def test_hevc_and_vp9_input(tmp_path, codec, ext):
    src = make_clip(tmp_path / f"in.{ext}", [pattern(i, 96, 64) for i in range(8)], codec=codec,
                    audio="libopus" if ext == "webm" else "aac")
    dst = tmp_path / "out.mp4"
    copy_through(src, dst)
    p = probe(dst)
    assert len(p["times"]) == 8 and p["size"] == (96, 64) and p["audio"] is not None


def test_audio_the_container_cannot_hold_is_reencoded(tmp_path):
    src = make_clip(tmp_path / "in.mov", [pattern(i, 64, 48) for i in range(25)], audio="pcm_mulaw")
    dst = tmp_path / "out.mp4"
    with VideoSource(src) as s:
        with VideoSink(dst, s.info, audio_from=src) as sink:
            for f in s:
                sink.write(f)
        assert any("re-encoded to AAC" in n for n in sink.notes)
    codec, seconds = probe(dst)["audio"]
    assert codec == "aac" and abs(seconds - 1.0) < 0.06


def test_real_clip_round_trip():
    with VideoSource(DATA / "video" / "single_face_small.mp4") as s:
        frames = list(s)
        assert s.info.codec == "h264" and (s.info.width, s.info.height) == (320, 180)
    assert len(frames) == 20 and [f.index for f in frames] == list(range(20))
    assert all(f.image.shape == (180, 320, 3) and f.image.dtype == np.uint8 for f in frames)
    assert all(b.time > a.time for a, b in zip(frames, frames[1:]))


def test_failure_leaves_no_file(tmp_path):
    src = make_clip(tmp_path / "in.mp4", [pattern(i, 64, 48) for i in range(10)])
    dst = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="boom"):
        with VideoSource(src) as s, VideoSink(dst, s.info, audio_from=src) as sink:
            for i, f in enumerate(s):
                if i == 5:
                    raise RuntimeError("boom")
                sink.write(f)
    assert not dst.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]  # no temp file left


def test_output_appears_only_at_the_end(tmp_path):
    src = make_clip(tmp_path / "in.mp4", [pattern(i, 64, 48) for i in range(5)], audio=None)
    dst = tmp_path / "out.mp4"
    with VideoSource(src) as s, VideoSink(dst, s.info) as sink:
        for f in s:
            sink.write(f)
            assert not dst.exists()
        assert sink.tmp_path.parent == tmp_path
    assert dst.exists() and not sink.tmp_path.exists()
    umask = os.umask(0)
    os.umask(umask)
    assert dst.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


@pytest.mark.parametrize("name,message", [("out.gif", "cannot hold h264"),
                                          ("out.xyz", "unknown video container"),
                                          ("out", "no file extension"),
                                          ("missing/out.mp4", "does not exist")])
def test_bad_output_paths_fail_before_work(tmp_path, name, message):
    with pytest.raises(ReenactError, match=message):
        check_output_path(tmp_path / name)


def test_bad_inputs_are_clear_errors(tmp_path):
    with pytest.raises(ReenactError, match="no such file"):
        VideoSource(tmp_path / "nope.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 10)
    with pytest.raises(ReenactError, match="cannot be read"):
        VideoSource(text)
    audio_only = tmp_path / "sound.m4a"
    with av.open(str(audio_only), "w") as out:
        st = out.add_stream("aac", rate=48000)
        st.layout = "mono"
        write_sine(out, st, 0.2)
    with pytest.raises(ReenactError, match="no video stream"):
        VideoSource(audio_only)


def test_damaged_stream_counts_errors_and_keeps_going(tmp_path):
    frames = [np.random.default_rng(i).integers(0, 256, (96, 128, 3), dtype=np.uint8) for i in range(40)]
    good = make_clip(tmp_path / "in.ts", frames, audio=None, crf=30)
    data = bytearray(good.read_bytes())
    rng = np.random.default_rng(1)
    for pos in rng.integers(len(data) // 4, 3 * len(data) // 4, 300):
        data[pos] ^= 0xFF  # flip bytes in the middle of the stream
    bad = tmp_path / "bad.ts"
    bad.write_bytes(bytes(data))
    with VideoSource(bad) as s:
        got = list(s)
    assert len(got) >= 20  # frames after the damage still come
    assert got[-1].index == len(got) - 1
    assert s.decode_errors > 0


def test_closing_early_stops_the_decoder(tmp_path):
    src = make_clip(tmp_path / "in.mp4", [pattern(i, 64, 48) for i in range(60)], audio=None)
    s = VideoSource(src, SourceConfig(queue_size=2))
    it = iter(s)
    next(it)
    s.close()
    assert not s._thread.is_alive()
    assert os.path.exists(src)


def test_avi_output_keeps_the_frame_rate(tmp_path):
    """AVI numbers frames at a constant rate: with the input's time base (1/12800) every unit
    between two frames was an empty frame (a 25 fps clip read as 600 fps, 24x the frames)."""
    src = make_clip(tmp_path / "in.mp4", [pattern(i, 64, 48) for i in range(30)], fps=25)
    dst = tmp_path / "out.avi"
    copy_through(src, dst)
    with av.open(str(dst)) as c:
        s = c.streams.video[0]
        assert s.average_rate == 25 and s.frames == 30
        dts = [p.dts for p in c.demux(s) if p.dts is not None]
    assert dts == sorted(dts) and len(set(dts)) == len(dts)
    q = probe(dst)
    assert len(q["times"]) == 30 and np.allclose(np.diff(q["times"]), 0.04)  # were out of order
    assert q["audio"] is not None and abs(q["audio"][1] - 1.2) < 0.06


def test_ts_is_refused_for_the_right_reason(tmp_path):
    with pytest.raises(ReenactError) as e:
        check_output_path(tmp_path / "out.ts")
    assert str(e.value) == f"{tmp_path / 'out.ts'}: MPEG-TS output is not supported; use .mp4, .mov or .mkv"


def test_abort_waits_for_the_frame_being_encoded(tmp_path, monkeypatch):
    """Ctrl-C while a frame takes long to encode (a loaded machine): the container is closed only
    after the encoder thread ended (a 5 s wait ran out and closed it under the encoder)."""
    import threading

    src = make_clip(tmp_path / "in.mp4", [pattern(i, 64, 48) for i in range(3)], audio=None)
    release, started = threading.Event(), threading.Event()
    real_encode = VideoSink._encode

    def slow_encode(self, frame):
        started.set()
        release.wait(6.0)  # longer than the old 5 s wait
        real_encode(self, frame)

    monkeypatch.setattr(VideoSink, "_encode", slow_encode)
    with VideoSource(src) as s:
        frame = next(iter(s))
        sink = VideoSink(tmp_path / "out.mp4", s.info, audio_from=None)
        sink.write(frame)
        assert started.wait(30)
        sink.abort()
        assert not sink._thread.is_alive()
    assert not list(tmp_path.glob(".out.*")) and not (tmp_path / "out.mp4").exists()
