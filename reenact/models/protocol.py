"""The generator protocol: what every model (GAN, AU rig, refiner) and every runtime backend obeys.

A generator takes a batch of aligned face crops and target AUs and returns a colour image C and an
attention mask A; the result is ``blend(crop, C, A) = A * crop + (1 - A) * C`` (A = 1 keeps the
input pixel), exactly as in GANimation.

Shapes and ranges (N faces, S = crop size):
- crops: float32 (N, 3, S, S), RGB in [-1, 1]
- aus: float32 (N, 17), OpenFace order, 0-5 scale (models divide by 5 internally)
- landmarks: float32 (N, 478, 2) in crop pixels, (x, y), pixel centres at integers; optional
  (the rig needs them, the GAN ignores them)
- source_aus: float32 (N, 17) the face's own AUs, 0-5; optional (the rig moves by target - source)
- returns ``GeneratorOutput(color (N, 3, S, S) in [-1, 1], attention (N, 1, S, S) in [0, 1])``
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch


@dataclass
class GeneratorOutput:
    color: torch.Tensor
    attention: torch.Tensor

    def blend(self, crops: torch.Tensor) -> torch.Tensor:
        return blend(crops, self.color, self.attention)


def blend(crops: torch.Tensor, color: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """GANimation's composition, shared by training and inference: A * input + (1 - A) * C."""
    return attention * crops + (1.0 - attention) * color


@runtime_checkable
class Generator(Protocol):
    image_size: int

    def __call__(self, crops: torch.Tensor, aus: torch.Tensor, *,
                 landmarks: torch.Tensor | None = None,
                 source_aus: torch.Tensor | None = None) -> GeneratorOutput: ...
