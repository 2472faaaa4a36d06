"""Built-in AU estimator: 17 AUs (OpenFace order, 0-5 scale) from what the tracker gives.

Each AU is ``clip(base + sum_k weight_k * gain_k * (x_k - neutral_k), 0, 5)`` where each ``x_k`` is
either the mean of some MediaPipe blendshapes (the ARKit-to-FACS correspondence: mouthSmile -> AU12,
jawOpen -> AU26, eyeBlink -> AU45, ...) or a geometric feature of the landmarks measured in a
canonical, pose-free frame (``reenact.aus.geometry``: lip-corner height over the mouth's centre
line, lid aperture, brow height over the eye line, cheek and alar-crease height, lip gap...).
``neutral_k`` is the feature's median over 122 neutral faces and ``base`` OpenFace's reading of a
resting face, so values sit on OpenFace's scale. AU6, AU9, AU15 and AU25 use geometry only: the
blendshapes cheekSquint, noseSneer and mouthFrown stay near 0 on real faces.

The numbers live in ``reenact/assets/au_calibration.json`` (fitted by the checkout's ``research/aus/fit.py``);
docs/aus.md says how each AU is measured and how far to trust it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from reenact.aus.geometry import FEATURE_NAMES, canonical_points, features
from reenact.aus.names import AU_MAX, AU_MIN, AU_NAMES, NUM_AUS
from reenact.tracking.landmarker import blendshape_index
from reenact.tracking.types import Face


@dataclass(frozen=True)
class EstimatorConfig:
    """calibration: a calibration JSON (None = the packaged one); use_depth: normalise 3-D pose
    with MediaPipe's depth when the face has it (False: 2-D roll and scale only); floor_softness:
    the lower clamp at 0 is a softplus of this width (0 = a hard clip), so faces below the
    population neutral still read in order (a faint smile just above a flat mouth) instead of
    all reading exactly 0; a score of 0 becomes 0.07 at the default 0.1."""

    calibration: str | None = None
    use_depth: bool = True
    floor_softness: float = 0.1


@dataclass(frozen=True)
class _Term:
    feature: int | None          # index into FEATURE_NAMES, or None for a blendshape term
    blendshapes: tuple[int, ...]
    minus: int | None            # a feature subtracted (times k) from ``feature``, or None
    k: float
    scale: float                 # weight * gain
    neutral: float

    def value(self, feats: np.ndarray, shapes: np.ndarray) -> float:
        if self.feature is None:
            return float(shapes[list(self.blendshapes)].mean())
        x = feats[self.feature]
        return float(x - self.k * feats[self.minus]) if self.minus is not None else float(x)


def load_calibration(path: str | Path | None = None) -> dict:
    """The calibration dict (packaged JSON when ``path`` is None)."""
    if path is None:
        text = resources.files("reenact.assets").joinpath("au_calibration.json").read_text()
        source = "reenact/assets/au_calibration.json"
    else:
        text, source = Path(path).read_text(), str(path)
    try:
        calib = json.loads(text)
        missing = [a for a in AU_NAMES if a not in calib["aus"]]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"{source}: not an AU calibration file ({e})") from None
    if missing:
        raise ValueError(f"{source}: calibration lacks {', '.join(missing)}")
    return calib


def _compile(calib: dict) -> tuple[np.ndarray, list[list[_Term]]]:
    bases = np.zeros(NUM_AUS, np.float64)
    rows: list[list[_Term]] = []
    for i, au in enumerate(AU_NAMES):
        entry = calib["aus"][au]
        bases[i] = float(entry["base"])
        terms = []
        for t in entry["terms"]:
            feat = FEATURE_NAMES.index(t["feature"]) if "feature" in t else None
            shapes = tuple(blendshape_index(b) for b in t.get("blendshapes", ()))
            minus = FEATURE_NAMES.index(t["minus"]) if "minus" in t else None
            terms.append(_Term(feat, shapes, minus, float(t.get("k", 0.0)),
                               float(t["weight"]) * float(t["gain"]), float(t["neutral"])))
        rows.append(terms)
    return bases, rows


class AUEstimator:
    """Estimate AUs for one tracked face. ``estimate(face) -> float32 (17,)`` on the 0-5 scale."""

    def __init__(self, cfg: EstimatorConfig = EstimatorConfig()):
        self.cfg = cfg
        self._bases, self._rows = _compile(load_calibration(cfg.calibration))

    def features(self, face: Face) -> np.ndarray:
        """The geometric features (``reenact.aus.geometry.FEATURE_NAMES``) of one face."""
        depth = face.depth if self.cfg.use_depth else None
        return features(canonical_points(face.landmarks, depth))

    def estimate(self, face: Face) -> np.ndarray:
        if face.blendshapes is None:
            raise ValueError("this face has no blendshapes; track it with reenact.tracking")
        feats = self.features(face)
        shapes = np.asarray(face.blendshapes, np.float64)
        out = self._bases.copy()
        for i, terms in enumerate(self._rows):
            for t in terms:
                out[i] += t.scale * (t.value(feats, shapes) - t.neutral)
        return np.clip(self._floor(out), AU_MIN, AU_MAX).astype(np.float32)

    def _floor(self, x: np.ndarray) -> np.ndarray:
        w = self.cfg.floor_softness
        if w <= 0:
            return x
        return w * np.logaddexp(0.0, x / w)  # softplus: smooth, increasing, > 0


@lru_cache(maxsize=1)
def default_estimator() -> AUEstimator:
    """The packaged estimator, built once (loading the calibration is not free)."""
    return AUEstimator()


def estimate_aus(face: Face) -> np.ndarray:
    """AUs of one face with the default estimator (0-5 scale, OpenFace order)."""
    return default_estimator().estimate(face)
