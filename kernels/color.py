"""Colour and layout conversion between the edges (uint8 RGB, H x W x 3) and the networks
(float32 N x 3 x H x W in [-1, 1]).

The mapping is v = u / 127.5 - 1 and back u = round((v + 1) * 127.5) clamped to 0..255, so a
uint8 image survives a round trip exactly.
"""
from __future__ import annotations

import numpy as np
import torch


def to_float(image: torch.Tensor | np.ndarray, device: torch.device | str | None = None) -> torch.Tensor:
    """uint8 (H, W, 3) or (N, H, W, 3) -> float32 (3, H, W) or (N, 3, H, W) in [-1, 1]."""
    t = torch.as_tensor(image, device=device)
    if t.dtype != torch.uint8:
        raise TypeError(f"expected a uint8 image, got {t.dtype}")
    if t.ndim not in (3, 4) or t.shape[-1] != 3:
        raise ValueError(f"expected (H, W, 3) or (N, H, W, 3), got {tuple(t.shape)}")
    return t.movedim(-1, -3).to(torch.float32).div_(127.5).sub_(1.0)


def to_uint8(tensor: torch.Tensor) -> torch.Tensor:
    """float (3, H, W) or (N, 3, H, W) in [-1, 1] -> uint8 (H, W, 3) or (N, H, W, 3), same device."""
    if tensor.ndim not in (3, 4) or tensor.shape[-3] != 3:
        raise ValueError(f"expected (3, H, W) or (N, 3, H, W), got {tuple(tensor.shape)}")
    u = (tensor.detach().float() + 1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)
    return u.movedim(-3, -1).contiguous()


def to_numpy_image(tensor: torch.Tensor) -> np.ndarray:
    """float (3, H, W) in [-1, 1] -> numpy uint8 (H, W, 3) RGB."""
    return to_uint8(tensor).cpu().numpy()
