"""The rig's appearance model: the mean shading change per AU, in a shape-normalised frame.

Geometry cannot darken a deepening nasolabial fold or shade a raised cheek. This model stores, per
AU, a small field of log-luminance change per AU unit (``fields`` (K, R, R), K AUs, R x R pixels)
over the reference crop (``ref_size``, ``ref_margin``: the canonical template frame of
reenact.tracking.align) with the face in the template's shape (``template`` (478, 2), reference
crop px). Applied to a face: the AU change weights the fields, the sum is warped from the template
shape onto the face's displaced landmarks (piecewise-affine, at R x R, then upsampled), and the
crop's colour is multiplied by exp(field): a luminance ratio, the same for all three channels, so
it darkens and brightens any skin tone alike without tinting it.

Coordinates: (x, y) crop pixels, pixel centres at integers.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from reenact.atomic import atomic_path
from reenact.aus.names import AU_NAMES, NUM_AUS
from reenact.models.rig import regions as R
from reenact.models.rig.model import open_asset
from scipy.spatial import Delaunay

from reenact.models.rig.warp import MESH_POINTS, apply_flow, triangle_flow

DEFAULT_APPEARANCE = "rig_appearance_v1.npz"


@dataclass
class AppearanceModel:
    """fields: float32 (K, R, R) log-luminance change per AU unit, template shape, reference crop
    scaled to R; aus: the K AU indices (reenact.aus.names order) the fields belong to;
    template: float32 (478, 2) the shape the fields are drawn on, reference crop px."""

    fields: np.ndarray
    aus: tuple[int, ...]
    template: np.ndarray
    ref_size: int = 256
    ref_margin: float = 0.2
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        f = np.asarray(self.fields, np.float32)
        if f.ndim != 3 or f.shape[1] != f.shape[2] or f.shape[0] != len(self.aus):
            raise ValueError(f"appearance fields must be (K={len(self.aus)}, R, R), got {f.shape}")
        if any(not 0 <= a < NUM_AUS for a in self.aus):
            raise ValueError(f"appearance AU indices must be in 0..{NUM_AUS - 1}, got {self.aus}")
        self.fields = f
        self.aus = tuple(int(a) for a in self.aus)
        self.template = np.asarray(self.template, np.float32).reshape(478, 2)
        self._points = _coarse_points(self.template)
        self._simplices = self._support_triangles()

    @property
    def resolution(self) -> int:
        return self.fields.shape[-1]

    def log_gain(self, delta_aus: np.ndarray, landmarks: np.ndarray, size: int) -> torch.Tensor | None:
        """Log-luminance change over the crop, float32 (N, 1, size, size), for AU changes
        ``delta_aus`` (N, 17) of faces whose (displaced) landmarks are ``landmarks`` (N, 478, 2)
        crop px of a ``size`` crop (any margin: the field follows the landmarks). Exactly 0
        where the fields are 0; None when no face has a change in the model's AUs."""
        w = np.asarray(delta_aus, np.float32)[:, list(self.aus)]            # (N, K)
        if not np.any(w):
            return None
        r = self.resolution
        mix = torch.from_numpy(np.einsum("nk,khw->nhw", w, self.fields)).unsqueeze(1)
        # Warp each face's mix from the template shape onto its landmarks, at R x R: the output
        # triangles are the face's, each samples its template triangle.
        tpl = _rescale(self.template, self.ref_size, r)
        pts = np.asarray(landmarks, np.float64)[:, self._points]
        flows, covered = zip(*(triangle_flow(tpl[self._points], _rescale(p, size, r), self._simplices, r)
                               for p in pts))
        warped = apply_flow(mix, torch.from_numpy(np.stack(flows)))
        # Outside the triangles that carry the field there is no field (not the template's pixel).
        warped = warped * torch.from_numpy(np.stack(covered)).unsqueeze(1).to(warped.dtype)
        out = F.interpolate(warped, size=(size, size), mode="bilinear", align_corners=False)
        # Bilinear upsampling keeps exact zeros away from the field, so A stays exactly 1 there.
        return out

    def _support_triangles(self) -> np.ndarray:
        """int (T, 3) into ``self._points``: the triangles of a coarse mesh on the template
        (fixed: the face's shape is close to the template's where the field lives) that touch a
        non-zero field pixel. The field is smooth: a coarse mesh warps it as well as the full one
        at a fraction of the rasterisation."""
        r = self.resolution
        tpl = _rescale(self.template, self.ref_size, r)[self._points]
        simplices = Delaunay(tpl).simplices
        support = np.abs(self.fields).max(0) > 0
        keep = []
        for t, tri in enumerate(simplices):
            lo = np.clip(np.floor(tpl[tri].min(0)).astype(int) - 1, 0, r - 1)
            hi = np.clip(np.ceil(tpl[tri].max(0)).astype(int) + 2, 1, r)
            if support[lo[1]:hi[1], lo[0]:hi[0]].any():
                keep.append(t)
        return simplices[keep]

    # -- storage ---------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """npz (fields float16, AU names, template, metadata JSON); temp file, then renamed."""
        path = Path(path)
        meta = dict(self.meta, ref_size=self.ref_size, ref_margin=self.ref_margin,
                    aus=[AU_NAMES[a] for a in self.aus])
        with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file: numpy adds no ".npz"
            np.savez_compressed(f, fields=self.fields.astype(np.float16),
                                template=self.template.astype(np.float32),
                                meta=np.array(json.dumps(meta)))

    @classmethod
    def load(cls, path: Path | None = None) -> "AppearanceModel":
        """From ``path`` or, by default, the model shipped in reenact/assets (package data)."""
        with open_asset(path, DEFAULT_APPEARANCE) as (f, name):
            return cls._from_npz(f, name)

    @classmethod
    def _from_npz(cls, f, name: str) -> "AppearanceModel":
        with np.load(f) as z:
            missing = {"fields", "template", "meta"} - set(z.files)
            if missing:
                raise ValueError(f"{name}: not a rig appearance file (missing {sorted(missing)})")
            meta = json.loads(str(z["meta"]))
            fields, template = z["fields"].astype(np.float32), z["template"]
        names = list(AU_NAMES)
        unknown = [a for a in meta.get("aus", []) if a not in names]
        if unknown or "aus" not in meta:
            raise ValueError(f"{name}: unknown AU names {unknown or 'missing'} (expected {names})")
        return cls(fields, tuple(names.index(a) for a in meta["aus"]), template,
                   int(meta["ref_size"]), float(meta["ref_margin"]), meta)


# Kept in the coarse mesh: the contours the shading hugs (lips, eye corners and lids, nose wings,
# the face oval), so the fold beside the mouth follows the mouth corner exactly.
_CONTOURS = (R.LIP_OUTER_UPPER + R.LIP_OUTER_LOWER + R.EYE_L_UPPER + R.EYE_L_LOWER + R.EYE_R_UPPER
             + R.EYE_R_LOWER + R.NOSE_WING + (1, 4, 152, 10))


def _coarse_points(template: np.ndarray, count: int = 140) -> np.ndarray:
    """Indices of ``count`` mesh points: the contours, then farthest-point sampling of the rest."""
    pts = np.asarray(template, np.float64)[:MESH_POINTS]
    chosen = list(dict.fromkeys(_CONTOURS))
    dist = np.min(np.linalg.norm(pts[:, None] - pts[chosen][None], axis=-1), axis=1)
    while len(chosen) < count:
        i = int(np.argmax(dist))
        chosen.append(i)
        dist = np.minimum(dist, np.linalg.norm(pts - pts[i], axis=1))
    return np.asarray(chosen)


def _rescale(points: np.ndarray, size: int, res: int) -> np.ndarray:
    """Pixel positions in a ``size`` crop -> the same positions on a ``res`` lattice over it
    (pixel centres at integers in both)."""
    return (np.asarray(points, np.float64) + 0.5) * (res / size) - 0.5
