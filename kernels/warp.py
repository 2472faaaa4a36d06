"""Batched face crops: an affine warp of the face region only, with OpenCV's pixel-centre convention.

Pixel-centre conversion (derivation)
------------------------------------
Reenact's points are (x, y) pixels with pixel centres at integer coordinates: pixel i covers
[i - 0.5, i + 0.5] (reenact.tracking.align). ``torch.nn.functional.grid_sample`` with
``align_corners=False`` instead addresses an image of width W by u in [-1, 1], where -1 is the
left edge of pixel 0 and +1 the right edge of pixel W - 1. Pixel i's centre is therefore at
u = (2 i + 1) / W - 1, and in general

    u = (2 x + 1) / W - 1          x = ((u + 1) W - 1) / 2.

``affine_grid`` evaluates theta at the normalised centres of the output pixels, so for a crop of
side S sampled from a window of the frame with origin (ox, oy) and size (w, h):

    theta = N_window @ frame_from_crop @ D_crop
    D_crop   = [[S/2, 0, (S-1)/2], [0, S/2, (S-1)/2], [0, 0, 1]]                 (crop u -> crop px)
    N_window = [[2/w, 0, (1 - 2 ox)/w - 1], [0, 2/h, (1 - 2 oy)/h - 1], [0, 0, 1]]  (frame px -> window u)

With ``padding_mode="border"`` a sample outside the frame takes the nearest edge pixel, which is
what ``cv2.warpAffine(..., BORDER_REPLICATE)`` (reenact.tracking.align.warp_to_crop) gives.

Face region only: each face reads a window of the frame that holds every pixel its bilinear taps
touch. All windows in a batch share one size (the largest), each moved inside the frame, so one
``grid_sample`` call serves the batch while only face regions are copied (and converted from uint8).
A window edge only coincides with the frame edge when the face reaches it, so the border padding
never invents pixels that the frame has.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from reenact.kernels.color import to_float


def _as_batch_matrices(m, n_expected: int | None = None) -> np.ndarray:
    a = m.detach().cpu().double().numpy() if isinstance(m, torch.Tensor) else np.asarray(m, np.float64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[1:] != (2, 3):
        raise ValueError(f"expected affine matrices of shape (N, 2, 3), got {a.shape}")
    if n_expected is not None and len(a) != n_expected:
        raise ValueError(f"{len(a)} matrices for {n_expected} images")
    return a


def _to3(m: np.ndarray) -> np.ndarray:
    out = np.zeros(m.shape[:-2] + (3, 3))
    out[..., :2, :] = m
    out[..., 2, 2] = 1.0
    return out


def invert_affines(m: np.ndarray) -> np.ndarray:
    """Inverse of each (2, 3) affine in an (N, 2, 3) stack (frame_from_crop <-> crop_from_frame)."""
    return np.linalg.inv(_to3(np.asarray(m, np.float64)))[:, :2, :]


def _normaliser(origin: tuple[float, float], size: tuple[int, int]) -> np.ndarray:
    """3x3 map from frame pixels to the u coordinates of a window (origin (ox, oy), size (w, h))."""
    (ox, oy), (w, h) = origin, size
    return np.array([[2.0 / w, 0.0, (1.0 - 2.0 * ox) / w - 1.0],
                     [0.0, 2.0 / h, (1.0 - 2.0 * oy) / h - 1.0],
                     [0.0, 0.0, 1.0]])


def _denormaliser(origin: tuple[float, float], size: tuple[int, int]) -> np.ndarray:
    """3x3 map from a window's u coordinates to frame pixels (inverse of ``_normaliser``)."""
    (ox, oy), (w, h) = origin, size
    return np.array([[w / 2.0, 0.0, ox + (w - 1) / 2.0],
                     [0.0, h / 2.0, oy + (h - 1) / 2.0],
                     [0.0, 0.0, 1.0]])


def sample_box(frame_from_crop: np.ndarray, size: int, width: int, height: int) -> tuple[int, int, int, int]:
    """Inclusive pixel box (x0, y0, x1, y1), clipped to the frame, that bilinear sampling of an
    S x S crop touches. frame_from_crop: (2, 3)."""
    c = float(size - 1)
    corners = np.array([[0, 0], [c, 0], [0, c], [c, c]])
    pts = corners @ frame_from_crop[:, :2].T + frame_from_crop[:, 2]
    lo, hi = np.floor(pts.min(0)), np.floor(pts.max(0)) + 1
    x0, x1 = (int(np.clip(v, 0, width - 1)) for v in (lo[0], hi[0]))
    y0, y1 = (int(np.clip(v, 0, height - 1)) for v in (lo[1], hi[1]))
    return x0, y0, max(x0, x1), max(y0, y1)


def _windows(frame_from_crop: np.ndarray, size: int, width: int, height: int):
    boxes = [sample_box(m, size, width, height) for m in frame_from_crop]
    w = max(b[2] - b[0] + 1 for b in boxes)
    h = max(b[3] - b[1] + 1 for b in boxes)
    # Shift each window inside the frame; it still holds its own box because w, h >= box size.
    origins = [(min(b[0], width - w), min(b[1], height - h)) for b in boxes]
    return origins, (w, h)


def crop_faces(frame: torch.Tensor, crop_from_frame, size: int, *,
               mode: str = "bilinear") -> torch.Tensor:
    """Warp N face crops out of a frame.

    frame: a torch tensor, one of
      - float (3, H, W) in [-1, 1] (one frame, N faces),
      - float (N, 3, H, W) (one frame per face, e.g. faces batched across frames),
      - uint8 (H, W, 3) RGB (only the face windows are converted to float).
    crop_from_frame: (N, 2, 3) (numpy or tensor), maps frame pixels to crop pixels, pixel centres
      at integers (reenact.tracking.align.crop_from_frame).
    size: the crop side S. Returns float32 (N, 3, S, S) in [-1, 1] on the frame's device.
    """
    m = _as_batch_matrices(crop_from_frame)
    n = len(m)
    uint8 = frame.dtype == torch.uint8
    if uint8:
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"a uint8 frame must be (H, W, 3), got {tuple(frame.shape)}")
        height, width = frame.shape[:2]
    elif frame.ndim == 3:
        height, width = frame.shape[1:]
    elif frame.ndim == 4 and len(frame) == n:
        height, width = frame.shape[2:]
    else:
        raise ValueError(f"expected (3, H, W), (N, 3, H, W) or uint8 (H, W, 3), got {tuple(frame.shape)}")
    if n == 0:
        return torch.zeros((0, 3, size, size), dtype=torch.float32, device=frame.device)
    frame_from_crop = invert_affines(m)
    origins, (w, h) = _windows(frame_from_crop, size, width, height)
    if uint8:
        wins = torch.stack([frame[oy:oy + h, ox:ox + w] for ox, oy in origins])
        wins = to_float(wins)
    elif frame.ndim == 3:
        wins = torch.stack([frame[:, oy:oy + h, ox:ox + w] for ox, oy in origins]).float()
    else:
        wins = torch.stack([frame[i, :, oy:oy + h, ox:ox + w] for i, (ox, oy) in enumerate(origins)]).float()
    d_crop = _denormaliser((0.0, 0.0), (size, size))
    theta = np.stack([(_normaliser(o, (w, h)) @ _to3(f) @ d_crop)[:2] for o, f in zip(origins, frame_from_crop)])
    theta_t = torch.as_tensor(theta, dtype=torch.float32, device=frame.device)
    grid = F.affine_grid(theta_t, [n, 3, size, size], align_corners=False)
    return F.grid_sample(wins, grid, mode=mode, padding_mode="border", align_corners=False)


def crop_box_in_frame(frame_from_crop: np.ndarray, size: int, width: int, height: int,
                      within: tuple[float, float, float, float] | None = None):
    """Inclusive box (x0, y0, x1, y1) of frame pixels whose centres fall inside the crop's square
    [-0.5, S - 0.5]^2 (or inside the crop-pixel rectangle ``within`` = (x0, y0, x1, y1)), clipped
    to the frame; None when that misses the frame."""
    lo_x, lo_y, hi_x, hi_y = within if within is not None else (-0.5, -0.5, size - 0.5, size - 0.5)
    corners = np.array([[lo_x, lo_y], [hi_x, lo_y], [lo_x, hi_y], [hi_x, hi_y]])
    pts = corners @ frame_from_crop[:, :2].T + frame_from_crop[:, 2]
    x0, y0 = (max(0, math.ceil(v)) for v in pts.min(0))
    x1, y1 = (math.floor(v) for v in pts.max(0))
    x1, y1 = min(x1, width - 1), min(y1, height - 1)
    if x1 < x0 or y1 < y0:
        return None
    return x0, y0, x1, y1
