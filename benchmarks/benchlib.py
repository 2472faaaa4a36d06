"""Shared helpers of the speed benchmarks: the machine, the matmul peak, generator timings, tables.

Timings take the median of repeated runs after a warm-up; the development machines share their two
cores with other work, so the minimum is reported too (closest to what the code can do alone).
"""
from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from reenact.engine.compose import torch_threads
from reenact.models.networks import (GENERATOR_CONFIGS, GanGenerator, Generator, GeneratorConfig,
                                     count_cost, generator_cost)
from reenact.runtime.model import ExportGraph, example_inputs
from reenact.runtime import BackendConfig, BackendUnavailable, default_threads, make_backend

# Where a run's JSON goes unless --json names a file: an untracked (gitignored) folder, so a run
# leaves the checkout clean. The records kept in benchmarks/results/ are written only on request
# (--json benchmarks/results/NAME.json).
LOCAL_RESULTS = Path(__file__).resolve().parent / "results" / "local"


# ------------------------------------------------------------------------------------------
# Machine
# ------------------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def machine() -> dict:
    flags = cpu_flags()
    gpu = None
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        gpu = {"name": p.name, "memory_gib": round(p.total_memory / 2 ** 30, 1),
               "count": torch.cuda.device_count()}
    return {"cpu": cpu_model(), "cores_usable": default_threads(), "cores_total": os.cpu_count(),
            "simd": sorted(f for f in flags if f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16",
                                                      "avx512_vnni", "fma")),
            "gpu": gpu, "python": platform.python_version(), "torch": torch.__version__,
            # Other work on the machine skews every figure: record how busy it was.
            "loadavg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "libraries": _versions()}


def _versions() -> dict:
    out = {}
    for mod in ("onnxruntime", "openvino", "torch_tensorrt", "cupy", "mediapipe", "av"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:
            out[mod] = None
    return out


def describe_machine(m: dict) -> str:
    gpu = f", GPU {m['gpu']['name']}" if m["gpu"] else ", no GPU"
    load = f", load average {m['loadavg_1min']:.1f} at start" if m.get("loadavg_1min") is not None else ""
    return f"{m['cpu']}, {m['cores_usable']} cores usable ({', '.join(m['simd'])}){gpu}{load}"


# ------------------------------------------------------------------------------------------
# Timing
# ------------------------------------------------------------------------------------------
@dataclass
class Timing:
    median_s: float
    min_s: float
    runs: int

    def as_dict(self) -> dict:
        return asdict(self)


def time_call(fn, *, warmup: int = 2, runs: int = 5, min_time: float = 0.0, sync=None) -> Timing:
    """Median and minimum wall time of ``fn()`` over ``runs`` calls (at least ``min_time`` s)."""
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    times = []
    start = time.perf_counter()
    while len(times) < runs or time.perf_counter() - start < min_time:
        t = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t)
    return Timing(statistics.median(times), min(times), len(times))


def matmul_peak(threads: int = 2, n: int = 2048, runs: int = 5) -> dict:
    """The machine's float32 matmul rate on ``threads`` threads (GFLOP/s, 2 n^3 flops per product)."""
    with torch_threads(threads):
        g = torch.Generator().manual_seed(0)
        a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
        t = time_call(lambda: a @ b, warmup=2, runs=runs)
    flops = 2.0 * n ** 3
    return {"threads": threads, "n": n, "gflops_best": flops / t.min_s / 1e9,
            "gflops_median": flops / t.median_s / 1e9}


# ------------------------------------------------------------------------------------------
# Generators
# ------------------------------------------------------------------------------------------
def make_gan(cfg: GeneratorConfig | str, seed: int = 0) -> GanGenerator:
    """A randomly initialised GAN generator (speed does not depend on the weights' values)."""
    if isinstance(cfg, str):
        cfg = GENERATOR_CONFIGS[cfg]
    torch.manual_seed(seed)
    return GanGenerator(Generator(cfg)).eval()


@dataclass
class GenResult:
    config: str
    backend: str
    precision: str
    batch: int
    threads: int
    ms_per_call: float = float("nan")
    ms_per_face: float = float("nan")
    faces_per_s: float = float("nan")
    gmacs_per_face: float = float("nan")   # executed (the AU stem computed without the tiled maps)
    gmacs_model: float = float("nan")      # the architecture as written (conv over 3 + 17 channels)
    gflops: float = float("nan")           # executed GFLOP/s (2 flops per MAC)
    peak_fraction: float = float("nan")
    max_abs_diff: float = float("nan")   # vs torch eager fp32, colour and attention
    mean_abs_diff: float = float("nan")
    error: str | None = None
    extra: dict = field(default_factory=dict)


def time_generator(name: str, cfg_name: str, gcfg: GeneratorConfig, backend: str, batch: int,
                   threads: int, peak_gflops: float, *, precision: str = "fp32", device: str = "cpu",
                   cache_dir=None, runs: int = 5, min_time: float = 1.0) -> GenResult:
    """ms per face of one (config, backend, batch, precision) on ``threads`` threads, its GFLOP/s
    and fraction of the matmul peak, and its output difference from torch eager fp32."""
    res = GenResult(cfg_name, backend, precision, batch, threads)
    gen = make_gan(gcfg)
    res.gmacs_model = generator_cost(gcfg).macs / 1e9
    s = gcfg.image_size
    res.gmacs_per_face = count_cost(ExportGraph(gen.net).eval(), *example_inputs(s, 1)).macs / 1e9
    g = torch.Generator().manual_seed(1)
    crops = torch.rand(batch, 3, s, s, generator=g) * 2 - 1
    aus = torch.rand(batch, 17, generator=g) * 5
    with torch.inference_mode():
        ref = gen(crops, aus)
    try:
        bcfg = BackendConfig(device=device, batch=batch, threads=threads, precision=precision,
                             cache_dir=cache_dir)
        b = make_backend(backend, gen, cfg=bcfg)
    except BackendUnavailable as e:
        res.error = str(e)
        return res
    dev_crops, dev_aus = crops.to(device), aus.to(device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else None
    out = b(dev_crops, dev_aus)
    d = torch.cat([(out.color.cpu() - ref.color).abs().flatten(),
                   (out.attention.cpu() - ref.attention).abs().flatten()])
    res.max_abs_diff, res.mean_abs_diff = float(d.max()), float(d.mean())
    t = time_call(lambda: b(dev_crops, dev_aus), runs=runs, min_time=min_time, sync=sync)
    res.ms_per_call = t.median_s * 1e3
    res.ms_per_face = res.ms_per_call / batch
    res.faces_per_s = batch / t.median_s
    res.gflops = 2.0 * res.gmacs_per_face * res.faces_per_s
    res.peak_fraction = res.gflops / peak_gflops if peak_gflops else float("nan")
    res.extra = {"min_ms_per_face": t.min_s * 1e3 / batch, "runs": t.runs}
    return res


# ------------------------------------------------------------------------------------------
# Tables
# ------------------------------------------------------------------------------------------
def table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """A Markdown table: columns = (key, header, format) with format like "{:.1f}"."""
    head = "| " + " | ".join(h for _, h, _ in columns) + " |"
    sep = "| " + " | ".join("---" for _ in columns) + " |"
    lines = [head, sep]
    for r in rows:
        cells = []
        for key, _, fmt in columns:
            v = r.get(key)
            if v is None or (isinstance(v, float) and v != v):
                cells.append("-")
            else:
                cells.append(fmt.format(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
