"""The array-API kernels (kernels/xp_kernels.py) equal the torch reference: with numpy here, with
CuPy wherever CUDA and CuPy exist (those cases skip cleanly elsewhere)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from reenact.kernels import crop_faces, paste_faces, paste_weight, to_float, to_uint8
from reenact.kernels import dispatch
from reenact.kernels import xp_kernels as xk

from conftest import DATA


def _face() -> np.ndarray:
    return np.array(Image.open(DATA / "faces" / "london_002_03.jpg").convert("RGB"))


def _similarities(rng, n, width, height, size) -> np.ndarray:
    mats = []
    for _ in range(n):
        ang, sc = rng.uniform(-0.6, 0.6), rng.uniform(0.3, 0.9)
        rot = sc * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        centre = np.array([rng.uniform(0, width), rng.uniform(0, height)])  # some reach past the edge
        t = np.array([size / 2 - 0.5] * 2) - rot @ centre
        mats.append(np.hstack([rot, t[:, None]]))
    return np.stack(mats)


def _cupy():
    reason = dispatch.cupy_status()
    if reason is not None or not torch.cuda.is_available():
        pytest.skip(reason or "no CUDA device")
    import cupy

    return cupy


# ------------------------------------------------------------------------------------------
# numpy side: runs everywhere
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [32, 64])
def test_numpy_crop_equals_torch_reference(rng, size):
    img = _face()
    mats = _similarities(rng, 5, img.shape[1], img.shape[0], size)
    ref = crop_faces(torch.from_numpy(img), mats, size).numpy()
    ours = xk.crop_faces_xp(np, img, mats, size)
    assert ours.dtype == np.float32 and ours.shape == ref.shape == (5, 3, size, size)
    # Both are bilinear with border replication; the reference samples in float32.
    np.testing.assert_allclose(ours, ref, atol=2e-5, rtol=0)


def test_numpy_crop_does_not_touch_the_frame(rng):
    img = _face()
    before = img.copy()
    xk.crop_faces_xp(np, img, _similarities(rng, 2, img.shape[1], img.shape[0], 32), 32)
    assert np.array_equal(img, before)


def test_numpy_paste_equals_torch_reference(rng):
    img = _face()
    size = 48
    mats = _similarities(rng, 3, img.shape[1], img.shape[0], size)
    color = torch.rand(3, 3, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1
    attn = torch.rand(3, 1, size, size, generator=torch.Generator().manual_seed(2))
    mask = paste_weight(attn, 0.8)
    ref = paste_faces(torch.from_numpy(img.copy()), color, mats, mask).numpy()
    ours = xk.paste_faces_xp(np, img.copy(), color.numpy(), mats, mask.numpy())
    diff = np.abs(ours.astype(int) - ref.astype(int))
    # float32 vs float64 sampling may move a value across a rounding boundary: 1 level at most,
    # on a handful of pixels.
    assert diff.max() <= 1
    assert (diff > 0).mean() < 0.01
    assert not np.array_equal(ours, img)  # the paste did something


def test_numpy_paste_with_zero_weight_is_exact(rng):
    img = _face()
    mats = _similarities(rng, 2, img.shape[1], img.shape[0], 32)
    out = xk.paste_faces_xp(np, img.copy(), np.zeros((2, 3, 32, 32), np.float32), mats,
                            np.zeros((2, 1, 32, 32), np.float32))
    assert np.array_equal(out, img)


def test_numpy_blend_and_colour_equal_reference(rng):
    crops = rng.uniform(-1, 1, (2, 3, 8, 8)).astype(np.float32)
    color = rng.uniform(-1, 1, (2, 3, 8, 8)).astype(np.float32)
    attn = rng.uniform(0, 1, (2, 1, 8, 8)).astype(np.float32)
    from reenact.models.protocol import blend

    ref = blend(torch.from_numpy(crops), torch.from_numpy(color), torch.from_numpy(attn)).numpy()
    np.testing.assert_allclose(xk.blend_xp(np, crops, color, attn), ref, atol=1e-6)
    img = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    np.testing.assert_allclose(xk.to_float_xp(np, img), to_float(img).numpy(), atol=1e-6)
    assert np.array_equal(xk.to_uint8_xp(np, xk.to_float_xp(np, img)), img)
    assert np.array_equal(xk.to_uint8_xp(np, to_float(img).numpy()), to_uint8(to_float(img)).numpy())


def test_yuv420p_to_rgb_matches_the_decoder(data_dir):
    av = pytest.importorskip("av")
    videos = sorted((data_dir / "video").glob("*.mp4"))
    if not videos:
        pytest.skip("no test video")
    with av.open(str(videos[0])) as c:
        frame = next(c.decode(video=0))
    if frame.format.name != "yuv420p":
        pytest.skip(f"clip is {frame.format.name}")
    planes = frame.to_ndarray()  # (H * 3/2, W) packed I420
    h, w = frame.height, frame.width
    y = planes[:h]
    u = planes[h:h + h // 4].reshape(h // 2, w // 2)
    v = planes[h + h // 4:].reshape(h // 2, w // 2)
    ours = xk.yuv420p_to_rgb_xp(np, y, u, v)
    ref = frame.to_ndarray(format="rgb24")
    err = np.abs(ours.astype(int) - ref.astype(int))
    # swscale interpolates chroma and uses fixed point: a few levels at chroma edges, ~1 on average.
    assert ours.shape == ref.shape
    assert err.mean() < 2.0, err.mean()
    assert np.percentile(err, 99) <= 8


def test_dispatch_uses_the_reference_on_cpu(rng):
    assert dispatch.kernel_backend("cpu") == "torch"
    with pytest.raises(RuntimeError, match="CuPy"):
        dispatch.kernel_backend("cpu", prefer="cupy")
    img = _face()
    mats = _similarities(rng, 2, img.shape[1], img.shape[0], 32)
    out = dispatch.crop_faces(torch.from_numpy(img), mats, 32)
    torch.testing.assert_close(out, crop_faces(torch.from_numpy(img), mats, 32))


# ------------------------------------------------------------------------------------------
# CuPy side: only where CUDA and CuPy run
# ------------------------------------------------------------------------------------------
@pytest.mark.cuda
def test_cupy_crop_equals_torch_reference_on_gpu(rng):
    _cupy()
    img = torch.from_numpy(_face()).cuda()
    mats = _similarities(rng, 4, img.shape[1], img.shape[0], 64)
    ref = crop_faces(img, mats, 64)
    ours = dispatch.crop_faces(img, mats, 64, prefer="cupy")
    assert ours.is_cuda
    torch.testing.assert_close(ours.float(), ref, atol=2e-5, rtol=0)


@pytest.mark.cuda
def test_cupy_paste_equals_torch_reference_on_gpu(rng):
    _cupy()
    img = torch.from_numpy(_face()).cuda()
    mats = _similarities(rng, 3, img.shape[1], img.shape[0], 48)
    color = (torch.rand(3, 3, 48, 48, device="cuda") * 2 - 1)
    mask = paste_weight(torch.rand(3, 1, 48, 48, device="cuda"), 0.7)
    ref = paste_faces(img.clone(), color, mats, mask)
    ours = dispatch.paste_faces(img.clone(), color, mats, mask, prefer="cupy")
    diff = (ours.int() - ref.int()).abs()
    assert diff.max().item() <= 1 and (diff > 0).float().mean().item() < 0.01
