"""GANimation's generator and critic (Pumarola et al., IJCV 2019), with configurable size.

Generator (``paper`` config = the paper and the authors' code): the RGB crop and the 17 target AUs
tiled into 17 constant maps (3 + 17 channels) -> conv7x7 64 -> two stride-2 conv4x4 (128, 256) ->
6 residual blocks at 256 (conv3x3-IN-ReLU-conv3x3-IN, identity skip) -> two stride-2 transposed
conv4x4 (128, 64); every conv before a norm has no bias; InstanceNorm is affine. Two heads:
conv7x7 -> 3 + tanh (colour C) and conv7x7 -> 1 + sigmoid (attention A), both without bias as in
the authors' code. The image is ``blend(input, C, A) = A * input + (1 - A) * C``
(reenact.models.protocol.blend).

Critic: PatchGAN trunk of stride-2 conv4x4 (64, 128, ... 2048 for six layers), LeakyReLU 0.01, no
normalisation (WGAN-GP forbids batch statistics); a 3x3 realism head and an AU regression head
whose kernel covers the remaining map (image_size / 2**n_layers) -> 17 values.

Value ranges: images float (N, 3, S, S) in [-1, 1]; AUs given to ``Generator.forward`` and returned
by the critic are on the model scale 0-1 (OpenFace 0-5 divided by 5). ``GanGenerator`` wraps the
network behind the engine's Generator protocol, which speaks the 0-5 scale.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

from reenact.aus.names import NUM_AUS, to_model
from reenact.models.protocol import GeneratorOutput
from reenact.tracking.align import AlignConfig

UPSAMPLE_MODES = ("transposed", "resize_conv")


# ------------------------------------------------------------------------------------------
# Configs
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GeneratorConfig:
    """image_size: crop side S (a multiple of 2**n_sampling); width: channels after the stem;
    n_sampling: number of stride-2 down (and as many up) stages, width doubling on each;
    n_res_blocks: residual blocks at the bottleneck; upsample: "transposed" (paper: transposed
    conv4x4) or "resize_conv" (nearest x2 + conv3x3: no checkerboard artefacts; about 2x the
    MACs of the transposed conv in the up stages, but a plain conv that CPU runtimes run well);
    separable_res: depthwise 3x3 + pointwise 1x1 convs in the residual blocks (light models)."""

    image_size: int = 128
    width: int = 64
    n_sampling: int = 2
    n_res_blocks: int = 6
    upsample: str = "transposed"
    separable_res: bool = False
    n_aus: int = NUM_AUS

    def __post_init__(self) -> None:
        if self.upsample not in UPSAMPLE_MODES:
            raise ValueError(f"upsample must be one of {UPSAMPLE_MODES}, got {self.upsample!r}")
        if self.image_size % (2 ** self.n_sampling):
            raise ValueError(f"image_size {self.image_size} is not a multiple of 2**n_sampling "
                             f"({2 ** self.n_sampling})")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "GeneratorConfig":
        return cls(**_known(cls, d))


@dataclass(frozen=True)
class CriticConfig:
    """image_size: crop side; width: channels of the first conv, doubling per layer up to
    max_width; n_layers: stride-2 conv4x4 layers (the AU head's kernel is image_size/2**n_layers)."""

    image_size: int = 128
    width: int = 64
    n_layers: int = 6
    max_width: int = 2048
    n_aus: int = NUM_AUS

    def __post_init__(self) -> None:
        if self.image_size % (2 ** self.n_layers):
            raise ValueError(f"critic image_size {self.image_size} is not a multiple of "
                             f"2**n_layers ({2 ** self.n_layers})")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "CriticConfig":
        return cls(**_known(cls, d))


def _known(cls, d: dict) -> dict:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {', '.join(unknown)}")
    return dict(d)


GENERATOR_CONFIGS: dict[str, GeneratorConfig] = {
    "paper": GeneratorConfig(),
    # Half width and half the residual blocks: about 6x fewer MACs than the paper model, same
    # structure (so the attention/colour behaviour and the authors' training recipe carry over).
    "light": GeneratorConfig(width=32, n_res_blocks=3),
    # The CPU training recipe's generator: light, with resize-conv upsampling.
    "cpu": GeneratorConfig(width=32, n_res_blocks=3, upsample="resize_conv"),
    "tiny": GeneratorConfig(image_size=64, width=8, n_res_blocks=1),
}

CRITIC_CONFIGS: dict[str, CriticConfig] = {
    "paper": CriticConfig(),
    "light": CriticConfig(width=32, max_width=1024),
    "cpu": CriticConfig(width=32, max_width=512),
    "tiny": CriticConfig(image_size=64, width=8, n_layers=4, max_width=64),
}


# ------------------------------------------------------------------------------------------
# Generator
# ------------------------------------------------------------------------------------------
def _in(ch: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(ch, affine=True)


class ConvNormReLU(nn.Module):
    def __init__(self, conv: nn.Module, ch_out: int):
        super().__init__()
        self.conv = conv
        self.norm = _in(ch_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)))


class ResizeConv(nn.Module):
    """Nearest-neighbour x2 upsampling followed by a 3x3 conv (no bias: a norm follows)."""

    def __init__(self, ch_in: int, ch_out: int):
        super().__init__()
        self.conv = nn.Conv2d(ch_in, ch_out, 3, 1, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class SeparableConv(nn.Module):
    """Depthwise 3x3 then pointwise 1x1, both without bias."""

    def __init__(self, ch: int):
        super().__init__()
        self.depthwise = nn.Conv2d(ch, ch, 3, 1, 1, groups=ch, bias=False)
        self.pointwise = nn.Conv2d(ch, ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class ResidualBlock(nn.Module):
    """x + IN(conv(ReLU(IN(conv(x))))): the authors' block (no ReLU after the sum)."""

    def __init__(self, ch: int, separable: bool = False):
        super().__init__()
        make = (lambda: SeparableConv(ch)) if separable else (
            lambda: nn.Conv2d(ch, ch, 3, 1, 1, bias=False))
        self.conv1, self.norm1 = make(), _in(ch)
        self.conv2, self.norm2 = make(), _in(ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.norm1(self.conv1(x)))
        return x + self.norm2(self.conv2(h))


class Generator(nn.Module):
    """forward(images (N,3,S,S) in [-1,1], aus (N,17) on 0-1) -> (color (N,3,S,S) in [-1,1],
    attention (N,1,S,S) in [0,1])."""

    def __init__(self, cfg: GeneratorConfig = GeneratorConfig()):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.stem = ConvNormReLU(nn.Conv2d(3 + cfg.n_aus, w, 7, 1, 3, bias=False), w)
        self.down = nn.ModuleList()
        for _ in range(cfg.n_sampling):
            self.down.append(ConvNormReLU(nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), 2 * w))
            w *= 2
        self.res = nn.ModuleList(ResidualBlock(w, cfg.separable_res) for _ in range(cfg.n_res_blocks))
        self.up = nn.ModuleList()
        for _ in range(cfg.n_sampling):
            conv = (nn.ConvTranspose2d(w, w // 2, 4, 2, 1, bias=False) if cfg.upsample == "transposed"
                    else ResizeConv(w, w // 2))
            self.up.append(ConvNormReLU(conv, w // 2))
            w //= 2
        self.color_head = nn.Conv2d(w, 3, 7, 1, 3, bias=False)
        self.attention_head = nn.Conv2d(w, 1, 7, 1, 3, bias=False)
        init_weights(self)

    def forward(self, images: torch.Tensor, aus: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_inputs(images, aus, self.cfg.n_aus)
        n, _, h, w = images.shape
        maps = aus.to(images.dtype)[:, :, None, None].expand(n, aus.shape[1], h, w)
        x = self.stem(torch.cat([images, maps], dim=1))
        for block in (*self.down, *self.res, *self.up):
            x = block(x)
        return torch.tanh(self.color_head(x)), torch.sigmoid(self.attention_head(x))


def _check_inputs(images: torch.Tensor, aus: torch.Tensor, n_aus: int) -> None:
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (N, 3, S, S), got {tuple(images.shape)}")
    if aus.shape != (images.shape[0], n_aus):
        raise ValueError(f"aus must be (N={images.shape[0]}, {n_aus}), got {tuple(aus.shape)}")


def init_weights(module: nn.Module) -> None:
    """The authors' initialisation: conv weights N(0, 0.02), biases 0; norms keep (1, 0)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class GanGenerator(nn.Module):
    """A trained Generator behind reenact.models.protocol.FaceGenerator: AUs on OpenFace's 0-5
    scale (divided by 5 here), landmarks and source AUs ignored (GANimation conditions on targets
    only). align: the crop it was trained on (a checkpoint records it); None = the default
    template at the network's size."""

    name = "gan"
    needs_landmarks = False

    def __init__(self, net: Generator, align: AlignConfig | None = None):
        super().__init__()
        size = net.cfg.image_size
        if align is not None and align.size != size:
            raise ValueError(f"crop size {align.size} differs from the generator's {size}")
        self.net = net
        self.image_size: int = size
        self.align = align if align is not None else AlignConfig(size=size)

    def describe(self) -> str:
        c = self.net.cfg
        return f"GANimation generator ({c.image_size} px, width {c.width}, {c.n_res_blocks} residual blocks)"

    def forward(self, crops: torch.Tensor, aus: torch.Tensor, *,
                landmarks: torch.Tensor | None = None,
                source_aus: torch.Tensor | None = None) -> GeneratorOutput:
        color, attention = self.net(crops, to_model(aus))
        return GeneratorOutput(color=color, attention=attention)


# ------------------------------------------------------------------------------------------
# Critic
# ------------------------------------------------------------------------------------------
class Critic(nn.Module):
    """forward(images (N,3,S,S) in [-1,1]) -> (realism (N,1,S/2**L,S/2**L) unbounded scores,
    aus (N,17) regressed on the model's 0-1 scale)."""

    def __init__(self, cfg: CriticConfig = CriticConfig()):
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        ch_in, ch = 3, cfg.width
        for _ in range(cfg.n_layers):
            layers += [nn.Conv2d(ch_in, ch, 4, 2, 1), nn.LeakyReLU(0.01)]
            ch_in, ch = ch, min(2 * ch, cfg.max_width)
        self.trunk = nn.Sequential(*layers)
        self.realism_head = nn.Conv2d(ch_in, 1, 3, 1, 1, bias=False)
        self.au_head = nn.Conv2d(ch_in, cfg.n_aus, cfg.image_size // 2 ** cfg.n_layers, bias=False)
        init_weights(self)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if images.ndim != 4 or images.shape[1] != 3 or images.shape[-1] != self.cfg.image_size:
            raise ValueError(f"critic expects (N, 3, {self.cfg.image_size}, {self.cfg.image_size}), "
                             f"got {tuple(images.shape)}")
        h = self.trunk(images)
        return self.realism_head(h), self.au_head(h).flatten(1)


# ------------------------------------------------------------------------------------------
# Cost
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cost:
    params: int
    macs: int  # multiply-accumulates of conv / transposed conv / linear layers for one sample

    def __str__(self) -> str:
        return f"{self.params / 1e6:.2f} M params, {self.macs / 1e9:.2f} GMACs"


def _layer_macs(m: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    if isinstance(m, nn.Conv2d):
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        return out[0].numel() * k
    if isinstance(m, nn.ConvTranspose2d):
        # every input element scatters into kernel x (out_channels / groups) outputs
        k = m.kernel_size[0] * m.kernel_size[1] * (m.out_channels // m.groups)
        return inp[0].numel() * k
    if isinstance(m, nn.Linear):
        return out[0].numel() * m.in_features
    return 0


@torch.no_grad()
def count_cost(module: nn.Module, *inputs: torch.Tensor) -> Cost:
    """Parameters and per-sample MACs, measured by forward hooks on conv/linear layers.

    Norms, activations, the AU tiling and the blend are not counted (they are a few per pixel).
    ``inputs`` must have batch size 1."""
    total = [0]

    def hook(m, i, o):
        total[0] += _layer_macs(m, i[0], o)

    kinds = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, kinds)]
    try:
        module(*inputs)
    finally:
        for h in handles:
            h.remove()
    return Cost(params=sum(p.numel() for p in module.parameters()), macs=total[0])


def generator_cost(cfg: GeneratorConfig) -> Cost:
    net = Generator(cfg).eval()
    s = cfg.image_size
    return count_cost(net, torch.zeros(1, 3, s, s), torch.zeros(1, cfg.n_aus))


def critic_cost(cfg: CriticConfig) -> Cost:
    s = cfg.image_size
    return count_cost(Critic(cfg).eval(), torch.zeros(1, 3, s, s))
