"""The generator protocol (``FaceGenerator``): what every model (GAN, AU rig, refiner) and every
runtime backend obeys, so the engine, the still editor, live/, webrtc/ and the CLI read the same
attributes from whichever one they hold, with plain attribute access.

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

Attributes (``FaceGenerator``):
- name: a short label of what runs ("rig", "identity", "gan", or a backend's name: "torch", ...)
- image_size: S, the crop side it takes
- align: the crop it wants (reenact.tracking.align.AlignConfig, ``align.size == image_size``);
  the engine crops every face with it
- needs_landmarks: whether ``__call__`` needs ``landmarks`` and ``source_aus`` (the rig) or ignores
  them (the GAN); the engine always passes both
- describe(): one line saying what runs (the CLI prints it, eval reports record it)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from reenact.tracking.align import AlignConfig


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
class FaceGenerator(Protocol):
    """The generator protocol (see the module doc). The network that GANimation trains is
    reenact.models.networks.Generator; its protocol wrapper is networks.GanGenerator."""

    name: str
    image_size: int
    align: AlignConfig
    needs_landmarks: bool

    def describe(self) -> str: ...

    def __call__(self, crops: torch.Tensor, aus: torch.Tensor, *,
                 landmarks: torch.Tensor | None = None,
                 source_aus: torch.Tensor | None = None) -> GeneratorOutput: ...


# attribute -> the type it must have; the protocol's data members, checked by protocol_errors.
ATTRIBUTE_TYPES: dict[str, type] = {"name": str, "image_size": int, "align": AlignConfig,
                                    "needs_landmarks": bool}


def protocol_errors(obj) -> list[str]:
    """What keeps ``obj`` from being a FaceGenerator: missing or mistyped attributes, a missing
    ``describe`` or ``__call__``, a crop size that disagrees with ``align``; empty when it is one.

    ``isinstance(obj, FaceGenerator)`` checks only that the names exist; this checks types too."""
    errors = []
    for attr, kind in ATTRIBUTE_TYPES.items():
        if not hasattr(obj, attr):
            errors.append(f"no {attr}")
            continue
        value = getattr(obj, attr)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):  # bool is an int
            errors.append(f"{attr} is {type(value).__name__}, not {kind.__name__}")
    if not callable(getattr(obj, "describe", None)):
        errors.append("no describe()")
    if not callable(obj):
        errors.append("not callable")
    align, size = getattr(obj, "align", None), getattr(obj, "image_size", None)
    if isinstance(align, AlignConfig) and isinstance(size, int) and align.size != size:
        errors.append(f"align.size {align.size} differs from image_size {size}")
    return errors
