"""What a backend runs: the protocol generator, and for the GAN the pure-tensor graph to export.

``resolve_generator`` accepts a protocol FaceGenerator, a bare ``networks.Generator``, or a spec for
``reenact.models.load`` ("rig", "identity", a checkpoint path). ``export_graph`` returns the
``nn.Module`` that ONNX Runtime, OpenVINO and TensorRT compile: forward(crops, aus on 0-5) ->
(color, attention), exactly what the protocol wrapper computes, so every backend agrees with torch.
The AU rig is not a network (it moves pixels by landmark geometry): it has no export graph and only
the torch backend runs it, unchanged.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from reenact.aus.names import NUM_AUS, to_model
from reenact.errors import ReenactError
from reenact.models.networks import GanGenerator, Generator
from reenact.models.protocol import protocol_errors


class AUStem(nn.Module):
    """The generator's first conv, conv_kxk(cat(image, 17 tiled AU maps)), computed exactly but
    without convolving the 17 constant maps.

    A conv of a constant map is constant wherever the whole kernel lies inside the image and
    differs only within ``pad`` pixels of the border (zero padding cuts the kernel off there). For
    output row y the taps that fall inside are a range of kernel rows that depends only on which
    of the 2 * pad + 1 border cases y is in; the same for columns. So the AU part equals
    ``aus @ table`` gathered by (row case, column case): ``table[k, c, i, j]`` is the sum of the
    AU-k weights of output channel c over the taps valid in case (i, j). That is 17 * C * 49
    multiply-adds per face instead of 17 * C * k * k * S * S: about a fifth of the light
    generator's work, a twelfth of the paper generator's.
    """

    def __init__(self, conv: nn.Conv2d, n_image_channels: int, size: int):
        super().__init__()
        k, pad = conv.kernel_size[0], conv.padding[0]
        if conv.kernel_size[0] != conv.kernel_size[1] or conv.stride != (1, 1) or conv.groups != 1 \
                or conv.padding[0] != conv.padding[1] or conv.padding_mode != "zeros" or conv.dilation != (1, 1):
            raise ValueError("AUStem needs a square, stride-1, zero-padded, ungrouped conv")
        w = conv.weight.detach()
        c_img = n_image_channels
        self.image_conv = nn.Conv2d(c_img, w.shape[0], k, 1, pad, bias=conv.bias is not None)
        with torch.no_grad():
            self.image_conv.weight.copy_(w[:, :c_img])
            if conv.bias is not None:
                self.image_conv.bias.copy_(conv.bias.detach())
        cases, index = _border_cases(size, k, pad)
        wa = w[:, c_img:].double()  # (C, K_aus, k, k)
        table = torch.stack([torch.stack([wa[:, :, r0:r1, c0:c1].sum((-1, -2)) for (c0, c1) in cases])
                             for (r0, r1) in cases])  # (cases_r, cases_c, C, K_aus)
        self.n_aus, self.channels, self.n_cases = wa.shape[1], wa.shape[0], len(cases)
        # (K_aus, C * cases * cases): one matmul turns AUs into every channel's border-case values.
        self.register_buffer("table", table.permute(3, 2, 0, 1).reshape(self.n_aus, -1).float())
        self.register_buffer("index", torch.as_tensor(index, dtype=torch.long))
        self.size = size

    def forward(self, images: torch.Tensor, aus_model: torch.Tensor) -> torch.Tensor:
        if images.shape[-2:] != (self.size, self.size):
            raise ValueError(f"this generator takes {self.size}x{self.size} crops, got "
                             f"{tuple(images.shape[-2:])}")
        n = images.shape[0]
        cases = (aus_model.to(images.dtype) @ self.table.to(images.dtype)).view(
            n, self.channels, self.n_cases, self.n_cases)
        bias = cases.index_select(2, self.index).index_select(3, self.index)  # (N, C, S, S)
        return self.image_conv(images) + bias


def _border_cases(size: int, k: int, pad: int) -> tuple[list[tuple[int, int]], list[int]]:
    """For each output position 0..size-1 (one axis), the range [lo, hi) of kernel taps inside the
    image; returns the distinct ranges and each position's index into them."""
    ranges = [(max(0, pad - y), min(k, size + pad - y)) for y in range(size)]
    cases = sorted(set(ranges))
    return cases, [cases.index(r) for r in ranges]


class ExportGraph(nn.Module):
    """forward(crops (N,3,S,S) [-1,1], aus (N,17) 0-5) -> (color, attention): the GAN with the
    protocol's AU scaling folded in, the stem rewritten exactly (AUStem), and nothing a tracer
    cannot follow. Shares every other layer's weights with ``net``."""

    def __init__(self, net: Generator, fuse_stem: bool = True):
        super().__init__()
        self.net = net
        self.image_size = net.cfg.image_size
        self.stem = AUStem(net.stem.conv, 3, net.cfg.image_size) if fuse_stem else None

    def forward(self, crops: torch.Tensor, aus: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = to_model(aus)
        if self.stem is not None:
            x = F.relu(self.net.stem.norm(self.stem(crops, a)))
        else:
            # Same ops as Generator.forward minus its Python shape checks (they would be traced
            # as constants and pin the batch size).
            n, _, h, w = crops.shape
            maps = a.to(crops.dtype)[:, :, None, None].expand(n, aus.shape[1], h, w)
            x = self.net.stem(torch.cat([crops, maps], dim=1))
        for block in (*self.net.down, *self.net.res, *self.net.up):
            x = block(x)
        return torch.tanh(self.net.color_head(x)), torch.sigmoid(self.net.attention_head(x))


def resolve_generator(model, device: str = "cpu"):
    """A protocol FaceGenerator from a generator object or a load spec (str / Path)."""
    if isinstance(model, Generator):
        return GanGenerator(model).eval()
    if isinstance(model, (str, Path)):
        if str(model).endswith(".onnx"):
            raise ReenactError(f"{model}: an ONNX file is an export, not a model; give the checkpoint "
                               "it was exported from")
        from reenact.models.load import load_generator

        return load_generator(str(model), device=device)
    errors = protocol_errors(model)
    if errors:
        raise ReenactError(f"not a generator: {type(model).__name__} ({'; '.join(errors)}; "
                           "see reenact.models.protocol.FaceGenerator)")
    return model


def gan_network(generator) -> Generator | None:
    """The GANimation network inside a protocol generator, or None (the rig, identity, ...)."""
    if isinstance(generator, Generator):
        return generator
    return generator.net if isinstance(generator, GanGenerator) else None


def export_graph(generator) -> ExportGraph:
    """The exportable graph of a GAN generator; a clear error for anything else."""
    net = gan_network(generator)
    if net is None:
        raise ReenactError(f"{type(generator).__name__} is not a GAN generator: only the torch backend "
                           "runs it (the AU rig is geometry, not a network to compile)")
    return ExportGraph(net).eval()


def example_inputs(image_size: int, batch: int = 1, device: str = "cpu",
                   dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic example inputs for tracing and checks (no global RNG touched)."""
    g = torch.Generator().manual_seed(0)
    crops = torch.rand(batch, 3, image_size, image_size, generator=g) * 2 - 1
    aus = torch.rand(batch, NUM_AUS, generator=g) * 5
    return crops.to(device, dtype), aus.to(device, dtype)


def model_hash(module: nn.Module, extra: dict | None = None) -> str:
    """sha256 over the architecture config, every parameter/buffer (name, shape, dtype, bytes) and
    ``extra``: the same weights give the same hash on any machine, one changed value changes it."""
    h = hashlib.sha256()
    cfg = getattr(getattr(module, "net", module), "cfg", None)
    h.update(json.dumps(cfg.to_dict() if cfg is not None else type(module).__name__,
                        sort_keys=True).encode())
    for name, t in sorted(module.state_dict().items()):
        h.update(f"{name}|{tuple(t.shape)}|{t.dtype}".encode())
        t = t.detach().to("cpu").contiguous().reshape(-1)
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    if extra:
        h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return h.hexdigest()
