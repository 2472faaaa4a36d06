"""make_backend: build a backend by name; ``auto`` picks the fastest one that can run here.

The order ``auto`` tries comes from benchmarks/fps.py on the machines we measured (docs/speed.md):
on CUDA, TensorRT before eager torch; on the CPU, OpenVINO, then ONNX Runtime, then torch. A
generator that is not a network (the AU rig) runs on torch only, so ``auto`` picks torch for it.
"""
from __future__ import annotations

import logging
from dataclasses import replace

from reenact.runtime import backends as _cpu_backends  # noqa: F401  (registers torch/ort/openvino)
from reenact.runtime import tensorrt_backend as _trt  # noqa: F401  (registers tensorrt)
from reenact.errors import ReenactError
from reenact.runtime.base import REGISTRY, BackendConfig, BackendUnavailable
from reenact.runtime.model import gan_network, resolve_generator

log = logging.getLogger("reenact.runtime")

# Fastest first, per device type (measured: docs/speed.md).
AUTO_ORDER: dict[str, tuple[str, ...]] = {
    "cuda": ("tensorrt", "torch"),
    "cpu": ("openvino", "onnxruntime", "torch"),
}
COMPILED = ("onnxruntime", "openvino", "tensorrt")  # backends that need an exportable network


def backend_names() -> list[str]:
    """Canonical names of every registered backend (available here or not)."""
    return sorted({spec.name for spec in REGISTRY.values()})


def why_unavailable(name: str, device: str = "cpu", generator=None) -> str | None:
    """None when backend ``name`` can run ``generator`` on ``device``, else the reason it cannot."""
    spec = REGISTRY.get(name)
    if spec is None:
        return f"unknown backend {name!r}; known: {', '.join(backend_names())}, auto"
    reason = spec.probe(device)
    if reason is None and generator is not None and spec.name in COMPILED \
            and gan_network(generator) is None:
        reason = (f"{type(generator).__name__} is not a GAN network (the AU rig is geometry): "
                  "only the torch backend runs it")
    return reason


def available_backends(device: str = "cpu", generator=None) -> list[str]:
    return [n for n in backend_names() if why_unavailable(n, device, generator) is None]


def choose_auto(device: str = "cpu", generator=None) -> str:
    """The first backend of AUTO_ORDER[device type] that can run here."""
    order = AUTO_ORDER["cuda" if device.startswith("cuda") else "cpu"]
    for name in order:
        if why_unavailable(name, device, generator) is None:
            return name
    raise BackendUnavailable(f"no backend can run on {device}: " + "; ".join(
        f"{n}: {why_unavailable(n, device, generator)}" for n in order))


def backend_config(cfg: BackendConfig | None = None, *, device: str | None = None,
                   batch: int | None = None, threads: int | None = None,
                   precision: str | None = None) -> BackendConfig:
    """``cfg`` as it is, or a BackendConfig from the keywords (None: BackendConfig's default).

    One or the other: a keyword next to ``cfg`` is an error, since which of the two should win is
    a guess (an earlier version let the keywords' defaults silently replace the config's fields)."""
    given = {k: v for k, v in (("device", device), ("batch", batch), ("threads", threads),
                               ("precision", precision)) if v is not None}
    if cfg is None:
        return BackendConfig(**given)
    if given:
        raise ReenactError("make_backend takes a BackendConfig or keywords, not both: got cfg and "
                           + ", ".join(f"{k}={v!r}" for k, v in given.items())
                           + " (put them in the config: dataclasses.replace(cfg, ...))")
    return cfg


def make_backend(name: str, model, *, device: str | None = None, batch: int | None = None,
                 threads: int | None = None, precision: str | None = None,
                 cfg: BackendConfig | None = None):
    """Build backend ``name`` ("torch", "onnxruntime", "openvino", "tensorrt" or "auto") for
    ``model`` (a protocol generator, a networks.Generator, or a load spec such as a checkpoint path).

    Settings come from ``cfg`` or from the keywords (device "cpu", batch 1, threads = the cores
    this process may use, the backend's preferred precision when not given), never both: see
    ``backend_config``. Returns a reenact.models.protocol.FaceGenerator to hand to the engine;
    its ``name`` and ``describe()`` say what runs. Raises BackendUnavailable, naming the reason,
    when ``name`` cannot run here: never falls back to another backend."""
    cfg = backend_config(cfg, device=device, batch=batch, threads=threads, precision=precision)
    device = cfg.device
    generator = resolve_generator(model, device=device)
    if name == "auto":
        name = choose_auto(device, generator)
        log.info("backend auto -> %s (available on %s: %s)", name, device,
                 ", ".join(available_backends(device, generator)))
    reason = why_unavailable(name, device, generator)
    if reason is not None:
        raise BackendUnavailable(f"backend {name!r} is not available: {reason}")
    spec = REGISTRY[name]
    if cfg.precision is None:  # the backend's preferred precision comes first in its list
        cfg = replace(cfg, precision=spec.cls.precisions[0])
    return spec.cls(generator, cfg)
