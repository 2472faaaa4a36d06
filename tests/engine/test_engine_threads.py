"""A file run applies its thread budget: torch threads while the generator runs (restored after),
one x264 thread on small machines, and the output unchanged by the budget."""
from __future__ import annotations

import re

import numpy as np
import torch

from reenact.engine.video import edit_video
from reenact.models.protocol import GeneratorOutput
from reenact.runtime.threads import ThreadBudget
from reenact.tracking.align import AlignConfig

from conftest import DATA
from helpers.clips import decoded_rgb

CLIP = DATA / "video" / "single_face_small.mp4"


class ThreadRecordingGen:
    """Darkens the crop (A = 0.5) and records torch's thread count at each call."""
    name = "threads"
    image_size = 64
    align = AlignConfig(size=64)
    needs_landmarks = False

    def __init__(self):
        self.threads: list[int] = []

    def describe(self) -> str:
        return "thread recorder"

    def __call__(self, crops, aus, *, landmarks=None, source_aus=None):
        self.threads.append(torch.get_num_threads())
        return GeneratorOutput(crops * 0.5, torch.full_like(crops[:, :1], 0.5))


class Smile:
    def targets(self, frame, own):
        return {k: np.full(17, 2.0, np.float32) for k in own}


def _run(tmp_path, name, budget):
    gen = ThreadRecordingGen()
    out = tmp_path / name
    edit_video(CLIP, out, gen, Smile(), threads=budget, progress=False, log=lambda _m: None)
    return gen, out


def test_budget_sets_generator_and_encoder_threads_and_keeps_the_pixels(tmp_path):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        gen1, out1 = _run(tmp_path, "one.mp4", ThreadBudget(decoder=1, encoder=1, generator=1))
        assert gen1.threads and set(gen1.threads) == {1}
        assert torch.get_num_threads() == 2  # restored after the generator stage
        gen2, out2 = _run(tmp_path, "two.mp4", ThreadBudget(decoder=0, encoder=2, generator=2))
        assert set(gen2.threads) == {2}
    finally:
        torch.set_num_threads(before)
    for out, n in ((out1, 1), (out2, 2)):
        found = re.search(rb" threads=(\d+) ", out.read_bytes())
        assert found and int(found.group(1)) == n
    # Same edit either way: only the encoder's thread count differs (within x264's rounding).
    a, b = decoded_rgb(out1), decoded_rgb(out2)
    assert len(a) == len(b) == 20
    for x, y in zip(a, b):
        assert np.abs(x.astype(int) - y.astype(int)).mean() < 1.0
