"""Landmark geometry for AU estimation, measured in one canonical, pose-free face frame.

A face's 478 MediaPipe points (x, y in frame pixels, plus MediaPipe's relative depth z in the same
pixel units) are mapped by a 3-D similarity (rotation, uniform scale, translation) fitted on the
expression-stable points of ``reenact.tracking.align.STABLE_POINTS`` onto ``TEMPLATE3D``, a mean
neutral mesh. In that canonical frame the face is frontal and upright, the eye centres are 1 unit
apart (so every distance below is in inter-ocular units), x points to the image's right, y down,
and the origin is the midpoint between the eye centres. Head yaw, pitch and roll and the face's
size in the frame are thereby removed before anything is measured; without depth a 2-D similarity
is used instead (roll and size only).

Each feature is a signed scalar that grows with its AU (for example ``corner_raise`` is how far the
lip corners sit above the mouth's centre line). ``FEATURE_NAMES`` lists them; ``docs/aus.md`` says
which AU uses which.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

from reenact.tracking.align import STABLE_POINTS

# MediaPipe Face Mesh indices. "R" is the person's right side (image left), "L" the person's left.
EYE_R = (33, 133)            # outer, inner corner
EYE_L = (263, 362)
LID_UP_R, LID_LO_R = (159, 158, 160), (145, 153, 144)
LID_UP_L, LID_LO_L = (386, 385, 387), (374, 380, 373)
BROW_INNER = (107, 336)      # R, L upper inner brow
BROW_MID = (105, 334)
BROW_OUTER = (70, 300)
MOUTH_CORNER = (61, 291)
LIP_UP_OUT, LIP_UP_IN, LIP_LO_IN, LIP_LO_OUT = 0, 13, 14, 17
SUBNASALE = 2
ALA = (129, 358)             # alar crease points beside the nostrils
NOSE_WING = (64, 294)
CHEEK = (117, 346)           # malar cheek points below the eyes
CHEEK_LOW = (50, 280)
INFRAORBITAL = (230, 450)    # lower-lid fold below each eye
CHIN = 152
CHIN_BOSS = 199

FEATURE_NAMES: tuple[str, ...] = (
    "brow_inner", "brow_outer", "brow_lower", "eye_open", "lower_lid", "cheek_up",
    "nose_up", "lip_up", "corner_raise", "corner_drop", "lip_gap",
    "jaw_drop", "chin_up", "lip_thin", "eye_closed",
)


@lru_cache(maxsize=1)
def template3d() -> np.ndarray:
    """The canonical neutral mesh, float32 (478, 3), eye centres at (-0.5, 0, *) and (0.5, 0, *)."""
    with resources.files("reenact.assets").joinpath("au_template3d.npy").open("rb") as f:
        return np.load(f).astype(np.float32)


def similarity_nd(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity dst ~ s * R @ src + t in 2 or 3 dimensions, no reflection
    (Umeyama 1991). src, dst: (N, D). Returns (s, R (D, D), t (D,))."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(d0.T @ s0 / len(src))
    fix = np.ones(src.shape[1])
    fix[-1] = np.sign(np.linalg.det(u @ vt)) or 1.0
    rot = u @ np.diag(fix) @ vt
    scale = float((sig * fix).sum() / ((s0 ** 2).sum() / len(src)))
    return scale, rot, mu_d - scale * rot @ mu_s


def canonical_points(landmarks: np.ndarray, depth: np.ndarray | None = None,
                     template: np.ndarray | None = None) -> np.ndarray:
    """Face points in the canonical frame: float64 (478, 2), (x, y), inter-ocular units.

    landmarks: (478, 2) frame pixels (x, y); depth: (478,) MediaPipe z in the same pixel units,
    or None for a 2-D (roll and scale only) normalisation.
    """
    tpl = template3d() if template is None else template
    idx = list(STABLE_POINTS)
    if depth is not None:
        pts = np.concatenate([np.asarray(landmarks, np.float64),
                              np.asarray(depth, np.float64)[:, None]], axis=1)
        s, r, t = similarity_nd(pts[idx], tpl[idx])
    else:
        pts = np.asarray(landmarks, np.float64)
        s, r, t = similarity_nd(pts[idx], tpl[idx, :2])
    return (pts @ (s * r).T + t)[:, :2]


def _mean(p: np.ndarray, idx) -> np.ndarray:
    return p[list(idx)].mean(0)


def _eye_open(p: np.ndarray) -> float:
    """Mean lid-to-lid distance of both eyes relative to each eye's width."""
    out = []
    for corners, up, lo in ((EYE_R, LID_UP_R, LID_LO_R), (EYE_L, LID_UP_L, LID_LO_L)):
        width = np.linalg.norm(p[corners[0]] - p[corners[1]])
        out.append((_mean(p, lo)[1] - _mean(p, up)[1]) / width)
    return float(np.mean(out))


def features(p: np.ndarray) -> np.ndarray:
    """The ``FEATURE_NAMES`` of canonical points ``p`` (478, 2): float64 (len(FEATURE_NAMES),).

    y grows downwards, so "height above" is a difference ``y_lower - y_upper``.
    """
    eye_y = _mean(p, EYE_R + EYE_L)[1]
    lower_lid_y = (_mean(p, LID_LO_R)[1] + _mean(p, LID_LO_L)[1]) / 2
    mouth_mid = (p[LIP_UP_IN] + p[LIP_LO_IN]) / 2
    corners = _mean(p, MOUTH_CORNER)
    eye_open = _eye_open(p)
    f = {
        # AU1 / AU2: brow heights above the eye-corner line; AU4: the middle of the brows lowered.
        "brow_inner": eye_y - _mean(p, BROW_INNER)[1],
        "brow_outer": eye_y - _mean(p, BROW_OUTER)[1],
        "brow_lower": _mean(p, BROW_MID)[1] - eye_y,
        # AU5 / AU45: lid aperture; AU7: the lower lid rising towards the eye line.
        "eye_open": eye_open,
        "lower_lid": eye_y - lower_lid_y,
        # AU6: cheeks and the lower-lid fold pushed up (bunching under the eye).
        "cheek_up": eye_y - (_mean(p, CHEEK)[1] + _mean(p, INFRAORBITAL)[1]) / 2,
        # AU9: the alar creases pulled up towards the eyes.
        "nose_up": eye_y - _mean(p, ALA + NOSE_WING)[1],
        # AU10: the upper lip raised towards the nose.
        "lip_up": p[SUBNASALE][1] - p[LIP_UP_OUT][1],
        # AU12 / AU15: lip corners above / below the mouth's centre (between the inner lips).
        "corner_raise": mouth_mid[1] - corners[1],
        "corner_drop": corners[1] - mouth_mid[1],
        # AU25: inner lip gap; AU26: chin distance below the eyes.
        "lip_gap": p[LIP_LO_IN][1] - p[LIP_UP_IN][1],
        "jaw_drop": p[CHIN][1] - eye_y,
        # AU17: chin boss pushed up towards the lower lip.
        "chin_up": -(p[CHIN_BOSS][1] - p[LIP_LO_OUT][1]),
        # AU23: lips thinned (red-lip height).
        "lip_thin": (p[LIP_UP_OUT][1] - p[LIP_UP_IN][1]) + (p[LIP_LO_IN][1] - p[LIP_LO_OUT][1]),
        "eye_closed": -eye_open,
    }
    return np.array([f[n] for n in FEATURE_NAMES], np.float64)
