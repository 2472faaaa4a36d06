"""Piecewise-affine warp from landmarks to a dense backward flow, and its application with torch.

For each output pixel p the flow gives where in the input crop to sample: the mesh is triangulated
halfway between the input and the displaced points (the input's points fold thin triangles at the
lip line once the lips part; the displaced points of a closed eye put both lids on one line, and
their triangulation reaches from the brow across the whole eye), each output triangle maps
affinely back onto its input triangle, and points on the crop border are fixed so the crop edge
never moves.

Coordinates: (x, y) crop pixels, pixel centres at integers (reenact.tracking.align).
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial import Delaunay

MESH_POINTS = 468          # the iris points (468-477) sit inside the eye and are not part of the skin
BORDER_STEPS = 9           # anchor points per crop side


def border_anchors(size: int) -> np.ndarray:
    """Fixed points around the crop border, (4 * (BORDER_STEPS - 1), 2), crop px."""
    lo, hi = -0.5, size - 0.5
    t = np.linspace(lo, hi, BORDER_STEPS)
    top = np.stack([t, np.full_like(t, lo)], 1)
    bottom = np.stack([t, np.full_like(t, hi)], 1)
    left = np.stack([np.full_like(t, lo), t], 1)[1:-1]
    right = np.stack([np.full_like(t, hi), t], 1)[1:-1]
    return np.concatenate([top, bottom, left, right])


def lattice_size(size: int, step: int) -> int:
    """Points per side of the lattice {0, step, 2 step, ...} that covers pixels 0..size-1."""
    return -(-(size - 1) // step) + 1


def backward_flow(src: np.ndarray, dst: np.ndarray, size: int, step: int = 1,
                  eps: float = 0.05) -> np.ndarray:
    """Backward flow of one face on the lattice of crop pixels (k * step): float32 (L, L, 2) with
    L = lattice_size(size, step), and input position = output pixel + flow. ``step`` > 1 computes
    the piecewise-affine map on a coarser lattice (the flow is continuous and piecewise linear, so
    bilinear upsampling of it, ``upsample_flow``, is close to exact: cheaper by step^2).

    src, dst: (478, 2) landmarks before and after the edit, crop px. Points moved by less than
    ``eps`` px count as still (their triangles keep flow 0: invisible, and a much smaller area to
    compute). Zero where nothing moves.
    """
    n_lat = lattice_size(size, step)
    flow = np.zeros((n_lat, n_lat, 2), np.float32)
    src = np.asarray(src, np.float64)[:MESH_POINTS]
    dst = np.asarray(dst, np.float64)[:MESH_POINTS]
    moving = np.linalg.norm(dst - src, axis=1) > eps
    if not moving.any():
        return flow
    anchors = border_anchors(size)
    pd = np.concatenate([dst, anchors])
    ps = np.concatenate([src, anchors])
    # Triangulate halfway between input and output: an opening mouth is already open there (no
    # thin seam triangles that fold, as with the input's points) and a closing eye still open
    # (no triangles from the brow across the two nearly coincident lids, as with the output's).
    simplices = Delaunay(0.5 * (pd + ps)).simplices
    # Only triangles with a moving corner map non-identically; the rest keep flow 0.
    active = (moving[np.minimum(simplices, MESH_POINTS - 1)] & (simplices < MESH_POINTS)).any(1)
    simplices = simplices[active]
    # src_from_dst - identity, per triangle, as float32 coefficient rows: flow = c0 x + c1 y + c2.
    affines, ok = _triangle_affines(pd[simplices], ps[simplices])
    coef = (affines - np.array([[1.0, 0, 0], [0, 1.0, 0]])).astype(np.float32)
    # Collapsed output triangles (a fully closed lid) are not drawn: their neighbours cover the line.
    ids = _rasterise_ids(pd[simplices] / step, n_lat, ok)
    ys, xs = np.nonzero(ids >= 0)
    t = ids[ys, xs]
    px = (xs * step).astype(np.float32)
    py = (ys * step).astype(np.float32)
    for k in range(2):
        flow[ys, xs, k] = coef[t, k, 0] * px + coef[t, k, 1] * py + coef[t, k, 2]
    return flow


def triangle_flow(src: np.ndarray, dst: np.ndarray, simplices: np.ndarray,
                  size: int) -> tuple[np.ndarray, np.ndarray]:
    """Backward flow over fixed triangles (no triangulation per call): float32 (size, size, 2)
    with input position = output pixel + flow, and a bool (size, size) of the pixels some output
    triangle covers (flow 0 elsewhere: the caller decides what uncovered pixels get).

    src, dst: (P, 2) points in the input and the output, px of a ``size`` lattice; simplices:
    int (T, 3) indices into them."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    affines, ok = _triangle_affines(dst[simplices], src[simplices])
    coef = (affines - np.array([[1.0, 0, 0], [0, 1.0, 0]])).astype(np.float32)
    ids = _rasterise_ids(dst[simplices], size, ok)
    flow = np.zeros((size, size, 2), np.float32)
    ys, xs = np.nonzero(ids >= 0)
    t = ids[ys, xs]
    for k in range(2):
        flow[ys, xs, k] = coef[t, k, 0] * xs + coef[t, k, 1] * ys + coef[t, k, 2]
    return flow, ids >= 0


def upsample_flow(lattice: torch.Tensor, size: int, step: int) -> torch.Tensor:
    """(N, L, L, C) values on the lattice k * step -> (N, size, size, C) at every pixel (bilinear;
    exact on the lattice, zero where the lattice is zero around)."""
    if step == 1:
        return lattice
    full = (lattice.shape[1] - 1) * step + 1
    up = F.interpolate(lattice.permute(0, 3, 1, 2), size=(full, full), mode="bilinear",
                       align_corners=True)
    return up[:, :, :size, :size].permute(0, 2, 3, 1).contiguous()


def _triangle_affines(tri_dst: np.ndarray, tri_src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, 3, 2) corners in the output and in the input -> (T, 2, 3) src_from_dst affines, and a
    bool (T,) that is False for degenerate (near-zero-area) output triangles (identity there)."""
    ones = np.ones(tri_dst.shape[:2] + (1,))
    a = np.concatenate([tri_dst, ones], 2)                                 # (T, 3, 3)
    det = np.linalg.det(a)
    ok = np.abs(det) > 1e-3                                                # twice the area, px^2
    out = np.tile(np.array([[1.0, 0, 0], [0, 1.0, 0]]), (len(a), 1, 1))
    sol = np.linalg.solve(a[ok], tri_src[ok])                              # (k, 3, 2): a @ sol = src
    out[ok] = sol.transpose(0, 2, 1)
    return out, ok


def _rasterise_ids(tri_dst: np.ndarray, size: int, draw: np.ndarray | None = None) -> np.ndarray:
    """Index of the triangle covering each pixel centre (int32 (size, size), -1 for none).
    Shared edges go to either neighbour: both maps agree there."""
    ids = np.full((size, size), -1, np.int32)
    pts = np.round(tri_dst * 16.0).astype(np.int32)                        # 4 fractional bits
    for i, tri in enumerate(pts):
        if draw is not None and not draw[i]:
            continue
        cv2.fillConvexPoly(ids, tri, int(i), lineType=cv2.LINE_8, shift=4)
    return ids


def sampling_grid(flow: torch.Tensor, image_hw: tuple[int, int],
                  offset: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Backward flow (N, h, w, 2) in crop px over a box whose top-left pixel is ``offset`` (x, y)
    of an image of ``image_hw`` -> grid_sample's normalised grid (align_corners=False)."""
    n, h, w, _ = flow.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=flow.device, dtype=flow.dtype) + offset[1],
                            torch.arange(w, device=flow.device, dtype=flow.dtype) + offset[0],
                            indexing="ij")
    x = (xs + flow[..., 0] + 0.5) / image_hw[1] * 2.0 - 1.0
    y = (ys + flow[..., 1] + 0.5) / image_hw[0] * 2.0 - 1.0
    return torch.stack([x, y], -1)


def apply_flow(images: torch.Tensor, flow: torch.Tensor, offset: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Sample (N, C, H, W) images at pixel + flow (bilinear, border replicated) for the pixels of
    the box the flow covers (top-left ``offset``); returns (N, C, h, w)."""
    grid = sampling_grid(flow, (images.shape[2], images.shape[3]), offset)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W), zero padding (zeros stay zeros far from anything)."""
    radius = max(1, int(round(3 * sigma)))
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), padding=(0, radius), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), padding=(radius, 0), groups=c)


def motion_mask(flow: torch.Tensor, full_at_px: float, blur_sigma: float) -> torch.Tensor:
    """Soft mask of where the warp moves pixels: (N, 1, h, w) in [0, 1], exactly 0 far from any
    motion. 1 once the flow reaches ``full_at_px``, then dilated and blurred by ``blur_sigma`` px
    so its edge is soft. The dilation and blur run at half resolution (the mask is smooth)."""
    mag = flow.norm(dim=-1).unsqueeze(1)
    m = (mag / full_at_px).clamp(0.0, 1.0)
    h, w = m.shape[-2:]
    small = F.max_pool2d(m, 2, stride=2, ceil_mode=True)
    small = F.max_pool2d(small, 3, stride=1, padding=1)
    small = gaussian_blur(small, max(blur_sigma / 2.0, 0.5))
    up = F.interpolate(small, scale_factor=2, mode="bilinear", align_corners=False)[..., :h, :w]
    return up.clamp(0.0, 1.0)
