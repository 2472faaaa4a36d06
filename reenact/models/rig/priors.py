"""Hand-designed displacement fields per AU: the prior the regression starts from.

Each AU gets a few "handles" (named mesh regions from ``regions``) with a displacement at full
intensity (AU = 5), in inter-ocular-distance (IOD) units, x given as "outward" (away from the face's
midline) so one entry serves both sides. Points near handles follow with a Gaussian falloff.

Where the training data carries an AU (see docs/rig.md), the fit replaces this prior; where it does
not (brows, lids, jaw drop with the current data), the prior is what ships, and it is documented as
hand-designed.
"""
from __future__ import annotations

import numpy as np

from reenact.aus.names import AU_NAMES, NUM_AUS
from reenact.models.rig import regions as R
from reenact.tracking.align import STABLE_POINTS

# (points, (outward, down) displacement at AU = 5, IOD units). Listed zero handles pin a region.
Handle = tuple[tuple[int, ...], tuple[float, float]]

_INNER_BROW = (107, 66, 55, 65, 336, 296, 285, 295)
_MID_BROW = (105, 52, 334, 282)
_OUTER_BROW = (70, 63, 46, 53, 300, 293, 276, 283)
_UPPER_LIDS = R.EYE_L_UPPER[1:-1] + R.EYE_R_UPPER[1:-1]
_LOWER_LIDS = R.EYE_L_LOWER[1:-1] + R.EYE_R_LOWER[1:-1]
_LOWER_LIDS_MID = R.EYE_L_LOWER[2:-2] + R.EYE_R_LOWER[2:-2]
_LOWER_BY_CORNERS = (R.EYE_L_LOWER[1], R.EYE_L_LOWER[-2], R.EYE_R_LOWER[1], R.EYE_R_LOWER[-2])
_UPPER_LIDS_MID = R.EYE_L_UPPER[2:-2] + R.EYE_R_UPPER[2:-2]
_UPPER_BY_CORNERS = (R.EYE_L_UPPER[1], R.EYE_L_UPPER[-2], R.EYE_R_UPPER[1], R.EYE_R_UPPER[-2])
_CREASES = R.LID_CREASE_L[1:-1] + R.LID_CREASE_R[1:-1]
_UNDER_EYES = R.UNDER_EYE_L[1:-1] + R.UNDER_EYE_R[1:-1]
_CHEEKS = R.CHEEK_L + R.CHEEK_R
# The corners with the mesh points packed between the outer and inner corner (62, 76 and mirrors: the
# 2 px between 61 and 78 at 256 px): left to the falloff they lag the corners and their slivers flip.
_CORNERS = R.MOUTH_CORNERS + R.INNER_CORNERS + (62, 76, 292, 306)
_NEAR_CORNERS = (185, 146, 191, 95, 409, 375, 415, 324)
_UPPER_LIP = tuple(set(R.LIP_OUTER_UPPER[1:-1] + R.LIP_INNER_UPPER[1:-1]) - set(_NEAR_CORNERS))
_LOWER_LIP = tuple(set(R.LIP_OUTER_LOWER[1:-1] + R.LIP_INNER_LOWER[1:-1]) - set(_NEAR_CORNERS))
# Infraorbital triangle: the cheek skin beside the nose, below the eyes (lifted by AU9).
_INFRAORBITAL = (47, 100, 126, 142, 277, 329, 355, 371)
# The skin between the lower lip and the chin boss (moves with both under AU17).
_LABIOMENTAL = (90, 180, 85, 16, 315, 404, 320)
_LIPS_ALL = tuple(set(R.LIP_OUTER_UPPER + R.LIP_OUTER_LOWER + R.LIP_INNER_UPPER + R.LIP_INNER_LOWER))

# Amplitudes follow the FACS Manual's appearance changes at intensity E (Ekman, Friesen & Hager
# 2002), sized from maximal voluntary displacements measured on real faces (IOD ~ 62 mm: brow
# raise ~9-10 mm, brow lowering ~7 mm with the heads pulled ~4 mm together, upper-lid raise ~3-4 mm,
# jaw drop ~12 mm); research/rig/magnitudes.py holds the named targets the fit checks.
HANDLES: dict[str, list[Handle]] = {
    # Inner brow up: the oblique brow (with AU4 the sad brow); the crease above the lid follows.
    "AU01": [(_INNER_BROW, (0.0, -0.12)), (_MID_BROW, (0.0, -0.07)), (_OUTER_BROW, (0.0, -0.015)),
             (_CREASES, (0.0, -0.03))],
    # Outer brow up (with AU1 the whole brow rises and arches).
    "AU02": [(_OUTER_BROW, (0.0, -0.12)), (_MID_BROW, (0.0, -0.08)), (_INNER_BROW, (0.0, -0.025)),
             (_CREASES, (0.0, -0.035))],
    # Brows down AND together: the medial heads most (corrugator and depressor supercilii), so the
    # skin between them bunches against the fixed glabella; the brow skin pushes the crease down.
    "AU04": [(_INNER_BROW, (-0.06, 0.11)), (_MID_BROW, (-0.03, 0.08)), (_OUTER_BROW, (-0.01, 0.035)),
             (_CREASES, (0.0, 0.03))],
    # Upper lid up: more sclera above the iris; the crease folds up under the brow.
    "AU05": [(_UPPER_LIDS, (0.0, -0.06)), (_CREASES, (0.0, -0.025)), (_LOWER_LIDS, (0.0, 0.0))],
    "AU06": [(_CHEEKS, (0.0, -0.05)), (_UNDER_EYES, (0.0, -0.035)), (_LOWER_LIDS, (0.0, -0.02)),
             (_UPPER_LIDS, (0.0, 0.0))],
    # Lids tightened: the lower lid rises and straightens, the upper lid comes down a little.
    # The points next to the eye corners move less: there the lids nearly touch and would cross.
    "AU07": [(_LOWER_LIDS_MID, (0.0, -0.05)), (_LOWER_BY_CORNERS, (0.0, -0.015)),
             (_UNDER_EYES, (0.0, -0.02)), (_UPPER_LIDS_MID, (0.0, 0.012)),
             (_UPPER_BY_CORNERS, (0.0, 0.0))],
    # Nose wrinkler: wings and the infraorbital triangle up, upper lip up a little, the brows'
    # medial ends pulled down (procerus).
    "AU09": [(R.NOSE_WING, (0.0, -0.06)), (_INFRAORBITAL, (0.0, -0.035)), (_UPPER_LIP, (0.0, -0.025)),
             (_INNER_BROW, (-0.01, 0.045)), (_MID_BROW, (0.0, 0.02))],
    "AU10": [(_UPPER_LIP, (0.0, -0.07)), (_NEAR_CORNERS[:2] + _NEAR_CORNERS[4:6], (0.0, -0.035)),
             (_CORNERS, (0.0, -0.015)), (_LOWER_LIP, (0.0, 0.0))],
    "AU12": [(_CORNERS, (0.07, -0.10)), (_NEAR_CORNERS, (0.05, -0.07)), (_CHEEKS, (0.0, -0.03)),
             (_UPPER_LIP, (0.0, -0.01)), (_LOWER_LIP, (0.0, 0.0))],
    "AU14": [(_CORNERS, (0.03, -0.01)), (_NEAR_CORNERS, (0.02, 0.0))],
    # Lip corners pulled down (and a little out); the lower lip's middle stays.
    "AU15": [(_CORNERS, (0.01, 0.085)), (_NEAR_CORNERS, (0.005, 0.05)), (_UPPER_LIP, (0.0, 0.0)),
             (_LOWER_LIP, (0.0, 0.01))],
    # Chin boss and lower lip pushed up, the lower lip's red turned out (its outer edge rises more
    # than the inner), the middle of the mouth line rises so the line curves down to the corners.
    "AU17": [(R.CHIN, (0.0, -0.06)), (_LABIOMENTAL, (0.0, -0.068)), (R.LIP_OUTER_LOWER[2:-2], (0.0, -0.075)),
             (R.LIP_INNER_LOWER[2:-2], (0.0, -0.05)), (_UPPER_LIP, (0.0, -0.03)),
             (_CORNERS, (0.0, 0.005))],
    # Lips stretched sideways (risorius), the corners a little down; the mouth flattens.
    "AU20": [(_CORNERS, (0.085, 0.015)), (_NEAR_CORNERS, (0.055, 0.01)), (_UPPER_LIP, (0.0, 0.005)),
             (_LOWER_LIP, (0.0, -0.005))],
    # Lip red narrowed: the outer edges roll in toward the lip line, the corners come in a little.
    "AU23": [(R.LIP_OUTER_UPPER[1:-1], (0.0, 0.035)), (R.LIP_OUTER_LOWER[1:-1], (0.0, -0.035)),
             (R.LIP_INNER_UPPER[1:-1], (0.0, 0.0)), (R.LIP_INNER_LOWER[1:-1], (0.0, 0.0)),
             (_CORNERS, (-0.025, 0.0))],
    "AU25": [(R.LIP_INNER_UPPER[2:-2], (0.0, -0.03)), (R.LIP_OUTER_UPPER[2:-2], (0.0, -0.012)),
             (R.LIP_INNER_LOWER[2:-2], (0.0, 0.10)), (R.LIP_OUTER_LOWER[2:-2], (0.0, 0.07)),
             (_CORNERS, (0.0, 0.0)), (R.CHIN, (0.0, 0.02))],
    # Jaw down: chin, lower lip and jaw line drop; the upper lip stays.
    "AU26": [(R.CHIN, (0.0, 0.21)), (R.LIP_OUTER_LOWER[1:-1], (0.0, 0.18)),
             (R.LIP_INNER_LOWER[1:-1], (0.0, 0.19)), (R.JAW, (0.0, 0.09)),
             (R.LIP_INNER_UPPER, (0.0, 0.0)), (R.LIP_OUTER_UPPER, (0.0, 0.0))],
    # AU45 (blink) is not a fixed field: the generator closes each lid by the face's own aperture.
    "AU45": [],
}
FALLOFF_IOD = 0.12      # Gaussian sigma of the spread from handles to their neighbours
REGION_IOD = 0.35       # how far from its handles an AU may move points in the fit


def _outward_sign(template: np.ndarray) -> np.ndarray:
    mid = template[[1, 4, 5, 6, 168, 152]].mean(0)[0]
    return np.sign(template[:, 0] - mid)


def handle_field(template: np.ndarray, handles: list[Handle], iod: float) -> tuple[np.ndarray, np.ndarray]:
    """Displacement at AU = 5 for every point: float64 (478, 2) in template units; and a bool (478,)
    marking handle points (they keep their value exactly; others are Gaussian-interpolated)."""
    n = len(template)
    vals = np.zeros((n, 2))
    is_handle = np.zeros(n, bool)
    sign = _outward_sign(template)
    for pts, (out, down) in handles:
        idx = np.asarray(pts)
        vals[idx, 0] = out * sign[idx] * iod
        vals[idx, 1] = down * iod
        is_handle[idx] = True
    if not is_handle.any():
        return vals, is_handle
    hp = np.flatnonzero(is_handle)
    d2 = ((template[:, None, :] - template[None, hp, :]) ** 2).sum(-1)
    k = np.exp(-d2 / (2 * (FALLOFF_IOD * iod) ** 2))
    spread = (k @ vals[hp]) / np.maximum(k.sum(1, keepdims=True), 1.0)
    field = np.where(is_handle[:, None], vals, spread)
    return field, is_handle


# AUs allowed to move the nose (everything else leaves it alone: in smiles the nose and upper lip
# move together, and a regression would otherwise hand nose motion to AU12 or AU25).
NOSE_AUS = ("AU09", "AU10")
# Brow AUs never move the lids (the crying clip raises the brows while the eyes squeeze shut, and
# a regression would otherwise make "brows up" droop the lids).
_LIDS = R.EYE_L_UPPER + R.EYE_L_LOWER + R.EYE_R_UPPER + R.EYE_R_LOWER
# AU9's procerus pull on the brows' heads does not reach the lids either.
EXCLUDED: dict[str, tuple[int, ...]] = {"AU01": _LIDS, "AU02": _LIDS, "AU04": _LIDS, "AU09": _LIDS}


def protected_points(template: np.ndarray, iod: float) -> tuple[np.ndarray, np.ndarray]:
    """(stable, nose) bool (478,) masks: the alignment's stable points (no AU moves them: they
    define the crop) and the nose from the eye line down to the subnasale."""
    stable = np.zeros(len(template), bool)
    stable[list(STABLE_POINTS)] = True
    mid = template[[1, 4, 5, 6, 168, 152]].mean(0)[0]
    eye_y = template[[33, 133, 362, 263], 1].mean()
    nose = ((np.abs(template[:, 0] - mid) < 0.32 * iod) & (template[:, 1] > eye_y)
            & (template[:, 1] <= template[2, 1] + 0.5))
    return stable, nose


def prior_fields(template: np.ndarray, iod: float) -> tuple[np.ndarray, np.ndarray]:
    """Per AU unit (1 on the 0-5 scale): prior displacement (17, 478, 2) and region mask (17, 478)
    (points an AU may move in the fit: within REGION_IOD of its handles, never a stable point,
    the nose only for NOSE_AUS)."""
    fields = np.zeros((NUM_AUS, len(template), 2))
    region = np.zeros((NUM_AUS, len(template)), bool)
    stable, nose = protected_points(template, iod)
    for a, name in enumerate(AU_NAMES):
        field, is_handle = handle_field(template, HANDLES[name], iod)
        frozen = stable | (nose if name not in NOSE_AUS else np.zeros_like(nose))
        frozen[list(EXCLUDED.get(name, ()))] = True
        frozen &= ~is_handle
        field[frozen] = 0.0
        fields[a] = field / 5.0
        if is_handle.any():
            d = np.sqrt(((template[:, None] - template[None, is_handle]) ** 2).sum(-1)).min(1)
            region[a] = (d <= REGION_IOD * iod) & ~frozen
    return fields, region
