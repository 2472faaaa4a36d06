"""Causal landmark smoothing: the One-Euro filter (Casiez, Roussel & Vogel, CHI 2012).

Each coordinate is low-pass filtered with a cutoff that rises with its speed:
``cutoff = min_cutoff + beta * |speed|``. A still face gets a low cutoff (little jitter); a moving
face a high one (little lag). The filter only looks at past samples, so it runs live.

Speeds are divided by a per-call ``scale`` (the tracker passes the face's inter-ocular distance), so
``beta`` is in "per IOD per second" units and the same settings work for a small and a large face.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OneEuroConfig:
    """min_cutoff (Hz): cutoff for a still signal, lower = smoother; beta: how fast the cutoff grows
    with speed (speed in scale units per second), higher = less lag; d_cutoff (Hz): cutoff of the
    speed estimate itself."""

    min_cutoff: float = 1.0
    beta: float = 10.0
    d_cutoff: float = 1.0


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """Smoothing factor of an exponential filter with the given cutoff (Hz) and step (s)."""
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """One-Euro filter over an array of any shape (every element filtered independently).

    ``update(x, t)`` takes the new sample and its time in seconds (strictly increasing; a repeated
    or older time returns the previous output) and returns the filtered array (float64).
    """

    def __init__(self, cfg: OneEuroConfig = OneEuroConfig()):
        self.cfg = cfg
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def update(self, x: np.ndarray, t: float, scale: float = 1.0) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self._x is None or self._t is None or self._x.shape != x.shape:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), float(t)
            return self._x.copy()
        dt = float(t) - self._t
        if dt <= 0:
            return self._x.copy()
        speed = (x - self._x) / dt
        a_d = _alpha(self.cfg.d_cutoff, dt)
        self._dx = a_d * speed + (1.0 - a_d) * self._dx
        cutoff = self.cfg.min_cutoff + self.cfg.beta * np.abs(self._dx) / max(scale, 1e-9)
        a = _alpha(cutoff, dt)
        self._x = a * x + (1.0 - a) * self._x
        self._t = float(t)
        return self._x.copy()
