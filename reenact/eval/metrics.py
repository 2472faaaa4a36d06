"""Evaluation metrics: pure functions on numpy arrays, no models, no I/O.

Conventions shared by every function here
- Images are uint8 or float arrays (H, W, 3) RGB (or (H, W) grey) on the 0-255 scale.
- Masks are (H, W) bool (or float weights in [0, 1] where stated); a metric restricted to a mask
  averages over the pixels where the mask is true, all channels.
- Points are (x, y) in pixels, pixel centres at integer coordinates (see reenact.tracking.align).
- AUs are (N, 17) on OpenFace's 0-5 scale in ``reenact.aus.names.AU_NAMES`` order.

What is measured and why is written next to each function; docs/eval.md collects it for users.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from reenact.aus.names import AU_NAMES, NUM_AUS

# --------------------------------------------------------------------------------------------
# Regions


def face_mask(landmarks: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Bool (H, W) mask of the convex hull of a face's landmarks.

    landmarks: (K, 2) (x, y) frame pixels (MediaPipe's 478 points or any subset); shape: the
    image's shape, (H, W[, C]). Pixels whose centres fall inside the hull are true.
    """
    h, w = int(shape[0]), int(shape[1])
    pts = np.asarray(landmarks, np.float64).reshape(-1, 2)
    hull = cv2.convexHull(np.round(pts * 16).astype(np.int32))  # 4 fractional bits
    mask = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(mask, hull, 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def paste_region(frame_from_crop: np.ndarray, crop_size: int, shape: tuple[int, ...]) -> np.ndarray:
    """Bool (H, W) mask of the frame pixels a pasted square crop covers.

    frame_from_crop: (2, 3) matrix mapping crop pixels to frame pixels; crop_size: S. A frame
    pixel is covered when its centre maps inside the crop's area, [-0.5, S - 0.5) on both axes.
    """
    m = np.asarray(frame_from_crop, np.float64)
    a_inv = np.linalg.inv(m[:, :2])
    h, w = int(shape[0]), int(shape[1])
    ys, xs = np.mgrid[0:h, 0:w]
    pts = np.stack([xs.ravel() - m[0, 2], ys.ravel() - m[1, 2]], axis=1) @ a_inv.T
    lo, hi = -0.5, float(crop_size) - 0.5
    inside = (pts >= lo).all(1) & (pts < hi).all(1)
    return inside.reshape(h, w)


def _as_float(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img, np.float64)
    return a if a.ndim == 3 else a[:, :, None]


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if np.shape(a) != np.shape(b):
        raise ValueError(f"images differ in shape: {np.shape(a)} vs {np.shape(b)}")


def _mask_or_all(mask: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    if mask is None:
        return np.ones(shape[:2], bool)
    m = np.asarray(mask, bool)
    if m.shape != tuple(shape[:2]):
        raise ValueError(f"mask shape {m.shape} does not match image shape {tuple(shape[:2])}")
    if not m.any():
        raise ValueError("the mask is empty: no pixel to measure")
    return m


# --------------------------------------------------------------------------------------------
# Image fidelity


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None,
         data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB between two images, over ``mask`` (all pixels if None).

    10 log10(range^2 / MSE), MSE over the masked pixels and all channels. Identical images give
    ``inf`` (the report writes it as the string "inf").
    """
    _check_pair(a, b)
    fa, fb = _as_float(a), _as_float(b)
    m = _mask_or_all(mask, fa.shape)
    mse = float(np.mean((fa[m] - fb[m]) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range ** 2 / mse))


def ssim_map(a: np.ndarray, b: np.ndarray, data_range: float = 255.0,
             sigma: float = 1.5) -> np.ndarray:
    """Per-pixel structural similarity (Wang et al. 2004), mean over channels: float (H, W).

    Gaussian window (sigma 1.5, as in the paper), K1 = 0.01, K2 = 0.03. Borders are reflected.
    """
    _check_pair(a, b)
    fa, fb = _as_float(a), _as_float(b)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def blur(x):
        return cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)

    out = np.zeros(fa.shape[:2])
    for c in range(fa.shape[2]):
        x, y = fa[:, :, c], fb[:, :, c]
        mx, my = blur(x), blur(y)
        vx, vy = blur(x * x) - mx * mx, blur(y * y) - my * my
        cxy = blur(x * y) - mx * my
        num = (2 * mx * my + c1) * (2 * cxy + c2)
        den = (mx * mx + my * my + c1) * (vx + vy + c2)
        out += num / den
    return out / fa.shape[2]


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None,
         data_range: float = 255.0) -> float:
    """Mean SSIM over ``mask`` (all pixels if None); 1.0 for identical images."""
    smap = ssim_map(a, b, data_range)
    return float(smap[_mask_or_all(mask, smap.shape)].mean())


# --------------------------------------------------------------------------------------------
# Expression distance


@dataclass
class AUDistance:
    """How far the AUs estimated on outputs are from the AUs requested (0-5 scale).

    per_au: mean absolute error per AU over faces, dict AU name -> value.
    mae: mean absolute error over all AUs and faces.
    l2: mean over faces of the L2 norm of (estimated - requested) across the 17 AUs.
    bias: mean signed error (estimated - requested) per AU: negative = the edit falls short.
    count: number of faces.
    With the source AUs (the input face's own) the entries split into those the edit was asked
    to move (|requested - source| >= threshold) and those it should keep:
    mae_moved / mae_kept: MAE over each group (None when a group is empty);
    achieved: mean over moved entries of (estimated - source) / (requested - source), the
    fraction of the requested change that shows (1 = all of it, 0 = none, < 0 = wrong way).
    """

    per_au: dict[str, float]
    mae: float
    l2: float
    bias: dict[str, float]
    count: int
    mae_moved: float | None = None
    mae_kept: float | None = None
    achieved: float | None = None
    moved: int = 0

    def as_dict(self) -> dict:
        return {"per_au": self.per_au, "mae": self.mae, "l2": self.l2, "bias": self.bias,
                "count": self.count, "mae_moved": self.mae_moved, "mae_kept": self.mae_kept,
                "achieved": self.achieved, "moved": self.moved}


def au_distance(requested: np.ndarray, estimated: np.ndarray, source: np.ndarray | None = None,
                threshold: float = 0.5) -> AUDistance:
    """Expression distance between requested and estimated AUs, (N, 17) each (or (17,)).

    source: optional (N, 17) AUs of the unedited faces, to split moved and kept AUs (see
    ``AUDistance``); threshold: the least requested change that counts as "moved".
    """
    req = np.atleast_2d(np.asarray(requested, np.float64))
    est = np.atleast_2d(np.asarray(estimated, np.float64))
    if req.shape != est.shape or req.shape[-1] != NUM_AUS:
        raise ValueError(f"AU arrays must both be (N, {NUM_AUS}); got {req.shape} and {est.shape}")
    if len(req) == 0:
        raise ValueError("no faces to compare")
    diff = est - req
    per = np.abs(diff).mean(0)
    res = AUDistance(per_au={n: float(v) for n, v in zip(AU_NAMES, per)},
                     mae=float(np.abs(diff).mean()),
                     l2=float(np.linalg.norm(diff, axis=1).mean()),
                     bias={n: float(v) for n, v in zip(AU_NAMES, diff.mean(0))},
                     count=int(len(req)))
    if source is not None:
        src = np.atleast_2d(np.asarray(source, np.float64))
        if src.shape != req.shape:
            raise ValueError(f"source AUs {src.shape} do not match requested {req.shape}")
        asked = req - src
        moved = np.abs(asked) >= threshold
        res.moved = int(moved.sum())
        if moved.any():
            res.mae_moved = float(np.abs(diff[moved]).mean())
            res.achieved = float(((est - src)[moved] / asked[moved]).mean())
        if (~moved).any():
            res.mae_kept = float(np.abs(diff[~moved]).mean())
    return res


# --------------------------------------------------------------------------------------------
# Video


def temporal_flicker(frames: np.ndarray | list, masks: np.ndarray | list | None = None) -> float:
    """Mean absolute frame-to-frame change (0-255 units) inside the face region.

    frames: (T, H, W[, 3]); masks: one (H, W) mask for all frames, (T, H, W) per frame, or None
    for the whole frame. For each pair (t-1, t) the change is averaged over the union of the two
    frames' masks; the result is the mean over pairs. Compare the output's value with the
    input's (``flicker_ratio``): the input's own motion sets the floor.
    """
    fr = [np.asarray(f, np.float64) for f in frames]
    if len(fr) < 2:
        raise ValueError("temporal flicker needs at least two frames")
    per_frame = _per_frame_masks(masks, len(fr), fr[0].shape)
    vals = []
    for t in range(1, len(fr)):
        m = per_frame[t] | per_frame[t - 1]
        if m.any():
            vals.append(float(np.abs(fr[t] - fr[t - 1])[m].mean()))
    if not vals:
        raise ValueError("no frame pair has a face region to measure")
    return float(np.mean(vals))


def _per_frame_masks(masks, count: int, shape) -> list[np.ndarray]:
    if masks is None:
        return [np.ones(shape[:2], bool)] * count
    arr = [np.asarray(m, bool) for m in masks] if isinstance(masks, list) else None
    if arr is None:
        m = np.asarray(masks, bool)
        arr = [m] * count if m.ndim == 2 else list(m)
    if len(arr) != count:
        raise ValueError(f"{len(arr)} masks for {count} frames")
    return arr


def flicker_ratio(output_frames, input_frames, masks=None) -> dict:
    """Output flicker, input flicker and their ratio (1.0 = the edit adds no flicker)."""
    out = temporal_flicker(output_frames, masks)
    inp = temporal_flicker(input_frames, masks)
    return {"output": out, "input": inp, "ratio": out / inp if inp > 0 else float("inf")}


def _grey(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim == 3:
        a = cv2.cvtColor(a.astype(np.uint8), cv2.COLOR_RGB2GRAY)
    return a.astype(np.uint8)


def flow_warped_error(output_frames, input_frames, masks=None) -> dict:
    """Temporal error after motion compensation, for output and input (0-255 units).

    Optical flow (OpenCV Farneback) is computed on the *input* frames from t to t-1, so the
    same motion is removed from both sequences; output frame t-1 is warped onto t and the mean
    absolute difference inside the mask is taken. An edit that is stable over time keeps the
    output's error close to the input's (ratio near 1).
    """
    outs = [np.asarray(f, np.float32) for f in output_frames]
    ins = [np.asarray(f, np.float32) for f in input_frames]
    if len(outs) != len(ins) or len(outs) < 2:
        raise ValueError("flow-warped error needs two sequences of equal length >= 2")
    per_frame = _per_frame_masks(masks, len(outs), outs[0].shape)
    h, w = outs[0].shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    err_o, err_i = [], []
    for t in range(1, len(outs)):
        flow = cv2.calcOpticalFlowFarneback(_grey(ins[t]), _grey(ins[t - 1]), None,
                                            0.5, 3, 15, 3, 5, 1.2, 0)
        mx, my = gx + flow[..., 0], gy + flow[..., 1]
        m = per_frame[t]
        if not m.any():
            continue
        for seq, errs in ((outs, err_o), (ins, err_i)):
            warped = cv2.remap(seq[t - 1], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            errs.append(float(np.abs(seq[t] - warped)[m].mean()))
    if not err_o:
        raise ValueError("no frame has a face region to measure")
    o, i = float(np.mean(err_o)), float(np.mean(err_i))
    return {"output": o, "input": i, "ratio": o / i if i > 0 else float("inf")}


# --------------------------------------------------------------------------------------------
# Crop seam


def gradient_energy(image: np.ndarray) -> np.ndarray:
    """Squared Sobel gradient magnitude of the grey image, float (H, W)."""
    g = _grey(image).astype(np.float64)
    gx = cv2.Sobel(g, cv2.CV_64F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_64F, 0, 1, ksize=3)
    return gx * gx + gy * gy


def seam_bands(region: np.ndarray, width: int = 2, gap: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Two (H, W) bool bands of a pasted region: the border ring and a ring just inside it.

    border: pixels within ``width`` of the region's boundary, on either side (a seam lies
    across the boundary). inside: pixels between ``width + gap`` and ``2 width + gap`` inside.
    Boundaries that coincide with the image edge are not seams and are left out.
    """
    r = np.asarray(region, bool).astype(np.uint8)
    pad = 1  # pad with the region's own edge so the image border does not count as boundary
    rp = cv2.copyMakeBorder(r, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    d_in = cv2.distanceTransform(rp, cv2.DIST_L2, 5)[pad:-pad, pad:-pad]
    d_out = cv2.distanceTransform(1 - rp, cv2.DIST_L2, 5)[pad:-pad, pad:-pad]
    border = ((r == 1) & (d_in <= width)) | ((r == 0) & (d_out <= width))
    inside = (r == 1) & (d_in > width + gap) & (d_in <= 2 * width + gap)
    return border, inside


def seam_energy(output: np.ndarray, region: np.ndarray, reference: np.ndarray | None = None,
                width: int = 2, gap: int = 4) -> dict:
    """Crop-seam measure: gradient energy along the pasted border vs just inside it.

    output: the composited frame (H, W[, 3]); region: (H, W) bool, the pixels the paste covers
    (``paste_region``); reference: the input frame, whose own border/inside ratio is the floor
    (natural images have edges everywhere). Returns border and inside mean energies, their
    ratio, the reference's ratio and ``excess`` = ratio / reference ratio (1.0 = no visible
    seam; a hard-edged paste of different content gives values well above 1).
    """
    border, inside = seam_bands(region, width, gap)
    if not border.any() or not inside.any():
        raise ValueError("the pasted region is too small or covers the whole image")
    e = gradient_energy(output)
    eps = 1e-6  # flat images have zero energy on both bands
    res = {"border": float(e[border].mean()), "inside": float(e[inside].mean())}
    res["ratio"] = (res["border"] + eps) / (res["inside"] + eps)
    if reference is not None:
        er = gradient_energy(reference)
        ref_ratio = (float(er[border].mean()) + eps) / (float(er[inside].mean()) + eps)
        res["reference_ratio"] = ref_ratio
        res["excess"] = res["ratio"] / ref_ratio
    return res


# --------------------------------------------------------------------------------------------
# Attention


SATURATION_LOW, SATURATION_HIGH = 0.05, 0.95


def attention_stats(attention: np.ndarray, mask: np.ndarray | None = None) -> dict:
    """Mean and spread of attention masks A (1 = keep the input pixel, 0 = use colour C).

    attention: (N, 1, S, S), (N, S, S) or (S, S) in [0, 1]; mask: optional (S, S) crop-space
    region (e.g. the face hull in the crop). Returns mean, std (over all pixels of all masks),
    per-mask mean spread (std of the per-mask means), the fraction of pixels above 0.95 and
    below 0.05, and a ``warning`` string when the masks are saturated: A ~ 1 everywhere means
    the generator changes nothing; A ~ 0 everywhere means it repaints the whole crop.
    """
    a = np.asarray(attention, np.float64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim == 4:
        a = a[:, 0]
    m = _mask_or_all(mask, a.shape[1:])
    vals = a[:, m]
    mean = float(vals.mean())
    res = {"mean": mean, "std": float(vals.std()),
           "per_mask_mean_std": float(vals.mean(1).std()),
           "frac_high": float((vals > SATURATION_HIGH).mean()),
           "frac_low": float((vals < SATURATION_LOW).mean()), "count": int(len(a)), "warning": None}
    if res["frac_high"] > 0.99:
        res["warning"] = "attention saturated at 1: the generator leaves the face unchanged"
    elif res["frac_low"] > 0.99:
        res["warning"] = "attention saturated at 0: the generator repaints the whole crop"
    return res
