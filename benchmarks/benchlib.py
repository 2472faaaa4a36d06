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


# CPU features with bfloat16 arithmetic (without them bf16 is emulated in fp32)
BF16_FLAGS = {"avx512_bf16", "amx_bf16"}


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
            "loadavg_1min": (loadavg() or [None])[0], "loadavg_start": loadavg(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "libraries": _versions()}


def loadavg() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the OS has none)."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


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


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def matmul_peak(threads: int = 2, n: int = 2048, runs: int = 5, precision: str = "fp32",
                device: str = "cpu") -> dict:
    """The machine's matmul rate in ``precision`` on ``threads`` threads (GFLOP/s, 2 n^3 flops
    per product): best and median of ``runs`` products."""
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else None
    with torch_threads(threads):
        g = torch.Generator().manual_seed(0)
        a = torch.randn(n, n, generator=g).to(dev, DTYPES[precision])
        b = torch.randn(n, n, generator=g).to(dev, DTYPES[precision])
        t = time_call(lambda: a @ b, warmup=2, runs=runs, sync=sync)
    flops = 2.0 * n ** 3
    return {"threads": threads, "n": n, "precision": precision, "gflops_best": flops / t.min_s / 1e9,
            "gflops_median": flops / t.median_s / 1e9}


def yardstick_precision(precision: str, device: str = "cpu") -> str | None:
    """The torch matmul precision a row in ``precision`` is judged against; None where torch has
    no comparable matmul (int8: the quantized convolutions have no torch counterpart here; fp16
    on the CPU: no CPU runtime here runs fp16 kernels, and torch's CPU fp16 matmul is not one)."""
    if precision in ("fp32", "bf16"):
        return precision
    if precision == "fp16" and device.startswith("cuda"):
        return "fp16"
    return None


class Yardstick:
    """Matmul peaks per (precision, threads): the yardstick of each generator row is the peak
    measured with the precision and threads that row ran with.

    The first ``repeats`` requests for a key each add one measurement (spread over the run, since
    the share of a shared machine we get changes; any still missing are taken when the rows are
    judged), and every row of a key is judged against the median of its ``repeats``
    measurements, so rows of one key share one yardstick."""

    def __init__(self, n: int = 1536, runs: int = 3, repeats: int = 3, device: str = "cpu"):
        self.n, self.runs, self.repeats, self.device = n, runs, repeats, device
        self.samples: dict[tuple[str, int], list[float]] = {}

    def sample(self, precision: str, threads: int) -> None:
        """Measure the (precision, threads) peak once more, unless it has ``repeats`` measurements."""
        prec = yardstick_precision(precision, self.device)
        if prec is None:
            return
        got = self.samples.setdefault((prec, threads), [])
        if len(got) < self.repeats:
            got.append(matmul_peak(threads, n=self.side(prec), runs=self.runs, precision=prec,
                                   device=self.device)["gflops_median"])

    def side(self, precision: str) -> int:
        """The matrix side for ``precision``: smaller where the CPU only emulates bf16 (torch's
        bf16 matmul runs below 1 GFLOP/s there: a 1536^2 product would take 20 s)."""
        emulated = precision == "bf16" and not self.device.startswith("cuda") and not cpu_flags() & BF16_FLAGS
        return min(self.n, 384) if emulated else self.n

    def peak(self, precision: str, threads: int) -> float | None:
        """The median peak (GFLOP/s) for a row in ``precision`` on ``threads`` threads (None: n/a)."""
        prec = yardstick_precision(precision, self.device)
        if prec is None:
            return None
        while len(self.samples.get((prec, threads), ())) < self.repeats:
            self.sample(precision, threads)
        return statistics.median(self.samples[(prec, threads)])

    def judge(self, row: dict) -> dict:
        """Set the row's yardstick (peak_gflops, peak_precision, peak_threads), its fraction of it,
        and a note where the fraction is n/a or above 100%."""
        prec = yardstick_precision(row["precision"], self.device)
        peak = self.peak(row["precision"], row["threads"])
        row["peak_precision"], row["peak_threads"], row["peak_gflops"] = prec, row["threads"], peak
        gflops = row.get("gflops")
        if peak is None:
            row["peak_fraction"] = None
            row["peak_note"] = f"n/a: no comparable torch matmul for {row['precision']} on {self.device}"
        elif gflops is None or gflops != gflops:
            row["peak_fraction"] = None
        else:
            row["peak_fraction"] = gflops / peak
            if row["peak_fraction"] > 1.0:
                row["peak_note"] = over_peak_note(row, self.device)
        return row

    def as_dict(self) -> dict:
        return {f"{p}@{t}": {"precision": p, "threads": t, "n": self.side(p),
                             "gflops_median": statistics.median(v), "samples": v}
                for (p, t), v in self.samples.items()}


def over_peak_note(row: dict, device: str = "cpu") -> str:
    """Why a row runs faster than the matmul of its own precision and threads, from what the
    runtime reports it executed (``row['extra']['kernels']``, where the backend can tell)."""
    kernels = row.get("extra", {}).get("kernels") or {}
    if row["peak_precision"] == "bf16" and not device.startswith("cuda") and not cpu_flags() & BF16_FLAGS:
        return ("no bf16 arithmetic on this CPU (no AVX512-BF16/AMX): torch's bf16 matmul is a slow "
                "emulation, the bf16 convolutions convert to fp32 in oneDNN; the fraction says nothing")
    if any("winograd" in k.lower() for k in kernels):
        return "Winograd convolutions: fewer multiplies than the MAC count"
    ran = {k.rsplit(" ", 1)[-1] for k in kernels}
    if ran and row["peak_precision"] not in ran:
        return f"runs {'/'.join(sorted(ran))} kernels, judged against a {row['peak_precision']} matmul"
    if kernels:
        return (f"every MAC executed ({', '.join(sorted(kernels))}): the runtime's convolution "
                f"kernels outrun torch's {row['peak_precision']} matmul on this CPU")
    return (f"above torch's {row['peak_precision']} matmul: {row['backend']}'s convolution kernels "
            "(oneDNN/MLAS) are not torch's matmul, or the machine's load changed between them")


_OV_PRECISIONS = {"f32": "fp32", "f16": "fp16", "i8": "int8", "u8": "int8"}


def runtime_kernels(backend) -> dict[str, int]:
    """The convolution kernels a backend compiled, as "primitive precision" -> count, where it
    can tell (OpenVINO's executable graph); {} elsewhere."""
    compiled = getattr(backend, "compiled", None)
    if compiled is None or not hasattr(compiled, "get_runtime_model"):
        return {}
    out: dict[str, int] = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if "layerType" not in info or "onvolution" not in str(info["layerType"].astype(str)):
            continue
        prec = str(info["runtimePrecision"].astype(str))
        key = f"{info['primitiveType'].astype(str)} {_OV_PRECISIONS.get(prec, prec)}"
        out[key] = out.get(key, 0) + 1
    return out


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
                   threads: int, peak_gflops: float | None = None, *, precision: str = "fp32", device: str = "cpu",
                   cache_dir=None, runs: int = 5, min_time: float = 1.0) -> GenResult:
    """ms per face of one (config, backend, batch, precision) on ``threads`` threads, its GFLOP/s
    and fraction of ``peak_gflops`` (fps.py judges rows with a Yardstick instead), and its output
    difference from torch eager fp32."""
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
    res.extra = {"min_ms_per_face": t.min_s * 1e3 / batch, "runs": t.runs,
                 "kernels": runtime_kernels(b)}
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
