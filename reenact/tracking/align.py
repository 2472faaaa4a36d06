"""Alignment of faces to one canonical template: the only crop function Reenact has.

Dataset preparation, the engine, the rig and evaluation all call ``crop_from_frame`` so that a model
sees at run time exactly the crop it saw in training.

Conventions
- Points are (x, y) in pixels, pixel centres at integer coordinates: the top-left pixel covers
  [-0.5, 0.5] x [-0.5, 0.5].
- A 2x3 matrix ``b_from_a`` maps homogeneous points of frame ``a`` to frame ``b``:
  ``p_b = M[:, :2] @ p_a + M[:, 2]``. ``crop_from_frame`` maps frame pixels to crop pixels;
  ``frame_from_crop`` is its inverse.
- The template (``TEMPLATE``, float32 (478, 2)) is the mean MediaPipe mesh of 122 neutral faces
  (London and Canada sets), in unit coordinates: the mean mesh's bounding box is centred at
  (0.5, 0.5) and its larger side is 1. A crop of size S with margin m places template point t at
  ``((t - 0.5) / (1 + 2 m) + 0.5) * S - 0.5``.
- The similarity is fitted on ``STABLE_POINTS`` only (eye corners, nose, forehead, temples): points
  that expressions barely move, so a smile does not shift or scale the crop.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import cv2
import numpy as np

# Eye corners, nose bridge and tip, forehead centre line, temples: expression-stable mesh points.
STABLE_POINTS: tuple[int, ...] = (33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1,
                                  10, 151, 9, 8, 127, 356, 234, 454, 93, 323)
LEFT_EYE_CORNERS = (33, 133)    # the person's right eye on the image's left
RIGHT_EYE_CORNERS = (362, 263)


def _load_template() -> np.ndarray:
    with resources.files("reenact.assets").joinpath("template478.npy").open("rb") as f:
        return np.load(f).astype(np.float32)


@dataclass(frozen=True)
class AlignConfig:
    """size: crop side in pixels; margin: extra border around the template's box, as a fraction of
    the box (0.15 adds 15% on each side)."""

    size: int = 128
    margin: float = 0.15
    template_id: str = "mp478-mean122-v1"


def template_points(cfg: AlignConfig, template: np.ndarray | None = None) -> np.ndarray:
    """The template in crop pixels for ``cfg``: float32 (478, 2), (x, y)."""
    t = TEMPLATE if template is None else template
    return (((t - 0.5) / (1.0 + 2.0 * cfg.margin) + 0.5) * cfg.size - 0.5).astype(np.float32)


def similarity_from_points(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation; no reflection) with
    ``dst ~ M @ [src, 1]`` (Umeyama 1991). src, dst: (N, 2). Returns float64 (2, 3) dst_from_src."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    fix = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rot = u @ fix @ vt
    var_s = (s0 ** 2).sum() / len(src)
    scale = (sig * np.diag(fix)).sum() / var_s
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def crop_from_frame(landmarks: np.ndarray, cfg: AlignConfig) -> np.ndarray:
    """The similarity mapping frame pixels to crop pixels for one face.

    landmarks: (478, 2) MediaPipe mesh in frame pixels. Returns float64 (2, 3) crop_from_frame.
    """
    idx = list(STABLE_POINTS)
    return similarity_from_points(landmarks[idx], template_points(cfg)[idx])


def invert_affine(m: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine matrix (``frame_from_crop`` from ``crop_from_frame``)."""
    a = np.asarray(m, np.float64)[:, :2]
    inv = np.linalg.inv(a)
    out = np.zeros((2, 3))
    out[:, :2] = inv
    out[:, 2] = -inv @ np.asarray(m, np.float64)[:, 2]
    return out


def transform_points(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a 2x3 matrix to (N, 2) points."""
    pts = np.asarray(pts, np.float64)
    return (pts @ np.asarray(m, np.float64)[:, :2].T + np.asarray(m, np.float64)[:, 2]).astype(np.float32)


def warp_to_crop(image: np.ndarray, crop_from_frame_m: np.ndarray, size: int) -> np.ndarray:
    """Reference crop with OpenCV (bilinear, border replicated): (H, W, C) -> (size, size, C).

    OpenCV's warpAffine uses the same pixel-centre convention as this module, so the matrix is
    passed unchanged. The engine uses the batched kernels in reenact.kernels; this one serves
    dataset preparation and tests.
    """
    return cv2.warpAffine(image, np.asarray(crop_from_frame_m, np.float64), (size, size),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def inter_ocular(landmarks: np.ndarray) -> float:
    """Distance between the two eye centres (mean of each eye's corners), in the points' units."""
    left = landmarks[list(LEFT_EYE_CORNERS)].mean(0)
    right = landmarks[list(RIGHT_EYE_CORNERS)].mean(0)
    return float(np.linalg.norm(right - left))


TEMPLATE: np.ndarray = _load_template()
