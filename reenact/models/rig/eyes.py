"""The lash line of a closing eye.

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
