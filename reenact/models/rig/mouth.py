"""The inside of an opening mouth: where the warp would stretch the lip seam, paint a mouth.

When the lips part further than they were in the input, the pixels between the displaced inner lip
lines have no real source: a warp fills them by stretching the few seam pixels into streaks. This
module paints them instead: a dark interior, shaded darker away from the lips, and an upper-teeth
band under the upper lip, tapered and shaded toward the corners. Colours are derived from the face
itself (its lips and skin) so the fill follows the light of the photo. It is a simple procedural
model, deliberately soft; it does not try to draw individual teeth.

Points (x, y) in crop px, pixel centres at integers.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from reenact.models.rig import regions as R
from reenact.models.rig.warp import apply_flow

_POLY = np.asarray(R.inner_mouth_polygon())
_UPPER = np.asarray(R.LIP_INNER_UPPER)
_LOWER = np.asarray(R.LIP_INNER_LOWER)
_LIP_SAMPLES = np.asarray(R.LIP_OUTER_LOWER[2:-2] + R.LIP_OUTER_UPPER[2:-2])
_SKIN_SAMPLES = np.asarray(R.CHEEK_L[:6] + R.CHEEK_R[:6])


@dataclass(frozen=True)
class MouthConfig:
    teeth_height_iod: float = 0.085    # visible upper-teeth height at most, in inter-ocular units
    teeth_fraction: float = 0.85       # of the opening at most
    teeth_shade: float = 0.95          # teeth brightness relative to the brightest skin sample
    interior_shade: float = 0.28       # wide-open interior colour = lip colour * this
    dark_gap_px: float = 6.0           # lip gap (px) from which the interior is fully dark


def polygon_masks(points: np.ndarray, hw: tuple[int, int], erode_px: int = 0) -> np.ndarray:
    """Masks of the inner-mouth polygon, float32 (N, 1, h, w) in [0, 1]: anti-aliased, or
    (erode_px > 0) hard and shrunk by that many pixels, so a closed mouth's zero-area polygon
    (the lip seam) is empty rather than a one-pixel line."""
    out = np.zeros((len(points), 1) + tuple(hw), np.float32)
    kernel = np.ones((2 * erode_px + 1, 2 * erode_px + 1), np.uint8) if erode_px else None
    for i, pts in enumerate(points):
        m = np.zeros(tuple(hw), np.uint8)
        poly = np.round(pts[_POLY] * 16.0).astype(np.int32)
        cv2.fillPoly(m, [poly], 255, lineType=cv2.LINE_8 if erode_px else cv2.LINE_AA, shift=4)
        if kernel is not None:
            m = cv2.erode(m, kernel)
        out[i, 0] = m / 255.0
    return out


def fill_weight(src_pts: np.ndarray, dst_pts: np.ndarray, flow: torch.Tensor, crops: torch.Tensor,
                offset: tuple[int, int], own_erode_px: int = 1) -> torch.Tensor:
    """Where to paint: inside the output's mouth opening, except where the warp already brings the
    input's own mouth interior (its opening shrunk by ``own_erode_px``: a seam narrower than
    about twice that is not kept, the warp would only stretch it into a dark bar). Points are relative to the box (top-left ``offset`` in the crop)
    that ``flow`` (N, h, w, 2) covers. Returns (N, 1, h, w) in [0, 1]."""
    h, w = flow.shape[1:3]
    size = crops.shape[-1]
    dst_in = torch.from_numpy(polygon_masks(dst_pts, (h, w))).to(flow.device, flow.dtype)
    src_full = polygon_masks(src_pts + offset, (size, size), erode_px=own_erode_px)
    src_in = torch.from_numpy(src_full).to(flow.device, flow.dtype)
    return (dst_in * (1.0 - apply_flow(src_in, flow, offset))).clamp(0.0, 1.0)


def _sample(crops01: torch.Tensor, pts: np.ndarray, idx: np.ndarray) -> torch.Tensor:
    """Mean colour (N, 3) of the crops at the given landmark indices (nearest pixel)."""
    n, _, h, w = crops01.shape
    p = np.round(pts[:, idx]).astype(np.int64)
    xs = torch.from_numpy(np.clip(p[..., 0], 0, w - 1)).to(crops01.device)
    ys = torch.from_numpy(np.clip(p[..., 1], 0, h - 1)).to(crops01.device)
    b = torch.arange(n, device=crops01.device)[:, None]
    return crops01[b, :, ys, xs].mean(1)


def paint_mouth(crops: torch.Tensor, dst_pts: np.ndarray, box: tuple[int, int, int, int],
                iod: np.ndarray, cfg: MouthConfig) -> torch.Tensor:
    """The painted mouth for every pixel of ``box`` (used only where fill_weight > 0).

    crops: (N, 3, S, S) in [-1, 1] (colours are sampled from the whole crop); dst_pts: (N, 478, 2)
    displaced landmarks, crop px; box: (x0, y0, x1, y1) exclusive ends; iod: (N,) px.
    Returns (N, 3, y1 - y0, x1 - x0) in [-1, 1].
    """
    x0, y0, x1, y1 = box
    n, h, w = crops.shape[0], y1 - y0, x1 - x0
    dev, dt = crops.device, crops.dtype
    c01 = (crops + 1.0) * 0.5
    lip = _sample(c01, dst_pts, _LIP_SAMPLES)                               # (N, 3)
    skin = _sample(c01, dst_pts, _SKIN_SAMPLES)
    # Teeth: an off-white a little above the brightest skin channel (they catch the same light).
    level = (skin.max(1, keepdim=True).values * 1.2).clamp(max=0.97)
    tooth = level * cfg.teeth_shade * torch.tensor([0.96, 0.92, 0.84], device=dev, dtype=dt)
    y = torch.arange(h, device=dev, dtype=dt).view(1, h, 1)
    cols = np.arange(w)
    up_y, lo_y, taper = [], [], []
    for pts in dst_pts - np.array([x0, y0], np.float32):                    # per-column lip curves
        u, lo = pts[_UPPER], pts[_LOWER]
        up_y.append(np.interp(cols, u[:, 0], u[:, 1]))
        lo_y.append(np.interp(cols, lo[:, 0], lo[:, 1]))
        cx, half = 0.5 * (u[0, 0] + u[-1, 0]), max(0.5 * abs(u[-1, 0] - u[0, 0]), 1.0)
        taper.append(np.clip(1.0 - ((cols - cx) / half) ** 2, 0.0, 1.0))
    up_t = torch.tensor(np.stack(up_y), device=dev, dtype=dt).view(n, 1, w)
    lo_t = torch.tensor(np.stack(lo_y), device=dev, dtype=dt).view(n, 1, w)
    tp = torch.tensor(np.stack(taper), device=dev, dtype=dt).view(n, 1, w)
    gap = (lo_t - up_t).clamp(min=1e-3)
    teeth_h = torch.minimum(cfg.teeth_fraction * gap,
                            torch.as_tensor(cfg.teeth_height_iod * iod, device=dev, dtype=dt).view(n, 1, 1))
    teeth_h = teeth_h * tp.sqrt()
    depth = ((y - up_t) / gap).clamp(0.0, 1.0)                              # 0 at upper lip, 1 at lower
    in_teeth = ((up_t + teeth_h - y) / 1.2).clamp(0.0, 1.0) * (teeth_h > 0.8).to(dt)
    # Teeth darken toward the corners, in the upper lip's shadow and toward their lower edge.
    rel = ((y - up_t) / teeth_h.clamp(min=1e-3)).clamp(0, 1)
    t_shade = (0.6 + 0.4 * tp) * (0.82 + 0.18 * (rel * 3.0).clamp(max=1.0)) * (1.0 - 0.12 * rel)
    # Interior: a narrow gap reads as a darker lip seam, a wide one as the dark mouth; darkest
    # mid-way (throat) and toward the corners.
    seam = (gap / cfg.dark_gap_px).clamp(0.0, 1.0)
    shade = 0.6 + (cfg.interior_shade - 0.6) * seam
    dark = (1.0 - 0.35 * (1.0 - (2.0 * depth - 1.0).abs())) * (0.6 + 0.4 * tp)
    teeth_rgb = tooth.view(n, 3, 1, 1) * t_shade.unsqueeze(1)
    inner_rgb = lip.view(n, 3, 1, 1) * (shade * dark).unsqueeze(1)
    a = in_teeth.unsqueeze(1)
    painted01 = a * teeth_rgb + (1.0 - a) * inner_rgb
    return painted01 * 2.0 - 1.0
