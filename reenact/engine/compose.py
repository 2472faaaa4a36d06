"""The middle of the pipeline for a batch of faces: align and crop, run the generator, paste back.

Shared by the video engine (faces batched across frames) and still-image editing. Everything here
works on torch tensors on one device; frames stay uint8 (H, W, 3) and only face regions are read
and written (reenact.kernels).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from reenact.kernels import paste_weight
# CuPy kernels for CUDA frames where CuPy runs, the torch reference everywhere else.
from reenact.kernels.dispatch import crop_faces, paste_faces
from reenact.models.protocol import GeneratorOutput
from reenact.tracking.align import AlignConfig, crop_from_frame, transform_points
from reenact.tracking.types import Face


@contextmanager
def torch_threads(n: int | None):
    """Run a block with ``n`` torch threads. Crop and paste touch a few hundred thousand pixels:
    on a busy 2-core machine, OpenMP threads for them cost far more in synchronisation than they
    save (measured: paste of a 300x300 region 33 ms on 1 thread, ~1 s on 2 under load)."""
    prev = torch.get_num_threads()
    if n is None or n == prev:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


@dataclass
class FaceCrops:
    """N aligned faces of one frame. crops: float (N, 3, S, S) [-1, 1]; landmarks: float32
    (N, 478, 2) crop pixels; crop_from_frame: float64 (N, 2, 3)."""

    crops: torch.Tensor
    landmarks: torch.Tensor
    crop_from_frame: np.ndarray


def crop_frame_faces(image: torch.Tensor, faces: list[Face], align: AlignConfig) -> FaceCrops:
    """Crop ``faces`` out of one uint8 (H, W, 3) frame tensor at the generator's alignment."""
    mats = np.stack([crop_from_frame(f.landmarks, align) for f in faces]) if faces \
        else np.zeros((0, 2, 3))
    crops = crop_faces(image, mats, align.size)
    lms = np.stack([transform_points(m, f.landmarks) for m, f in zip(mats, faces)]) if faces \
        else np.zeros((0, 478, 2), np.float32)
    return FaceCrops(crops, torch.as_tensor(lms, device=image.device), mats)


def run_generator(generator, crops: torch.Tensor, targets: np.ndarray, sources: np.ndarray,
                  landmarks: torch.Tensor, batch: int) -> GeneratorOutput:
    """Call the generator ``batch`` faces at a time. targets, sources: (N, 17) on the 0-5 scale."""
    dev = crops.device
    t = torch.as_tensor(np.asarray(targets, np.float32), device=dev)
    s = torch.as_tensor(np.asarray(sources, np.float32), device=dev)
    colors, attns = [], []
    with torch.inference_mode():
        for i in range(0, len(crops), max(1, batch)):
            sl = slice(i, i + max(1, batch))
            out = generator(crops[sl], t[sl], landmarks=landmarks[sl], source_aus=s[sl])
            colors.append(out.color.float())
            attns.append(out.attention.float())
    return GeneratorOutput(torch.cat(colors), torch.cat(attns))


def paste_frame_faces(image: torch.Tensor, color: torch.Tensor, attention: torch.Tensor,
                      crop_from_frame_m: np.ndarray, weights: np.ndarray, feather: float) -> None:
    """Paste N generated faces into one uint8 (H, W, 3) frame tensor in place.

    weights: (N,) strength x presence per face; the paste weight is weights * (1 - A) times the
    border feather, so A = 1 (or weight 0) leaves the frame's pixels exactly as they were."""
    if len(color) == 0:
        return
    w = torch.as_tensor(np.asarray(weights, np.float32), device=color.device)
    paste_faces(image, color, crop_from_frame_m, paste_weight(attention, w), feather=feather)


def paste_mask(height: int, width: int, attention: torch.Tensor, crop_from_frame_m: np.ndarray,
               weights: np.ndarray, feather: float) -> np.ndarray:
    """The paste weight of N faces in frame pixels: float32 (H, W) in [0, 1], 0 where the frame
    keeps its own pixels. It is the same paste as ``paste_frame_faces``, of white crops onto a
    black float frame, so the preview's mask view shows exactly what the edit touched."""
    canvas = torch.full((3, height, width), -1.0, device=attention.device)
    if len(attention):
        w = torch.as_tensor(np.asarray(weights, np.float32), device=attention.device)
        white = torch.ones((len(attention), 3) + tuple(attention.shape[-2:]), device=attention.device)
        paste_faces(canvas, white, crop_from_frame_m, paste_weight(attention, w), feather=feather)
    return ((canvas[0] + 1.0) * 0.5).clamp_(0, 1).cpu().numpy()
