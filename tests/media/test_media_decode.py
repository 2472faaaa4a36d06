"""reenact.media.decode: every reader of a video file sees the engine's pixels (one conversion,
one rotation policy, the stream's timestamps)."""
from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from reenact.dataset.prepare import video_frames
from reenact.eval.video import read_frames
from reenact.live.capture import CaptureConfig, FileReader
from reenact.media.decode import coded, decode_frames, to_rgb, upright
from reenact.media.source import SourceConfig, VideoSource

from helpers.clips import copy_through, make_clip, pattern


def _engine_frames(path, exact: bool = True):
    with VideoSource(path, SourceConfig(accurate_rgb=exact)) as src:
        return [(f.index, f.pts, f.time_base, f.image) for f in src]


@pytest.fixture(params=[None, 90, -90, 180], ids=["upright", "rot90", "rot-90", "rot180"])
def clip(request, tmp_path):
    # 64x48 with a moving square: any turn or flip changes the picture.
    return make_clip(tmp_path / "clip.mp4", [pattern(i, 64, 48) for i in range(12)],
                     rotation=request.param, audio=None)


def test_prepare_and_engine_see_identical_frames(clip):
    engine = _engine_frames(clip)
    prepared = list(video_frames(clip, stride=3))
    assert [i for i, _, _ in prepared] == [0, 3, 6, 9]
    for i, t, image in prepared:
        _, pts, tb, expected = engine[i]
        assert t == pytest.approx(float(pts * tb))
        np.testing.assert_array_equal(image, expected)


def test_eval_and_live_file_camera_see_the_engine_frames(clip):
    engine = [image for _, _, _, image in _engine_frames(clip)]
    evaluated, times = read_frames(clip, limit=None)
    assert len(evaluated) == len(engine) and times[0] == 0 and np.all(np.diff(times) > 0)
    reader = FileReader(CaptureConfig(camera=str(clip)), sleep=lambda s: None)
    try:
        live = [image for image, _, _ in reader.frames()]
    finally:
        reader.close()
    for a, b, c in zip(engine, evaluated, live, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_frames_are_handed_on_upright(tmp_path):
    frames = [pattern(i, 64, 48) for i in range(3)]
    plain = make_clip(tmp_path / "plain.mp4", frames, audio=None)
    for rotation, turns in ((90, 1), (-90, 3), (180, 2)):
        rotated = make_clip(tmp_path / f"rot{rotation}.mp4", frames, rotation=rotation, audio=None)
        got = [f.image for f in decode_frames(rotated)]
        want = [np.rot90(f.image, turns) for f in decode_frames(plain)]
        assert got[0].shape == want[0].shape == ((64, 48, 3) if turns % 2 else (48, 64, 3))
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)


def test_coded_undoes_upright():
    image = pattern(0, 10, 6)
    for rotation in (0, 90, -90, 180, 270, None):
        turned = upright(image, rotation)
        np.testing.assert_array_equal(coded(turned, rotation), image)
    assert upright(image, 90).shape == (10, 6, 3)


def test_edited_rotated_frames_go_back_in_the_coded_orientation(tmp_path):
    """The sink turns upright edits back, so the output plays like the input and edited frames
    line up with untouched ones (which are encoded from the decoded picture as is)."""
    src = make_clip(tmp_path / "rot.mp4", [pattern(i, 64, 48) for i in range(6)], rotation=90, audio=None)
    dst = tmp_path / "out.mp4"

    def touch(frame):
        if frame.index % 2:  # every other frame edited: the pixels go through RGB
            frame.edited = True
        return frame

    copy_through(src, dst, touch=touch)
    with av.open(str(dst)) as c:
        out = list(c.decode(video=0))
    assert (out[0].width, out[0].height) == (64, 48) and out[0].rotation == 90
    before = [f.image for f in decode_frames(src)]
    after = [f.image for f in decode_frames(dst)]
    for a, b in zip(before, after, strict=True):
        assert a.shape == b.shape == (64, 48, 3)
        assert np.abs(a.astype(int) - b).mean() < 3  # one lossy re-encode, same orientation


def test_fast_conversion_is_an_option_of_the_same_path(clip):
    exact = [image for _, _, _, image in _engine_frames(clip, exact=True)]
    fast_engine = [image for _, _, _, image in _engine_frames(clip, exact=False)]
    fast = [f.image for f in decode_frames(clip, exact=False)]
    for a, b in zip(fast, fast_engine, strict=True):
        np.testing.assert_array_equal(a, b)
    # swscale's fast path really differs (it is darker): the option is not a no-op.
    assert np.mean([float(a.astype(int).mean() - b.mean()) for a, b in zip(fast, exact)]) < -0.2


def test_timestamps_come_from_the_stream(tmp_path):
    tb = Fraction(1, 1000)
    pts = [0, 40, 80, 200, 230, 400]
    src = make_clip(tmp_path / "vfr.mkv", [pattern(i, 32, 32) for i in range(6)], pts=pts,
                    time_base=tb, audio=None)
    got = list(decode_frames(src))
    np.testing.assert_allclose([f.time for f in got], [p / 1000 for p in pts], atol=1e-3)
    assert [f.index for f in got] == list(range(6))
    assert len(list(decode_frames(src, limit=4))) == 4


def test_to_rgb_matches_the_engine_for_the_coded_picture(tmp_path):
    src = make_clip(tmp_path / "c.mp4", [pattern(i, 32, 24) for i in range(2)], audio=None)
    with av.open(str(src)) as c:
        direct = [to_rgb(f) for f in c.decode(video=0)]
    for a, (_, _, _, b) in zip(direct, _engine_frames(src), strict=True):
        np.testing.assert_array_equal(a, b)
