"""Candidate light generator configs for CPU real time, measured on every available CPU backend.

    .venv/bin/python benchmarks/light_models.py [--threads 2] [--json PATH]   (default: benchmarks/results/local/)

For each candidate (width, residual blocks, separable residual convs, upsampling, crop size):
parameters, GMAC per face, and ms per face at batch 1 on torch / ONNX Runtime / OpenVINO, plus the
speed-up over the paper config on the best backend. Speed only: quality needs trained weights
(``reenact train --config NAME`` then ``reenact eval``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# Idle OpenMP threads sleep instead of spinning: on a small machine torch's pool otherwise fights
# the tracker, decoder and encoder threads for the cores (a 5x slowdown measured, docs/speed.md).
# It must be set before torch loads; an explicit OMP_WAIT_POLICY=active in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

import benchlib as bl  # noqa: E402
from reenact.atomic import write_text_atomic  # noqa: E402
from reenact.models.networks import GENERATOR_CONFIGS, GeneratorConfig, count_cost, generator_cost  # noqa: E402
from reenact.runtime.model import ExportGraph, example_inputs  # noqa: E402
from reenact.runtime import available_backends  # noqa: E402

CANDIDATES: dict[str, GeneratorConfig] = {
    "paper": GENERATOR_CONFIGS["paper"],
    "light (w32 r3)": GENERATOR_CONFIGS["light"],
    "cpu (w32 r3 resize)": GENERATOR_CONFIGS["cpu"],
    "w32 r6 separable": GeneratorConfig(width=32, n_res_blocks=6, separable_res=True),
    "w48 r3": GeneratorConfig(width=48, n_res_blocks=3),
    "w24 r4": GeneratorConfig(width=24, n_res_blocks=4),
    "w32 r3 @96": GeneratorConfig(image_size=96, width=32, n_res_blocks=3),
    "w16 r6": GeneratorConfig(width=16, n_res_blocks=6),
}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=bl.default_threads())
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--only", default="", help="comma list of candidate names (default: all)")
    p.add_argument("--json", type=Path, default=bl.LOCAL_RESULTS / "light_models.json",
                   help="where the run's JSON goes (default: the untracked benchmarks/results/local/)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    m = bl.machine()
    peak = bl.matmul_peak(2)
    print(f"machine: {bl.describe_machine(m)}; matmul peak {peak['gflops_best']:.0f} GFLOP/s")
    backends = available_backends("cpu", bl.make_gan("tiny"))
    cache = Path(tempfile.mkdtemp(prefix="reenact-light-"))
    names = [n for n in CANDIDATES if not args.only or n in args.only.split(",")]
    rows = []
    for name in names:
        cfg = CANDIDATES[name]
        cost = generator_cost(cfg)
        executed = count_cost(ExportGraph(bl.make_gan(cfg).net).eval(), *example_inputs(cfg.image_size, 1))
        row = {"candidate": name, "config": cfg.to_dict(), "params_m": cost.params / 1e6,
               "gmacs_model": cost.macs / 1e9, "gmacs": executed.macs / 1e9}
        for b in backends:
            r = bl.time_generator(name, name, cfg, b, args.batch, args.threads, peak["gflops_best"],
                                  cache_dir=cache, runs=5, min_time=1.0)
            row[b] = r.ms_per_face
            row[f"{b}_peak"] = r.peak_fraction
        row["best_backend"] = min(backends, key=lambda b: row[b])
        row["best_ms"] = row[row["best_backend"]]
        rows.append(row)
        print(f"  {name:22s} {row['params_m']:5.2f} M  {row['gmacs']:5.2f} GMAC  "
              + "  ".join(f"{b} {row[b]:6.1f}" for b in backends) + " ms/face", flush=True)
    paper = next((r for r in rows if r["candidate"] == "paper"), None)
    for r in rows:
        r["x_paper"] = paper["best_ms"] / r["best_ms"] if paper else None
    cols = [("candidate", "candidate", "{}"), ("params_m", "M params", "{:.2f}"),
            ("gmacs_model", "GMAC (as written)", "{:.2f}"), ("gmacs", "GMAC (run)", "{:.2f}")]
    cols += [(b, f"{b} ms", "{:.1f}") for b in backends]
    cols += [("best_backend", "best", "{}"), ("x_paper", "x paper", "{:.1f}")]
    print()
    print(bl.table(rows, cols))
    out = {"machine": m, "peak": peak, "threads": args.threads, "batch": args.batch, "rows": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.json, json.dumps(out, indent=1, default=str))
    print(f"wrote {args.json}")
    return out


if __name__ == "__main__":
    main()
