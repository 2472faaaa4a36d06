"""Geometry helpers of the multi-scale detector: ROI resampling, tile grid, box overlap, de-duplication."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from reenact.tracking.align import invert_affine, transform_points
from reenact.tracking.landmarker import RawFace
from reenact.tracking.multiscale import (box, box_overlap, merge_duplicates, roi_from_frame,
                                         tile_grid)


def test_roi_maps_pixel_centres_consistently(rng):
    # A picture with one bright pixel: resampling a region with roi_from_frame and mapping the
    # brightest ROI position back must land on that pixel (pixel centres at integers).
    img = np.zeros((120, 160), np.float32)
    img[47, 93] = 1.0
    left, top, side, out = 70.5, 20.5, 50.0, 200  # 4x upsampling
    m = roi_from_frame(left, top, side, out)
    roi = cv2.warpAffine(img, m, (out, out), flags=cv2.INTER_LINEAR)
    y, x = np.unravel_index(np.argmax(roi), roi.shape)
    back = transform_points(invert_affine(m), np.array([[x, y]], np.float64))[0]
    assert np.abs(back - [93, 47]).max() <= 0.5 * side / out + 1e-6
    # The ROI's edges are the square's edges: its corner pixel centre is half an output pixel in.
    corner = transform_points(invert_affine(m), np.array([[-0.5, -0.5], [out - 0.5, out - 0.5]]))
    np.testing.assert_allclose(corner, [[left, top], [left + side, top + side]], atol=1e-5)


@pytest.mark.parametrize("w,h,side,overlap", [(1000, 667, 333.5, 0.5), (640, 360, 108, 0.5),
                                              (300, 200, 400, 0.5)])
def test_tiles_cover_the_image_with_overlap(w, h, side, overlap):
    tiles = tile_grid(w, h, side, overlap)
    covered = np.zeros((h, w), bool)
    for left, top in tiles:
        x0, y0 = int(np.ceil(left + 0.5)), int(np.ceil(top + 0.5))
        covered[max(y0, 0):int(top + side + 0.5), max(x0, 0):int(left + side + 0.5)] = True
    assert covered.all()
    xs = sorted({t[0] for t in tiles})
    if len(xs) > 1:  # neighbours overlap by at least the requested fraction
        assert max(np.diff(xs)) <= side * (1 - overlap) + 1e-6


def test_box_overlap_values():
    a = np.array([0, 0, 10, 10.0])
    assert box_overlap(a, a) == (1.0, 1.0)
    assert box_overlap(a, np.array([20, 20, 30, 30.0])) == (0.0, 0.0)
    iou, iomin = box_overlap(a, np.array([5, 0, 15, 10.0]))
    assert iou == pytest.approx(50 / 150) and iomin == pytest.approx(0.5)
    iou, iomin = box_overlap(a, np.array([2, 2, 4, 4.0]))  # small box inside a big one
    assert iou == pytest.approx(4 / 100) and iomin == pytest.approx(1.0)


def _face(x0, y0, size):
    pts = np.array([[x0, y0], [x0 + size, y0 + size]], np.float32)
    return RawFace(pts, np.zeros(2, np.float32), np.zeros(52, np.float32), None)


def test_merge_duplicates_keeps_the_first_of_each_face():
    big, inner, other = _face(0, 0, 100), _face(20, 20, 50), _face(200, 0, 100)
    kept = merge_duplicates([big, inner, other], 0.5)
    assert kept == [big, other]
    assert np.array_equal(box(kept[1].landmarks), [200, 0, 300, 100])
