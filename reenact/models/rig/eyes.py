"""The closing eye: the lid made of the face's own lid skin, and the lash line along it.

A blink warps the upper lid down onto the lower one. Sampled from the input's lid as it is, the
closed lid is the strip between the crease and the lid margin stretched over the whole eye, and
the lashes at its lower edge smear into a grey band. ``lid_skin_source`` moves the warp's *source*
points of the upper lid up into the lid skin, by a share of the lid's height growing with the
closure: the closed lid then samples skin only, and the lash band is squeezed into the closed
line, where ``lash_weight`` paints a thin line in the face's own lash colour.

A blink closes the upper lid onto the lower one by warping; along the line where they meet, the
pixels come from the lower lid's margin, where the white of the eye begins, and show as a dotted
bright line. This paints a thin line in the face's own lash colour (the darkest pixels along the
input's upper lid) along the closed lid, fading in as the lid closes.

Points (x, y) in crop px, pixel centres at integers.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

from reenact.models.rig import regions as R

_UPPERS = (np.asarray(R.EYE_L_UPPER), np.asarray(R.EYE_R_UPPER))
_CREASES = (np.asarray(R.LID_CREASE_L), np.asarray(R.LID_CREASE_R))
_TAPER = np.array([0.3, 1.0, 1.0, 1.0, 1.0, 1.0, 0.3])   # per upper-lid point, corners excluded
LASH_SHARE = 0.75     # of the margin-to-crease height: the lashes and lid margin seen from the front


def lid_skin_source(src_pts: np.ndarray, closure: np.ndarray, share: float = LASH_SHARE) -> np.ndarray:
    """The warp's source points for closing eyes: (N, 478, 2) float, a copy of ``src_pts`` with
    each upper-lid point (corners excluded) raised toward its crease point by ``share`` x closure
    of the height between them. closure (N,) in [0, 1]; 0 returns the points unchanged (linear in
    closure: no jump as a blink starts)."""
    out = np.array(src_pts, np.float64, copy=True)
    c = np.clip(np.asarray(closure, np.float64), 0.0, 1.0)
    for upper, crease in zip(_UPPERS, _CREASES):
        u, k = upper[1:-1], crease[1:-1]
        height = np.maximum(out[:, u, 1] - out[:, k, 1], 0.0)
        # Tapered at the corners: there the lids meet at a wedge of white, which a raised source
        # point would pull into the closed lid as a bright dot.
        out[:, u, 1] -= share * c[:, None] * height * _TAPER
    return out


def lash_colour(crops01: torch.Tensor, src_pts: np.ndarray) -> torch.Tensor:
    """(N, 3): mean of the three darkest input pixels on the upper-lid margins (nearest pixel)."""
    n, _, h, w = crops01.shape
    idx = np.concatenate(_UPPERS)
    p = np.round(src_pts[:, idx]).astype(np.int64)
    xs = torch.from_numpy(np.clip(p[..., 0], 0, w - 1)).to(crops01.device)
    ys = torch.from_numpy(np.clip(p[..., 1], 0, h - 1)).to(crops01.device)
    b = torch.arange(n, device=crops01.device)[:, None]
    rgb = crops01[b, :, ys, xs]                                              # (N, K, 3)
    darkest = rgb.mean(-1).argsort(dim=1)[:, :3]
    return torch.gather(rgb, 1, darkest[..., None].expand(-1, -1, 3)).mean(1)


def lash_weight(dst_pts: np.ndarray, closure: np.ndarray, box: tuple[int, int, int, int],
                width_px: float = 1.3) -> np.ndarray:
    """(N, 1, h, w) float32: an anti-aliased line along each displaced upper lid, times how far
    the eye closes (0 below 70% closure, 1 when shut)."""
    x0, y0, x1, y1 = box
    out = np.zeros((len(dst_pts), 1, y1 - y0, x1 - x0), np.float32)
    fade = np.clip((np.asarray(closure) - 0.7) / 0.3, 0.0, 1.0)
    for i, pts in enumerate(dst_pts):
        if fade[i] <= 0:
            continue
        m = np.zeros((y1 - y0, x1 - x0), np.uint8)
        for upper in _UPPERS:
            line = np.round((pts[upper] - (x0, y0)) * 16.0).astype(np.int32)
            cv2.polylines(m, [line], False, 255, thickness=max(1, int(round(width_px))),
                          lineType=cv2.LINE_AA, shift=4)
        out[i, 0] = m / 255.0 * fade[i]
    return out
