"""What a backend runs: the protocol generator, and for the GAN the pure-tensor graph to export.

``resolve_generator`` accepts a protocol Generator, a bare ``networks.Generator``, or a spec for
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

from reenact.aus.names import NUM_AUS, to_model
from reenact.cli.errors import ReenactError
from reenact.models.networks import GanGenerator, Generator


class ExportGraph(nn.Module):
    """forward(crops (N,3,S,S) [-1,1], aus (N,17) 0-5) -> (color, attention): the GAN with the
    protocol's AU scaling folded in, and nothing a tracer cannot follow."""

    def __init__(self, net: Generator):
        super().__init__()
        self.net = net
        self.image_size = net.cfg.image_size

    def forward(self, crops: torch.Tensor, aus: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, _, h, w = crops.shape
        # Same ops as Generator.forward minus its Python shape checks (they would be traced as
        # constants and pin the batch size).
        maps = to_model(aus).to(crops.dtype)[:, :, None, None].expand(n, aus.shape[1], h, w)
        x = self.net.stem(torch.cat([crops, maps], dim=1))
        for block in (*self.net.down, *self.net.res, *self.net.up):
            x = block(x)
        return torch.tanh(self.net.color_head(x)), torch.sigmoid(self.net.attention_head(x))


def resolve_generator(model, device: str = "cpu"):
    """A protocol Generator from a generator object or a load spec (str / Path)."""
    if isinstance(model, Generator):
        return GanGenerator(model).eval()
    if isinstance(model, (str, Path)):
        if str(model).endswith(".onnx"):
            raise ReenactError(f"{model}: an ONNX file is an export, not a model; give the checkpoint "
                               "it was exported from")
        try:
            from reenact.models.load import load_generator
        except ImportError:  # the loader module is not there yet: checkpoints still load
            from reenact.models.checkpoint import load_generator
            return load_generator(model, device=device)
        return load_generator(str(model), device=device)
    if not callable(model) or not hasattr(model, "image_size"):
        raise ReenactError(f"not a generator: {type(model).__name__} (needs image_size and __call__)")
    return model


def gan_network(generator) -> Generator | None:
    """The GANimation network inside a protocol generator, or None (the rig, identity, ...)."""
    if isinstance(generator, Generator):
        return generator
    net = getattr(generator, "net", None)
    return net if isinstance(net, Generator) else None


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
