"""Which runtime backend and precision each evaluated model runs on.

A model spec may carry its own: ``SPEC[@BACKEND[:PRECISION]]``, e.g. ``ckpt.pt@openvino:bf16``,
``ckpt.pt@onnxruntime:int8``, ``rig@torch``. ``--backend`` / ``--precision`` give the default for
specs that carry none. The '@' is looked for last and only counts when what follows it names a
backend, so a path with an '@' in a folder name still loads. Every generator is built with
``reenact.runtime.make_backend``: an unavailable backend or precision is a one-line error, never
a silent fallback (the evaluation would then measure something else than asked).
"""
from __future__ import annotations

from dataclasses import dataclass

from reenact.errors import ReenactError
from reenact.runtime.base import PRECISIONS
from reenact.runtime.registry import backend_names

DEFAULT_BACKEND = "torch"  # eval measures the model itself; fp32 eager torch is the reference


def known_backends() -> list[str]:
    """Canonical names, aliases ("ort", "ov", ...) and "auto"."""
    from reenact.runtime.base import REGISTRY

    return sorted(set(REGISTRY) | {"auto"})


@dataclass(frozen=True)
class ModelSpec:
    """spec: what reenact.models.load understands ("rig", "rig:geometry", a checkpoint path...);
    backend / precision: as asked (None = the run's default); explicit: whether the user named a
    backend or precision anywhere (then the report's column label says which)."""

    spec: str
    backend: str | None = None
    precision: str | None = None

    def resolved(self, backend: str | None, precision: str | None) -> "ModelSpec":
        return ModelSpec(self.spec, self.backend or backend, self.precision or precision)

    @property
    def explicit(self) -> bool:
        return self.backend is not None or self.precision is not None


def check_backend(name: str, where: str) -> str:
    if name not in known_backends():
        raise ReenactError(f"{where}: unknown backend {name!r}; use one of "
                           f"auto, {', '.join(backend_names())}")
    return name


def check_precision(name: str, where: str) -> str:
    if name not in PRECISIONS:
        raise ReenactError(f"{where}: unknown precision {name!r}; use one of {', '.join(PRECISIONS)}")
    return name


def parse_model_spec(text: str) -> ModelSpec:
    """``SPEC[@BACKEND[:PRECISION]]`` -> ModelSpec. A suffix after the last '@' that does not
    start with a backend name is part of the spec (a path), not an error."""
    text = text.strip()
    if not text:
        raise ReenactError("--model: empty model spec")
    base, at, suffix = text.rpartition("@")
    if not at:
        return ModelSpec(text)
    name, colon, precision = suffix.partition(":")
    if name not in known_backends():
        if colon and precision in PRECISIONS or not colon and suffix in PRECISIONS:
            # Looks meant as a backend suffix: say what is wrong rather than "no such file".
            check_backend(name, f"--model {text}")
        return ModelSpec(text)
    if not base:
        raise ReenactError(f"--model {text}: no model before '@'")
    return ModelSpec(base, name, check_precision(precision, f"--model {text}") if colon else None)


def model_label(m: ModelSpec, backend_name: str, precision: str) -> str:
    """The report's column name: the spec alone when no backend was asked for anywhere (reports
    read as before), else spec@backend:precision with the backend actually built (auto resolved)."""
    return f"{m.spec}@{backend_name}:{precision}" if m.explicit else m.spec


def build_generator(m: ModelSpec, device: str = "cpu") -> tuple[str, object]:
    """(column label, protocol generator) for one resolved spec, through make_backend."""
    from reenact.runtime.registry import make_backend

    backend = m.backend or DEFAULT_BACKEND
    try:
        gen = make_backend(backend, m.spec, device=device, precision=m.precision)
    except ReenactError as e:
        raise ReenactError(f"model {m.spec!r} on {backend}"
                           f"{':' + m.precision if m.precision else ''}: {e}") from None
    except ImportError as e:  # a backend library that is installed but broken
        raise ReenactError(f"model {m.spec!r} on {backend}: cannot import its library ({e})") from None
    return model_label(m, gen.name, gen.cfg.precision), gen
