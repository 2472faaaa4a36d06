"""Cost of the AU-rig generator per face on this machine: ``python benchmarks/rig_speed.py``.

Template landmarks (a real face's would cost the same), presets applied to a neutral face, one
torch thread, median of repeated calls. Prints ms per face for each preset and batch size.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from reenact.aus.presets import load_preset
from reenact.models.load import load_generator
from reenact.tracking.align import template_points


def rig(model: str = "rig", flow_step: int | None = None):
    """The generator to time (``flow_step`` overrides the rig's flow lattice step)."""
    gen = load_generator(model)
    if flow_step is not None:
        from dataclasses import replace
        gen.cfg = replace(gen.cfg, flow_step=flow_step)
    return gen


def bench(gen, preset: str, batch: int, repeats: int) -> tuple[float, float]:
    """(wall ms, process CPU ms) per face, medians. On a shared, loaded machine the CPU time is
    the better estimate of the cost on an idle one (one thread)."""
    s = gen.image_size
    rng = np.random.default_rng(0)
    lms = torch.from_numpy(template_points(gen.align)[None].repeat(batch, 0)
                           + rng.normal(0, 0.3, (batch, 478, 2)).astype(np.float32))
    crops = torch.rand(batch, 3, s, s) * 2 - 1
    src = torch.zeros(batch, 17)
    tgt = torch.from_numpy(np.stack([load_preset(preset).apply(np.zeros(17, np.float32))] * batch))
    for _ in range(2):
        gen(crops, tgt, landmarks=lms, source_aus=src)
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        gen(crops, tgt, landmarks=lms, source_aus=src)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return 1e3 * float(np.median(wall)) / batch, 1e3 * float(np.median(cpu)) / batch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="smile,big_smile,surprise,blink,mouth_open")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--flow-step", type=int, default=None)
    ap.add_argument("--model", default="rig", help="rig (with its shading model), rig:geometry, ...")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gen = rig(args.model, args.flow_step)  # loaded once: each bench call only runs it
    for preset in args.presets.split(","):
        for b in args.batch:
            wall, cpu = bench(gen, preset, b, args.repeats)
            print(f"{preset:12s} batch {b}: {wall:6.1f} ms/face wall, {cpu:6.1f} ms/face CPU")


if __name__ == "__main__":
    main()
