"""Kernel dispatch by device: CuPy on CUDA tensors (where CuPy runs), the torch reference elsewhere.

The CuPy side is the array-API code of ``xp_kernels`` run with ``xp = cupy``; tensors cross between
torch and CuPy through DLPack (zero copy, same stream semantics as the default stream). Where CuPy
is missing or cannot reach a GPU, ``kernel_backend(device)`` says "torch" and the reference runs: the
results are the same to rounding (tests/kernels/test_cupy_kernels.py compares them wherever CUDA exists).
``prefer`` forces one side ("torch" or "cupy"); asking for "cupy" where it cannot run is an error.
"""
from __future__ import annotations

import functools
import importlib.util

import torch

from reenact.kernels import paste as _ref_paste
from reenact.kernels import warp as _ref_warp
from reenact.kernels import xp_kernels as xk
from reenact.kernels.paste import DEFAULT_FEATHER


@functools.lru_cache(maxsize=1)
def cupy_status() -> str | None:
    """None when CuPy can run kernels on a GPU here, else why not (cached: it never changes)."""
    if importlib.util.find_spec("cupy") is None:
        return "CuPy is not installed (pip install 'reenact[gpu]')"
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "CuPy sees no CUDA device"
    except Exception as e:  # CUDA driver or runtime missing
        return f"CuPy cannot reach a GPU: {type(e).__name__}: {e}"
    return None


def kernel_backend(device: torch.device | str, prefer: str | None = None) -> str:
    """"cupy" for CUDA tensors when CuPy runs here, else "torch"; ``prefer`` overrides (strictly)."""
    device = torch.device(device)
    if prefer == "torch":
        return "torch"
    ok = device.type == "cuda" and cupy_status() is None
    if prefer == "cupy":
        if not ok:
            raise RuntimeError(f"CuPy kernels cannot run on {device}: "
                               f"{cupy_status() or 'they run on CUDA tensors only'}")
        return "cupy"
    if prefer is not None:
        raise ValueError(f"prefer must be 'torch', 'cupy' or None, got {prefer!r}")
    return "cupy" if ok else "torch"


def _cp(t: torch.Tensor):
    import cupy

    return cupy.from_dlpack(t.contiguous())


def crop_faces(frame: torch.Tensor, crop_from_frame, size: int, *, prefer: str | None = None):
    """reenact.kernels.crop_faces, on CuPy for a uint8 (H, W, 3) CUDA frame (other layouts and
    devices take the reference)."""
    side = kernel_backend(frame.device, prefer)
    if side == "cupy" and frame.dtype == torch.uint8 and frame.ndim == 3:
        import cupy

        return torch.from_dlpack(xk.crop_faces_xp(cupy, _cp(frame), crop_from_frame, size))
    return _ref_warp.crop_faces(frame, crop_from_frame, size)


def paste_faces(frame: torch.Tensor, crops: torch.Tensor, crop_from_frame, mask: torch.Tensor, *,
                feather: float = DEFAULT_FEATHER, prefer: str | None = None) -> torch.Tensor:
    """reenact.kernels.paste_faces (in place on ``frame``), on CuPy for a uint8 CUDA frame."""
    side = kernel_backend(frame.device, prefer)
    if side == "cupy" and frame.dtype == torch.uint8 and frame.ndim == 3:
        import cupy

        # The CuPy array shares the tensor's memory (DLPack): the in-place paste edits ``work``.
        work = frame if frame.is_contiguous() else frame.contiguous()
        xk.paste_faces_xp(cupy, cupy.from_dlpack(work), _cp(crops.float()), crop_from_frame,
                          _cp(mask.float()), feather=feather)
        if work is not frame:
            frame.copy_(work)
        return frame
    return _ref_paste.paste_faces(frame, crops, crop_from_frame, mask, feather=feather)
