"""Named FACS movements of a rig at AU = 5 on the template face, in IOD units.

``python -m research.rig.magnitudes [rig.npz]`` prints them. The same figures are checked against
FACS-based target amplitudes (``TARGETS``) by the fit (``research.rig.fit``): a landmark measure
that does not go through the AU estimator that later scores the rig.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from reenact.aus.names import au_index
from reenact.models.rig import regions as R
from reenact.models.rig.model import RigModel
from reenact.tracking.align import AlignConfig, inter_ocular, template_points

# Point groups, image-left half listed first; "outward" is away from the midline.
_INNER_BROW = (55, 65, 107, 66, 285, 295, 336, 296)
_OUTER_BROW = (46, 53, 70, 63, 276, 283, 300, 293)
_UPPER_LID_MID = (159, 158, 160, 386, 385, 387)
_LOWER_LID_MID = (145, 144, 153, 374, 373, 380)
_UPPER_LIP_MID = (0, 37, 267)
_LOWER_LIP_MID = (17, 84, 314)
_CHIN = (152, 175, 199)


def _movements(d: np.ndarray, sign: np.ndarray) -> dict[str, float]:
    """d: (478, 2) displacement (IOD units, y down); sign: outward sign per point."""
    up = lambda pts: float(-d[list(pts), 1].mean())
    out = lambda pts: float((d[list(pts), 0] * sign[list(pts)]).mean())
    red_up = np.mean(d[list(R.LIP_INNER_UPPER[3:-3]), 1] - d[list(R.LIP_OUTER_UPPER[3:-3]), 1])
    red_lo = np.mean(d[list(R.LIP_OUTER_LOWER[3:-3]), 1] - d[list(R.LIP_INNER_LOWER[3:-3]), 1])
    return {
        "inner_brow_up": up(_INNER_BROW), "outer_brow_up": up(_OUTER_BROW),
        "inner_brow_out": out(_INNER_BROW),
        "upper_lid_up": up(_UPPER_LID_MID), "lower_lid_up": up(_LOWER_LID_MID),
        "nose_wing_up": up(R.NOSE_WING[5:]),
        "upper_lip_up": up(_UPPER_LIP_MID), "lower_lip_up": up(_LOWER_LIP_MID),
        "corner_up": up(R.MOUTH_CORNERS), "corner_out": out(R.MOUTH_CORNERS),
        "chin_up": up(_CHIN), "lip_red_narrowed": float(-(red_up + red_lo)),
    }


# The named movement that defines each AU and its amplitude at AU = 5 (IOD units; IOD ~ 62 mm):
# FACS Manual (Ekman, Friesen & Hager 2002) descriptions at intensity E, sized from measured
# maximal voluntary displacements (e.g. brow raise ~9-10 mm, brow lowering ~6 mm, lid raise ~3 mm,
# jaw drop ~12 mm in facial-motion-capture studies). Sign: positive in the direction FACS names.
TARGETS: dict[str, dict[str, float]] = {
    "AU01": {"inner_brow_up": 0.12},
    "AU02": {"outer_brow_up": 0.12},
    "AU04": {"inner_brow_up": -0.10, "inner_brow_out": -0.05},
    "AU05": {"upper_lid_up": 0.055},
    "AU07": {"lower_lid_up": 0.045},
    "AU09": {"nose_wing_up": 0.06, "inner_brow_up": -0.04},
    "AU10": {"upper_lip_up": 0.07},
    "AU15": {"corner_up": -0.08},
    "AU17": {"lower_lip_up": 0.06, "chin_up": 0.05},
    "AU20": {"corner_out": 0.08},
    "AU23": {"lip_red_narrowed": 0.06},
    "AU26": {"chin_up": -0.20},
}


def au_movements(weights: np.ndarray, cfg: AlignConfig = AlignConfig(size=256, margin=0.2)) -> dict:
    """{AU: {movement: IOD at AU = 5}} for every AU in TARGETS (reference-crop weights)."""
    template = template_points(cfg).astype(np.float64)
    iod = inter_ocular(template)
    mid = template[[1, 4, 5, 6, 168, 152]].mean(0)[0]
    sign = np.sign(template[:, 0] - mid)
    return {name: _movements(weights[au_index(name)] * 5.0 / iod, sign) for name in TARGETS}


def shortfall(weights: np.ndarray) -> dict[str, float]:
    """Per AU: the smallest ratio measured / target over its named movements (1 = on target)."""
    moves = au_movements(weights)
    return {name: min(moves[name][k] / v for k, v in t.items()) for name, t in TARGETS.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rig", nargs="?", type=Path, default=None)
    args = ap.parse_args(argv)
    w = RigModel.load(args.rig).weights
    moves = au_movements(w)
    for name, t in TARGETS.items():
        print(name, {k: round(moves[name][k], 3) for k in t}, "target", t)


if __name__ == "__main__":
    main()
