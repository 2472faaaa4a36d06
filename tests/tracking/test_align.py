import numpy as np
import pytest

from reenact.tracking.align import (TEMPLATE, AlignConfig, crop_from_frame, invert_affine,
                                    similarity_from_points, template_points, transform_points)


def test_similarity_recovers_known_transform(rng):
    src = rng.uniform(0, 100, (30, 2))
    ang, s, t = 0.3, 1.7, np.array([5.0, -3.0])
    r = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    dst = src @ (s * r).T + t
    m = similarity_from_points(src, dst)
    np.testing.assert_allclose(m[:, :2], s * r, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], t, atol=1e-9)


def test_crop_of_template_is_identity_and_inverse_roundtrips():
    cfg = AlignConfig(size=128, margin=0.1)
    pts = template_points(cfg) * 3.0 + 40.0  # a face three times larger, shifted
    m = crop_from_frame(pts, cfg)
    np.testing.assert_allclose(transform_points(m, pts), template_points(cfg), atol=1e-3)
    back = transform_points(invert_affine(m), transform_points(m, pts))
    np.testing.assert_allclose(back, pts, atol=1e-3)


@pytest.mark.parametrize("size,margin", [(128, 0.0), (256, 0.3)])
def test_template_fits_inside_crop(size, margin):
    pts = template_points(AlignConfig(size=size, margin=margin))
    assert TEMPLATE.shape == (478, 2)
    assert pts.min() >= -0.5 - 1e-4 and pts.max() <= size - 0.5 + 1e-4
