"""Finding every face in a still: a full-image pass plus overlapping tiles, verified per face.

MediaPipe's face detector (the short-range BlazeFace model inside the landmarker bundle) sees the
image shrunk to 128x128, so in a group photo or a large picture a face may be a dozen pixels wide
there and be missed. Here the landmarker (image mode) also runs on overlapping square tiles resized
to ``tile_input`` pixels, where each face is several times larger. Every candidate is then
re-run on a square region of interest centred on it (the face then fills the detector's view), which
both verifies it (a candidate whose ROI yields no face is dropped) and gives landmarks that do not
depend on where a tile border happened to cut. Duplicates are merged by landmark-box overlap.

Geometry: points are (x, y) frame pixels with pixel centres at integers (as in
reenact.tracking.align). A region of interest is a square with left/top edge (left, top) in the same
continuous coordinates (pixel i covers [i - 0.5, i + 0.5]) and side ``side``; it is resampled to
``out`` pixels by ``roi_from_frame`` (a 2x3 similarity, frame -> ROI pixels).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from reenact.tracking.align import invert_affine, transform_points
from reenact.tracking.landmarker import FaceLandmarker, RawFace, as_rgb


@dataclass(frozen=True)
class MultiScaleConfig:
    """tile_fractions: tile side as a fraction of the image's shorter side (one pass per entry);
    overlap: fraction by which neighbouring tiles overlap; tile_input: side (px) each tile is
    resampled to before detection; min_tile: smallest tile side (px) worth a pass (a face that
    MediaPipe misses in a smaller tile would give a useless crop anyway); roi_scale: side of the
    verification ROI as a multiple of the face's landmark box (its larger side); roi_input: side
    (px) the ROI is resampled to; merge_overlap: two faces whose boxes overlap by more than this
    (intersection over the smaller box) are the same face."""

    tile_fractions: tuple[float, ...] = (0.5, 0.3)
    overlap: float = 0.5
    tile_input: int = 512
    min_tile: int = 128
    roi_scale: float = 2.0
    roi_input: int = 384
    merge_overlap: float = 0.5


def roi_from_frame(left: float, top: float, side: float, out: int) -> np.ndarray:
    """float64 (2, 3) mapping frame pixels to the pixels of an ``out`` x ``out`` resampling of the
    square [left, left + side] x [top, top + side] (edges, continuous coordinates)."""
    s = out / side
    return np.array([[s, 0.0, -s * left - 0.5], [0.0, s, -s * top - 0.5]])


def detect_in_roi(lm: FaceLandmarker, image: np.ndarray, left: float, top: float, side: float,
                  out: int) -> list[RawFace]:
    """Run an image-mode landmarker on one square region; faces come back in frame pixels.
    Parts of the region outside the image are filled with black."""
    m = roi_from_frame(left, top, side, out)
    roi = cv2.warpAffine(image, m, (out, out), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    back = invert_affine(m)
    scale = side / out
    return [RawFace(transform_points(back, f.landmarks), f.depth * scale, f.blendshapes, f.pose)
            for f in lm.detect(roi)]


def box(landmarks: np.ndarray) -> np.ndarray:
    """(x0, y0, x1, y1) of (N, 2) points."""
    return np.concatenate([landmarks.min(0), landmarks.max(0)]).astype(np.float64)


def box_overlap(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(intersection over union, intersection over the smaller box) of two (x0, y0, x1, y1) boxes."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    union = area_a + area_b - inter
    small = min(area_a, area_b)
    return (inter / union if union > 0 else 0.0, inter / small if small > 0 else 0.0)


def merge_duplicates(faces: list[RawFace], threshold: float) -> list[RawFace]:
    """Greedy de-duplication in list order: a face is kept unless it overlaps a kept one by more
    than ``threshold`` (intersection over the smaller box)."""
    kept: list[RawFace] = []
    for f in faces:
        b = box(f.landmarks)
        if all(box_overlap(b, box(k.landmarks))[1] <= threshold for k in kept):
            kept.append(f)
    return kept


def tile_grid(width: int, height: int, side: float, overlap: float) -> list[tuple[float, float]]:
    """Left/top edges of square tiles of ``side`` covering the image with the given overlap."""
    def starts(length: int) -> list[float]:
        if side >= length:
            return [(length - side) / 2.0 - 0.5]
        n = math.ceil((length - side) / (side * (1.0 - overlap))) + 1
        return list(np.linspace(-0.5, length - 0.5 - side, n))
    return [(x, y) for y in starts(height) for x in starts(width)]


def _verify(lm: FaceLandmarker, image: np.ndarray, face: RawFace,
            cfg: MultiScaleConfig) -> RawFace | None:
    """Re-detect one candidate in a ROI centred on it; the face nearest the ROI centre, or None."""
    b = box(face.landmarks)
    centre = (b[:2] + b[2:]) / 2.0
    side = cfg.roi_scale * max(b[2] - b[0], b[3] - b[1], 8.0)
    found = detect_in_roi(lm, image, centre[0] - side / 2, centre[1] - side / 2, side, cfg.roi_input)
    if not found:
        return None
    dists = [np.linalg.norm((box(f.landmarks)[:2] + box(f.landmarks)[2:]) / 2 - centre) for f in found]
    best = found[int(np.argmin(dists))]
    # The verified face must be the candidate, not a neighbour that the larger ROI also shows.
    return best if box_overlap(box(best.landmarks), b)[1] > 0.3 else None


def detect_all_faces(lm: FaceLandmarker, image: np.ndarray,
                     cfg: MultiScaleConfig = MultiScaleConfig()) -> list[RawFace]:
    """Every face in a still, ordered left to right. ``lm`` must be in image mode.

    image: uint8 (H, W), (H, W, 1|3|4). Cost: one landmarker call for the image, one per tile and
    one per candidate face.
    """
    if lm.cfg.mode != "image":
        raise ValueError("detect_all_faces needs an image-mode landmarker")
    rgb = as_rgb(image)
    h, w = rgb.shape[:2]
    full = list(lm.detect(rgb))
    candidates = list(full)
    for frac in cfg.tile_fractions:
        side = frac * min(h, w)
        if side < cfg.min_tile:
            continue
        for left, top in tile_grid(w, h, side, cfg.overlap):
            candidates += detect_in_roi(lm, rgb, left, top, side, cfg.tile_input)
    # Largest first: a face cut by a tile border gives a smaller box than the whole face.
    candidates.sort(key=lambda f: -face_area(f))
    verified = []
    for c in merge_duplicates(candidates, cfg.merge_overlap):
        v = _verify(lm, rgb, c, cfg)
        # A face the full-image pass found stays even if its ROI pass misses it.
        if v is not None or any(c is f for f in full):
            verified.append(v if v is not None else c)
    faces = merge_duplicates(sorted(verified, key=lambda f: -face_area(f)), cfg.merge_overlap)
    return sorted(faces, key=lambda f: float(f.landmarks[:, 0].mean()))


def face_area(face: RawFace) -> float:
    """Area (px^2) of a face's landmark box."""
    b = box(face.landmarks)
    return float((b[2] - b[0]) * (b[3] - b[1]))
