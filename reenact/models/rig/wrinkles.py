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
LATTICE = 64             # the template -> face map is piecewise affine: computed at 64 x 64, upsampled

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
    y = ((crops.detach().float().cpu() + 1.0) * 0.5)
    y = (0.299 * y[:, 0] + 0.587 * y[:, 1] + 0.114 * y[:, 2]).numpy()
    pts = np.asarray(landmarks, np.float64)
    s = y.shape[-1]
    out = np.zeros((len(y), 4), np.float32)
    for i, (img, p) in enumerate(zip(y, pts)):
        patches = []
        for k in _CHEEK_POINTS:
            cx, cy = np.clip(np.round(p[k]).astype(int), 5, s - 6)
            patches.append(img[cy - 5:cy + 6, cx - 5:cx + 6])
        patches = np.stack(patches)
        smooth = (patches[:, :-2, 1:-1] + patches[:, 2:, 1:-1] + patches[:, 1:-1, :-2]
                  + patches[:, 1:-1, 2:]) * 0.25
        iod = np.linalg.norm(p[list(_EYE_CENTRES[0])].mean(0) - p[list(_EYE_CENTRES[1])].mean(0)) + 1e-6
        out[i] = (np.log(np.median(patches) + 0.02),
                  np.linalg.norm(p[234] - p[454]) / iod,
                  np.linalg.norm(p[168] - p[2]) / iod,
                  np.log(np.abs(patches[:, 1:-1, 1:-1] - smooth).mean() + 1e-4))
    return out


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
        tpl = _rescale(self.template, self.ref_size, LATTICE)[self._points]
        self._simplices = Delaunay(tpl).simplices

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
        mix = np.einsum("np,phw->nhw", strength, self.priors)
        if smile.any():
            w = self.exemplar_weights(crops, src) * smile[:, None]
            mix += np.einsum("ne,ehw->nhw", w, self.exemplars)
        mix = torch.from_numpy(np.clip(mix, -MAX_LOG, MAX_LOG)).unsqueeze(1)
        grid, covered = self._template_grid(dst, size)
        out = F.grid_sample(mix, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        # Zero field outside the box and outside the mesh: exact zeros stay exact (A = 1 there).
        return out * covered

    def _template_grid(self, dst: np.ndarray, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """For each pixel of the face crop, where in the field box to sample (grid_sample's
        normalised grid, (N, size, size, 2)), and whether the mesh covers it ((N, 1, size, size))."""
        r, ref = LATTICE, self.ref_size
        tpl = _rescale(self.template, ref, r)[self._points]
        maps, cover = [], []
        ys, xs = np.mgrid[0:r, 0:r].astype(np.float32)
        for p in np.asarray(dst, np.float64)[:, self._points]:
            flow, covered = triangle_flow(tpl, _rescale(p, size, r), self._simplices, r)
            pos = np.stack([xs + flow[..., 0], ys + flow[..., 1]], -1)               # template lattice
            maps.append((pos + 0.5) * (ref / r) - 0.5)                                # reference crop px
            cover.append(covered)
        maps = torch.from_numpy(np.stack(maps)).permute(0, 3, 1, 2)
        maps = F.interpolate(maps, size=(size, size), mode="bilinear", align_corners=False)
        cov = F.interpolate(torch.from_numpy(np.stack(cover)).float().unsqueeze(1), size=(size, size),
                            mode="bilinear", align_corners=False)
        x0, y0, x1, y1 = self.box
        gx = (maps[:, 0] - x0 + 0.5) / (x1 - x0) * 2.0 - 1.0
        gy = (maps[:, 1] - y0 + 0.5) / (y1 - y0) * 2.0 - 1.0
        return torch.stack([gx, gy], -1), (cov >= 1.0 - 1e-6).float()

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
