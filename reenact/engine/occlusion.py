"""What covers a face: a per-pixel occlusion mask in the generator's aligned crop.

The face mesh keeps predicting lips and skin under a hand, and no hand model ships offline, so the
mask comes from the pixels themselves, compared with what the mesh says should be there:
- colour: this person's skin is modelled as a smooth field (a robust quadratic in x, y per Lab
  channel, so shading across the face does not count as foreign) and the lips by robust
  statistics (median, MAD); a pixel inside the face that fits neither the model of the region the
  mesh puts it in is occluder evidence (a finger over the lips, a microphone, hair on the cheek);
- structure: thin dark lines where the mesh predicts smooth skin (a black-hat filter on lightness:
  glasses frames, hair strands) are occluders too, so the warp never bends them;
- time (``OcclusionTracker``, per face id): the colour models are carried over from frames where
  the face was clear, and the mask rises at once but falls by at most ``fall`` per frame, so an
  edit fades back in where a hand leaves instead of flickering.

The engine takes A = max(A, occlusion) per face, so the paste weight (1 - A) is 0 exactly where
something covers the face. Everything runs at ``work_size`` px (cv2, one thread) and the mask is
brought back to the crop's size; the cost is about 1-2 ms per face (research/occlusion_measure.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from reenact.models.rig.regions import (BROW_L_LOWER, BROW_L_UPPER, BROW_R_LOWER, BROW_R_UPPER,
                                        EYE_L_LOWER, EYE_L_UPPER, EYE_R_LOWER, EYE_R_UPPER,
                                        LIP_OUTER_LOWER, LIP_OUTER_UPPER, inner_mouth_polygon)

# MediaPipe's face oval, clockwise from the top of the forehead.
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
NOSTRILS = (98, 327, 2, 97, 326, 64, 294)   # dark by nature: never skin evidence


@dataclass(frozen=True)
class OcclusionConfig:
    """work_size: px the evidence is computed at; skin_sigma / lip_sigma: how many robust
    standard deviations (chroma-weighted Lab distance) a pixel may be from its region's model
    before it starts to count, full evidence at twice that; light_weight: weight of lightness
    against chroma (shading moves lightness, not hue); thin_dark: black-hat depth (Lab L units) of a
    thin dark line that counts fully; margin: px (at crop size) the mask covers beyond the
    evidence, so an occluder's soft edge stays untouched too; reach: px (at crop size) an occluder
    is followed past the face's outline; fall: most the mask may drop per
    video frame (its rise is immediate: never paint over a hand); clear_fraction: a frame whose
    face is covered less than this updates the person's colour models; model_rate: how fast."""

    work_size: int = 128
    skin_sigma: float = 2.5
    lip_sigma: float = 2.5
    light_weight: float = 0.35
    thin_dark: float = 20.0
    margin: float = 6.0
    reach: float = 24.0
    fall: float = 0.2
    clear_fraction: float = 0.02
    model_rate: float = 0.2


@dataclass
class FaceColours:
    """A person's colour models in Lab: skin as quadratic-field coefficients (3, 6) in work px,
    lips as median and robust spread (3,) each; and the skin residual spread (3,)."""

    skin_coef: np.ndarray
    skin_spread: np.ndarray
    lip_median: np.ndarray
    lip_spread: np.ndarray

    def mixed(self, other: "FaceColours", rate: float) -> "FaceColours":
        """This model moved ``rate`` of the way towards ``other`` (slow lighting changes)."""
        mix = lambda a, b: (1 - rate) * a + rate * b  # noqa: E731
        return FaceColours(mix(self.skin_coef, other.skin_coef), mix(self.skin_spread, other.skin_spread),
                           mix(self.lip_median, other.lip_median), mix(self.lip_spread, other.lip_spread))


@dataclass
class OcclusionEstimate:
    """mask: float32 (S, S) in [0, 1], 1 where something covers the face; covered: the share of
    the face region with evidence; colours: the models this frame fitted (None without skin)."""

    mask: np.ndarray
    covered: float
    colours: FaceColours | None


def _poly(mask: np.ndarray, lms: np.ndarray, idx, scale: float) -> None:
    pts = np.round(lms[list(idx)] * scale).astype(np.int32)
    cv2.fillPoly(mask, [pts], 1)


def _closed(upper, lower) -> tuple[int, ...]:
    return tuple(upper) + tuple(reversed(lower[1:-1]))


def _regions(lms: np.ndarray, n: int, scale: float) -> dict[str, np.ndarray]:
    """uint8 (n, n) masks of the mesh's regions at work size."""
    face, lips, mouth, feat = (np.zeros((n, n), np.uint8) for _ in range(4))
    _poly(face, lms, FACE_OVAL, scale)
    _poly(lips, lms, _closed(LIP_OUTER_UPPER, LIP_OUTER_LOWER), scale)
    _poly(mouth, lms, inner_mouth_polygon(), scale)
    for up, lo in ((EYE_L_UPPER, EYE_L_LOWER), (EYE_R_UPPER, EYE_R_LOWER),
                   (BROW_L_UPPER, BROW_L_LOWER), (BROW_R_UPPER, BROW_R_LOWER)):
        _poly(feat, lms, _closed(up, lo), scale)
    nose = np.round(lms[list(NOSTRILS)] * scale).astype(np.int32)
    cv2.fillPoly(feat, [cv2.convexHull(nose)], 1)
    k = max(1, round(n / 64))
    ring = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    # The mesh's outlines are a pixel or two off: each test keeps away from the region's border.
    face_in = cv2.erode(face, ring, iterations=2)
    lips_only = cv2.erode(lips & (1 - mouth), ring)
    features = cv2.dilate(feat, ring, iterations=2)
    skin = face_in & (1 - (features | cv2.dilate(lips, ring, iterations=2)))
    # Eyes, brows, nostrils and the mouth's opening: a pixel counts only when it fits none of the
    # models (skin, lips, or colourless / of the skin's hue: teeth, sclera, lashes, the mouth's
    # inside). The borders between skin and lips: it must fit neither of the two.
    parts = face_in & (features | cv2.dilate(mouth, ring)) & (1 - lips_only)
    band = face_in & (1 - skin) & (1 - lips_only) & (1 - parts)
    return {"face_in": face_in, "lips": lips_only, "skin": skin, "parts": parts, "band": band}


def _design(n: int) -> np.ndarray:
    """(n * n, 6) quadratic basis over the work grid, coordinates in [-1, 1]."""
    y, x = np.mgrid[0:n, 0:n].astype(np.float32) * (2.0 / n) - 1.0
    x, y = x.ravel(), y.ravel()
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], 1)


def _least_squares(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """(3, 6) coefficients by the normal equations (six unknowns: LAPACK's lstsq costs 15 ms
    here on a busy machine, a 6x6 solve microseconds)."""
    X = X.astype(np.float64)
    return np.linalg.solve(X.T @ X + 1e-6 * np.eye(X.shape[1]), X.T @ Y).T


def _fit_skin(lab: np.ndarray, basis: np.ndarray, skin: np.ndarray, prior: FaceColours | None):
    """Robust quadratic field of skin Lab: fit, keep the pixels within 2.5 spreads, refit."""
    idx = np.flatnonzero(skin.ravel())
    if len(idx) < 30:
        return None
    step = max(1, len(idx) // 600)        # enough pixels for six coefficients, and fast
    idx = idx[::step]
    X, Y = basis[idx], lab.reshape(-1, 3)[idx]
    if prior is not None:
        coef, spread = prior.skin_coef, prior.skin_spread
    else:
        coef = _least_squares(X, Y)
        spread = None
    for _ in range(2):
        res = Y - X @ coef.T
        if spread is None:
            spread = 1.4826 * np.median(np.abs(res - np.median(res, 0)), 0) + 0.5
        keep = (np.abs(res) < 2.5 * spread).all(1)
        if keep.sum() < 30:
            break
        coef = _least_squares(X[keep], Y[keep])
        res = Y[keep] - X[keep] @ coef.T
        spread = 1.4826 * np.median(np.abs(res - np.median(res, 0)), 0) + 0.5
    return coef.astype(np.float32), spread.astype(np.float32)


def _fit_lips(lab: np.ndarray, lips: np.ndarray, prior: FaceColours | None):
    vals = lab.reshape(-1, 3)[np.flatnonzero(lips.ravel())]
    if len(vals) < 10:
        return (prior.lip_median, prior.lip_spread) if prior is not None else None
    if prior is not None:  # only what fits the clear frames' lips (robust to a hand over half of them)
        near = (np.abs(vals - prior.lip_median) < 3 * prior.lip_spread).all(1)
        if near.sum() >= 10:
            vals = vals[near]
    med = np.median(vals, 0)
    spread = 1.4826 * np.median(np.abs(vals - med), 0) + 1.0
    return med.astype(np.float32), spread.astype(np.float32)


# Lips as seen against this person's skin, for a frame whose lip pixels are mostly covered:
# darker or as light, redder, of about the same yellow (Lab units; wide, it only has to reject).
LIP_OFFSET = np.array([-8.0, 8.0, 0.0], np.float32)
LIP_GENERIC_SPREAD = np.array([8.0, 4.0, 4.0], np.float32)


def _plausible_lips(lip_median: np.ndarray, skin_at_lips: np.ndarray) -> bool:
    """Whether a lip model looks like lips next to this skin: a hand over most of the mouth gives
    'lips' of skin colour from elsewhere, or of its own colour (blue, grey)."""
    d = lip_median - skin_at_lips
    return bool(d[1] > -2.0 and abs(d[2]) < 12.0 and -40.0 < d[0] < 8.0)


def _off_hue(lab: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """0 for a pixel of nearly no colour (teeth, sclera, pupils, black hair) or of the skin's hue
    at any depth (brows, lashes, shadows, the mouth's inside), rising to 1 for a hue 50 degrees
    off the skin's (a blue bar, a green sleeve)."""
    a, b = lab[..., 1], lab[..., 2]
    ea, eb = expected[..., 1], expected[..., 2]
    chroma = np.sqrt(a * a + b * b)
    cos = (a * ea + b * eb) / (chroma * np.sqrt(ea * ea + eb * eb) + 1e-6)
    angle = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return np.clip((angle - 25.0) / 25.0, 0, 1) * np.clip((chroma - 6.0) / 6.0, 0, 1)


def _distance(diff: np.ndarray, spread: np.ndarray, light_weight: float) -> np.ndarray:
    w = np.array([light_weight, 1.0, 1.0], np.float32) / spread
    return np.sqrt(((diff * w) ** 2).sum(-1) / (light_weight ** 2 + 2.0))


def _soft(d: np.ndarray, t: float) -> np.ndarray:
    """0 below t, 1 from 2t up, linear between."""
    return np.clip(d / t - 1.0, 0.0, 1.0)


def estimate_occlusion(crop: np.ndarray, landmarks: np.ndarray, prior: FaceColours | None = None,
                       cfg: OcclusionConfig = OcclusionConfig()) -> OcclusionEstimate:
    """The occlusion mask of one face. crop: uint8 (S, S, 3) RGB aligned crop; landmarks: (478, 2)
    crop px; prior: colour models from clear frames of the same face (video), or None."""
    s = crop.shape[0]
    n = min(cfg.work_size, s)   # never finer than the crop itself
    scale = n / s
    small = cv2.resize(crop, (n, n), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small.astype(np.float32) * (1.0 / 255.0), cv2.COLOR_RGB2Lab)
    reg = _regions(np.asarray(landmarks, np.float32), n, scale)
    basis = _design(n)
    skin_fit = _fit_skin(lab, basis, reg["skin"], prior)
    lip_fit = _fit_lips(lab, reg["lips"], prior)
    if skin_fit is None:  # face too small or off the crop: nothing to compare with
        return OcclusionEstimate(np.zeros((s, s), np.float32), 0.0, None)
    coef, spread = skin_fit
    expected = (basis @ coef.T).reshape(n, n, 3)
    diff = lab - expected
    # Skin lighter than its field is mostly a highlight (the nose's tip, a forehead's sheen).
    diff[..., 0] = np.where(diff[..., 0] > 0, 0.5 * diff[..., 0], diff[..., 0])
    d_skin = _distance(diff, spread, cfg.light_weight)
    off_skin = _soft(d_skin, cfg.skin_sigma)
    evidence = off_skin * reg["skin"]
    lip_px = reg["lips"].astype(bool)
    if lip_fit is not None and lip_px.any() and not _plausible_lips(lip_fit[0], expected[lip_px].mean(0)):
        lip_fit = ((prior.lip_median, prior.lip_spread) if prior is not None else
                   (expected[lip_px].mean(0) + LIP_OFFSET, LIP_GENERIC_SPREAD))
    off_face = off_skin
    if lip_fit is not None:
        off_lips = _soft(_distance(lab - lip_fit[0], lip_fit[1], cfg.light_weight), cfg.lip_sigma)
        evidence = np.maximum(evidence, off_lips * reg["lips"])
        off_face = np.minimum(off_skin, off_lips)
    off_all = np.minimum(off_face, _off_hue(lab, expected))
    evidence = np.maximum(evidence, off_face * reg["band"])
    evidence = np.maximum(evidence, off_all * reg["parts"])
    # Thin dark structures on skin (glasses frames, strands of hair): closing minus the image.
    k = max(3, round(n / 18) | 1)
    light = lab[..., 0]
    hat = cv2.morphologyEx(light, cv2.MORPH_BLACKHAT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    evidence = np.maximum(evidence, np.clip(hat / cfg.thin_dark - 0.5, 0, 1) * reg["skin"])
    # Isolated specks are noise (pores, a highlight); an occluder is a connected blob or line.
    evidence = cv2.morphologyEx(evidence.astype(np.float32), cv2.MORPH_OPEN,
                                np.ones((2, 2), np.uint8))
    # Half-way evidence is enough: an occluder's pixels must be kept whole (A = 1), not half.
    evidence = np.clip(evidence * reg["face_in"] * 2.0, 0.0, 1.0)
    covered = float(evidence.sum() / max(1.0, reg["face_in"].sum()))
    # An occluder that reaches past the face's outline (a hand from the side, a microphone) is
    # followed outwards while it still fits none of the face's models: the rig moves the jaw too.
    outside = off_all * (1 - reg["face_in"])
    cross = np.ones((3, 3), np.uint8)
    for _ in range(max(1, round(cfg.reach * scale))):
        evidence = np.maximum(evidence, np.minimum(cv2.dilate(evidence, cross), outside))
    # Grow by the margin, then soften by a ramp that lies outside the grown area: the evidence
    # itself stays at its full value.
    r = max(1, round(cfg.margin * scale))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    grown = cv2.dilate(evidence, disc)
    soft = np.maximum(grown, cv2.blur(cv2.dilate(grown, disc), (2 * r + 1, 2 * r + 1)) * 0.5)
    mask = cv2.resize(soft, (s, s), interpolation=cv2.INTER_LINEAR)
    colours = None
    if lip_fit is not None:
        colours = FaceColours(coef, spread, lip_fit[0], lip_fit[1])
    return OcclusionEstimate(np.clip(mask, 0, 1).astype(np.float32), covered, colours)


@dataclass
class _FaceState:
    mask: np.ndarray
    colours: FaceColours | None


@dataclass
class OcclusionTracker:
    """Occlusion masks over a video, per face id: colour models kept from clear frames, and a
    mask that rises at once and falls by at most ``cfg.fall`` per frame."""

    cfg: OcclusionConfig = OcclusionConfig()
    _faces: dict[int, _FaceState] = field(default_factory=dict)

    def update(self, face_id: int, crop: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        state = self._faces.get(face_id)
        prior = state.colours if state is not None else None
        est = estimate_occlusion(crop, landmarks, prior, self.cfg)
        mask = est.mask
        if state is not None and state.mask.shape == mask.shape:
            mask = np.maximum(mask, state.mask - self.cfg.fall)
        colours = prior
        if est.colours is not None and est.covered < self.cfg.clear_fraction:
            colours = est.colours if prior is None else prior.mixed(est.colours, self.cfg.model_rate)
        self._faces[face_id] = _FaceState(mask, colours)
        return mask

    def forget(self, keep: set[int]) -> None:
        """Drop the faces not in ``keep`` (they left the picture; a new one starts fresh)."""
        for fid in [i for i in self._faces if i not in keep]:
            del self._faces[fid]


def occlusion_masks(crops: torch.Tensor, landmarks: torch.Tensor, face_ids: list[int],
                    tracker: OcclusionTracker | None = None,
                    cfg: OcclusionConfig = OcclusionConfig()) -> torch.Tensor:
    """(N, 1, S, S) float masks for N crops (float [-1, 1], (N, 3, S, S)) on the crops' device.
    With a tracker, masks follow each face id over time; without one each crop stands alone."""
    rgb = ((crops.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    rgb = rgb.permute(0, 2, 3, 1).cpu().numpy()
    lms = landmarks.detach().float().cpu().numpy()
    out = []
    for img, lm, fid in zip(rgb, lms, face_ids):
        if tracker is not None:
            out.append(tracker.update(fid, img, lm))
        else:
            out.append(estimate_occlusion(img, lm, None, cfg).mask)
    if not out:
        return torch.zeros((0, 1) + tuple(crops.shape[-2:]), device=crops.device)
    return torch.from_numpy(np.stack(out)[:, None]).to(crops.device)


def cover_attention(attention: torch.Tensor, occlusion: torch.Tensor | None) -> torch.Tensor:
    """A = max(A, occlusion): the paste weight (1 - A) is 0 wherever something covers the face."""
    return attention if occlusion is None else torch.maximum(attention, occlusion.to(attention))
