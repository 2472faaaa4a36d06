"""Runtime backends: one generator protocol, several ways to run it, chosen by name.

Every backend is a ``reenact.models.protocol.FaceGenerator``: it takes the same inputs (crops
(N, 3, S, S) in [-1, 1], aus (N, 17) on 0-5, optional landmarks and source AUs) and returns the same
``GeneratorOutput``, so the engine never knows which one it holds. Backends are registered by name
(``@register("onnxruntime")``) and built with ``reenact.runtime.make_backend``.

A backend that cannot run here (library missing, no CUDA) is *unavailable*; asking for it by name is
an error that says why, never a silent fallback to something slower. ``auto`` picks the fastest
available one and says which (``reenact.runtime.registry``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from reenact.errors import BackendUnavailable, ReenactError
from reenact.models.protocol import GeneratorOutput

PRECISIONS = ("fp32", "fp16", "bf16", "int8")


def default_threads() -> int:
    """The CPU cores this process may use (affinity-aware, so containers and taskset are honoured)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def default_cache_dir() -> Path:
    """Where exported ONNX files and TensorRT engines are kept between runs."""
    root = os.environ.get("REENACT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "reenact")
    return Path(root)


@dataclass(frozen=True)
class BackendConfig:
    """device: "cpu" or "cuda[:i]"; batch: the batch size the backend is tuned for (compiled engines
    take 1..max_batch, larger inputs are split into chunks of ``batch``); threads: CPU threads for
    intra-op parallelism (None = the cores this process may use); precision: one of PRECISIONS
    (each backend lists the ones it supports), None = the backend's preferred one, the first of
    its ``precisions`` (fp16 on TensorRT, fp32 elsewhere; make_backend fills it in); cache_dir:
    exported graphs and engines (None = ``default_cache_dir()``)."""

    device: str = "cpu"
    batch: int = 1
    max_batch: int | None = None
    threads: int | None = None
    precision: str | None = None
    cache_dir: Path | None = None
    opset: int = 17

    def __post_init__(self) -> None:
        if self.batch < 1:
            raise ReenactError(f"backend batch must be >= 1, got {self.batch}")
        if self.max_batch is not None and self.max_batch < self.batch:
            raise ReenactError(f"backend max_batch {self.max_batch} is smaller than batch {self.batch}")
        if self.threads is not None and self.threads < 1:
            raise ReenactError(f"backend threads must be >= 1, got {self.threads}")
        if self.precision is not None and self.precision not in PRECISIONS:
            raise ReenactError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    @property
    def n_threads(self) -> int:
        return self.threads or default_threads()

    @property
    def batch_limit(self) -> int:
        return self.max_batch or max(self.batch, 8)

    @property
    def cache(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir is not None else default_cache_dir()


class Backend:
    """Base of every backend: the protocol attributes of the wrapped generator, chunking by batch.

    Subclasses implement ``_run(crops, aus, landmarks, source_aus) -> (color, attention)`` for at
    most ``cfg.batch_limit`` faces and set ``precisions`` (preferred first) / ``devices``."""

    name: str = "?"
    precisions: tuple[str, ...] = ("fp32",)
    devices: tuple[str, ...] = ("cpu",)

    def __init__(self, generator, cfg: BackendConfig):
        self.cfg = cfg
        self.generator = generator
        # The wrapped generator's protocol attributes, so the engine crops and feeds as it asks.
        self.image_size: int = generator.image_size
        self.align = generator.align
        self.needs_landmarks: bool = generator.needs_landmarks
        if cfg.precision not in self.precisions:
            raise BackendUnavailable(f"backend {self.name!r} does not run {cfg.precision}; it runs "
                                     f"{', '.join(self.precisions)}")

    def __call__(self, crops: torch.Tensor, aus: torch.Tensor, *,
                 landmarks: torch.Tensor | None = None,
                 source_aus: torch.Tensor | None = None) -> GeneratorOutput:
        n = crops.shape[0]
        if n == 0:
            s = self.image_size
            empty = crops.new_zeros((0, 3, s, s))
            return GeneratorOutput(color=empty, attention=crops.new_zeros((0, 1, s, s)))
        step = self.cfg.batch_limit
        colors, attns = [], []
        for i in range(0, n, step):
            sl = slice(i, i + step)
            c, a = self._run(crops[sl], aus[sl],
                             None if landmarks is None else landmarks[sl],
                             None if source_aus is None else source_aus[sl])
            colors.append(c)
            attns.append(a)
        if len(colors) == 1:
            return GeneratorOutput(color=colors[0], attention=attns[0])
        return GeneratorOutput(color=torch.cat(colors), attention=torch.cat(attns))

    def _run(self, crops, aus, landmarks, source_aus) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def describe(self) -> str:
        return (f"{self.name} ({self.cfg.device}, {self.cfg.precision}, batch {self.cfg.batch}, "
                f"{self.cfg.n_threads} threads)")


@dataclass(frozen=True)
class BackendSpec:
    """A registered backend: its class and a probe that says whether it can run (None) or why not."""

    name: str
    cls: type
    probe: Callable[[str], str | None]
    aliases: tuple[str, ...] = field(default_factory=tuple)


REGISTRY: dict[str, BackendSpec] = {}


def register(name: str, probe: Callable[[str], str | None], aliases: tuple[str, ...] = ()):
    """Class decorator: make a backend buildable by ``name`` (and ``aliases``).

    probe(device) returns None when the backend can run on ``device``, else the reason it cannot."""
    def deco(cls):
        cls.name = name
        spec = BackendSpec(name, cls, probe, aliases)
        for key in (name, *aliases):
            REGISTRY[key] = spec
        return cls
    return deco
