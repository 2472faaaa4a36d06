"""Driver remapping: move an actor's expressions onto another face without the actor's resting face.

For a driving AU series d(t) (from a driver video, or an AU file used relatively)::

    target(t) = clip(own(t) + gain * (d(t) - d_neutral), 0, 5)

then smoothed causally per face (an exponential moving average whose time constant is in
seconds, so it behaves the same at any frame rate). ``d_neutral`` is a low percentile of each AU
over the whole driver (the actor's resting level: most clips show rest at least 10% of the time),
or the mean of its first frames. The driver is sampled by time (linear interpolation between its
frames); after its end the policy decides: "hold" the last value, "loop" from the start, or "stop"
(``targets`` raises ``DriverEnded``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Mapping

import numpy as np

from reenact.errors import AUInputError, DriverEnded
from reenact.aus.names import AU_MAX, AU_MIN, NUM_AUS, au_index
from reenact.frame import Frame

POLICIES = ("hold", "loop", "stop")


@dataclass(frozen=True)
class RemapConfig:
    """policy: after the driver ends; neutral_percentile: the driver's resting level per AU
    (None: the mean of the first ``neutral_frames`` frames); smoothing_s: EMA time constant in
    seconds (0 = off); fps: frame rate assumed for frames without a timestamp."""

    policy: str = "hold"
    neutral_percentile: float | None = 10.0
    neutral_frames: int = 10
    smoothing_s: float = 0.05
    fps: float = 30.0


def parse_gains(gains: float | Mapping[str, float] | np.ndarray | None) -> np.ndarray:
    """None -> all 1; a number -> that for every AU; {"AU12": 1.5} -> 1 except those listed."""
    out = np.ones(NUM_AUS, np.float32)
    if gains is None:
        return out
    if isinstance(gains, Mapping):
        for k, v in gains.items():
            try:
                out[au_index(k)] = float(v)
            except ValueError as e:
                raise AUInputError(f"gain {k!r}: {e}") from None
        return out
    arr = np.asarray(gains, np.float32)
    if arr.ndim == 0:
        return np.full(NUM_AUS, float(arr), np.float32)
    if arr.shape != (NUM_AUS,):
        raise AUInputError(f"gains must be one number or {NUM_AUS} values, got shape {arr.shape}")
    return arr


def driver_neutral(series: np.ndarray, cfg: RemapConfig = RemapConfig()) -> np.ndarray:
    """The driver's resting AUs, float32 (17,), from its (N, 17) series."""
    series = np.asarray(series, np.float32)
    if cfg.neutral_percentile is None:
        return series[: max(1, cfg.neutral_frames)].mean(0).astype(np.float32)
    return np.percentile(series, cfg.neutral_percentile, axis=0).astype(np.float32)


def remap(own: np.ndarray, driver: np.ndarray, neutral: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """clip(own + gains * (driver - neutral), 0, 5) as float32 (17,) (or broadcast)."""
    out = np.asarray(own, np.float32) + gains * (np.asarray(driver, np.float32) - neutral)
    return np.clip(out, AU_MIN, AU_MAX).astype(np.float32)


class CausalEMA:
    """Per-key exponential moving average with a time constant in seconds (causal)."""

    def __init__(self, tau_s: float):
        self.tau = tau_s
        self._state: dict[int, tuple[np.ndarray, float]] = {}

    def __call__(self, key: int, x: np.ndarray, t: float) -> np.ndarray:
        if self.tau <= 0:
            return x
        prev = self._state.get(key)
        if prev is None or t <= prev[1]:
            y = x  # first sample of this face, or time went backwards (a seek): restart
        else:
            alpha = 1.0 - math.exp(-(t - prev[1]) / self.tau)
            y = (prev[0] + alpha * (x - prev[0])).astype(np.float32)
        self._state[key] = (y, t)
        return y

    def forget(self, keep: set[int]) -> None:
        self._state = {k: v for k, v in self._state.items() if k in keep}


def frame_time(frame: Frame, fps: float) -> float:
    t = frame.time
    return float(t) if t is not None else frame.index / fps


class SeriesRemapSource:
    """An AUSource remapping a timed AU series (times (N,) seconds, aus (N, 17)) onto each face."""

    def __init__(self, times: np.ndarray, aus: np.ndarray, gains=None,
                 cfg: RemapConfig = RemapConfig(), name: str = "driver"):
        if cfg.policy not in POLICIES:
            raise AUInputError(f"driver policy must be one of {', '.join(POLICIES)}, got {cfg.policy!r}")
        self.times = np.asarray(times, np.float64)
        self.aus = np.asarray(aus, np.float32)
        if len(self.times) == 0 or self.aus.shape != (len(self.times), NUM_AUS):
            raise AUInputError(f"{name}: an AU series needs N times and (N, {NUM_AUS}) values")
        self.cfg, self.name = cfg, name
        self.gains = parse_gains(gains)
        self.neutral = driver_neutral(self.aus, cfg)
        step = float(np.median(np.diff(self.times))) if len(self.times) > 1 else 1.0 / cfg.fps
        self.duration = float(self.times[-1] - self.times[0]) + step  # the last frame shows for a step
        self._ema = CausalEMA(cfg.smoothing_s)

    def driver_at(self, t: float) -> np.ndarray:
        """The driver's AUs at time ``t`` seconds from its start (policy applied)."""
        local = t
        if t >= self.duration:
            if self.cfg.policy == "stop":
                raise DriverEnded(f"{self.name}: ended at {self.duration:.2f} s (policy \"stop\")")
            if self.cfg.policy == "loop":
                local = t % self.duration
        local += self.times[0]
        return np.array([np.interp(local, self.times, self.aus[:, j]) for j in range(NUM_AUS)],
                        np.float32)

    def delta_at(self, t: float) -> np.ndarray:
        return self.gains * (self.driver_at(t) - self.neutral)

    def targets(self, frame: Frame, own: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        t = frame_time(frame, self.cfg.fps)
        d = self.driver_at(t)
        out = {}
        for face in frame.faces:
            base = own.get(face.face_id, np.zeros(NUM_AUS, np.float32))
            out[face.face_id] = np.clip(
                self._ema(face.face_id, remap(base, d, self.neutral, self.gains), t),
                AU_MIN, AU_MAX).astype(np.float32)
        self._ema.forget(set(out))
        return out


@dataclass
class DriverTrack:
    """A driver video's AU series: times (N,) seconds from its first frame, aus (N, 17),
    present (N,) bool (False: no face; the AUs there hold the nearest earlier face's); the actor's
    head pose per frame (reenact.tracking.headpose.face_pose, held like the AUs where no face):
    rotations (N, 3, 3) pixel frame, centres (N, 2) px, sizes (N,) px, or None when not tracked;
    time_base and rate of its video stream (None when not read from a video)."""

    times: np.ndarray
    aus: np.ndarray
    present: np.ndarray
    path: str
    rotations: np.ndarray | None = None
    centres: np.ndarray | None = None
    sizes: np.ndarray | None = None
    time_base: Fraction | None = None
    rate: Fraction | None = None


def track_driver(path: str | Path, estimator=None, max_frames: int | None = None,
                 progress: bool = True) -> DriverTrack:
    """Decode and track a driver video (largest face per frame) and estimate its AUs."""
    from tqdm import tqdm

    from reenact.aus.estimator import AUEstimator
    from reenact.errors import ReenactError
    from reenact.aus.geometry import template3d
    from reenact.tracking.headpose import face_pose
    from reenact.media.source import VideoSource
    from reenact.tracking.tracker import FaceTracker, TrackerConfig

    est = estimator or AUEstimator()
    times, rows, present, poses = [], [], [], []
    template = template3d()  # pose from landmarks for a face MediaPipe gave no matrix
    try:
        src = VideoSource(path)
    except ReenactError as e:
        raise AUInputError(f"driver video: {e}") from None
    with src, FaceTracker(TrackerConfig(mode="video", max_faces=4)) as tracker:
        t0 = None
        for frame in tqdm(src, desc=f"driver {Path(path).name}", unit="frame", disable=not progress):
            t = frame_time(frame, 30.0)
            t0 = t if t0 is None else t0
            result = tracker.track(frame.image, int(round(t * 1000)))
            times.append(t - t0)
            if result.faces:
                face = max(result.faces, key=lambda f: f.area)
                rows.append(est.estimate(face))
                poses.append(face_pose(face, template))
                present.append(True)
            else:
                rows.append(None)
                poses.append(None)
                present.append(False)
            if max_frames is not None and len(times) >= max_frames:
                break
    if not any(present):
        raise AUInputError(f"{path}: the driver video shows no face in any of its {len(times)} "
                           f"frames")
    filled = _hold_earlier(rows)
    rot, centre, size = zip(*_hold_earlier(poses))
    return DriverTrack(np.array(times), np.stack(filled).astype(np.float32),
                       np.array(present), str(path), np.stack(rot), np.stack(centre),
                       np.array(size), src.info.time_base, src.info.rate)


def _hold_earlier(rows: list) -> list:
    """None entries replaced by the nearest earlier value (the first value before any)."""
    prev = next(r for r in rows if r is not None)
    filled = []
    for r in rows:
        prev = r if r is not None else prev
        filled.append(prev)
    return filled


class DriverSource(SeriesRemapSource):
    """AUSource driven by a video: each face's own AUs plus the actor's changes from rest."""

    def __init__(self, path: str | Path, policy: str = "hold", gains=None,
                 cfg: RemapConfig | None = None, estimator=None, track: DriverTrack | None = None,
                 progress: bool = True):
        cfg = cfg or RemapConfig(policy=policy)
        if cfg.policy != policy:
            cfg = replace(cfg, policy=policy)
        self.track = track or track_driver(path, estimator, progress=progress)
        super().__init__(self.track.times, self.track.aus, gains, cfg, name=str(path))
