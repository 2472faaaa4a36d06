"""Emotion prototypes: which AUs make each named emotion and which AUs contradict it.

A preset in "prototype" mode (reenact.aus.presets) sets the AUs it lists, like a "set" preset,
and also *relaxes* the AUs that contradict its emotion: each of those is lowered to its resting
level when the face shows more than that, and left alone when it shows less. So a smile on a
crying face lowers the crying brow (AU1, AU4) and mouth (AU15, AU17) instead of pasting lip
corners onto a sad face. ``prototype_target`` is the combination; it is continuous in the face's
own AUs (a clamp, no thresholds), so targets follow a video's frames without jumps.

The tables: ``CORE`` is the AU combination of each emotion after EMFACS (Friesen & Ekman 1983;
the emotion prototypes of Ekman, Friesen & Hager, *FACS Investigator's Guide*, 2002; the same
combinations as the emotion criteria of the CK+ database, Lucey et al. 2010), restricted to the 17 AUs Reenact estimates (AU24, lip presser, of anger is not among them).
``CONTRADICTS`` lists, per emotion, the AUs that either move the same feature the opposite way
(AU15 against AU12, AU4 against AU1+2, AU26 against AU17/AU23) or are the signature of another
emotion in the same facial region (AU1+AU4 the sad brow, AU9 the disgust nose, AU20 the fear
mouth). docs/aus.md gives the reasoning row by row.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

from reenact.aus.names import AU_MAX, AU_MIN, AU_NAMES, NUM_AUS, au_index

# EMFACS prototype AUs (the optional ones of each prototype in brackets in docs/aus.md).
CORE: dict[str, tuple[str, ...]] = {
    "happiness": ("AU06", "AU12"),
    "sadness": ("AU01", "AU04", "AU15"),
    "surprise": ("AU01", "AU02", "AU05", "AU26"),
    "fear": ("AU01", "AU02", "AU04", "AU05", "AU07", "AU20", "AU26"),
    "anger": ("AU04", "AU05", "AU07", "AU23"),
    "disgust": ("AU09", "AU10", "AU15", "AU17"),
}

CONTRADICTS: dict[str, tuple[str, ...]] = {
    # the crying brow (1, 4), the sad mouth (15 against 12; 17), fear's stretch, anger's tight lips,
    # disgust's nose
    "happiness": ("AU01", "AU04", "AU09", "AU15", "AU17", "AU20", "AU23"),
    # the smile (12 against 15, and its cheek raise 6), the surprised brow and lids (2, 5), the open
    # mouth (26/25 against 17)
    "sadness": ("AU02", "AU05", "AU06", "AU12", "AU25", "AU26"),
    # the lowered brow (4 against 1+2), tightened lids (7 against 5), the closed or sad mouth
    # (15, 17, 23 against 26), disgust's nose
    "surprise": ("AU04", "AU07", "AU09", "AU15", "AU17", "AU23"),
    # the smile and cheek raise (6 narrows the eye from below against 5), disgust's nose, the
    # closed mouth (17, 23 against 26)
    "fear": ("AU06", "AU09", "AU12", "AU17", "AU23"),
    # the raised brows (1, 2 against 4), the smile, the sad mouth, fear's stretch, the open mouth
    # (25, 26 against 23)
    "anger": ("AU01", "AU02", "AU12", "AU15", "AU20", "AU25", "AU26"),
    # the raised brows and lids (surprise, fear), the smile (12 against 15), the jaw drop (26
    # against 17)
    "disgust": ("AU01", "AU02", "AU05", "AU12", "AU26"),
}
EMOTIONS = tuple(CORE)

# Resting level of each AU on OpenFace's scale: the median OpenFace 2.x reading of a resting face
# (the same "base" levels the built-in estimator is calibrated to; docs/aus.md). A contradicting AU
# is relaxed to this level, not to 0, so a neutral face is left as it is.
_REST = {"AU01": 0.37, "AU02": 0.52, "AU04": 0.61, "AU23": 0.22, "AU26": 0.04, "AU45": 0.21}
REST_LEVEL = np.array([_REST.get(n, 0.0) for n in AU_NAMES], np.float32)


def contradicting(emotion: str) -> tuple[int, ...]:
    """AU indices the emotion relaxes; ValueError names the known emotions."""
    if emotion not in CONTRADICTS:
        raise ValueError(f"unknown emotion {emotion!r}; known: {', '.join(EMOTIONS)}")
    return tuple(au_index(n) for n in CONTRADICTS[emotion])


def prototype_target(own: np.ndarray, values: Mapping[int, float], relax: Iterable[int]) -> np.ndarray:
    """Full-strength target AUs (float32 (17,), 0-5) of a prototype for a face with AUs ``own``.

    values: AU index -> the prototype's intensity (set); relax: AU indices lowered to their resting
    level where the face shows more (a listed AU in ``values`` wins over ``relax``); every other
    AU keeps the face's own value."""
    out = np.asarray(own, np.float32).copy()
    if out.shape != (NUM_AUS,):
        raise ValueError(f"own AUs must have shape ({NUM_AUS},), got {out.shape}")
    idx = list(relax)
    out[idx] = np.minimum(out[idx], REST_LEVEL[idx])
    for i, v in values.items():
        out[i] = v
    return np.clip(out, AU_MIN, AU_MAX).astype(np.float32)
