"""Closed-loop gains for the AUs the training data barely carries (their fields are hand-designed).

A hand-designed field has a guessed amplitude. Here each such AU is applied alone to a few TRAINING
London faces (never the held-out ones), the output is re-tracked and its AUs re-estimated, and the
field is scaled so the estimator reads about what was asked (gain clipped to [1, MAX_GAIN], so a
field is never weakened and never blown up past a plausible size).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reenact.aus.names import au_index
from research.rig.data import analysed_neutrals, heldout_london_ids, london_ids
from reenact.models.rig.model import RigModel


@dataclass(frozen=True)
class CalibrateConfig:
    aus: tuple[str, ...] = ("AU01", "AU02", "AU04", "AU05", "AU15", "AU17")
    ask: float = 2.5                 # AU increase applied
    faces: int = 6
    max_gain: float = 1.5


def calibrate(model: RigModel, cfg: CalibrateConfig = CalibrateConfig()) -> dict[str, float]:
    """Scale ``model.weights`` in place for ``cfg.aus``; returns the gains."""
    from reenact.eval.editing import StillAnalyser, edit_face
    from reenact.models.rig.generator import RigGenerator

    held = set(heldout_london_ids())
    ids = [i for i in london_ids() if i not in held][::7][:cfg.faces]
    gen = RigGenerator(model)
    moved = {a: [] for a in cfg.aus}
    with StillAnalyser(max_faces=1) as analyser:
        for _, image, src in analysed_neutrals(ids, analyser, "calibrating"):
            for name in cfg.aus:
                i = au_index(name)
                target = src.aus.copy()
                target[i] = min(src.aus[i] + cfg.ask, 5.0)
                out = analyser.matching(edit_face(gen, image, src.face, src.aus, target).image, src.face)
                if out is not None and target[i] > src.aus[i]:
                    moved[name].append((out.aus[i] - src.aus[i]) / (target[i] - src.aus[i]))
    gains = {}
    for name in cfg.aus:
        ratio = float(np.median(moved[name])) if moved[name] else 1.0
        gains[name] = float(np.clip(1.0 / max(ratio, 1e-3), 1.0, cfg.max_gain))
        model.weights[au_index(name)] *= gains[name]
    return gains
