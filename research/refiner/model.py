"""A learned refiner on top of the AU rig (the last appearance option measured; not shipped).

The refiner is the GANimation generator (reenact.models.networks.Generator: same stem, stride-2
downs, residual blocks, resize-conv ups, colour and attention heads) whose stem also takes the
rig's output crop: input = [input crop (3), rig output (3), target AU maps (17)] at the refiner's
own resolution (128 px by default). Its output composes with the paper's attention equation, on
top of the rig instead of on top of the input:

    refined = rig + region * (1 - A) * (C - rig),     region = 1 - A_rig

``region`` (the rig's own "what moves" mask) gates the refiner: where the rig leaves the input
untouched (A_rig = 1) the refiner cannot change anything, so a zero edit stays exact and the
refiner cannot drift the background or the hair. Training: research/refiner/train.py.

Shapes: crops (N, 3, S, S) in [-1, 1]; AUs (N, 17) on the 0-5 scale at this module's edges (the
network sees them divided by 5); region (N, 1, S, S) in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from reenact.aus.names import to_model
from reenact.models.networks import ConvNormReLU, Generator, GeneratorConfig
from reenact.models.protocol import GeneratorOutput


def default_net() -> GeneratorConfig:
    # Narrower than the "cpu" recipe's generator (width 32, 3 blocks): it must train in about
    # 20 minutes on 2 CPU cores.
    return GeneratorConfig(image_size=128, width=16, n_sampling=2, n_res_blocks=2, upsample="resize_conv")


@dataclass(frozen=True)
class RefinerConfig:
    """net: the generator's shape (its image_size is the refiner's working resolution);
    with_input: also feed the unedited crop (else only the rig output + AU maps)."""

    net: GeneratorConfig = field(default_factory=default_net)
    with_input: bool = True

    def to_dict(self) -> dict:
        return {"net": self.net.to_dict(), "with_input": self.with_input}

    @classmethod
    def from_dict(cls, d: dict) -> "RefinerConfig":
        return cls(net=GeneratorConfig.from_dict(d["net"]), with_input=bool(d["with_input"]))


class RefinerNet(nn.Module):
    """forward(crop, rig, aus_0_5, region) -> (refined, color, attention), all at the net's size."""

    def __init__(self, cfg: RefinerConfig = RefinerConfig()):
        super().__init__()
        self.cfg = cfg
        self.gen = Generator(cfg.net)
        ch = (6 if cfg.with_input else 3) + cfg.net.n_aus
        w = cfg.net.width
        # The GANimation stem with the extra image channels; the rest of the network is unchanged.
        stem_conv = nn.Conv2d(ch, w, 7, 1, 3, bias=False)
        nn.init.normal_(stem_conv.weight, 0.0, 0.02)      # the authors' initialisation
        self.gen.stem = ConvNormReLU(stem_conv, w)

    def forward(self, crop: torch.Tensor, rig: torch.Tensor, aus: torch.Tensor,
                region: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n, _, h, w = rig.shape
        a = to_model(aus).to(rig.dtype)[:, :, None, None].expand(n, aus.shape[1], h, w)
        x = torch.cat(([crop, rig] if self.cfg.with_input else [rig]) + [a], 1)
        x = self.gen.stem(x)
        for block in (*self.gen.down, *self.gen.res, *self.gen.up):
            x = block(x)
        color = torch.tanh(self.gen.color_head(x))
        attention = torch.sigmoid(self.gen.attention_head(x))
        refined = rig + region * (1.0 - attention) * (color - rig)
        return refined, color, attention


def save_refiner(net: RefinerNet, path: Path, meta: dict | None = None) -> None:
    """Write ``path`` atomically: {config, state (float32), meta}."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"config": net.cfg.to_dict(), "state": net.state_dict(), "meta": meta or {}}, tmp)
    tmp.replace(path)


def load_refiner(path: Path, device: str | torch.device = "cpu") -> RefinerNet:
    blob = torch.load(path, map_location=device, weights_only=True)
    net = RefinerNet(RefinerConfig.from_dict(blob["config"]))
    net.load_state_dict(blob["state"])
    return net.to(device).eval()


class RefinedRigGenerator:
    """The rig followed by the refiner, behind the generator protocol (reenact.models.protocol).

    The rig runs at its own crop size; the refiner at its net's size; its change (refined - rig)
    is upsampled back and added inside the rig's moving region. Output: C = the refined crop,
    A = 1 exactly where the rig moves nothing (there the refined crop *is* the input), else 0."""

    name = "rig+refiner"

    def __init__(self, rig, net: RefinerNet):
        self.rig = rig
        self.net = net.eval()
        self.image_size = rig.image_size
        self.align = rig.align
        self.needs_landmarks = True

    def to(self, device):
        self.rig.to(device)
        self.net.to(device)
        return self

    def eval(self):
        return self

    def describe(self) -> str:
        return f"{self.rig.describe()} + refiner ({self.net.cfg.net.image_size} px)"

    @torch.no_grad()
    def __call__(self, crops: torch.Tensor, aus: torch.Tensor, *, landmarks=None,
                 source_aus=None) -> GeneratorOutput:
        out = self.rig(crops, aus, landmarks=landmarks, source_aus=source_aus)
        rig = out.blend(crops)
        region = 1.0 - out.attention
        if not bool((region > 0).any()):
            return out
        refined = refine(self.net, crops, rig, aus, region)
        keep = (region <= 0).to(crops.dtype)
        return GeneratorOutput(color=refined.clamp(-1.0, 1.0), attention=keep)


def refine(net: RefinerNet, crops: torch.Tensor, rig: torch.Tensor, aus: torch.Tensor,
           region: torch.Tensor) -> torch.Tensor:
    """Run ``net`` at its own size on full-size crops; returns the refined full-size crop."""
    s, r = crops.shape[-1], net.cfg.net.image_size
    small = [F.interpolate(t, size=(r, r), mode="area") if s != r else t for t in (crops, rig, region)]
    # Ungated change at the net's size (region = 1), gated once by the full-size region below:
    # the same equation as in training, where the crops are at the net's size.
    ref_small, _, _ = net(small[0], small[1], aus.to(crops.dtype), torch.ones_like(small[2]))
    change = ref_small - small[1]
    if s != r:
        change = F.interpolate(change, size=(s, s), mode="bilinear", align_corners=False)
    return rig + region * change
