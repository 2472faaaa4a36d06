"""Paste generated face crops back into the frame, on each face's region only.

What is pasted
--------------
The generator returns colour C and attention A (A = 1 keeps the input pixel). With strength s the
edited crop is y = s * (A * y_r + (1 - A) * C) + (1 - s) * y_r = y_r + s (1 - A) (C - y_r), where
y_r is the real crop. Pasting therefore needs only C and the weight ``mask = s * (1 - A)``
(``paste_weight``): each frame pixel becomes

    frame + feather * mask * (C - frame)

evaluated at the pixel's position in the crop. Where the weight is 0 (A = 1, outside the crop,
unselected faces) the frame keeps its own pixel exactly: nothing is resampled twice.

The feather is a smoothstep of the distance to the crop border (in crop pixels): 0 on the border,
1 from ``feather`` * S inwards, continuous everywhere, so no seam shows where the crop ends.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from reenact.kernels.warp import _as_batch_matrices, crop_box_in_frame, invert_affines

# The border ramp every paste uses unless told otherwise (engine, stills, eval): a fraction of the
# crop size (0.08 of a 256 px crop: the ramp ends ~20 px inside the border). One value here so the
# engine, stills and eval paste the same way.
DEFAULT_FEATHER = 0.08


def paste_weight(attention: torch.Tensor, strength: float | torch.Tensor = 1.0) -> torch.Tensor:
    """The paste weight s * (1 - A): attention (N, 1, S, S) in [0, 1]; strength a float or (N,)."""
    s = torch.as_tensor(strength, dtype=attention.dtype, device=attention.device)
    if s.ndim == 1:
        s = s.view(-1, 1, 1, 1)
    return (1.0 - attention) * s


def feather_ramp(q: torch.Tensor, size: int, feather: float) -> torch.Tensor:
    """Feather weight at crop coordinates q (..., 2) (crop pixels, centres at integers).

    0 on and beyond the crop border (x = -0.5 or S - 0.5), rising as a smoothstep to 1 at
    ``feather * size`` pixels inside. Returns (...).
    """
    return _feather_xy(q[..., 0], q[..., 1], size, feather)


def _feather_xy(qx: torch.Tensor, qy: torch.Tensor, size: int, feather: float) -> torch.Tensor:
    # Distance to the nearest crop border: min over x, y of min(q + 0.5, S - 0.5 - q).
    c = (size - 1) / 2.0
    d = c + 0.5 - torch.maximum((qx - c).abs(), (qy - c).abs())
    t = d.mul_(1.0 / max(feather * size, 1e-6)).clamp_(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def paste_faces(frame: torch.Tensor, crops: torch.Tensor, crop_from_frame, mask: torch.Tensor, *,
                feather: float = DEFAULT_FEATHER) -> torch.Tensor:
    """Blend N crops into ``frame`` in place and return it.

    frame: uint8 (H, W, 3) RGB or float (3, H, W) in [-1, 1], a torch tensor (edited in place).
    crops: float (N, 3, S, S) in [-1, 1]: what to paste (the generator's colour C).
    crop_from_frame: (N, 2, 3), frame pixels -> crop pixels (centres at integers).
    mask: float (N, 1, S, S) in [0, 1]: the paste weight (``paste_weight``: s * (1 - A)).
    feather: border ramp width as a fraction of S.
    Faces are pasted in order, so a later face covers an earlier one where they overlap.
    """
    m = _as_batch_matrices(crop_from_frame, len(crops))
    size = crops.shape[-1]
    uint8 = frame.dtype == torch.uint8
    height, width = (frame.shape[:2] if uint8 else frame.shape[1:])
    frame_from_crop = invert_affines(m)
    for i in range(len(crops)):
        # On a uint8 frame a weight below 1/1024 moves a pixel by less than 255/1024 < 0.5 level,
        # which rounds back to the pixel itself: such weights are exactly "no change".
        support = _mask_support(mask[i, 0], size, 1.0 / 1024 if uint8 else 0.0)
        if support is None:
            continue  # nothing to paste (A = 1 everywhere, or zero strength)
        box = crop_box_in_frame(frame_from_crop[i], size, width, height, support)
        if box is not None:
            _paste_one(frame, crops[i], m[i], mask[i], box, feather, uint8)
    return frame


def _mask_support(mask: torch.Tensor, size: int, eps: float = 0.0) -> tuple[float, float, float, float] | None:
    """Crop-pixel rectangle outside which bilinear samples of ``mask`` (S, S) are 0, clipped to
    the crop square; None when the mask is 0 everywhere. Pasting only there skips the part of
    the face region a generator leaves alone (the rig's attention covers the face, not the crop).
    Weights at or below ``eps`` count as 0."""
    nz = mask > eps
    rows = torch.nonzero(nz.any(1)).flatten()
    if len(rows) == 0:
        return None
    cols = torch.nonzero(nz.any(0)).flatten()
    # A sample at q uses the pixels floor(q) and floor(q) + 1: it is 0 unless q lies strictly
    # between (first nonzero - 1) and (last nonzero + 1).
    r0, r1, c0, c1 = (int(v) for v in (rows[0], rows[-1], cols[0], cols[-1]))
    lo, hi = -0.5, size - 0.5
    return (max(lo, c0 - 1.0), max(lo, r0 - 1.0), min(hi, c1 + 1.0), min(hi, r1 + 1.0))


def _paste_one(frame, crop, crop_from_frame, mask, box, feather, uint8) -> None:
    x0, y0, x1, y1 = box
    size = crop.shape[-1]
    dev = frame.device
    # Crop coordinates q of the region's pixel centres, built as outer sums (an affine map of a
    # pixel grid) rather than a batched matmul: this is the hot loop of the paste.
    a = np.asarray(crop_from_frame, np.float64)
    xs = torch.arange(x0, x1 + 1, device=dev, dtype=torch.float64)[None, :]
    ys = torch.arange(y0, y1 + 1, device=dev, dtype=torch.float64)[:, None]
    qx = (a[0, 0] * xs + a[0, 1] * ys + a[0, 2]).float()
    qy = (a[1, 0] * xs + a[1, 1] * ys + a[1, 2]).float()
    # grid_sample's u for crop pixel q (align_corners=False): (2 q + 1) / S - 1.
    grid = torch.stack([(2.0 * qx + 1.0) / size - 1.0, (2.0 * qy + 1.0) / size - 1.0], -1)[None]
    src = torch.cat([crop, mask], 0)[None].float()
    sampled = F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
    weight = _feather_xy(qx, qy, size, feather) * sampled[3].clamp(0.0, 1.0)
    color = sampled[:3]
    if uint8:
        region = frame[y0:y1 + 1, x0:x1 + 1]
        cur = region.float()
        target = (color.movedim(0, -1) + 1.0) * 127.5
        out = cur + weight[..., None] * (target - cur)
        region.copy_(out.round_().clamp_(0, 255).to(torch.uint8))
    else:
        region = frame[:, y0:y1 + 1, x0:x1 + 1]
        region.copy_(region + weight[None] * (color - region))
