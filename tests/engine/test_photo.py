"""A photo as the source of a video: timing, frames, faces found once, and `reenact video PHOTO`."""
from __future__ import annotations

import json
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from reenact.errors import ReenactError
from reenact.media.photo import PhotoSource, Timing, fit_size, is_photo
from reenact.tracking.fixed import FixedFaces
from reenact.tracking.tracker import TrackResult
from reenact.tracking.types import Face

from conftest import DATA
from helpers.cli import run

FACE = DATA / "faces" / "london_003_03.jpg"
DRIVER = DATA / "video" / "single_face_smile_small.mp4"



def decoded(path):
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = [(f.pts, f.to_ndarray(format="rgb24")) for f in c.decode(v)]
        return v.time_base, [p for p, _ in frames], [im for _, im in frames], [s.type for s in c.streams]


# -- timing and frames ---------------------------------------------------------------------------
def test_uniform_timing_counts_frames_and_rejects_bad_numbers():
    t = Timing.uniform(1.0, 25)
    assert t.pts == tuple(range(25)) and t.time_base == Fraction(1, 25) and t.duration == 1.0
    assert len(Timing.uniform(0.01, 30).pts) == 1
    assert len(Timing.uniform(2.5, 29.97).pts) == 75
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ReenactError, match="duration"):
            Timing.uniform(bad, 30)


def test_timing_of_times_keeps_a_drivers_timestamps_and_stays_increasing():
    tb = Fraction(1, 15360)
    times = [0.0, 1 / 15, 2 / 15, 2 / 15, 4 / 15]  # a repeated time must not give a repeated pts
    t = Timing.of_times(times, tb, Fraction(15))
    assert t.pts[:3] == (0, 1024, 2048) and all(b > a for a, b in zip(t.pts, t.pts[1:]))
    assert Timing.of_times([0.0, 0.5, 1.0], Fraction(1, 1000), None).rate == 2


def test_photo_source_gives_fresh_copies_at_the_timestamps(tmp_path):
    src = PhotoSource(FACE, Timing.uniform(0.2, 20))
    frames = list(src)
    assert [f.pts for f in frames] == [0, 1, 2, 3] and frames[0].time_base == Fraction(1, 20)
    assert (src.info.width, src.info.height) == (frames[0].image.shape[1], frames[0].image.shape[0])
    frames[0].image[:] = 0  # the engine pastes in place: one frame's edit must not reach another
    assert frames[1].image.any() and np.array_equal(frames[1].image, src.image)


def test_a_huge_photo_is_scaled_with_a_note():
    img = np.zeros((300, 1000, 3), np.uint8)
    small, note = fit_size(img, 500)
    assert small.shape == (150, 500, 3) and "1000x300" in note and "500x150" in note
    same, none = fit_size(img, 1000)
    assert same is img and none is None


def test_the_live_portrait_is_evened_by_the_same_scaler():
    odd = np.zeros((201, 301, 3), np.uint8)
    evened, note = fit_size(odd, 1000, even=True)
    assert evened.shape == (200, 300, 3) and note is None
    small, note = fit_size(np.zeros((301, 1001, 3), np.uint8), 720, even=True)
    assert small.shape[1] == 720 and small.shape[0] % 2 == 0 and "1001x301" in note


def test_is_photo_tells_stills_from_videos(tmp_path):
    still = tmp_path / "a.gif"
    Image.new("RGB", (8, 8)).save(still)
    moving = tmp_path / "b.gif"
    Image.new("RGB", (8, 8)).save(moving, save_all=True, append_images=[Image.new("RGB", (8, 8), "red")])
    assert is_photo(FACE) and is_photo(still)
    assert not is_photo(moving) and not is_photo(DRIVER) and not is_photo(tmp_path / "missing.jpg")


class CountingTracker:
    def __init__(self):
        self.calls = 0
        self.closed = False

    def close(self):
        self.closed = True

    def track(self, image, timestamp_ms=None):
        self.calls += 1
        return TrackResult([Face(0, np.zeros((478, 2), np.float32))], [0], [], timestamp_ms)


def test_fixed_faces_tracks_once_and_hands_out_copies():
    inner = CountingTracker()
    fixed = FixedFaces(inner)
    first = fixed.track(np.zeros((4, 4, 3), np.uint8), 0)
    first.faces[0].presence = 0.25  # the engine sets presence on what it is given
    later = [fixed.track(np.zeros((4, 4, 3), np.uint8), 40 * i) for i in range(1, 4)]
    assert inner.calls == 1 and first.entered == [0]
    assert inner.closed  # the landmarker is not needed after the first frame
    assert all(r.entered == [] and r.faces[0].presence == 1.0 for r in later)
    assert later[-1].timestamp_ms == 120


# -- the command -----------------------------------------------------------------------------------
def test_photo_driven_by_a_clip_has_the_drivers_frames_timestamps_and_audio(tmp_path):
    out = tmp_path / "out.mp4"
    r = run("video", FACE, "--driver", DRIVER, "-o", out, "--model", "identity")
    assert r.exit_code == 0, r.output
    tb_in, pts_in, _, _ = decoded(DRIVER)
    tb_out, pts_out, images, _ = decoded(out)
    assert len(pts_out) == len(pts_in)
    assert [p * tb_out for p in pts_out] == [p * tb_in - pts_in[0] * tb_in for p in pts_in]
    assert images[0].shape[:2] == np.asarray(Image.open(FACE)).shape[:2]


def test_photo_with_a_timeline_runs_for_its_length_and_changes_the_face(tmp_path):
    tl = tmp_path / "tl.json"
    tl.write_text(json.dumps({"keyframes": [{"t": 0.0, "aus": {}},
                                            {"t": 0.5, "preset": "big_smile", "ease": "linear"}]}))
    out = tmp_path / "out.mp4"
    r = run("video", FACE, "--aus", tl, "--fps", "10", "-o", out)
    assert r.exit_code == 0, r.output
    tb, pts, images, kinds = decoded(out)
    assert [p * tb for p in pts] == [Fraction(i, 10) for i in range(6)]  # 0.0 ... 0.5 s at 10 fps
    assert kinds == ["video"]  # nothing to take audio from
    change = np.abs(images[-1].astype(int) - images[0].astype(int)).max(axis=2)
    h, w = change.shape
    assert change[: h // 8, : w // 8].mean() < 1.0  # the background holds still
    assert (change > 20).sum() > 50  # the smile arrived


def test_photo_with_a_plain_preset_needs_a_duration(tmp_path):
    r = run("video", FACE, "--aus", "smile", "-o", tmp_path / "o.mp4", "--model", "identity")
    assert isinstance(r.exception, ReenactError) and "reenact image" in str(r.exception)
    assert not list(tmp_path.iterdir())
    r = run("video", FACE, "--aus", "smile", "--duration", "0.3", "--fps", "10", "-o",
            tmp_path / "o.mp4", "--model", "identity")
    assert r.exit_code == 0, r.output
    assert len(decoded(tmp_path / "o.mp4")[1]) == 3


def test_photo_without_a_face_is_an_error_and_writes_nothing(tmp_path):
    flat = tmp_path / "flat.png"
    Image.fromarray(np.full((120, 160, 3), 128, np.uint8)).save(flat)
    r = run("video", flat, "--aus", "smile", "--duration", "0.2", "-o", tmp_path / "o.mp4",
            "--model", "identity")
    assert isinstance(r.exception, ReenactError) and "no face" in str(r.exception)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flat.png"]
