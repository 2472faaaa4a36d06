"""The CPU backends: torch (eager), ONNX Runtime, OpenVINO. TensorRT lives in tensorrt_backend.py.

All of them are Generators (reenact.models.protocol); see base.py for the shared contract.
"""
from __future__ import annotations

import contextlib
import copy
import importlib.util

import numpy as np
import torch

from reenact.runtime.base import Backend, BackendConfig, BackendUnavailable, register
from reenact.runtime.model import export_graph, gan_network
from reenact.runtime.onnx_export import INPUT_NAMES, OUTPUT_NAMES, cached_onnx


def _cpu_only(lib: str, name: str):
    def probe(device: str) -> str | None:
        if importlib.util.find_spec(lib) is None:
            return f"the Python package {lib!r} is not installed (pip install {name})"
        if not device.startswith("cpu"):
            return f"it runs on the CPU here, not on {device}"
        return None
    return probe


def _torch_probe(device: str) -> str | None:
    if device.startswith("cuda") and not torch.cuda.is_available():
        return "CUDA is not available to torch on this machine"
    return None


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().to("cpu", torch.float32).numpy())


# ------------------------------------------------------------------------------------------
# torch
# ------------------------------------------------------------------------------------------
@register("torch", _torch_probe, aliases=("eager",))
class TorchBackend(Backend):
    """Eager PyTorch: inference mode, channels-last memory (oneDNN's fast conv layout on CPU, tensor
    cores on GPU), bf16/fp16 autocast on request. A GAN runs as its export graph (the same layers,
    the AU stem computed exactly without convolving constant maps: reenact.runtime.model.AUStem);
    any other generator, the AU rig included, is called unchanged (the rig is geometry, not a
    network). Like every backend it snapshots the weights when built."""

    precisions = ("fp32", "bf16", "fp16")
    devices = ("cpu", "cuda")

    def __init__(self, generator, cfg: BackendConfig):
        super().__init__(generator, cfg)
        if cfg.precision == "fp16" and not cfg.device.startswith("cuda"):
            raise BackendUnavailable("torch fp16 runs on CUDA only; use bf16 on the CPU")
        # torch's intra-op pool is per process: set it to what this backend was given.
        if cfg.threads is not None or cfg.device == "cpu":
            torch.set_num_threads(cfg.n_threads)
        self.device = torch.device(cfg.device)
        # A private copy: moving it to the device or to channels-last must not touch the caller's model.
        self.graph = (copy.deepcopy(export_graph(generator)).to(self.device)
                      if gan_network(generator) is not None else None)
        module = self.graph if self.graph is not None else generator
        if isinstance(module, torch.nn.Module):
            module.to(self.device).eval()
            with contextlib.suppress(Exception):  # modules with non-4D params stay as they are
                module.to(memory_format=torch.channels_last)
        self._dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.precision)

    def _run(self, crops, aus, landmarks, source_aus):
        crops = crops.to(self.device).contiguous(memory_format=torch.channels_last)
        aus = aus.to(self.device)
        autocast = (torch.autocast(self.device.type, dtype=self._dtype) if self._dtype is not None
                    else contextlib.nullcontext())
        with torch.inference_mode(), autocast:
            if self.graph is not None:
                color, attention = self.graph(crops, aus)
            else:
                kw = {}
                if landmarks is not None:
                    kw["landmarks"] = landmarks.to(self.device)
                if source_aus is not None:
                    kw["source_aus"] = source_aus.to(self.device)
                out = self.generator(crops, aus, **kw)
                color, attention = out.color, out.attention
        return color.float().contiguous(), attention.float().contiguous()


# ------------------------------------------------------------------------------------------
# ONNX Runtime
# ------------------------------------------------------------------------------------------
@register("onnxruntime", _cpu_only("onnxruntime", "onnxruntime"), aliases=("ort", "onnx"))
class OnnxRuntimeBackend(Backend):
    """The exported GAN on ONNX Runtime's CPU provider, ``threads`` intra-op threads, one inter-op
    thread (the graph is a chain: nothing to run side by side). int8 = dynamic quantization."""

    precisions = ("fp32", "int8")

    def __init__(self, generator, cfg: BackendConfig):
        super().__init__(generator, cfg)
        import onnxruntime as ort

        self.onnx_path = cached_onnx(generator, cfg.cache, opset=cfg.opset, precision=cfg.precision)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = cfg.n_threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # warnings about unused initializers are noise to users
        self.session = ort.InferenceSession(str(self.onnx_path), opts,
                                            providers=["CPUExecutionProvider"])

    def _run(self, crops, aus, landmarks, source_aus):
        color, attn = self.session.run(list(OUTPUT_NAMES), {INPUT_NAMES[0]: _to_numpy(crops),
                                                            INPUT_NAMES[1]: _to_numpy(aus)})
        return torch.from_numpy(color), torch.from_numpy(attn)


# ------------------------------------------------------------------------------------------
# OpenVINO
# ------------------------------------------------------------------------------------------
@register("openvino", _cpu_only("openvino", "openvino"), aliases=("ov",))
class OpenVinoBackend(Backend):
    """The exported GAN on OpenVINO's CPU plugin: latency hint, one stream, ``threads`` threads.
    bf16 runs the convolutions in bfloat16 where the CPU has AVX512-BF16/AMX (else OpenVINO refuses)."""

    precisions = ("fp32", "bf16")

    def __init__(self, generator, cfg: BackendConfig):
        super().__init__(generator, cfg)
        import openvino as ov

        self.onnx_path = cached_onnx(generator, cfg.cache, opset=cfg.opset)
        core = ov.Core()
        model = core.read_model(str(self.onnx_path))
        config = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1",
                  "INFERENCE_NUM_THREADS": str(cfg.n_threads),
                  "INFERENCE_PRECISION_HINT": "bf16" if cfg.precision == "bf16" else "f32"}
        try:
            self.compiled = core.compile_model(model, "CPU", config)
        except RuntimeError as e:
            raise BackendUnavailable(f"OpenVINO cannot compile the generator ({cfg.precision}): {e}") from e
        # Without AVX512-BF16/AMX OpenVINO accepts the bf16 hint and quietly runs fp32: refuse
        # instead, so a "bf16" figure is never an fp32 one.
        ran = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        if cfg.precision == "bf16" and ran != "bf16":
            raise BackendUnavailable(f"OpenVINO bf16 needs a CPU with AVX512-BF16 or AMX; this one "
                                     f"would run the generator in {ran}")
        self.request = self.compiled.create_infer_request()

    def _run(self, crops, aus, landmarks, source_aus):
        res = self.request.infer({INPUT_NAMES[0]: _to_numpy(crops), INPUT_NAMES[1]: _to_numpy(aus)})
        color = res[self.compiled.output(OUTPUT_NAMES[0])]
        attn = res[self.compiled.output(OUTPUT_NAMES[1])]
        # The request owns its output buffers: copy before the next call overwrites them.
        return torch.from_numpy(np.array(color)), torch.from_numpy(np.array(attn))
