"""TensorRT through torch-tensorrt (dynamo frontend), fp16, engines cached on disk.

Written to torch-tensorrt's documented AOT path, which cannot run on the development machines
(no GPU; torch-tensorrt's TensorRT libraries come from a registry they cannot reach):

    ep  = torch.export.export(graph, (crops, aus), dynamic_shapes={batch axis of both: Dim})
    trt = torch_tensorrt.dynamo.compile(ep, inputs=[Input(min/opt/max shapes)],
                                        enabled_precisions={torch.float16, torch.float32})
    torch_tensorrt.save(trt, path, arg_inputs=[...])   # ExportedProgram on disk
    later: torch.export.load(path).module()

What is tested without TensorRT: the export graph (``export_program`` runs ``torch.export`` with the
dynamic batch, on the CPU too), the input shape ranges (``input_ranges``) and the cache key
(``engine_key``: stable for the same model/GPU/versions/shapes, different when any of them changes).
What stays unverified here: the compile call itself, the engine's fp16 accuracy and its speed.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import asdict, dataclass

import torch

from reenact.atomic import atomic_path
from reenact.aus.names import NUM_AUS
from reenact.runtime.base import Backend, BackendConfig, BackendUnavailable, register
from reenact.runtime.model import example_inputs, export_graph, model_hash

ENGINE_FORMAT = 1  # bump when the saved engine layout (inputs, outputs, dtype handling) changes


def _probe(device: str) -> str | None:
    if importlib.util.find_spec("torch_tensorrt") is None:
        return "torch-tensorrt is not installed (pip install 'reenact[gpu]' on a CUDA machine)"
    if not torch.cuda.is_available():
        return "it needs a CUDA GPU and torch sees none"
    if not device.startswith("cuda"):
        return f"it runs on CUDA devices, not on {device}"
    return None


@dataclass(frozen=True)
class ShapeRange:
    """TensorRT optimisation profile of one input: (min, opt, max) shapes."""

    name: str
    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]


def input_ranges(image_size: int, batch: int, max_batch: int) -> list[ShapeRange]:
    """Profiles for crops (N,3,S,S) and aus (N,17): N from 1 to max_batch, tuned for ``batch``."""
    if not 1 <= batch <= max_batch:
        raise ValueError(f"need 1 <= batch <= max_batch, got batch={batch}, max_batch={max_batch}")
    s = image_size
    return [ShapeRange("crops", (1, 3, s, s), (batch, 3, s, s), (max_batch, 3, s, s)),
            ShapeRange("aus", (1, NUM_AUS), (batch, NUM_AUS), (max_batch, NUM_AUS))]


def engine_key(weights_hash: str, gpu_name: str, trt_version: str, ranges: list[ShapeRange], *,
               precision: str = "fp16", torch_trt_version: str = "", compute_capability: str = "") -> str:
    """The on-disk name of an engine: it must change whenever the engine would (other weights,
    another GPU model, another TensorRT, other shape profiles or precision) and nothing else."""
    payload = {"format": ENGINE_FORMAT, "weights": weights_hash, "gpu": gpu_name.strip(),
               "cc": compute_capability, "trt": trt_version, "torch_trt": torch_trt_version,
               "precision": precision, "shapes": [asdict(r) for r in ranges]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def export_program(graph: torch.nn.Module, image_size: int, max_batch: int,
                   device: str = "cpu") -> torch.export.ExportedProgram:
    """torch.export of the generator graph with a symbolic batch (1..max_batch): TensorRT's input."""
    batch = torch.export.Dim("batch", min=1, max=max_batch)
    # Trace at batch 2: torch.export specialises a dimension whose example size is 1.
    args = example_inputs(image_size, batch=min(2, max_batch) if max_batch > 1 else 1, device=device)
    dyn = {"crops": {0: batch}, "aus": {0: batch}} if max_batch > 1 else None
    return torch.export.export(graph.to(device).eval(), args, dynamic_shapes=dyn, strict=False)


@register("tensorrt", _probe, aliases=("trt",))
class TensorRTBackend(Backend):
    """The GAN compiled to a TensorRT engine (fp16 by default), loaded from the cache when present."""

    precisions = ("fp16", "fp32")
    devices = ("cuda",)

    def __init__(self, generator, cfg: BackendConfig):
        super().__init__(generator, cfg)
        import torch_tensorrt  # noqa: F401  (guarded by the probe)

        self.device = torch.device(cfg.device)
        graph = export_graph(generator).to(self.device)
        self.ranges = input_ranges(self.image_size, cfg.batch, cfg.batch_limit)
        self.key = engine_key(model_hash(graph), torch.cuda.get_device_name(self.device),
                              _trt_version(), self.ranges, precision=cfg.precision,
                              torch_trt_version=getattr(torch_tensorrt, "__version__", ""),
                              compute_capability="%d.%d" % torch.cuda.get_device_capability(self.device))
        self.engine_path = cfg.cache / "tensorrt" / f"gen-{self.key}.ep"
        self.module = self._load_or_build(graph)

    def _load_or_build(self, graph):
        if self.engine_path.is_file():
            return torch.export.load(str(self.engine_path)).module()
        import torch_tensorrt

        ep = export_program(graph, self.image_size, self.cfg.batch_limit, device=str(self.device))
        inputs = [torch_tensorrt.Input(min_shape=r.min, opt_shape=r.opt, max_shape=r.max,
                                       dtype=torch.float32) for r in self.ranges]
        precisions = {torch.float16, torch.float32} if self.cfg.precision == "fp16" else {torch.float32}
        try:
            trt_module = torch_tensorrt.dynamo.compile(ep, inputs=inputs,
                                                       enabled_precisions=precisions)
        except Exception as e:
            raise BackendUnavailable(f"TensorRT could not compile the generator: {e}") from e
        self._save(trt_module, inputs)
        return trt_module

    def _save(self, trt_module, inputs) -> None:
        import torch_tensorrt

        self.engine_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.engine_path) as tmp:
            torch_tensorrt.save(trt_module, str(tmp), arg_inputs=inputs)

    def _run(self, crops, aus, landmarks, source_aus):
        with torch.inference_mode():
            color, attn = self.module(crops.to(self.device, torch.float32).contiguous(),
                                      aus.to(self.device, torch.float32).contiguous())
        return color.float(), attn.float()


def _trt_version() -> str:
    try:
        import tensorrt

        return tensorrt.__version__
    except ImportError:
        return "unknown"
