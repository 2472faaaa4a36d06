"""The 17 Action Units Reenact works with, in OpenFace order, and their scale.

Everywhere a user sees AU values (files, CLI, JSON, CSV) they are on OpenFace's 0-5 intensity
scale and named "AU01" ... "AU45". Models receive that scale divided by ``AU_MAX``; the division
happens inside model code only (see ``to_model`` / ``from_model``).
"""
from __future__ import annotations

import numpy as np

AU_CODES: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45)
AU_NAMES: tuple[str, ...] = tuple(f"AU{c:02d}" for c in AU_CODES)
OPENFACE_COLUMNS: tuple[str, ...] = tuple(f"{n}_r" for n in AU_NAMES)
NUM_AUS = len(AU_CODES)
AU_MIN, AU_MAX = 0.0, 5.0

AU_DESCRIPTIONS: dict[str, str] = {
    "AU01": "inner brow raiser", "AU02": "outer brow raiser", "AU04": "brow lowerer",
    "AU05": "upper lid raiser", "AU06": "cheek raiser", "AU07": "lid tightener",
    "AU09": "nose wrinkler", "AU10": "upper lip raiser", "AU12": "lip corner puller",
    "AU14": "dimpler", "AU15": "lip corner depressor", "AU17": "chin raiser",
    "AU20": "lip stretcher", "AU23": "lip tightener", "AU25": "lips part",
    "AU26": "jaw drop", "AU45": "blink",
}


def au_index(name: str) -> int:
    """Index of an AU given as "AU12", "au12", "AU12_r", "12" or 12; ValueError names the AU."""
    text = str(name).strip().upper().removesuffix("_R").removeprefix("AU")
    try:
        code = int(text)
    except ValueError:
        raise ValueError(f"unknown AU name {name!r}; expected one of {', '.join(AU_NAMES)}") from None
    if code not in AU_CODES:
        raise ValueError(f"unknown AU {name!r}; Reenact uses {', '.join(AU_NAMES)}")
    return AU_CODES.index(code)


def to_model(aus):
    """0-5 OpenFace scale -> the 0-1 range the networks take (works on numpy and torch)."""
    return aus / AU_MAX


def from_model(aus):
    """The networks' 0-1 range -> OpenFace's 0-5 scale."""
    return aus * AU_MAX


def zeros() -> np.ndarray:
    return np.zeros(NUM_AUS, dtype=np.float32)
