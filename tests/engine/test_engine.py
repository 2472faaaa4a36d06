"""reenact.engine: the pipeline's plumbing (exact with A = 1), untouched frames, fades, batching,
selection, two faces and a face at the frame edge, failure without a file, still editing."""
from __future__ import annotations

import dataclasses


import numpy as np
import pytest
import torch
from PIL import Image

from reenact.engine.pipeline import Engine, EngineConfig
from reenact.engine.still import edit_image, interpolate_targets, sweep_targets
from reenact.engine.video import edit_video
from reenact.frame import Frame
from reenact.media.sink import SinkConfig
from reenact.models.protocol import GeneratorOutput
from reenact.tracking.align import AlignConfig, template_points
from reenact.tracking.tracker import TrackerConfig, TrackResult
from reenact.tracking.types import Face

from conftest import DATA
from helpers.clips import face_canvas
from helpers.clips import decoded_rgb, make_clip, probe

RED = (255, 0, 0)


# -- test doubles --------------------------------------------------------------------------------
class FakeGen:
    """The protocol attributes of a 64 px generator that ignores landmarks."""
    name = "fake"
    image_size = 64
    align = AlignConfig(size=64)
    needs_landmarks = False

    def describe(self) -> str:
        return type(self).__name__


class IdentityGen(FakeGen):
    """Attention 1 everywhere: every edit is a no-op."""

    def __call__(self, crops, aus, *, landmarks=None, source_aus=None):
        return GeneratorOutput(crops.clone(), torch.ones_like(crops[:, :1]))


class PaintGen(FakeGen):
    """Paints the whole crop red (A = 0); records the batch sizes it was called with."""

    def __init__(self, fail_after: int | None = None):
        self.calls: list[int] = []
        self.fail_after = fail_after

    def __call__(self, crops, aus, *, landmarks=None, source_aus=None):
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise RuntimeError("generator failed on purpose")
        self.calls.append(len(crops))
        assert landmarks is not None and landmarks.shape == (len(crops), 478, 2)
        assert aus.shape == (len(crops), 17) and source_aus.shape == (len(crops), 17)
        c = torch.empty_like(crops)
        c[:, 0], c[:, 1:] = 1.0, -1.0
        return GeneratorOutput(c, torch.zeros_like(crops[:, :1]))


class ConstSource:
    def __init__(self, value: float = 3.0, stop_at: int | None = None):
        self.value, self.stop_at = value, stop_at

    def targets(self, frame, own):
        if self.stop_at is not None and frame.index >= self.stop_at:
            from reenact.errors import DriverEnded
            raise DriverEnded("driver over")
        return {k: np.full(17, self.value, np.float32) for k in own}


class ZeroEstimator:
    def estimate(self, face):
        return np.zeros(17, np.float32)


def fake_face(face_id: int, cx: float, cy: float, side: float) -> Face:
    """A face whose landmarks are the alignment template centred at (cx, cy), ``side`` px wide."""
    t = template_points(AlignConfig(size=1, margin=0.0)) + 0.5  # unit square
    lms = ((t - 0.5) * side + np.array([cx, cy])).astype(np.float32)
    return Face(face_id=face_id, landmarks=lms, blendshapes=np.zeros(52, np.float32))


class ScheduleTracker:
    """Reports faces from a schedule: frame index -> list of faces."""

    def __init__(self, schedule):
        self.schedule, self.i = schedule, 0

    def track(self, image, timestamp_ms=None):
        faces = self.schedule(self.i)
        self.i += 1
        return TrackResult(faces=faces)


def frames_of(n: int, h: int = 120, w: int = 160) -> list[Frame]:
    rng = np.random.default_rng(0)
    return [Frame(image=rng.integers(0, 256, (h, w, 3), dtype=np.uint8), pts=i,
                  time_base=None, index=i) for i in range(n)]


def is_red(px) -> bool:
    return px[0] > 200 and px[1] < 60 and px[2] < 60


# -- plumbing ------------------------------------------------------------------------------------
def test_identity_generator_returns_the_input_video(tmp_path):
    src = DATA / "video" / "single_face_small.mp4"
    out = tmp_path / "out.mp4"
    stats = edit_video(src, out, IdentityGen(), ConstSource(), progress=False,
                       sink_cfg=SinkConfig(crf=0), log=lambda m: None)
    assert stats.frames == 20 and stats.face_frames == 20 and stats.faces_seen == {0}
    a, b = decoded_rgb(src), decoded_rgb(out)
    assert len(a) == len(b) == 20
    for x, y in zip(a, b):
        d = np.abs(x.astype(int) - y.astype(int))
        assert d.mean() < 1.0 and np.percentile(d, 99) <= 5
    np.testing.assert_allclose(probe(out)["times"], probe(src)["times"], atol=1e-6)


def test_frames_without_a_face_pass_through_bit_exact(tmp_path):
    """Face in frames 4..9 only: other frames are not touched (lossless x264 shows it bit-exact),
    face frames are painted."""
    face = face_canvas(256, 192, [("london_002_03.jpg", 48, 10, 170)])
    empty = np.full_like(face, 90)
    frames = [face if 4 <= i < 10 else empty for i in range(14)]
    src = make_clip(tmp_path / "in.mp4", frames, fps=10, audio="aac")
    out = tmp_path / "out.mp4"
    gen = PaintGen()
    # occlusion off: at this fake generator's 64 px crop the nose reads as partly covered
    # (0.36 at the probe pixel; docs/notes/occlusion-measurements.md), and this test is about
    # which frames are touched, not about occlusion (tests/test_occlusion.py).
    stats = edit_video(src, out, gen, ConstSource(), engine_cfg=EngineConfig(fade_frames=0, occlusion=False),
                       sink_cfg=SinkConfig(crf=0), progress=False, log=lambda m: None)
    a, b = decoded_rgb(src), decoded_rgb(out)
    assert stats.edited_frames >= 5
    for i in range(14):
        if i < 4 or i >= 11:
            assert np.array_equal(a[i], b[i]), f"frame {i} changed"
    assert all(is_red(b[i][100, 133]) for i in range(5, 10))
    assert probe(out)["audio"] is not None


def test_generator_failure_leaves_no_file(tmp_path):
    src = DATA / "video" / "single_face_small.mp4"
    out = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="on purpose"):
        edit_video(src, out, PaintGen(fail_after=2), ConstSource(), engine_cfg=EngineConfig(batch=2),
                   progress=False, log=lambda m: None)
    assert list(tmp_path.iterdir()) == []


def test_driver_stop_ends_the_output(tmp_path):
    src = make_clip(tmp_path / "in.mp4", [face_canvas(192, 144, [("london_002_03.jpg", 30, 5, 130)])] * 20,
                    fps=10, audio="aac")
    out = tmp_path / "out.mp4"
    notes = []
    stats = edit_video(src, out, PaintGen(), ConstSource(stop_at=12), progress=False, log=notes.append)
    p = probe(out)
    assert len(p["times"]) == 12 and stats.frames == 13
    assert p["audio"][1] < 1.45  # audio ends with the video (the source's runs 2 s)
    assert any("driver ended" in n for n in notes)


# -- engine logic with a scheduled tracker -----------------------------------------------------------
def run_engine(schedule, n, cfg, gen=None, source=None):
    gen = gen or PaintGen()
    # The frames are noise, which fits no face's colours: occlusion would (rightly) cover it all.
    # These tests are about order, batching and presence; tests/test_occlusion.py covers occlusion.
    cfg = dataclasses.replace(cfg, occlusion=False)
    eng = Engine(gen, au_source=source or ConstSource(), estimator=ZeroEstimator(), cfg=cfg,
                 tracker=ScheduleTracker(schedule))
    frames = frames_of(n)
    originals = [f.image.copy() for f in frames]
    out = list(eng.run(frames))
    return eng, gen, out, originals


def test_order_batching_and_untouched_frames():
    two = lambda i: [fake_face(0, 50, 60, 50), fake_face(1, 110, 60, 40)] if i % 3 else []
    eng, gen, out, orig = run_engine(two, 12, EngineConfig(batch=3, fade_frames=0))
    assert [f.index for f in out] == list(range(12))
    assert max(gen.calls) <= 3 and sum(gen.calls) == 2 * 8
    for f, o in zip(out, orig):
        if f.index % 3 == 0:
            assert np.array_equal(f.image, o) and not f.edited
        else:
            assert is_red(f.image[60, 50]) and is_red(f.image[60, 110])
    assert eng.stats.face_frames == 16 and eng.stats.edited_frames == 8


def test_presence_fades_in_and_out():
    k = 4
    sched = lambda i: [fake_face(0, 80, 60, 60)] if 5 <= i < 25 else []
    eng, gen, out, orig = run_engine(sched, 30, EngineConfig(fade_frames=k))
    pres = [f.presence.get(0, 0.0) for f in out]
    assert 0 < pres[5] < pres[6] < pres[7] < pres[8] < 1
    assert all(p == 1.0 for p in pres[5 + k:25 - k])
    assert pres[20] == 1 > pres[21] > pres[22] > pres[23] > pres[24] > 0
    # The painted colour follows the ramp: green goes to 0 in proportion to the presence.
    for f, o, p in zip(out, orig, pres):
        assert abs(int(f.image[60, 80, 1]) - o[60, 80, 1] * (1 - p)) <= 1


def test_a_face_present_from_the_start_does_not_fade_in():
    eng, gen, out, orig = run_engine(lambda i: [fake_face(0, 80, 60, 60)], 6, EngineConfig(fade_frames=4))
    assert all(f.presence[0] == 1.0 for f in out)


def test_strength_blends_generated_and_real():
    eng, gen, out, orig = run_engine(lambda i: [fake_face(0, 80, 60, 60)], 2,
                                     EngineConfig(strength=0.5, fade_frames=0))
    got = out[0].image[60, 80].astype(float)
    want = 0.5 * np.array(RED) + 0.5 * orig[0][60, 80]
    assert np.abs(got - want).max() <= 1.0


@pytest.mark.parametrize("spec,painted", [("largest", [0]), ("1", [1]), ("all", [0, 1])])
def test_face_selection(spec, painted):
    sched = lambda i: [fake_face(0, 45, 60, 60), fake_face(1, 120, 60, 40)]
    eng, gen, out, orig = run_engine(sched, 3, EngineConfig(faces=spec, fade_frames=0))
    centres = {0: (60, 45), 1: (60, 120)}
    for fid, (y, x) in centres.items():
        assert is_red(out[-1].image[y, x]) == (fid in painted)


def test_live_process_is_one_in_one_out():
    eng = Engine(PaintGen(), au_source=ConstSource(), estimator=ZeroEstimator(),
                 cfg=EngineConfig(fade_frames=3, lookahead=False),
                 tracker=ScheduleTracker(lambda i: [fake_face(0, 80, 60, 60)] if i >= 1 else []))
    frames = frames_of(6)
    outs = [eng.process(f) for f in frames]
    assert [o.index for o in outs] == list(range(6))
    pres = [o.presence.get(0, 0.0) for o in outs]
    assert pres[0] == 0.0 and 0 < pres[1] < pres[2] < pres[3] < pres[4] == 1.0


def test_mask_on_request_matches_what_the_paste_changed():
    eng = Engine(PaintGen(), au_source=ConstSource(), estimator=ZeroEstimator(),
                 cfg=EngineConfig(strength=0.5, fade_frames=0, lookahead=False, occlusion=False),
                 tracker=ScheduleTracker(lambda i: [fake_face(0, 80, 60, 60)]))  # noise frames
    plain, asked = frames_of(2)
    asked.want_mask = True
    before = asked.image.astype(float)
    assert eng.process(plain).mask is None
    out = eng.process(asked)
    assert out.edited and set(out.own_aus) == set(out.targets) == {0}  # the engine's typed hand-offs
    assert out.own_aus[0].shape == (17,)
    mask = out.mask
    assert mask.shape == out.image.shape[:2] and mask.max() == pytest.approx(0.5, abs=0.01)
    # The painted red channel moved by mask * (255 - original): the mask is the paste weight.
    moved = out.image[..., 0].astype(float) - before[..., 0]
    np.testing.assert_allclose(moved, mask * (255 - before[..., 0]), atol=1.01)
    assert mask[0, 0] == 0 and mask[60, 80] > 0.49


# -- real faces: two faces, a face at the edge, stills ------------------------------------------------
def _edit_still(image, gen, **kw):
    from reenact.tracking.tracker import FaceTracker
    # Plumbing with a fake 64 px generator, whose crop's nose reads as partly covered (see
    # test_frames_without_a_face_pass_through_bit_exact): occlusion off unless a test asks.
    kw.setdefault("occlusion", False)
    with FaceTracker(TrackerConfig(mode="image")) as tracker:
        return edit_image(image, np.full(17, 2.0, np.float32), gen, tracker=tracker, **kw)


def test_two_faces_are_both_edited():
    image = face_canvas(400, 200, [("london_002_03.jpg", 10, 10, 180), ("london_002_08.jpg", 210, 10, 180)])
    res = _edit_still(image, PaintGen())
    assert len(res.faces) == 2
    assert is_red(res.image[100, 100]) and is_red(res.image[100, 300])
    assert np.array_equal(res.image[195:], image[195:])  # below the faces: untouched
    assert not np.shares_memory(res.image, image)


def test_face_at_the_frame_edge():
    image = face_canvas(240, 200, [("london_002_03.jpg", -60, 10, 180)])  # a third cut off
    res = _edit_still(image, PaintGen())
    assert len(res.faces) == 1
    assert is_red(res.image[100, 20])
    assert np.array_equal(res.image[:, 200:], image[:, 200:])
    rec = res.faces[0]
    assert rec.crop.shape == (64, 64, 3) and rec.attention.shape == (64, 64)


def test_still_with_identity_is_the_input():
    image = np.asarray(Image.open(DATA / "faces" / "london_002_03.jpg").convert("RGB"))
    res = _edit_still(image, IdentityGen())
    assert len(res.faces) == 1 and np.array_equal(res.image, image)
    assert np.array_equal(res.faces[0].output, res.faces[0].crop)


def test_sweep_and_interpolation_targets():
    own = np.linspace(0, 1.6, 17).astype(np.float32)
    rows = sweep_targets(own, 8, [0, 2.5, 5])
    assert [r[8] for r in rows] == [0, 2.5, 5] and all(np.array_equal(np.delete(r, 8), np.delete(own, 8)) for r in rows)
    strip = interpolate_targets(own, np.full(17, 5.0), 5)
    assert np.array_equal(strip[0], own) and np.allclose(strip[-1], 5.0)
    assert np.allclose(strip[2], (own + 5.0) / 2)


# -- driver mode ---------------------------------------------------------------------------------------
def _driver(policy: str):
    from reenact.aus.driver import DriverSource, DriverTrack
    from reenact.aus.names import au_index

    n = 20
    aus = np.zeros((n, 17), np.float32)
    aus[:, au_index("AU12")] = np.linspace(0.0, 4.0, n)   # the actor smiles more and more
    aus[:, au_index("AU04")] = np.r_[np.zeros(10), np.full(10, 3.0)]  # and frowns half way
    track = DriverTrack(times=np.arange(n) / 10.0, aus=aus, present=np.ones(n, bool), path="actor")
    return DriverSource("actor", policy, track=track, progress=False)


def test_driver_mode_targets_follow_the_driver():
    from reenact.aus.names import au_index

    own = np.full(17, 1.0, np.float32)

    class OwnEstimator:
        def estimate(self, face):
            return own

    eng = Engine(PaintGen(), au_source=_driver("hold"), estimator=OwnEstimator(),
                 cfg=EngineConfig(fade_frames=0), tracker=ScheduleTracker(lambda i: [fake_face(0, 80, 60, 60)]))
    frames = [Frame(image=np.zeros((120, 160, 3), np.uint8), pts=i, time_base=__import__("fractions").Fraction(1, 10),
                    index=i) for i in range(26)]
    out = list(eng.run(frames))
    au12 = np.array([f.targets[0][au_index("AU12")] for f in out])
    au04 = np.array([f.targets[0][au_index("AU04")] for f in out])
    assert np.all(np.diff(au12[:20]) >= -1e-6) and au12[19] > au12[0] + 3.0  # follows the ramp
    rest = np.percentile(np.linspace(0.0, 4.0, 20), 10)  # the driver's resting level
    assert au12[0] == pytest.approx(1.0 + 0.0 - rest, abs=0.05)  # own + (driver - its rest)
    assert au04[5] == pytest.approx(1.0, abs=0.1) and au04[15] > 3.5  # the frown arrives mid-way
    assert np.allclose(au12[21:], au12[20], atol=0.05)  # "hold" keeps the last driver frame


def test_driver_stop_policy_ends_the_engine_stream():
    from reenact.errors import DriverEnded

    eng = Engine(PaintGen(), au_source=_driver("stop"), estimator=ZeroEstimator(),
                 cfg=EngineConfig(fade_frames=2), tracker=ScheduleTracker(lambda i: [fake_face(0, 80, 60, 60)]))
    frames = [Frame(image=np.zeros((120, 160, 3), np.uint8), pts=i, time_base=__import__("fractions").Fraction(1, 10),
                    index=i) for i in range(30)]
    done = []
    with pytest.raises(DriverEnded):
        for f in frames:
            done += eng.push(f)
    done += eng.flush()
    assert [f.index for f in done] == list(range(20))
