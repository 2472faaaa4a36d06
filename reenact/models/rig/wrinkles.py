"""The rig's wrinkles: folds and creases the mean shading field cannot carry.

A mean shading field over many people cancels the folds that sit in different places on different
faces. This model carries them as log-luminance ratios on the template's shape (reference crop
px, within ``box``), drawn onto the face's displaced landmarks at the crop's full resolution:

- **smile exemplars**: expression ratio images of real people (after Liu, Shan & Zhang, SIGGRAPH
  2001): the high-frequency part of smiling / neutral luminance (crow's feet, the nasolabial fold
  deepening) per unit of smile (mean AU06/AU12 change). Per face they are blended with weights
  that depend only on stable properties of the face (skin tone, face shape, skin texture), so a
  face keeps its folds from frame to frame and the weights change smoothly if those properties
  drift;
- **anatomical priors** for AUs without exemplars (AU1/AU2 forehead furrows, AU4 glabellar lines,
  AU9 nose wrinkles, AU15, AU17 chin), drawn where FACS puts them, per AU unit.

Only increases of an AU add folds (a decrease cannot remove the person's own folds, and a negated
exemplar would paint light lines). The ratio is exp(log gain), the same for the three channels.
Built by research/wrinkle_exemplars.py; asset reenact/assets/rig_wrinkles_v1.npz.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial import Delaunay

from reenact.aus.names import au_index
from reenact.models.rig.appearance import _coarse_points, _rescale
from reenact.models.rig.model import open_asset
from reenact.models.rig.warp import triangle_flow

DEFAULT_WRINKLES = "rig_wrinkles_v1.npz"
SMILE_AUS = ("AU06", "AU12")
MAX_SMILE = 4.0          # smile units an exemplar is stretched to at most
MAX_LOG = 0.35           # |log ratio| of the detail at most (a 30% darker crease)
LATTICE = 64             # the template -> face map is computed at 64 x 64 and upsampled
_FAR = -1.0e4            # a reference-crop position far outside any field

# Descriptor points: cheek skin (tone and texture), and the points of the expression-stable
# shape ratios (face width and nose length over the inter-ocular distance).
_CHEEK_POINTS = (117, 118, 101, 50, 346, 347, 330, 280)
_EYE_CENTRES = ((33, 133), (362, 263))
# Relative importance of the descriptors (tone, width, nose length, texture) in the choice.
_DESCRIPTOR_WEIGHT = np.array([1.0, 0.6, 0.6, 0.6], np.float32)


def face_descriptors(crops: torch.Tensor, landmarks: np.ndarray) -> np.ndarray:
    """float32 (N, 4) stable per-face properties: log skin luminance of the cheeks, face width and
    nose length over the inter-ocular distance, cheek skin texture (log high-pass energy: more
    with age, as fine lines and pores show). crops (N, 3, S, S) in [-1, 1], landmarks (N, 478, 2)
    crop px."""
    c = crops.detach().float().cpu().numpy()
    pts = np.asarray(landmarks, np.float64)
    n, s = len(c), c.shape[-1]
    # 11 x 11 patches of cheek skin around each point: (N, P, 11, 11).
    centre = np.clip(np.round(pts[:, list(_CHEEK_POINTS)]).astype(int), 5, s - 6)
    off = np.arange(-5, 6)
    rows = centre[..., 1, None, None] + off[:, None]
    cols = centre[..., 0, None, None] + off[None, :]
    rgb = c[np.arange(n)[:, None, None, None], :, rows, cols]                 # (N, P, 11, 11, 3)
    patches = (rgb @ np.array([0.299, 0.587, 0.114], np.float32) + 1.0) * 0.5
    smooth = (patches[..., :-2, 1:-1] + patches[..., 2:, 1:-1] + patches[..., 1:-1, :-2]
              + patches[..., 1:-1, 2:]) * 0.25
    texture = np.abs(patches[..., 1:-1, 1:-1] - smooth).mean((1, 2, 3))
    eyes = [pts[:, list(e)].mean(1) for e in _EYE_CENTRES]
    iod = np.linalg.norm(eyes[0] - eyes[1], axis=1) + 1e-6
    return np.stack([np.log(np.median(patches.reshape(n, -1), axis=1) + 0.02),
                     np.linalg.norm(pts[:, 234] - pts[:, 454], axis=1) / iod,
                     np.linalg.norm(pts[:, 168] - pts[:, 2], axis=1) / iod,
                     np.log(texture + 1e-4)], 1).astype(np.float32)


@dataclass
class WrinkleModel:
    """exemplars: float32 (E, h, w) log ratio per smile unit; priors: float32 (P, h, w) per AU unit
    (AU indices ``prior_aus``); both over ``box`` (x0, y0, x1, y1) of the reference crop with the
    face in the template's shape; descriptors: float32 (E, 4) of the exemplars' neutral faces."""

    exemplars: np.ndarray
    descriptors: np.ndarray
    priors: np.ndarray
    prior_aus: tuple[int, ...]
    template: np.ndarray
    box: tuple[int, int, int, int]
    ref_size: int = 256
    bandwidth: float = 0.8        # in standard deviations of the library's descriptors
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.exemplars = np.asarray(self.exemplars, np.float32)
        self.priors = np.asarray(self.priors, np.float32)
        self.descriptors = np.asarray(self.descriptors, np.float32)
        self.template = np.asarray(self.template, np.float32).reshape(478, 2)
        x0, y0, x1, y1 = self.box
        shape = (y1 - y0, x1 - x0)
        if self.exemplars.shape[1:] != shape or self.priors.shape[1:] != shape:
            raise ValueError(f"wrinkle fields must be (., {shape[0]}, {shape[1]}) for box {self.box}")
        if len(self.descriptors) != len(self.exemplars) or len(self.prior_aus) != len(self.priors):
            raise ValueError("wrinkle asset: one descriptor row per exemplar, one AU per prior")
        self._smile_cols = [au_index(a) for a in SMILE_AUS]
        self._mean = self.descriptors.mean(0)
        self._std = self.descriptors.std(0) + 1e-6
        self._points = _coarse_points(self.template)
        self._simplices = self._support_triangles()
        self._lattice = np.stack(np.mgrid[0:LATTICE, 0:LATTICE][::-1]).astype(np.float32)  # (2, r, r) x, y

    def exemplar_weights(self, crops: torch.Tensor, landmarks: np.ndarray) -> np.ndarray:
        """float32 (N, E), rows summing to 1: a Gaussian kernel on the standardised descriptors of
        each input face (its own crop and landmarks, not the edit: the choice does not move with
        the AUs), continuous in them."""
        d = (face_descriptors(crops, landmarks) - self._mean) / self._std            # (N, 4)
        e = (self.descriptors - self._mean) / self._std                              # (E, 4)
        dist2 = (((d[:, None] - e[None]) * _DESCRIPTOR_WEIGHT) ** 2).sum(-1)
        logits = -0.5 * dist2 / self.bandwidth ** 2
        w = np.exp(logits - logits.max(1, keepdims=True))
        return (w / w.sum(1, keepdims=True)).astype(np.float32)

    def log_gain(self, delta_aus: np.ndarray, crops: torch.Tensor, src: np.ndarray, dst: np.ndarray,
                 size: int) -> torch.Tensor | None:
        """Log-luminance detail, float32 (N, 1, size, size), of the AU changes ``delta_aus``
        (N, 17) on faces whose input crops/landmarks are ``crops``/``src`` and displaced landmarks
        ``dst`` (N, 478, 2) crop px. Exactly 0 where no fold is drawn; None when nothing is."""
        delta = np.maximum(np.asarray(delta_aus, np.float32), 0.0)
        smile = np.minimum(delta[:, self._smile_cols].mean(1), MAX_SMILE)             # (N,)
        strength = np.minimum(delta[:, list(self.prior_aus)], 5.0)                  # (N, P)
        if not smile.any() and not strength.any():
            return None
        h, w = self.priors.shape[1:]
        # torch's matmul, not numpy's: it keeps to the threads the engine gives torch, where numpy's
        # BLAS took every core (twice the CPU time for the same wall time, on a 2-core machine).
        mix = torch.from_numpy(strength) @ torch.from_numpy(self.priors.reshape(len(self.priors), -1))
        if smile.any():
            weights = self.exemplar_weights(crops, src) * smile[:, None]
            mix += torch.from_numpy(weights) @ torch.from_numpy(self.exemplars.reshape(len(self.exemplars), -1))
        mix = mix.clamp(-MAX_LOG, MAX_LOG).reshape(-1, 1, h, w)
        grid, (bx0, by0, bx1, by1) = self._template_grid(dst, size)
        out = torch.zeros(len(mix), 1, size, size)
        # Zero field outside the box and outside the mesh: exact zeros stay exact (A = 1 there).
        out[:, :, by0:by1, bx0:bx1] = F.grid_sample(
            mix, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return out

    def _template_grid(self, dst: np.ndarray, size: int):
        """Where in the field box each crop pixel samples: grid_sample's normalised grid
        (N, h, w, 2) over the crop box ``(bx0, by0, bx1, by1)`` the field's triangles cover. The
        map is piecewise affine: computed on a LATTICE x LATTICE grid and upsampled bilinearly
        (close to exact: neighbouring triangles' affines differ little); the field itself is
        sampled at every crop pixel. Pixels no field triangle covers map far outside the box, so
        they sample exact zeros."""
        x0, y0, x1, y1 = self.box
        r, ref = LATTICE, self.ref_size
        tpl = _rescale(self.template, ref, r)[self._points]
        pts = np.asarray(dst, np.float64)[:, self._points]
        maps = []
        for p in pts:
            flow, covered = triangle_flow(tpl, _rescale(p, size, r), self._simplices, r)
            pos = (self._lattice + flow.transpose(2, 0, 1) + 0.5) * (ref / r) - 0.5  # reference px
            pos[:, ~covered] = _FAR
            maps.append(pos)
        maps = torch.from_numpy(np.stack(maps))
        if size % r:
            full, box = F.interpolate(maps, size=(size, size), mode="bilinear", align_corners=False), \
                (0, 0, size, size)
        else:
            full, box = _upsample_around(maps, pts[:, np.unique(self._simplices)], size)
        gx = (full[:, 0] - x0 + 0.5) * (2.0 / (x1 - x0)) - 1.0
        gy = (full[:, 1] - y0 + 0.5) * (2.0 / (y1 - y0)) - 1.0
        return torch.stack([gx, gy], -1), box

    def _support_triangles(self) -> np.ndarray:
        """int (T, 3) into ``self._points``: the triangles of a coarse mesh on the template that
        touch a non-zero pixel of any field (the rest of the face carries no detail: not drawn)."""
        tpl = self.template.astype(np.float64)[self._points]
        simplices = Delaunay(tpl).simplices
        x0, y0, x1, y1 = self.box
        support = np.zeros((self.ref_size, self.ref_size), bool)
        support[y0:y1, x0:x1] = (np.abs(self.exemplars).max(0) > 0) | (np.abs(self.priors).max(0) > 0)
        keep = []
        for t, tri in enumerate(simplices):
            lo = np.clip(np.floor(tpl[tri].min(0)).astype(int) - 1, 0, self.ref_size - 1)
            hi = np.clip(np.ceil(tpl[tri].max(0)).astype(int) + 2, 1, self.ref_size)
            if support[lo[1]:hi[1], lo[0]:hi[0]].any():
                keep.append(t)
        return simplices[keep]

    # -- storage ---------------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path | None = None) -> "WrinkleModel":
        """From ``path`` or, by default, the asset shipped in reenact/assets (package data)."""
        with open_asset(path, DEFAULT_WRINKLES) as (f, name):
            with np.load(f) as z:
                missing = {"exemplars", "priors", "descriptors", "template", "meta"} - set(z.files)
                if missing:
                    raise ValueError(f"{name}: not a rig wrinkle file (missing {sorted(missing)})")
                meta = json.loads(str(z["meta"]))
                ex = z["exemplars"].astype(np.float32) * meta["exemplar_scale"]
                pr = z["priors"].astype(np.float32) * meta["prior_scale"]
                desc, template = z["descriptors"], z["template"]
        return cls(ex, desc, pr, tuple(au_index(a) for a in meta["prior_aus"]), template,
                   tuple(meta["box"]), int(meta["ref_size"]), meta=meta)


def _upsample_around(maps: torch.Tensor, points: np.ndarray, size: int):
    """Bilinear upsampling of (N, C, r, r) lattice maps to the pixels of a ``size`` crop (a
    multiple of r) near ``points`` (N, P, 2) crop px only: the lattice cells around them, one more
    each side (there the weights equal the whole lattice's), upsampled, that extra cell cut off.
    Returns (N, C, h, w) and the crop box (x0, y0, x1, y1) it covers."""
    r = maps.shape[-1]
    k = size // r
    lat = _rescale(points, size, r)
    lo = np.clip(np.floor(lat.min((0, 1))).astype(int) - 1, 0, r - 1)
    hi = np.clip(np.ceil(lat.max((0, 1))).astype(int) + 2, 1, r)
    up = F.interpolate(maps[:, :, lo[1]:hi[1], lo[0]:hi[0]], scale_factor=k, mode="bilinear",
                       align_corners=False)
    # At the lattice's own border the whole lattice clamps too: nothing to cut there.
    cut_lo = np.where(lo > 0, k, 0)
    cut_hi = np.where(hi < r, k, 0)
    up = up[:, :, cut_lo[1]:up.shape[2] - cut_hi[1], cut_lo[0]:up.shape[3] - cut_hi[0]]
    box = (int(lo[0] * k + cut_lo[0]), int(lo[1] * k + cut_lo[1]),
           int(hi[0] * k - cut_hi[0]), int(hi[1] * k - cut_hi[1]))
    return up, box
