"""Reenact's speed benchmark: ``python benchmarks/fps.py`` prints tables and writes JSON (``--json PATH``;
default: the untracked benchmarks/results/local/fps.json).

Sections (all in one run, on one machine, named in the output):
  machine    CPU model, cores, SIMD, GPU, library versions
  peak       the yardstick: torch matmul GFLOP/s per (precision, threads) that a generator row
             ran with, the median of --peak-repeats measurements spread over the run
  generator  every available backend x batch size x config (x precision): ms/face, faces/s,
             GFLOP/s, fraction of its own yardstick (n/a for int8; a note on any row above
             100% saying why), max/mean output difference vs torch eager
  pipeline   file mode on the bundled clip (examples/video/clip.mp4): per-stage ms/frame (decode,
             track, AU, crop, generator, blend, encode) and end-to-end fps; live mode: latency per
             frame from capture timestamp to output ready; the baseline (the original GANimation
             inference path: paper generator, eager torch, one frame at a time, face detection on
             every frame, no batching, no threads) and the ratio to it
             (see pipeline.py)

    .venv/bin/python benchmarks/fps.py                      # everything, 120 frames
    .venv/bin/python benchmarks/fps.py --frames 30 --quick  # short run
    .venv/bin/python benchmarks/fps.py --only generator --configs paper,light --batches 1,4
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
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
from reenact.models.networks import GENERATOR_CONFIGS  # noqa: E402
from reenact.runtime import available_backends, backend_names, choose_auto  # noqa: E402

CLIP = HERE.parent / "examples" / "video" / "clip.mp4"
SECTIONS = ("generator", "pipeline")

GEN_COLUMNS = [("config", "config", "{}"), ("backend", "backend", "{}"), ("precision", "prec", "{}"),
               ("batch", "batch", "{}"), ("ms_per_face", "ms/face", "{:.1f}"),
               ("faces_per_s", "faces/s", "{:.1f}"), ("gmacs_model", "GMAC/face", "{:.2f}"),
               ("gmacs_per_face", "GMAC run", "{:.2f}"),
               ("gflops", "GFLOP/s", "{:.1f}"), ("peak_label", "yardstick", "{}"),
               ("peak_gflops", "peak GFLOP/s", "{:.3g}"), ("peak_fraction", "of peak", "{:.0%}"),
               ("max_abs_diff", "max diff", "{:.1e}"), ("mean_abs_diff", "mean diff", "{:.1e}"),
               ("peak_note", "note", "{}")]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=120, help="frames of the clip per pipeline run")
    p.add_argument("--clip", type=Path, default=CLIP)
    p.add_argument("--threads", type=int, default=bl.default_threads(), help="CPU threads for backends")
    p.add_argument("--peak-n", type=int, default=1536, help="matrix side of the yardstick matmul")
    p.add_argument("--peak-repeats", type=int, default=3,
                   help="measurements per (precision, threads) yardstick; the median is kept")
    p.add_argument("--live-threads", type=int, default=1, help="torch threads in the live run")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--configs", default="paper,light", help="generator configs (networks.GENERATOR_CONFIGS)")
    p.add_argument("--backends", default="all", help="comma list or 'all' (every available one)")
    p.add_argument("--batches", default="1,4,8")
    p.add_argument("--precisions", default="fp32,int8,bf16",
                   help="extra precisions are measured for the backends that support them")
    p.add_argument("--only", default=",".join(SECTIONS), help="sections to run: generator,pipeline")
    p.add_argument("--quick", action="store_true", help="fewer repetitions (noisier)")
    p.add_argument("--json", type=Path, default=bl.LOCAL_RESULTS / "fps.json",
                   help="where the run's JSON goes (default: the untracked benchmarks/results/local/)")
    p.add_argument("--report", type=Path, default=None, help="print the tables of a saved JSON and exit")
    return p.parse_args(argv)


def generator_section(args, yardstick: bl.Yardstick) -> list[dict]:
    from reenact.runtime.base import REGISTRY

    configs = [c for c in args.configs.split(",") if c]
    batches = [int(b) for b in args.batches.split(",") if b]
    precisions = [p for p in args.precisions.split(",") if p]
    names = backend_names() if args.backends == "all" else args.backends.split(",")
    rows = []
    cache = Path(tempfile.mkdtemp(prefix="reenact-bench-"))
    probe_gen = bl.make_gan("tiny")
    names = [n for n in names if n in available_backends(args.device, probe_gen)]
    for cfg_name in configs:
        gcfg = GENERATOR_CONFIGS[cfg_name]
        for name in names:
            precs = [p for p in precisions if p in REGISTRY[name].cls.precisions]
            if name == "tensorrt":
                precs = ["fp16"]
            for prec in precs:
                for batch in batches:
                    if prec != "fp32" and batch not in (batches[0], batches[-1]):
                        continue  # precisions: smallest and largest batch only, to keep it short
                    # One more measurement of this row's own yardstick, next to the row: the
                    # share of the cores we get changes during a run on a shared machine.
                    yardstick.sample(prec, args.threads)
                    r = bl.time_generator(cfg_name, cfg_name, gcfg, name, batch, args.threads,
                                          precision=prec, device=args.device, cache_dir=cache,
                                          runs=3 if args.quick else 5,
                                          min_time=0.1 if args.quick else 1.5)
                    rows.append(asdict(r))
                    print(f"  {cfg_name:6s} {name:12s} {prec:5s} b{batch:<2d} "
                          f"{r.ms_per_face:7.1f} ms/face {r.faces_per_s:7.1f} faces/s "
                          f"{r.gflops:6.1f} GFLOP/s  max diff {r.max_abs_diff:.1e}"
                          + (f"  ({r.error})" if r.error else ""), flush=True)
    # Judged at the end: every row of a (precision, threads) against the same median.
    for row in rows:
        yardstick.judge(row)
        row["peak_label"] = (f"{row['peak_precision']} matmul, {row['peak_threads']} threads"
                             if row["peak_precision"] else "n/a")
    return rows


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.report is not None:
        saved = json.loads(args.report.read_text())
        print_report(saved)
        return saved
    sections = set(args.only.split(","))
    torch.set_num_threads(args.threads)
    m = bl.machine()
    print(f"machine: {bl.describe_machine(m)}")
    yardstick = bl.Yardstick(n=args.peak_n, runs=3, repeats=args.peak_repeats, device=args.device)
    yardstick.sample("fp32", args.threads)
    out: dict = {"machine": m, "args": {k: str(v) for k, v in vars(args).items()},
                 "time": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    probe = bl.make_gan("tiny")
    out["auto_backend"] = {"cpu": choose_auto("cpu", probe)}
    if "generator" in sections:
        print("generator (one face = one crop; random weights: speed does not depend on them)")
        out["generator"] = generator_section(args, yardstick)
    out["peak"] = yardstick.as_dict()
    if "pipeline" in sections:
        import pipeline  # here: a generator-only run need not load the tracker and codecs

        out["pipeline"] = pipeline.run(args, out)
    out["machine"]["loadavg_end"] = bl.loadavg()
    print_report(out)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.json, json.dumps(out, indent=1, default=str))
    print(f"wrote {args.json}")
    return out


def print_report(out: dict) -> None:
    print()
    print(f"## Machine: {bl.describe_machine(out['machine'])}")
    if out["machine"].get("loadavg_end"):
        print("load average (1, 5, 15 min) at the end: " +
              ", ".join(f"{v:.1f}" for v in out["machine"]["loadavg_end"]))
    if "gflops_best" in out["peak"]:  # a record from before the per-row yardstick
        print(f"matmul peak (fp32, {out['peak']['threads']} threads): {out['peak']['gflops_best']:.0f} GFLOP/s")
    for p in (v for v in out["peak"].values() if isinstance(v, dict)):
        print(f"yardstick {p['precision']} matmul on {p['threads']} threads ({p['n']}^2): "
              f"{p['gflops_median']:.3g} GFLOP/s, median of " +
              ", ".join(f"{v:.3g}" for v in p["samples"]))
    if out.get("generator"):
        print()
        print(bl.table([r for r in out["generator"] if not r.get("error")], GEN_COLUMNS))
    pl = out.get("pipeline")
    if pl:
        print()
        if "skipped" in pl:
            print(f"pipeline: {pl['skipped']}")
        else:
            import pipeline

            print(pipeline.report(pl))


if __name__ == "__main__":
    main()
