"""Frame-rate and latency figures for the live side (what the preview and the web page display)."""
from __future__ import annotations

import collections
import time
from dataclasses import dataclass

import numpy as np


class RateMeter:
    """Events per second over a sliding window of ``window_s`` seconds."""

    def __init__(self, window_s: float = 1.0, clock=time.perf_counter):
        self.window_s, self._clock = window_s, clock
        self._times: collections.deque[float] = collections.deque()

    def tick(self, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        self._times.append(now)
        self._trim(now)

    def rate(self, now: float | None = None) -> float:
        now = self._clock() if now is None else now
        self._trim(now)
        if len(self._times) < 2:
            return 0.0
        span = max(now - self._times[0], self._times[-1] - self._times[0])
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()


@dataclass
class LatencySummary:
    count: int
    median_ms: float
    p95_ms: float
    max_ms: float

    def __str__(self) -> str:
        return (f"latency median {self.median_ms:.0f} ms, p95 {self.p95_ms:.0f} ms, "
                f"max {self.max_ms:.0f} ms over {self.count} frames")


class LatencyLog:
    """Keeps the last ``keep`` latencies (seconds) for summaries; ``last`` for on-screen display."""

    def __init__(self, keep: int = 10_000):
        self._values: collections.deque[float] = collections.deque(maxlen=keep)
        self.last = 0.0

    def add(self, seconds: float) -> None:
        self._values.append(seconds)
        self.last = seconds

    def values(self) -> np.ndarray:
        return np.asarray(self._values, dtype=np.float64)

    def summary(self) -> LatencySummary:
        v = self.values() * 1000.0
        if v.size == 0:
            return LatencySummary(0, float("nan"), float("nan"), float("nan"))
        return LatencySummary(int(v.size), float(np.median(v)), float(np.percentile(v, 95)), float(v.max()))
