"""Built-in AU estimator: 17 AUs (OpenFace order, 0-5 scale) from what the tracker gives.

FIRST VERSION: a blendshape-only mapping (ARKit-to-FACS correspondence), scaled by 5. It is being
replaced by a calibrated estimator that adds landmark geometry (AU6, AU9, AU15 need it: MediaPipe's
cheekSquint, noseSneer and mouthFrown stay near zero). The API below stays.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reenact.aus.names import AU_MAX, NUM_AUS, au_index
from reenact.tracking.landmarker import blendshape_index
from reenact.tracking.types import Face

# AU -> blendshapes whose mean drives it.
_BLENDSHAPE_MAP: dict[str, tuple[str, ...]] = {
    "AU01": ("browInnerUp",), "AU02": ("browOuterUpLeft", "browOuterUpRight"),
    "AU04": ("browDownLeft", "browDownRight"), "AU05": ("eyeWideLeft", "eyeWideRight"),
    "AU06": ("cheekSquintLeft", "cheekSquintRight"), "AU07": ("eyeSquintLeft", "eyeSquintRight"),
    "AU09": ("noseSneerLeft", "noseSneerRight"), "AU10": ("mouthUpperUpLeft", "mouthUpperUpRight"),
    "AU12": ("mouthSmileLeft", "mouthSmileRight"), "AU14": ("mouthDimpleLeft", "mouthDimpleRight"),
    "AU15": ("mouthFrownLeft", "mouthFrownRight"), "AU17": ("mouthShrugLower",),
    "AU20": ("mouthStretchLeft", "mouthStretchRight"), "AU23": ("mouthPressLeft", "mouthPressRight"),
    "AU25": ("jawOpen",), "AU26": ("jawOpen",), "AU45": ("eyeBlinkLeft", "eyeBlinkRight"),
}


@dataclass(frozen=True)
class EstimatorConfig:
    gain: float = AU_MAX


class AUEstimator:
    """Estimate AUs for one tracked face. ``estimate(face) -> float32 (17,)`` on the 0-5 scale."""

    def __init__(self, cfg: EstimatorConfig = EstimatorConfig()):
        self.cfg = cfg
        self._rows = [(au_index(au), [blendshape_index(b) for b in bs])
                      for au, bs in _BLENDSHAPE_MAP.items()]

    def estimate(self, face: Face) -> np.ndarray:
        out = np.zeros(NUM_AUS, np.float32)
        if face.blendshapes is None:
            raise ValueError("this face has no blendshapes; track it with reenact.tracking")
        for i, cols in self._rows:
            out[i] = float(np.mean(face.blendshapes[cols])) * self.cfg.gain
        return np.clip(out, 0.0, AU_MAX)


_DEFAULT: AUEstimator | None = None


def estimate_aus(face: Face) -> np.ndarray:
    """AUs of one face with the default estimator (0-5 scale, OpenFace order)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = AUEstimator()
    return _DEFAULT.estimate(face)
