"""Driver remapping: the math on synthetic AU series, policies, smoothing, and one real driver clip."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from reenact.aus.driver import (CausalEMA, DriverSource, RemapConfig, SeriesRemapSource,
                                driver_neutral, parse_gains, remap)
from reenact.errors import AUInputError, DriverEnded
from reenact.aus.names import NUM_AUS, au_index
from reenact.frame import Frame
from reenact.tracking.types import Face

DATA = Path(__file__).parents[1] / "data"
I12, I06, I25, I45 = (au_index(a) for a in ("AU12", "AU06", "AU25", "AU45"))
NO_SMOOTH = RemapConfig(smoothing_s=0.0)


def frame_at(t: float, ids=(0,), index: int = 0) -> Frame:
    faces = [Face(i, np.zeros((478, 2), np.float32)) for i in ids]
    return Frame(np.zeros((2, 2, 3), np.uint8), pts=int(round(t * 1000)),
                 time_base=Fraction(1, 1000), index=index, faces=faces)


def series(n=30, fps=10.0, rest=1.0, peak=3.0):
    """AU12 rests at ``rest`` for the first third, then ramps to ``peak``; other AUs constant 0.5."""
    t = np.arange(n) / fps
    aus = np.full((n, NUM_AUS), 0.5, np.float32)
    aus[:, I12] = np.where(np.arange(n) < n // 3, rest, np.linspace(rest, peak, n))
    return t, aus


def test_remap_formula_and_clamp():
    own = np.full(NUM_AUS, 1.0, np.float32)
    neutral = np.full(NUM_AUS, 0.5, np.float32)
    driver = neutral.copy()
    driver[I12] = 3.0
    gains = parse_gains({"AU12": 2.0})
    out = remap(own, driver, neutral, gains)
    assert out[I12] == 5.0                              # 1 + 2 * 2.5 = 6 -> clamped
    np.testing.assert_allclose(np.delete(out, I12), 1.0)
    driver[I06] = 0.0
    assert remap(own, driver, neutral, np.ones(NUM_AUS, np.float32))[I06] == 0.5
    own0 = np.zeros(NUM_AUS, np.float32)
    assert remap(own0, driver, neutral, np.ones(NUM_AUS, np.float32))[I06] == 0.0  # clamped at 0


def test_parse_gains():
    assert (parse_gains(None) == 1).all() and (parse_gains(2) == 2).all()
    g = parse_gains({"AU12": 1.5})
    assert g[I12] == 1.5 and g[I06] == 1.0
    with pytest.raises(AUInputError, match="AU13"):
        parse_gains({"AU13": 1})
    with pytest.raises(AUInputError, match="shape"):
        parse_gains([1, 2])


def test_driver_neutral_is_low_percentile_or_first_frames():
    _, aus = series()
    assert driver_neutral(aus)[I12] == pytest.approx(1.0)
    first = driver_neutral(aus, RemapConfig(neutral_percentile=None, neutral_frames=3))
    assert first[I12] == pytest.approx(1.0)
    assert driver_neutral(aus, RemapConfig(neutral_percentile=100))[I12] == pytest.approx(3.0)


def test_source_moves_own_by_driver_change_not_driver_rest():
    t, aus = series(rest=1.0, peak=3.0)
    src = SeriesRemapSource(t, aus, cfg=NO_SMOOTH)
    own = {0: np.full(NUM_AUS, 0.2, np.float32), 1: np.full(NUM_AUS, 2.0, np.float32)}
    at_rest = src.targets(frame_at(0.0, ids=(0, 1)), own)
    assert at_rest[0][I12] == pytest.approx(0.2)         # the actor's resting smile is not copied
    assert at_rest[1][I12] == pytest.approx(2.0)
    end = src.targets(frame_at(2.9, ids=(0, 1)), own)
    assert end[0][I12] == pytest.approx(0.2 + 2.0, abs=1e-5)
    assert end[1][I12] == pytest.approx(4.0, abs=1e-5)
    assert end[0][I06] == pytest.approx(0.2)             # constant driver AUs change nothing


def test_driver_interpolates_by_time():
    t = np.array([0.0, 1.0])
    aus = np.zeros((2, NUM_AUS), np.float32)
    aus[1, I12] = 4.0
    src = SeriesRemapSource(t, aus, cfg=NO_SMOOTH)
    assert src.driver_at(0.25)[I12] == pytest.approx(1.0)


@pytest.mark.parametrize("policy, t, expected", [
    ("hold", 10.0, 3.0), ("loop", 3.0, 1.0), ("loop", 3.05, 1.0), ("hold", 2.95, 3.0)])
def test_policies_past_the_end(policy, t, expected):
    ts, aus = series(n=30, fps=10.0)      # duration 3.0 s
    src = SeriesRemapSource(ts, aus, cfg=RemapConfig(policy=policy, smoothing_s=0.0))
    assert src.driver_at(t)[I12] == pytest.approx(expected, abs=1e-5)


def test_stop_policy_raises_driver_ended():
    ts, aus = series(n=30, fps=10.0)
    src = SeriesRemapSource(ts, aus, cfg=RemapConfig(policy="stop", smoothing_s=0.0))
    src.targets(frame_at(2.95), {0: np.zeros(NUM_AUS, np.float32)})
    with pytest.raises(DriverEnded, match="policy \"stop\""):
        src.targets(frame_at(3.0), {0: np.zeros(NUM_AUS, np.float32)})


def test_ema_is_causal_and_frame_rate_independent():
    step = lambda t: np.full(NUM_AUS, 1.0 if t >= 1.0 else 0.0, np.float32)  # noqa: E731
    for fps in (10, 40):
        ema = CausalEMA(0.1)
        ys = {}
        for k in range(int(2 * fps) + 1):
            t = k / fps
            ys[round(t, 4)] = float(ema(0, step(t), t)[0])
        assert all(v == 0.0 for tt, v in ys.items() if tt < 1.0)   # nothing before the step
        assert 0.0 < ys[1.0] < 1.0 and ys[2.0] > 0.99
        # a time constant in seconds: the step response is 1 - exp(-(t - t_step + dt) / tau) at
        # any frame rate (the step is seen at its first sample, which already spans one dt)
        assert ys[1.2] == pytest.approx(1 - np.exp(-(0.2 + 1 / fps) / 0.1), abs=1e-5)


def test_smoothing_keeps_faces_apart_and_restarts_new_ids():
    ts, aus = series()
    src = SeriesRemapSource(ts, aus, cfg=RemapConfig(smoothing_s=0.2))
    own = {0: np.zeros(NUM_AUS, np.float32), 1: np.full(NUM_AUS, 1.0, np.float32)}
    src.targets(frame_at(2.0, ids=(0,)), own)
    later = src.targets(frame_at(2.1, ids=(0, 1)), own)
    raw = remap(own[1], src.driver_at(2.1), src.neutral, src.gains)
    np.testing.assert_allclose(later[1], raw)           # a new face starts unsmoothed


def no_face_video(path: Path, n: int = 6) -> Path:
    import av
    with av.open(str(path), "w") as out:
        st = out.add_stream("mpeg4", rate=10)
        st.width, st.height, st.pix_fmt = 64, 48, "yuv420p"
        for i in range(n):
            img = np.full((48, 64, 3), 40 * i % 255, np.uint8)
            for p in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in st.encode():
            out.mux(p)
    return path


def test_driver_without_a_face_is_a_clear_error(tmp_path):
    p = no_face_video(tmp_path / "blank.mp4")
    with pytest.raises(AUInputError, match=r"blank.mp4: the driver video shows no face in any of its 6"):
        DriverSource(p, progress=False)


@pytest.fixture(scope="module")
def real_driver():
    return DriverSource(DATA / "video" / "single_face_smile_small.mp4", policy="hold",
                        cfg=RemapConfig(smoothing_s=0.0), progress=False)


def test_real_driver_clip_follows_the_smile(real_driver):
    tr = real_driver.track
    assert tr.present.all() and len(tr.times) == 18
    a12 = tr.aus[:, I12]
    assert a12[:4].max() < 1.0 and a12[-4:].min() > 2.5     # neutral start, smiling end
    own = {0: np.full(NUM_AUS, 0.3, np.float32)}
    start = real_driver.targets(frame_at(0.0), own)[0]
    end = real_driver.targets(frame_at(tr.times[-1]), own)[0]
    assert start[I12] < 0.6                                  # rest -> the face's own level
    assert end[I12] - start[I12] > 2.0                       # the smile moves onto the face
    assert end[I25] > start[I25] + 1.0                       # his lips part too


def test_real_driver_loops(tmp_path, real_driver):
    src = SeriesRemapSource(real_driver.track.times, real_driver.track.aus,
                            cfg=RemapConfig(policy="loop", smoothing_s=0.0))
    np.testing.assert_allclose(src.driver_at(src.duration + 0.01), src.driver_at(0.01), atol=1e-5)
