"""One entry point for every generator Reenact can run: ``load_generator(spec, device)``.

spec:
- "rig" (the default): the embedded AU rig shipped in reenact/assets (no download, CPU friendly);
- "rig:PATH.npz": a rig fitted by the checkout's ``python -m research.rig.fit --out PATH.npz``, or
  an appearance model (``python -m research.rig.appearance_fit --out PATH.npz``): the embedded
  rig with that shading model on; "rig:geometry": the embedded rig without its shading model
  (geometry and painted mouth only; for comparisons);
- "identity": a generator whose attention is 1 everywhere (returns its input; plumbing tests);
- a path to a GANimation checkpoint (ours, or the original authors' ``net_epoch_N_id_G.pth``).
"""
from __future__ import annotations

from pathlib import Path

import torch

from reenact.errors import ReenactError
from reenact.models.protocol import GeneratorOutput
from reenact.tracking.align import AlignConfig

BUILTIN = ("rig", "identity")


class IdentityGenerator:
    """Attention 1, colour = input: every edit is a no-op. Checks the shapes like a real model."""

    name = "identity"
    needs_landmarks = False

    def __init__(self, image_size: int = 256, device: str | torch.device = "cpu"):
        self.image_size = image_size
        self.align = AlignConfig(size=image_size, margin=0.2)
        self.device = torch.device(device)

    def to(self, device: str | torch.device) -> "IdentityGenerator":
        self.device = torch.device(device)
        return self

    def eval(self) -> "IdentityGenerator":
        return self

    def describe(self) -> str:
        return f"identity (returns its input, {self.image_size} px)"

    def __call__(self, crops: torch.Tensor, aus: torch.Tensor, *, landmarks=None,
                 source_aus=None) -> GeneratorOutput:
        if crops.ndim != 4 or crops.shape[1] != 3:
            raise ValueError(f"crops must be (N, 3, S, S), got {tuple(crops.shape)}")
        if aus.ndim != 2 or aus.shape[0] != crops.shape[0]:
            raise ValueError(f"aus must be (N, 17) for {crops.shape[0]} crops, got {tuple(aus.shape)}")
        n, _, h, w = crops.shape
        return GeneratorOutput(color=crops.clone(),
                               attention=torch.ones(n, 1, h, w, device=crops.device, dtype=crops.dtype))


def _is_appearance_file(path: Path) -> bool:
    """Whether ``path`` is a rig appearance model (an npz holding shading ``fields``)."""
    import numpy as np

    if not path.is_file():
        return False
    try:
        with np.load(path) as z:
            return "fields" in z.files
    except (ValueError, OSError):
        return False


def _rig_with_appearance(path: Path | None, device):
    """The embedded rig with the appearance (shading) model of ``path`` or the embedded one."""
    from dataclasses import replace

    from reenact.models.rig.appearance import AppearanceModel
    from reenact.models.rig.generator import RigConfig, RigGenerator

    try:
        appearance = AppearanceModel.load(path)
    except (ValueError, KeyError, OSError) as e:
        raise ReenactError(f"cannot load the rig appearance model {path or '(embedded)'}: {e}") from None
    return RigGenerator(cfg=replace(RigConfig(), appearance=True), device=device, appearance=appearance)


def load_generator(spec: str | Path = "rig", device: str | torch.device = "cpu"):
    """A protocol generator (reenact.models.protocol) for ``spec``; see the module docstring."""
    text = str(spec)
    if text == "rig" or text.startswith("rig:"):
        from reenact.models.rig.generator import RigGenerator
        from reenact.models.rig.model import RigModel

        path = text[4:] if text.startswith("rig:") else None
        if path == "geometry":
            from dataclasses import replace

            from reenact.models.rig.generator import RigConfig
            return RigGenerator(cfg=replace(RigConfig(), appearance=False), device=device)
        if path is not None and _is_appearance_file(Path(path)):
            return _rig_with_appearance(Path(path), device)
        if path is not None and not Path(path).is_file():
            raise ReenactError(f"rig file not found: {path}")
        try:
            model = RigModel.load(Path(path) if path else None)
        except (ValueError, KeyError, OSError) as e:
            raise ReenactError(f"cannot load the rig {path or '(embedded)'}: {e}") from None
        return RigGenerator(model, device=device)
    if text == "identity":
        return IdentityGenerator(device=device)
    path = Path(text)
    if not path.exists():
        raise ReenactError(f"model {text!r}: not one of {', '.join(BUILTIN)} and no such file")
    from reenact.models.checkpoint import load_checkpoint_generator

    return load_checkpoint_generator(path, device=device)
