"""The GPU check: run once on a lent CUDA machine, under 8 minutes, and keep what it prints.

    python benchmarks/gpu_check.py [--json PATH] [--quick]

What it measures, on the GANimation generators ("paper" and "light", untrained weights; speed and
numerics do not depend on training):
- precision: fp16 and bf16 against fp32, as 8-bit levels of the composed face A*x + (1-A)*C;
- speed: faces/s at batch 1 to 64 in eager torch, under ``torch.compile`` and replayed as a CUDA
  graph, for each precision (medians of timed repeats, the GPU synchronised around each);
- kernels: the CuPy crop and paste kernels against the plain-torch reference on the same device;
- TensorRT, where torch-tensorrt imports (it skips with one line where it does not).

The lent machine has Python 3.12, a CUDA build of torch, CuPy, onnxruntime and OpenCV but no av, no mediapipe
and no Reenact install, so this script imports only the networks and the kernels, from the source
tree. ``--device cpu`` runs the same code on the CPU (CUDA-only parts skip, each with a line): the
test suite does that, so the script cannot rot between GPU loans. Nothing here writes a tracked file;
``--json`` writes where it is told.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _import_from_source_tree():
    """Make ``reenact.models.networks`` and ``reenact.kernels`` importable without an install.

    ``kernels/`` sits at the top of the repo and installs as ``reenact.kernels`` (pyproject's
    package-dir); adding the repo root to the package's search path gives the same name here.
    """
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import reenact

    if str(REPO) not in reenact.__path__:
        reenact.__path__.append(str(REPO))


_import_from_source_tree()

import torch  # noqa: E402

from reenact.kernels import crop_faces, paste_faces, paste_weight  # noqa: E402
from reenact.kernels import dispatch  # noqa: E402
from reenact.kernels import xp_kernels as xk  # noqa: E402
from reenact.models.networks import GENERATOR_CONFIGS, Generator  # noqa: E402

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
FORBIDDEN = ("av", "mediapipe", "aiortc")  # what the lent machine lacks (it has opencv-python-headless)


class Budget:
    """Wall-clock budget: sections ask before starting work and skip, saying so, when it is spent."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def allows(self, seconds: float) -> bool:
        return self.left() > seconds


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _inputs(batch: int, size: int, device: torch.device, seed: int = 0):
    """Smooth images in [-1, 1] (closer to faces than white noise) and AUs on the model's 0-1 scale."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(batch, 3, size // 8, size // 8, generator=g) * 2 - 1
    images = torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)
    aus = torch.rand(batch, 17, generator=g)
    return images.to(device), aus.to(device)


def _composed(net, images, aus) -> torch.Tensor:
    color, attention = net(images, aus)
    return attention * images + (1 - attention) * color


def _levels(a: torch.Tensor, b: torch.Tensor) -> dict:
    """Difference of two [-1, 1] images in 8-bit levels: max and mean."""
    d = (a.float() - b.float()).abs() * 127.5
    return {"max_levels": round(float(d.max()), 3), "mean_levels": round(float(d.mean()), 4)}


def build(name: str, dtype: torch.dtype, device: torch.device):
    torch.manual_seed(0)
    return Generator(GENERATOR_CONFIGS[name]).to(device=device, dtype=dtype).eval()


def runner(net, mode: str, images: torch.Tensor, aus: torch.Tensor):
    """A zero-argument callable that runs ``net`` on these inputs in ``mode`` (eager, compile, graph)."""
    if mode == "eager":
        return lambda: net(images, aus)
    if mode == "compile":
        compiled = torch.compile(net, dynamic=False)
        return lambda: compiled(images, aus)
    if mode == "graph":  # capture once, replay on the same (static) input buffers
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):  # warm-up on a side stream, as capture requires
                net(images, aus)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            net(images, aus)
        return graph.replay
    raise ValueError(f"unknown mode {mode!r}")


def time_call(fn, device: torch.device, repeats: int, warmup: int = 3) -> float:
    """Median seconds of one call, the device synchronised around each."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def check_precision(name: str, device: torch.device, batch: int, precisions) -> list[dict]:
    size = GENERATOR_CONFIGS[name].image_size
    images, aus = _inputs(batch, size, device)
    with torch.inference_mode():
        ref = _composed(build(name, torch.float32, device), images, aus)
        rows = []
        for p in precisions:
            if p == "fp32":
                continue
            if p == "fp16" and device.type != "cuda":
                rows.append({"model": name, "precision": p, "skipped": "fp16 convolutions need CUDA"})
                continue
            dt = DTYPES[p]
            out = _composed(build(name, dt, device), images.to(dt), aus.to(dt))
            rows.append({"model": name, "precision": p, **_levels(out, ref)})
    return rows


def measure_speed(name: str, device: torch.device, mode: str, precisions, batches, repeats: int,
                  budget: Budget) -> list[dict]:
    """faces/s of one model in one mode for each precision and batch (rows skip once the budget is spent)."""
    size = GENERATOR_CONFIGS[name].image_size
    rows = []
    for p in precisions:
        base = {"model": name, "precision": p, "mode": mode}
        if p == "fp16" and device.type != "cuda":
            rows.append({**base, "skipped": "fp16 convolutions need CUDA"})
            continue
        if mode == "graph" and device.type != "cuda":
            rows.append({**base, "skipped": "CUDA graphs need CUDA"})
            continue
        net = build(name, DTYPES[p], device)
        for batch in batches:
            row = {**base, "batch": batch}
            if not budget.allows(20):
                rows.append({**row, "skipped": "time budget spent"})
                continue
            rows.append({**row, **_speed_row(net, mode, p, batch, size, device, repeats)})
    return rows


def _speed_row(net, mode: str, precision: str, batch: int, size: int, device, repeats: int) -> dict:
    images, aus = (t.to(DTYPES[precision]) for t in _inputs(batch, size, device))
    try:
        with torch.inference_mode():
            t0 = time.perf_counter()
            fn = runner(net, mode, images, aus)
            fn()
            _sync(device)
            setup = time.perf_counter() - t0
            sec = time_call(fn, device, repeats)
    except Exception as e:  # a mode failing on this machine is a finding, not a crash
        return {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"}
    return {"ms": round(sec * 1e3, 3), "faces_per_s": round(batch / sec, 1), "setup_s": round(setup, 2)}


def check_kernels(device: torch.device) -> dict:
    """CuPy crop and paste against the torch reference, on one device (skips without CuPy+CUDA)."""
    reason = dispatch.cupy_status()
    if reason is None and device.type != "cuda":
        reason = "the CuPy kernels run on CUDA only"
    if reason is not None:
        return {"skipped": reason}
    import cupy
    import numpy as np

    g = torch.Generator().manual_seed(3)
    frame = (torch.rand(360, 640, 3, generator=g) * 255).to(torch.uint8).to(device)
    size, n = 128, 4
    ang = np.linspace(-0.4, 0.4, n)
    scale = np.linspace(0.4, 0.9, n)
    mats = np.stack([np.array([[s * np.cos(a), -s * np.sin(a), 20.0 + 30 * i],
                               [s * np.sin(a), s * np.cos(a), -40.0 + 10 * i]])
                     for i, (a, s) in enumerate(zip(ang, scale))])
    ref_crop = crop_faces(frame, mats, size)
    cp_crop = torch.as_tensor(xk.crop_faces_xp(cupy, cupy.asarray(frame), mats, size), device=device)
    color = torch.rand(n, 3, size, size, generator=g).to(device) * 2 - 1
    mask = paste_weight(torch.rand(n, 1, size, size, generator=g).to(device), 0.8)
    ref_paste = paste_faces(frame.clone(), color, mats, mask)
    cp_paste = torch.as_tensor(xk.paste_faces_xp(cupy, cupy.asarray(frame.clone()), cupy.asarray(color),
                                                 mats, cupy.asarray(mask)), device=device)
    paste_diff = (cp_paste.int() - ref_paste.int()).abs()
    return {"crop_max_abs": float((cp_crop - ref_crop).abs().max()),
            "paste_max_levels": int(paste_diff.max()),
            "paste_share_differing": round(float((paste_diff > 0).float().mean()), 5)}


def check_tensorrt(device: torch.device, batch: int, repeats: int) -> dict:
    try:
        import torch_tensorrt
    except Exception as e:  # not installable on most machines: its wheels come from NVIDIA's index
        return {"skipped": f"torch-tensorrt does not import ({type(e).__name__}: {e})"}
    if device.type != "cuda":
        return {"skipped": "TensorRT runs on CUDA only"}
    net = build("paper", torch.float16, device)
    images, aus = (t.half() for t in _inputs(batch, 128, device))
    try:
        trt = torch_tensorrt.compile(net, inputs=[images, aus], enabled_precisions={torch.float16})
        with torch.inference_mode():
            sec = time_call(lambda: trt(images, aus), device, repeats)
            ref = _composed(net, images, aus)
            out = _composed(trt, images, aus)
    except Exception as e:
        return {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"}
    return {"batch": batch, "faces_per_s": round(batch / sec, 1), **_levels(out, ref)}


def environment(device: torch.device) -> dict:
    env = {"python": platform.python_version(), "torch": torch.__version__, "device": str(device),
           "platform": platform.platform()}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
        env["cuda"] = torch.version.cuda
    for mod in ("cupy", "onnxruntime", "torch_tensorrt"):
        try:
            env[mod] = __import__(mod).__version__
        except Exception as e:
            env[mod] = f"absent ({type(e).__name__})"
    return env


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--models", default="paper,light")
    ap.add_argument("--precisions", default="fp16,bf16,fp32", help="compared with fp32, and timed")
    ap.add_argument("--speed-precisions", default=None, help="time only these (default: --precisions)")
    ap.add_argument("--modes", default="eager,graph,compile", help="timed in this order (compile is slowest to set up)")
    ap.add_argument("--batches", default="1,4,16,64")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--budget-s", type=float, default=360,
                    help="seconds of speed rows; later rows skip, saying so, once spent")
    ap.add_argument("--quick", action="store_true", help="batches 1,2 and 3 repeats (the CPU test)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)
    if args.quick:
        args.batches, args.repeats = "1,2", 3
    return args


def _split(text: str) -> list:
    return [t.strip() for t in text.split(",") if t.strip()]


def _print_rows(title: str, rows: list[dict]) -> None:
    print(f"\n## {title}")
    for r in rows:
        print("  " + "  ".join(f"{k}={v}" for k, v in r.items()))


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = torch.device(args.device)
    budget = Budget(args.budget_s)
    models, precisions = _split(args.models), _split(args.precisions)
    batches = [int(b) for b in _split(args.batches)]
    result = {"environment": environment(device)}
    _print_rows("environment", [result["environment"]])
    result["precision"] = [r for m in models for r in check_precision(m, device, min(8, max(batches)), precisions)]
    _print_rows("precision against fp32 (8-bit levels of the composed face)", result["precision"])
    result["kernels"] = check_kernels(device)
    _print_rows("CuPy kernels against the torch reference", [result["kernels"]])
    result["tensorrt"] = check_tensorrt(device, max(batches), args.repeats)
    _print_rows("TensorRT (paper, fp16)", [result["tensorrt"]])
    speed_precisions = _split(args.speed_precisions) if args.speed_precisions else precisions
    # Mode-major order: the cheap eager and graph rows of every model come before any compile.
    result["speed"] = [r for mode in _split(args.modes) for m in models
                       for r in measure_speed(m, device, mode, speed_precisions, batches, args.repeats, budget)]
    _print_rows("speed (median of repeats)", result["speed"])
    result["imported_forbidden"] = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
        print(f"\nwrote {args.json}")
    return result


if __name__ == "__main__":
    main()
