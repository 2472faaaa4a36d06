"""One-Euro filter: less jitter on a still noisy track, a step followed quickly, causal, resettable."""
from __future__ import annotations

import numpy as np
import pytest

from reenact.tracking.smoothing import OneEuroConfig, OneEuroFilter

FPS = 30.0


def _run(filt: OneEuroFilter, xs: np.ndarray, scale: float = 1.0) -> np.ndarray:
    return np.array([filt.update(x, i / FPS, scale) for i, x in enumerate(xs)])


def _jitter(track: np.ndarray) -> float:
    return float(np.abs(np.diff(track, axis=0)).mean())


def test_reduces_jitter_on_still_noisy_track(rng):
    # 478 landmarks of a still face (IOD 60 px) with 0.5 px of detector noise.
    truth = rng.uniform(0, 200, size=(478, 2))
    noisy = truth[None] + rng.normal(0, 0.5, size=(120, 478, 2))
    out = _run(OneEuroFilter(OneEuroConfig()), noisy, scale=60.0)
    assert _jitter(out) < 0.4 * _jitter(noisy)
    # And it stays on the face: the mean error after settling is below the raw noise.
    err_out = np.abs(out[30:] - truth).mean()
    err_raw = np.abs(noisy[30:] - truth).mean()
    assert err_out < 0.7 * err_raw


def test_follows_a_step_within_a_few_frames():
    # A head that jumps by one IOD (60 px): the output must get there quickly, not drift for seconds.
    xs = np.concatenate([np.zeros(30), np.full(30, 60.0)])[:, None]
    out = _run(OneEuroFilter(OneEuroConfig()), xs, scale=60.0)[:, 0]
    assert out[29] == pytest.approx(0.0)
    assert out[30] > 10.0          # reacts on the first frame after the step
    assert out[35] > 57.0          # within 5% of an IOD after 5 frames
    assert abs(out[-1] - 60.0) < 0.1


def test_higher_beta_means_less_lag():
    xs = np.linspace(0, 120, 60)[:, None]  # steady motion: 2 px per frame
    lag = [abs(_run(OneEuroFilter(OneEuroConfig(beta=b)), xs, 60.0)[-1, 0] - 120.0) for b in (0.0, 10.0)]
    assert lag[1] < 0.5 * lag[0]


def test_causal_and_repeated_time():
    f = OneEuroFilter()
    a = f.update(np.array([1.0]), 0.0)
    b = f.update(np.array([5.0]), 0.1)
    again = f.update(np.array([100.0]), 0.1)  # same time: ignored, previous output returned
    assert a[0] == 1.0 and 1.0 < b[0] < 5.0
    assert again[0] == b[0]


def test_reset_starts_from_the_new_sample():
    f = OneEuroFilter()
    for i in range(10):
        f.update(np.zeros(3), i / FPS)
    f.reset()
    out = f.update(np.full(3, 50.0), 10 / FPS)
    np.testing.assert_allclose(out, 50.0)
