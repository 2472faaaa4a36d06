"""The AU rig: target-minus-source AUs -> displacement of the 478 landmarks in the crop.

The rig is a linear map ``W`` (17 AUs x 478 points x 2) fitted in a reference crop (``ref_size``,
``ref_margin``: the canonical template frame of reenact.tracking.align) plus one face-adaptive part,
the blink, which closes each lid by the face's own aperture instead of a fixed amount.

All points are (x, y) in crop pixels, pixel centres at integers.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from reenact.atomic import atomic_path
from reenact.aus.names import AU_NAMES, NUM_AUS, au_index
from reenact.models.rig import regions as R

BLINK = au_index("AU45")
DEFAULT_ASSET = "rig_v1.npz"


@contextmanager
def open_asset(path: Path | str | None, default: str) -> Iterator[tuple[BinaryIO, str]]:
    """(binary file, name for messages): ``path``, or the file ``default`` shipped in
    reenact/assets (package data) when ``path`` is None."""
    if path is None:
        with resources.files("reenact.assets").joinpath(default).open("rb") as f:
            yield f, default
    else:
        with open(path, "rb") as f:
            yield f, str(path)


@dataclass
class RigModel:
    """weights: float32 (17, 478, 2) crop-pixel displacement per AU unit at the reference crop.
    blink_close: fraction of the lid aperture a full blink (delta AU45 = 5) closes.
    meta: what the fit recorded (data, AUs supported, errors), kept with the asset."""

    weights: np.ndarray
    ref_size: int = 256
    ref_margin: float = 0.2
    blink_close: float = 1.0
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        w = np.asarray(self.weights, np.float32)
        if w.shape != (NUM_AUS, 478, 2):
            raise ValueError(f"rig weights must have shape ({NUM_AUS}, 478, 2), got {w.shape}")
        self.weights = w
        self._pairs = np.asarray(R.eye_lid_pairs())
        self._eyes = [(np.asarray(R.EYE_L_UPPER), np.asarray(R.EYE_L_LOWER), np.asarray(R.LID_CREASE_L[1:-1])),
                      (np.asarray(R.EYE_R_UPPER), np.asarray(R.EYE_R_LOWER), np.asarray(R.LID_CREASE_R[1:-1]))]
        self._lips = np.stack([R.LIP_INNER_UPPER[1:-1], R.LIP_INNER_LOWER[1:-1]], 1)

    def scale_for(self, size: int, margin: float) -> float:
        """Crop pixels of a (size, margin) crop per reference crop pixel (same template frame)."""
        return (size / (1.0 + 2.0 * margin)) / (self.ref_size / (1.0 + 2.0 * self.ref_margin))

    def displace(self, landmarks: np.ndarray, delta_aus: np.ndarray, size: int,
                 margin: float) -> np.ndarray:
        """Displaced landmarks. landmarks: (N, 478, 2) crop px; delta_aus: (N, 17) target - source
        on the 0-5 scale. Returns float32 (N, 478, 2)."""
        pts = np.asarray(landmarks, np.float64)
        delta = np.asarray(delta_aus, np.float64)
        disp = np.einsum("na,apk->npk", delta, self.weights) * self.scale_for(size, margin)
        out = pts + disp + self._blink(pts, delta[:, BLINK])
        return self._no_crossing(pts, out).astype(np.float32)

    def _blink(self, pts: np.ndarray, d45: np.ndarray) -> np.ndarray:
        """Close (d45 > 0) or open (d45 < 0) each lid by a fraction of this face's own aperture.

        Lids move vertically only (in the upright crop): each upper-lid point travels toward the
        lower lid's height at its own x, so the closed lid line stays smooth and no point crosses
        its neighbours (moving it onto its paired point would zigzag)."""
        disp = np.zeros_like(pts)
        frac = np.clip(d45 / 5.0, -1.0, 1.0) * self.blink_close
        opening = 0.16 * _iod(pts)                      # a typical open aperture, to open closed eyes
        for upper, lower, crease in self._eyes:
            for i in range(len(pts)):
                u, lo = pts[i, upper], pts[i, lower]
                order = np.argsort(lo[:, 0])
                lo_y = np.interp(u[1:-1, 0], lo[order, 0], lo[order, 1])
                gap = lo_y - u[1:-1, 1]
                if frac[i] < 0:
                    gap = np.full_like(gap, opening[i]) * (gap / max(gap.max(), 1e-6)) ** 0.5
                step = 0.9 * frac[i] * gap                  # upper lid does most of a blink
                disp[i, upper[1:-1], 1] = step
                # The lower lid rises the rest of the way, by its own local gap.
                o_up = np.argsort(u[:, 0])
                gap_lo = lo[1:-1, 1] - np.interp(lo[1:-1, 0], u[o_up, 0], u[o_up, 1])
                if frac[i] < 0:
                    gap_lo = np.full_like(gap_lo, gap.mean())
                disp[i, lower[1:-1], 1] = -0.1 * frac[i] * gap_lo
                disp[i, crease, 1] = 0.3 * step.mean()    # the crease follows its lid
        return disp

    def _no_crossing(self, src: np.ndarray, pts: np.ndarray) -> np.ndarray:
        """Lips and lids may meet but an edit never pushes them through each other (a large
        negative edit, a blink on top of a lid tightener); a source whose points already overlap
        (noise) is left as it was. Lids are compared at the same x (their points do not pair up
        vertically), lips by their paired points."""
        up, lo = self._lips[:, 0], self._lips[:, 1]
        floor = np.minimum(src[:, lo, 1] - src[:, up, 1], 0.0)
        fix = np.maximum(floor - (pts[:, lo, 1] - pts[:, up, 1]), 0.0) / 2.0
        pts[:, up, 1] -= fix
        pts[:, lo, 1] += fix
        for upper, lower, _ in self._eyes:
            u, lw = upper[1:-1], lower
            for i in range(len(pts)):
                order = np.argsort(pts[i, lw, 0])
                lo_y = np.interp(pts[i, u, 0], pts[i, lw[order], 0], pts[i, lw[order], 1])
                src_gap = np.interp(src[i, u, 0], np.sort(src[i, lw, 0]),
                                    src[i, lw[np.argsort(src[i, lw, 0])], 1]) - src[i, u, 1]
                pts[i, u, 1] = np.minimum(pts[i, u, 1], lo_y - np.minimum(src_gap, 0.0))
        return pts

    # -- storage ---------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """npz with the weights and the metadata as JSON; written to a temp file, then renamed."""
        path = Path(path)
        meta = dict(self.meta, ref_size=self.ref_size, ref_margin=self.ref_margin,
                    blink_close=self.blink_close, au_names=list(AU_NAMES))
        with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file: numpy adds no ".npz"
            np.savez_compressed(f, weights=self.weights.astype(np.float16),
                                meta=np.array(json.dumps(meta)))

    @classmethod
    def load(cls, path: Path | None = None) -> "RigModel":
        """From ``path`` or, by default, the rig shipped in reenact/assets."""
        with open_asset(path, DEFAULT_ASSET) as (f, name):
            return cls._from_npz(f, name)

    @classmethod
    def _from_npz(cls, f, name: str) -> "RigModel":
        with np.load(f) as z:
            if "weights" not in z.files or "meta" not in z.files:
                raise ValueError(f"{name}: not a rig file (needs 'weights' and 'meta')")
            meta = json.loads(str(z["meta"]))
            weights = z["weights"].astype(np.float32)
        if meta.get("au_names") != list(AU_NAMES):
            raise ValueError(f"{name}: AU order {meta.get('au_names')} differs from {list(AU_NAMES)}")
        return cls(weights, int(meta["ref_size"]), float(meta["ref_margin"]),
                   float(meta["blink_close"]), meta)


def _iod(pts: np.ndarray) -> np.ndarray:
    """Inter-ocular distance per face of (N, 478, 2) points."""
    left = pts[:, [33, 133]].mean(1)
    right = pts[:, [362, 263]].mean(1)
    return np.linalg.norm(right - left, axis=-1)
