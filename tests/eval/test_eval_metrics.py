"""Each evaluation metric on hand-made cases whose answer is known."""
import math

import cv2
import numpy as np
import pytest

from reenact.aus.names import AU_NAMES, NUM_AUS, au_index
from reenact.eval import metrics as M


def _texture(rng, h=96, w=96):
    """A smooth random RGB image (blurred noise) so SSIM and gradients have structure."""
    noise = rng.uniform(0, 255, (h, w, 3)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 2.0) * 3 - 255, 0, 255).astype(np.uint8)


def test_psnr_ssim_identical_images(rng):
    img = _texture(rng)
    assert M.psnr(img, img) == math.inf
    assert M.ssim(img, img) == pytest.approx(1.0, abs=1e-12)


def test_psnr_known_value():
    a = np.full((10, 10, 3), 100, np.uint8)
    b = a.copy()
    b[...] = 110  # MSE = 100 everywhere
    assert M.psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / 100))


def test_shifted_image_scores_lower_and_mask_restricts(rng):
    img = _texture(rng)
    shifted = np.roll(img, 3, axis=1)
    assert M.psnr(img, shifted) < 30
    s = M.ssim(img, shifted)
    assert 0.0 < s < 0.9
    # Only the left half differs: the right half scores perfectly under a mask.
    half = img.copy()
    half[:, :48] = shifted[:, :48]
    right = np.zeros(img.shape[:2], bool)
    right[:, 60:] = True
    assert M.psnr(img, half, right) == math.inf
    assert M.ssim(img, half, right) == pytest.approx(1.0, abs=1e-9)
    assert M.ssim(img, half) < 0.99


def test_mask_errors():
    a = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="empty"):
        M.psnr(a, a, np.zeros((8, 8), bool))
    with pytest.raises(ValueError, match="shape"):
        M.psnr(a, np.zeros((8, 9, 3), np.uint8))


def test_face_mask_is_convex_hull():
    pts = np.array([[10, 10], [30, 10], [30, 20], [10, 20], [20, 15]], np.float32)  # interior point
    m = M.face_mask(pts, (40, 50, 3))
    assert m.shape == (40, 50)
    assert m[15, 20] and m[10, 10] and m[20, 30]
    assert not m[5, 5] and not m[15, 35]
    assert m.sum() == pytest.approx(21 * 11, abs=22)


def test_paste_region_of_identity_and_scaled_maps():
    ident = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    assert M.paste_region(ident, 16, (32, 32)).sum() == 16 * 16
    scaled = np.array([[2.0, 0, 5.5], [0, 2.0, 5.5]])  # crop pixel edges -0.5 -> frame 4.5
    r = M.paste_region(scaled, 8, (40, 40))
    assert r.sum() == 16 * 16 and r[5, 5] and r[20, 20] and not r[4, 4] and not r[21, 21]


def test_au_distance_known_answer():
    req = np.zeros((2, NUM_AUS))
    est = np.zeros((2, NUM_AUS))
    est[0, au_index("AU12")] = 2.0
    est[1, au_index("AU12")] = -1.0  # below target
    d = M.au_distance(req, est)
    assert d.per_au["AU12"] == pytest.approx(1.5)
    assert d.bias["AU12"] == pytest.approx(0.5)
    assert d.per_au["AU01"] == 0.0
    assert d.mae == pytest.approx(3.0 / (2 * NUM_AUS))
    assert d.l2 == pytest.approx(1.5)
    assert d.count == 2 and set(d.per_au) == set(AU_NAMES)
    assert d.mae_moved is None and d.achieved is None
    with pytest.raises(ValueError):
        M.au_distance(np.zeros((2, 16)), np.zeros((2, 16)))


def test_au_distance_moved_and_kept():
    src = np.zeros((1, NUM_AUS))
    req = src.copy()
    req[0, au_index("AU12")] = 4.0                # asked: AU12 0 -> 4, keep the rest
    est = src.copy()
    est[0, au_index("AU12")] = 3.0                # three quarters of the change shows ...
    est[0, au_index("AU04")] = 0.8                # ... and an AU that should stay moved
    d = M.au_distance(req, est, source=src)
    assert d.moved == 1
    assert d.mae_moved == pytest.approx(1.0)
    assert d.achieved == pytest.approx(0.75)
    assert d.mae_kept == pytest.approx(0.8 / (NUM_AUS - 1))


def _clip(rng, flicker: bool, frames=6):
    base = _texture(rng, 64, 64).astype(np.int16)
    out = []
    for t in range(frames):
        f = np.roll(base, t, axis=1)  # slow pan: the input's own motion
        if flicker:
            f = f + (12 if t % 2 else -12)
        out.append(np.clip(f, 0, 255).astype(np.uint8))
    return np.stack(out)


def test_flicker_synthetic_clip_vs_steady(rng):
    steady, flick = _clip(rng, False), _clip(np.random.default_rng(0), True)
    mask = np.zeros((64, 64), bool)
    mask[16:48, 16:48] = True
    assert M.temporal_flicker(np.stack([steady[0]] * 4), mask) == 0.0
    r_same = M.flicker_ratio(steady, steady, mask)
    assert r_same["ratio"] == pytest.approx(1.0)
    r = M.flicker_ratio(flick, steady, mask)
    assert r["ratio"] > 1.5
    assert r["output"] > r["input"]
    with pytest.raises(ValueError):
        M.temporal_flicker(steady[:1])


def test_flow_warped_error_removes_motion_not_flicker(rng):
    steady, flick = _clip(rng, False), _clip(np.random.default_rng(0), True)
    mask = np.zeros((64, 64), bool)
    mask[16:48, 16:48] = True
    same = M.flow_warped_error(steady, steady, mask)
    assert same["ratio"] == pytest.approx(1.0)
    # Motion compensation: the warped error of a pure pan is below its raw frame difference.
    assert same["input"] < M.temporal_flicker(steady, mask)
    assert M.flow_warped_error(flick, steady, mask)["ratio"] > 2.0


def test_seam_hard_paste_vs_feathered(rng):
    frame = np.full((96, 96, 3), 120, np.uint8)
    patch = np.full((96, 96, 3), 170, np.uint8)  # a crop whose colour does not match
    region = np.zeros((96, 96), bool)
    region[24:72, 24:72] = True
    hard = frame.copy()
    hard[region] = patch[region]
    soft_w = cv2.GaussianBlur(region.astype(np.float32), (0, 0), 6.0)[..., None]
    soft = (soft_w * patch + (1 - soft_w) * frame).round().astype(np.uint8)
    s_hard = M.seam_energy(hard, region, reference=frame)
    s_soft = M.seam_energy(soft, region, reference=frame)
    assert s_hard["ratio"] > 100 * s_soft["ratio"]
    assert s_hard["excess"] > 100
    # Pasting the input into itself leaves no seam at all.
    assert M.seam_energy(frame, region, reference=frame)["excess"] == pytest.approx(1.0)


def test_seam_bands_ignore_image_border():
    region = np.zeros((40, 40), bool)
    region[:, :20] = True  # touches three image edges: only the vertical edge at x=20 is a seam
    border, inside = M.seam_bands(region, width=2, gap=3)
    cols = np.where(border.any(0))[0]
    assert cols.min() >= 17 and cols.max() <= 22
    assert inside.any() and not (inside & border).any()


def test_attention_stats_and_saturation_warning():
    a = np.full((3, 1, 8, 8), 0.5)
    a[1] = 0.7
    st = M.attention_stats(a)
    assert st["mean"] == pytest.approx(0.5666667)
    assert st["per_mask_mean_std"] == pytest.approx(np.std([0.5, 0.7, 0.5]))
    assert st["warning"] is None
    assert "unchanged" in M.attention_stats(np.ones((2, 1, 8, 8)))["warning"]
    assert "repaints" in M.attention_stats(np.zeros((8, 8)))["warning"]
    mask = np.zeros((8, 8), bool)
    mask[:4] = True
    half = np.ones((8, 8))
    half[4:] = 0
    assert M.attention_stats(half, mask)["mean"] == 1.0
