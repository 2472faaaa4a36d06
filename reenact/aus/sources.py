"""Where target AUs come from: the ``AUSource`` protocol and ``open_au_source(spec)``.

An AU source is asked once per frame: ``targets(frame, own) -> {face_id: target AUs}``, where
``frame.faces`` are the tracked faces and ``own`` maps each face id to the AUs estimated on that
face (0-5, float32 (17,)). Targets are float32 (17,) on 0-5. Sources:
- ``PresetSource``: a preset (absolute or relative), the same for every face and frame;
- ``TimelineSource``: keyframes over time (``frame.time``, or ``frame.index / fps``);
- ``SequenceSource``: an OpenFace / py-feat CSV, one row per frame by ``frame.index``;
  with ``relative=True`` it is remapped like a driver (own + row - the file's resting level);
- ``reenact.aus.driver.DriverSource``: a driving video.
A sequence or driver that is shorter than the video follows a policy: "hold" its last row, "loop",
or "stop" (``targets`` raises ``DriverEnded``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from reenact.aus.csv_io import AUSequence, read_au_csv
from reenact.aus.driver import POLICIES, DriverSource, RemapConfig, SeriesRemapSource, frame_time
from reenact.errors import AUInputError, DriverEnded
from reenact.aus.names import AU_MAX, AU_MIN, NUM_AUS
from reenact.aus.presets import Preset, preset_from_dict, read_json, resolve_preset_path
from reenact.aus.timeline import Timeline, timeline_from_dict
from reenact.frame import Frame
from reenact.media.formats import VIDEO_SUFFIXES

__all__ = ["AUSource", "DriverEnded", "PresetSource", "TimelineSource", "SequenceSource",
           "StaticSource", "DriverSource", "open_au_source", "VIDEO_SUFFIXES"]



@runtime_checkable
class AUSource(Protocol):
    def targets(self, frame: Frame, own: dict[int, np.ndarray]) -> dict[int, np.ndarray]: ...


def _own(own: dict[int, np.ndarray], face_id: int) -> np.ndarray:
    # A face without an estimate is treated as at rest rather than failing the frame.
    return own.get(face_id, np.zeros(NUM_AUS, np.float32))


class PresetSource:
    def __init__(self, preset: Preset):
        self.preset = preset

    def targets(self, frame: Frame, own: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        return {f.face_id: self.preset.apply(_own(own, f.face_id)) for f in frame.faces}


class StaticSource:
    """The same absolute AU vector (17,) for every face."""

    def __init__(self, aus: np.ndarray):
        aus = np.asarray(aus, np.float32)
        if aus.shape != (NUM_AUS,):
            raise AUInputError(f"expected {NUM_AUS} AU values, got shape {aus.shape}")
        self.aus = np.clip(aus, AU_MIN, AU_MAX)

    def targets(self, frame: Frame, own: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        return {f.face_id: self.aus.copy() for f in frame.faces}


class TimelineSource:
    def __init__(self, timeline: Timeline, fps: float = 30.0):
        self.timeline, self.fps = timeline, fps

    def targets(self, frame: Frame, own: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        t = frame_time(frame, self.fps)
        return {f.face_id: self.timeline.at(t, _own(own, f.face_id)) for f in frame.faces}


class SequenceSource:
    """Absolute AUs from a sequence, row ``frame.index`` (policy past its end)."""

    def __init__(self, seq: AUSequence, policy: str = "hold"):
        if policy not in POLICIES:
            raise AUInputError(f"sequence policy must be one of {', '.join(POLICIES)}, got {policy!r}")
        self.seq, self.policy = seq, policy

    def row(self, index: int) -> np.ndarray:
        n = len(self.seq)
        if index >= n:
            if self.policy == "stop":
                raise DriverEnded(f"{self.seq.path}: {n} rows, frame {index} is past the end "
                                  f"(policy \"stop\")")
            index = n - 1 if self.policy == "hold" else index % n
        return self.seq.aus[index]

    def targets(self, frame: Frame, own: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        row = self.row(frame.index)
        return {f.face_id: row.copy() for f in frame.faces}


def open_au_source(spec: str | Path, *, driver_policy: str = "hold", fps: float = 30.0,
                   gains=None, relative: bool = False, estimator=None,
                   remap: RemapConfig | None = None, progress: bool = True) -> AUSource:
    """An AU source from what a user typed.

    spec: a shipped preset's name ("smile"), a preset or timeline JSON, an OpenFace or py-feat CSV,
    or a driver video. driver_policy: "hold" | "loop" | "stop" past the end of a CSV or driver;
    fps: the frame rate that maps a CSV's rows to time when it is remapped, and the time of
    frames without timestamps; gains: per-AU gain of a driver ({"AU12": 1.5} or one number);
    relative: use a CSV like a driver (own + row - its resting level) instead of absolute values.
    """
    if driver_policy not in POLICIES:
        raise AUInputError(f"policy must be one of {', '.join(POLICIES)}, got {driver_policy!r}")
    p = Path(spec)
    suffix = p.suffix.lower()
    cfg = remap or RemapConfig(policy=driver_policy, fps=fps)
    if suffix in VIDEO_SUFFIXES:
        if not p.exists():
            raise AUInputError(f"{p}: no such driver video")
        return DriverSource(p, driver_policy, gains, cfg, estimator, progress=progress)
    if suffix == ".csv":
        seq = read_au_csv(p)
        if relative:
            times = np.arange(len(seq)) / fps
            return SeriesRemapSource(times, seq.aus, gains, cfg, name=str(p))
        return SequenceSource(seq, driver_policy)
    if suffix in ("", ".json"):
        path = resolve_preset_path(spec)
        obj = read_json(path)
        if isinstance(obj, dict) and "keyframes" in obj:
            return TimelineSource(timeline_from_dict(obj, str(path), path.parent), fps)
        preset = preset_from_dict(obj, str(path), path.stem)
        if relative and not preset.relative:
            preset = Preset(preset.name, preset.values, True)
        return PresetSource(preset)
    raise AUInputError(f"{p}: unknown AU input type {suffix!r}; give a preset name or .json "
                       f"preset/timeline, an OpenFace/py-feat .csv, or a driver video "
                       f"({', '.join(sorted(VIDEO_SUFFIXES))})")

