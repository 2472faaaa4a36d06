"""reenact.kernels: crop against OpenCV, paste exactness, feather continuity, colour round trip."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from reenact.kernels import crop_faces, feather_ramp, paste_faces, paste_weight, to_float, to_uint8
from reenact.kernels.warp import invert_affines
from reenact.tracking.align import warp_to_crop

from conftest import DATA


def _face_image() -> np.ndarray:
    return np.array(Image.open(DATA / "faces" / "london_002_03.jpg").convert("RGB"))


def _similarity(rng, width, height, size, scale=(0.3, 0.9)) -> np.ndarray:
    """A random crop_from_frame: rotation, scale, and a centre anywhere in the frame."""
    ang = rng.uniform(-0.6, 0.6)
    sc = rng.uniform(*scale)
    rot = sc * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    centre = np.array([rng.uniform(0, width), rng.uniform(0, height)])
    t = np.array([size / 2 - 0.5] * 2) - rot @ centre
    return np.hstack([rot, t[:, None]])


def test_color_round_trip_is_exact(device, rng):
    img = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    f = to_float(img, device)
    assert f.shape == (3, 7, 5) and f.min() >= -1 and f.max() <= 1
    assert np.array_equal(to_uint8(f).cpu().numpy(), img)


@pytest.mark.parametrize("size", [64, 128])
def test_crop_matches_opencv_on_real_image(device, rng, size):
    img = _face_image()
    h, w = img.shape[:2]
    # Some crops reach past the frame edge: the border rule must match too.
    mats = np.stack([_similarity(rng, w, h, size) for _ in range(6)])
    ours_u8 = crop_faces(torch.from_numpy(img).to(device), mats, size)
    ours_f = crop_faces(to_float(img, device), mats, size)
    assert ours_u8.shape == (6, 3, size, size)
    torch.testing.assert_close(ours_u8, ours_f, atol=1e-5, rtol=0)
    for k in range(6):
        ref = warp_to_crop(img.astype(np.float32), mats[k], size)
        ours = (ours_u8[k].permute(1, 2, 0).cpu().numpy() + 1.0) * 127.5
        err = np.abs(ours - ref)
        assert err.max() < 0.05, f"crop {k}: max error {err.max()} levels"


def test_crop_batched_frames(device, rng):
    img = _face_image()
    frames = torch.stack([to_float(img, device), to_float(img[:, ::-1].copy(), device)])
    mats = np.stack([_similarity(rng, 240, 240, 32) for _ in range(2)])
    out = crop_faces(frames, mats, 32)
    for k in range(2):
        single = crop_faces(frames[k], mats[k:k + 1], 32)
        torch.testing.assert_close(out[k:k + 1], single)


def test_crop_identity_matrix_returns_the_pixels(device):
    img = _face_image()
    eye = np.array([[[1.0, 0, -50], [0, 1.0, -60]]])  # crop pixel (0, 0) = frame pixel (50, 60)
    out = to_uint8(crop_faces(torch.from_numpy(img).to(device), eye, 64))[0].cpu().numpy()
    assert np.array_equal(out, img[60:124, 50:114])


def test_paste_with_attention_one_returns_the_frame_exactly(device, rng):
    img = _face_image()
    mats = np.stack([_similarity(rng, 240, 240, 64) for _ in range(3)])
    crops = torch.rand(3, 3, 64, 64, device=device) * 2 - 1
    mask = paste_weight(torch.ones(3, 1, 64, 64, device=device), 1.0)
    frame = torch.from_numpy(img.copy()).to(device)
    out = paste_faces(frame, crops, mats, mask)
    assert np.array_equal(out.cpu().numpy(), img)


def test_paste_of_the_crop_itself_changes_little(device):
    """Cropping and pasting back the same pixels with full weight reproduces the face region."""
    img = _face_image()
    c, s = np.cos(0.2), np.sin(0.2)
    mat = np.array([[[c, -s, 10.0], [s, c, -40.0]]])
    crops = crop_faces(torch.from_numpy(img).to(device), mat, 128)
    frame = torch.from_numpy(img.copy()).to(device)
    out = paste_faces(frame, crops, mat, torch.ones(1, 1, 128, 128, device=device), feather=0.05)
    diff = np.abs(out.cpu().numpy().astype(int) - img.astype(int))
    assert diff.mean() < 2.0


def test_paste_touches_only_the_crop_footprint(device):
    img = _face_image()
    mat = np.array([[[1.0, 0, -100], [0, 1.0, -20]]])  # crop covers x 100..163, y 20..83
    red = torch.zeros(1, 3, 64, 64, device=device)
    red[:, 0] = 1.0
    red[:, 1:] = -1.0
    frame = torch.from_numpy(img.copy()).to(device)
    out = paste_faces(frame, red, mat, torch.ones(1, 1, 64, 64, device=device)).cpu().numpy()
    changed = np.any(out != img, axis=2)
    ys, xs = np.nonzero(changed)
    assert xs.min() >= 100 and xs.max() <= 163 and ys.min() >= 20 and ys.max() <= 83
    # The crop centre is fully painted (feather is 1 there).
    assert tuple(out[52, 132]) == (255, 0, 0)


def test_feather_is_continuous_and_zero_on_the_border():
    size, feather = 64, 0.1
    xs = torch.linspace(-3, size + 2, 2001, dtype=torch.float64)
    q = torch.stack([xs, torch.full_like(xs, size / 2)], -1)
    f = feather_ramp(q, size, feather)
    step = (xs[1] - xs[0]).item()
    # Lipschitz bound of a smoothstep over the ramp width: 1.5 / width per pixel.
    assert (f.diff().abs().max() / step) <= 1.5 / (feather * size) + 1e-6
    assert f[xs <= -0.5].abs().max() == 0 and f[xs >= size - 0.5].abs().max() == 0
    assert f[(xs > feather * size) & (xs < size - 1 - feather * size)].min() == 1


def test_paste_has_no_seam(device):
    """Painting white onto black: along a line through the crop edge the pasted value rises
    smoothly (no jump bigger than a few levels between neighbouring pixels)."""
    frame = torch.zeros(200, 200, 3, dtype=torch.uint8, device=device)
    mat = np.array([[[0.5, 0, -20], [0, 0.5, -20]]])  # crop of 64 covers frame 40..168
    white = torch.ones(1, 3, 64, 64, device=device)
    out = paste_faces(frame, white, mat, torch.ones(1, 1, 64, 64, device=device), feather=0.15)
    row = out[100, :, 0].cpu().numpy().astype(int)
    assert row[0] == 0 and row[104] == 255
    assert np.abs(np.diff(row)).max() <= 255 * 1.5 / (0.15 * 128) + 2


def test_paste_partial_weight_and_float_frame_agree(device, rng):
    img = _face_image()
    mats = np.stack([_similarity(rng, 240, 240, 48, scale=(0.4, 0.5)) for _ in range(2)])
    crops = torch.rand(2, 3, 48, 48, device=device) * 2 - 1
    attn = torch.rand(2, 1, 48, 48, device=device)
    mask = paste_weight(attn, torch.tensor([0.5, 1.0], device=device))
    out_u8 = paste_faces(torch.from_numpy(img.copy()).to(device), crops, mats, mask)
    out_f = paste_faces(to_float(img, device), crops, mats, mask)
    diff = np.abs(out_u8.cpu().numpy().astype(int) - to_uint8(out_f).cpu().numpy().astype(int))
    assert diff.max() <= 1
    assert (out_u8.cpu().numpy() != img).any()


def test_face_at_the_frame_edge(device):
    img = _face_image()
    mat = np.array([[[1.0, 0, 30], [0, 1.0, 30]]])  # crop origin is outside the frame
    crops = crop_faces(torch.from_numpy(img).to(device), mat, 64)
    ref = warp_to_crop(img.astype(np.float32), mat[0], 64)
    assert np.abs((crops[0].permute(1, 2, 0).cpu().numpy() + 1) * 127.5 - ref).max() < 0.05
    out = paste_faces(torch.from_numpy(img.copy()).to(device), -crops, mat,
                      torch.ones(1, 1, 64, 64, device=device))
    assert (out.cpu().numpy()[:34, :34] != img[:34, :34]).any()
    assert np.array_equal(out.cpu().numpy()[40:, :], img[40:, :])


def test_invert_affines_round_trip(rng):
    mats = np.stack([_similarity(rng, 100, 100, 32) for _ in range(4)])
    back = invert_affines(invert_affines(mats))
    np.testing.assert_allclose(back, mats, atol=1e-9)


def test_paste_restricted_to_the_mask_support_is_the_same(device, rng):
    """Skipping frame pixels whose crop position lies outside the mask's support changes nothing."""
    from reenact.kernels.paste import _paste_one
    from reenact.kernels.warp import crop_box_in_frame

    img = _face_image()
    mats = np.stack([_similarity(rng, 240, 240, 64, scale=(0.4, 0.6)) for _ in range(3)])
    crops = torch.rand(3, 3, 64, 64, device=device) * 2 - 1
    mask = torch.zeros(3, 1, 64, 64, device=device)
    mask[:, :, 20:34, 25:41] = torch.rand(3, 1, 14, 16, device=device)
    fast = paste_faces(torch.from_numpy(img.copy()).to(device), crops, mats, mask, feather=0.3)
    full = torch.from_numpy(img.copy()).to(device)
    fc = invert_affines(mats)
    for i in range(3):
        box = crop_box_in_frame(fc[i], 64, 240, 240)
        if box is not None:
            _paste_one(full, crops[i], mats[i], mask[i], box, 0.3, True)
    assert torch.equal(fast, full)
    assert (fast.cpu().numpy() != img).any()
