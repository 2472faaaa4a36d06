"""The kernels written once against the array API that numpy and CuPy both serve.

``xp`` is the array namespace (``numpy`` here, ``cupy`` on a CUDA machine): the same functions run
in the tests on the CPU with numpy and on the GPU with CuPy, and are checked against the plain-torch
reference (reenact.kernels.warp / paste). Only namespace functions both libraries share are used
(``floor``, ``clip``, ``where``, ``stack``, ``astype`` and integer-array indexing); per-face boxes
and matrices are tiny and computed on the host with numpy.

Conventions are the reference's: points (x, y) with pixel centres at integers; ``crop_from_frame``
maps frame pixels to crop pixels; uint8 (H, W, 3) RGB frames; float32 (N, 3, S, S) crops in
[-1, 1]; sampling is bilinear with border replication (a tap outside the image takes the nearest
edge pixel, like grid_sample(padding_mode="border") and cv2 BORDER_REPLICATE).

Face region only: a crop gathers just the frame pixels its taps touch, and a paste reads and writes
just the face's bounding box, so no full-frame copy is made per face.
"""
from __future__ import annotations

import numpy as np

from reenact.kernels.paste import DEFAULT_FEATHER
from reenact.kernels.warp import _as_batch_matrices, crop_box_in_frame, invert_affines


def _bilinear(xp, img, px, py):
    """Sample ``img`` (H, W, C) at float pixel coordinates px, py (same shape P) -> (P..., C).
    Coordinates are clamped to the image (border replication)."""
    h, w = img.shape[0], img.shape[1]
    px = xp.clip(px, 0.0, float(w - 1))
    py = xp.clip(py, 0.0, float(h - 1))
    x0 = xp.floor(px)
    y0 = xp.floor(py)
    fx = (px - x0)[..., None]
    fy = (py - y0)[..., None]
    x0i = x0.astype(xp.int64)
    y0i = y0.astype(xp.int64)
    x1i = xp.clip(x0i + 1, 0, w - 1)
    y1i = xp.clip(y0i + 1, 0, h - 1)
    top = img[y0i, x0i] * (1.0 - fx) + img[y0i, x1i] * fx
    bottom = img[y1i, x0i] * (1.0 - fx) + img[y1i, x1i] * fx
    return top * (1.0 - fy) + bottom * fy


def _pixel_grid(xp, x0: int, y0: int, w: int, h: int):
    xs = xp.arange(x0, x0 + w, dtype=xp.float64)
    ys = xp.arange(y0, y0 + h, dtype=xp.float64)
    return xs[None, :] + 0.0 * ys[:, None], ys[:, None] + 0.0 * xs[None, :]


def crop_faces_xp(xp, frame, crop_from_frame, size: int):
    """N face crops from one frame.

    frame: uint8 (H, W, 3) RGB array of namespace ``xp``.
    crop_from_frame: (N, 2, 3) host array (frame px -> crop px).
    Returns float32 (N, 3, S, S) in [-1, 1], an ``xp`` array.
    """
    m = _as_batch_matrices(crop_from_frame)
    frame_from_crop = invert_affines(m)
    cx, cy = _pixel_grid(xp, 0, 0, size, size)
    out = []
    for f in frame_from_crop:
        px = f[0, 0] * cx + f[0, 1] * cy + f[0, 2]
        py = f[1, 0] * cx + f[1, 1] * cy + f[1, 2]
        # Gather from the uint8 frame and convert only the taps: the frame is never copied whole.
        val = _bilinear(xp, frame, px, py)  # (S, S, 3) in 0..255 (float64)
        out.append(xp.moveaxis(val, -1, 0))
    if not out:
        return xp.zeros((0, 3, size, size), dtype=xp.float32)
    return (xp.stack(out) / 127.5 - 1.0).astype(xp.float32)


def blend_xp(xp, crops, color, attention):
    """GANimation's composition A * crops + (1 - A) * C on ``xp`` arrays."""
    return attention * crops + (1.0 - attention) * color


def feather_ramp_xp(xp, qx, qy, size: int, feather: float):
    """Smoothstep of the distance (crop px) to the crop border: 0 on it, 1 from feather*S inside."""
    lo = xp.minimum(qx, qy) + 0.5
    hi = (size - 0.5) - xp.maximum(qx, qy)
    d = xp.minimum(lo, hi)
    t = xp.clip(d / max(feather * size, 1e-6), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def paste_faces_xp(xp, frame, color, crop_from_frame, mask, *, feather: float = DEFAULT_FEATHER):
    """Blend N crops into the uint8 frame (H, W, 3) in place (each face's box only); returns it.

    color: float (N, 3, S, S) in [-1, 1]; mask: float (N, 1, S, S) paste weight s * (1 - A);
    crop_from_frame: (N, 2, 3) host array. Later faces cover earlier ones where they overlap.
    """
    m = _as_batch_matrices(crop_from_frame, color.shape[0])
    size = color.shape[-1]
    height, width = frame.shape[0], frame.shape[1]
    frame_from_crop = invert_affines(m)
    for i in range(color.shape[0]):
        box = crop_box_in_frame(frame_from_crop[i], size, width, height)
        if box is not None:
            _paste_one(xp, frame, color[i], mask[i], m[i], box, feather)
    return frame


def _paste_one(xp, frame, color, mask, a, box, feather) -> None:
    x0, y0, x1, y1 = box
    xs, ys = _pixel_grid(xp, x0, y0, x1 - x0 + 1, y1 - y0 + 1)
    qx = a[0, 0] * xs + a[0, 1] * ys + a[0, 2]
    qy = a[1, 0] * xs + a[1, 1] * ys + a[1, 2]
    src = xp.concat([color, mask], axis=0) if hasattr(xp, "concat") else xp.concatenate([color, mask], 0)
    sampled = _bilinear(xp, xp.moveaxis(src, 0, -1).astype(xp.float64), qx, qy)  # (h, w, 4)
    weight = feather_ramp_xp(xp, qx, qy, color.shape[-1], feather) * xp.clip(sampled[..., 3], 0.0, 1.0)
    target = (sampled[..., :3] + 1.0) * 127.5
    region = frame[y0:y1 + 1, x0:x1 + 1].astype(xp.float64)
    out = region + weight[..., None] * (target - region)
    frame[y0:y1 + 1, x0:x1 + 1] = xp.clip(xp.round(out), 0, 255).astype(xp.uint8)


def to_float_xp(xp, image):
    """uint8 (H, W, 3) -> float32 (3, H, W) in [-1, 1]."""
    return (xp.moveaxis(image, -1, 0).astype(xp.float32) / 127.5 - 1.0).astype(xp.float32)


def to_uint8_xp(xp, tensor):
    """float (3, H, W) in [-1, 1] -> uint8 (H, W, 3), rounding half to even like the reference."""
    u = xp.clip(xp.round((tensor.astype(xp.float32) + 1.0) * 127.5), 0, 255).astype(xp.uint8)
    return xp.moveaxis(u, 0, -1)


# BT.601 limited range (the default of H.264/H.265 SD and most webcams), in 0..255 units.
_YUV_TO_RGB = np.array([[1.164383, 0.0, 1.596027],
                        [1.164383, -0.391762, -0.812968],
                        [1.164383, 2.017232, 0.0]])


def yuv420p_to_rgb_xp(xp, y, u, v):
    """Decoder planes (Y (H, W), U and V (H/2, W/2), uint8, BT.601 limited range) -> uint8 RGB
    (H, W, 3) in one pass (nearest chroma upsampling, as swscale's fast path)."""
    h, w = y.shape
    rows = xp.arange(h) // 2
    cols = xp.arange(w) // 2
    uu = u[rows[:, None], cols[None, :]].astype(xp.float32) - 128.0
    vv = v[rows[:, None], cols[None, :]].astype(xp.float32) - 128.0
    yy = y.astype(xp.float32) - 16.0
    k = _YUV_TO_RGB
    chans = [k[c, 0] * yy + k[c, 1] * uu + k[c, 2] * vv for c in range(3)]
    return xp.clip(xp.round(xp.stack(chans, axis=-1)), 0, 255).astype(xp.uint8)
