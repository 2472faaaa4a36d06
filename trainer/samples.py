"""Sample sheets: what the generator does to a few fixed crops for a few fixed AU targets.

One row per crop: the input, then the blended output for each target, then each target's
attention A (white = keep the input pixel), then each target's colour C.
"""
from __future__ import annotations


import numpy as np
import torch
from PIL import Image, ImageDraw

from reenact.aus.names import NUM_AUS, au_index, to_model
from reenact.models.protocol import blend

# Fixed targets on OpenFace's 0-5 scale (expressions as FACS describes them).
TARGETS: dict[str, dict[str, float]] = {
    "neutral": {},
    "smile": {"AU06": 2.5, "AU12": 4.0},
    "surprise": {"AU01": 3.0, "AU02": 3.0, "AU05": 2.5, "AU25": 2.0, "AU26": 3.0},
    "anger": {"AU04": 3.5, "AU07": 2.5, "AU23": 2.0},
}


def target_matrix() -> torch.Tensor:
    """float32 (len(TARGETS), 17), 0-5 scale."""
    out = torch.zeros(len(TARGETS), NUM_AUS)
    for row, aus in enumerate(TARGETS.values()):
        for name, v in aus.items():
            out[row, au_index(name)] = v
    return out


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """(3|1, S, S) in [-1, 1] (images) or [0, 1] (attention, passed as 2A-1) -> (S, S, 3) uint8."""
    x = ((x.clamp(-1, 1) + 1) * 127.5).round().byte()
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    return x.permute(1, 2, 0).cpu().numpy()


@torch.no_grad()
def sample_sheet(generator, crops: torch.Tensor) -> np.ndarray:
    """crops: (N, 3, S, S) in [-1, 1]; generator(images, aus 0-1) -> (C, A). Returns uint8 RGB."""
    targets = to_model(target_matrix()).to(crops.device)
    n, _, s, _ = crops.shape
    k = len(targets)
    outs, atts, cols = [], [], []
    for t in targets:
        color, att = generator(crops, t.expand(n, -1))
        outs.append(blend(crops, color, att))
        atts.append(att * 2 - 1)
        cols.append(color)
    header = 14
    sheet = np.full((header + n * s, (1 + 3 * k) * s, 3), 255, np.uint8)
    for i in range(n):
        tiles = [crops[i]] + [o[i] for o in outs] + [a[i] for a in atts] + [c[i] for c in cols]
        for j, tile in enumerate(tiles):
            sheet[header + i * s: header + (i + 1) * s, j * s:(j + 1) * s] = _to_uint8(tile)
    img = Image.fromarray(sheet)
    draw = ImageDraw.Draw(img)
    labels = ["input"] + list(TARGETS) + [f"A {t}" for t in TARGETS] + [f"C {t}" for t in TARGETS]
    for j, label in enumerate(labels):
        draw.text((j * s + 2, 1), label, fill=(0, 0, 0))
    return np.asarray(img)


