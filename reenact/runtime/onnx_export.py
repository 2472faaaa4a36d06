"""Export the GAN generator to ONNX (inputs ``crops``, ``aus``; outputs ``color``, ``attention``;
dynamic batch) and keep exports in a cache keyed by the weights' hash.

The TorchScript-based exporter (``dynamo=False``) is used: it needs no extra package (the
torch.export-based one needs onnxscript) and the generator is a plain feed-forward graph it traces
exactly. InstanceNorm without running statistics exports as ONNX InstanceNormalization, which
always normalises by the input's own statistics: the same as the module in eval mode.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch

from reenact.atomic import atomic_path
from reenact.errors import ReenactError
from reenact.runtime.model import example_inputs, export_graph, model_hash

INPUT_NAMES = ("crops", "aus")
OUTPUT_NAMES = ("color", "attention")


def export_onnx(generator, path: str | Path, *, opset: int = 17, dynamic_batch: bool = True,
                batch: int = 1) -> Path:
    """Write ``generator`` (a GAN protocol generator) to ``path`` as ONNX; returns the path.

    dynamic_batch: the batch axis of every input and output is symbolic ("batch"), so one file
    serves any number of faces; otherwise it is fixed to ``batch``."""
    graph = export_graph(generator).to("cpu")
    path = Path(path)
    args = example_inputs(graph.image_size, batch=max(batch, 2) if dynamic_batch else batch)
    axes = {n: {0: "batch"} for n in (*INPUT_NAMES, *OUTPUT_NAMES)} if dynamic_batch else None
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with (atomic_path(path) as tmp, warnings.catch_warnings(), torch.inference_mode(False),
              torch.no_grad()):
            # The legacy exporter warns that it is legacy, and that InstanceNorm runs with input
            # statistics (which is what we want): neither is actionable for the user.
            warnings.simplefilter("ignore")
            torch.onnx.export(graph, args, str(tmp), dynamo=False, input_names=list(INPUT_NAMES),
                              output_names=list(OUTPUT_NAMES), dynamic_axes=axes,
                              opset_version=opset, do_constant_folding=True)
    except ReenactError:
        raise
    except Exception as e:
        raise ReenactError(f"ONNX export to {path} failed: {e}") from e
    return path


def quantize_int8(src: Path, dst: Path) -> Path:
    """Dynamic int8 quantization (weights int8 offline, activations quantized per call) of the
    convolutions with onnxruntime.quantization; the transposed convs stay float (no integer kernel)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dst) as tmp:
        # ConvInteger on the CPU provider takes uint8 weights (int8 weights have no kernel).
        quantize_dynamic(str(src), str(tmp), weight_type=QuantType.QUInt8,
                         op_types_to_quantize=["Conv", "MatMul"])
    return dst


def cached_onnx(generator, cache_dir: Path, *, opset: int = 17, precision: str = "fp32") -> Path:
    """The generator's ONNX file in ``cache_dir/onnx``, exported (and quantized) on first use."""
    graph = export_graph(generator)
    key = model_hash(graph, {"opset": opset, "torch": torch.__version__})[:20]
    fp32 = cache_dir / "onnx" / f"gen-{key}-op{opset}.onnx"
    if not fp32.is_file():
        export_onnx(generator, fp32, opset=opset)
    if precision == "fp32":
        return fp32
    if precision == "int8":
        q = fp32.with_name(fp32.stem + "-int8.onnx")
        if not q.is_file():
            quantize_int8(fp32, q)
        return q
    raise ReenactError(f"no ONNX export for precision {precision!r}")
