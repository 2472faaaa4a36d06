"""Per-person neutral calibration: a face's resting AUs, for relative use.

People differ at rest (a resting smile, low brows); the estimator measures against a population
neutral. For relative editing, ``relative = aus - neutral`` with the person's own neutral, taken
from a given neutral image (``neutral_from_image``) or from the first frames a face is seen
(``NeutralCalibration``, per face id, the median of its first ``frames`` estimates).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reenact.errors import AUInputError
from reenact.aus.names import NUM_AUS


@dataclass(frozen=True)
class NeutralConfig:
    """frames: estimates per face that make its neutral; statistic: "median" or "min"."""

    frames: int = 15
    statistic: str = "median"


def neutral_from_series(series: np.ndarray, statistic: str = "median") -> np.ndarray:
    """(N, 17) AU estimates -> float32 (17,) resting AUs."""
    s = np.asarray(series, np.float32).reshape(-1, NUM_AUS)
    if len(s) == 0:
        raise ValueError("no AU estimates to take a neutral from")
    if statistic == "median":
        return np.median(s, axis=0).astype(np.float32)
    if statistic == "min":
        return s.min(axis=0).astype(np.float32)
    raise ValueError(f"unknown statistic {statistic!r}; use median or min")


def neutral_from_image(image: np.ndarray, estimator=None, source: str = "neutral image") -> np.ndarray:
    """Resting AUs of the largest face in a neutral photograph (uint8 RGB/gray/RGBA)."""
    from reenact.aus.estimator import AUEstimator
    from reenact.tracking.tracker import FaceTracker, TrackerConfig

    with FaceTracker(TrackerConfig(mode="image", max_faces=4)) as tracker:
        faces = tracker.track(image).faces
    if not faces:
        raise AUInputError(f"{source}: no face found to take a neutral from")
    return (estimator or AUEstimator()).estimate(max(faces, key=lambda f: f.area))


class NeutralCalibration:
    """Collects each face's first estimates and gives its neutral and relative AUs."""

    def __init__(self, cfg: NeutralConfig = NeutralConfig()):
        self.cfg = cfg
        self._seen: dict[int, list[np.ndarray]] = {}
        self._fixed: dict[int, np.ndarray] = {}

    def set(self, face_id: int, neutral: np.ndarray) -> None:
        """Use a known neutral (for example ``neutral_from_image``) for this face."""
        self._fixed[face_id] = np.asarray(neutral, np.float32)

    def update(self, face_id: int, aus: np.ndarray) -> None:
        if face_id in self._fixed:
            return
        seen = self._seen.setdefault(face_id, [])
        if len(seen) < self.cfg.frames:
            seen.append(np.asarray(aus, np.float32))

    def ready(self, face_id: int) -> bool:
        return face_id in self._fixed or len(self._seen.get(face_id, [])) >= self.cfg.frames

    def neutral(self, face_id: int) -> np.ndarray | None:
        """The face's neutral so far (from the frames seen, even before ``ready``), or None."""
        if face_id in self._fixed:
            return self._fixed[face_id]
        seen = self._seen.get(face_id)
        return neutral_from_series(np.stack(seen), self.cfg.statistic) if seen else None

    def relative(self, face_id: int, aus: np.ndarray) -> np.ndarray:
        """aus - neutral (signed, -5..5); zeros' neutral when the face is unknown."""
        n = self.neutral(face_id)
        return np.asarray(aus, np.float32) - (0.0 if n is None else n)
