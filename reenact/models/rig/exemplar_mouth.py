"""A real mouth interior for the rig: teeth, gums, tongue and the dark of the mouth from real photos.

The library (reenact/assets/mouth_exemplars_v1.npz, built by research/mouth_exemplars.py from
London smiling photos of people outside the held-out ids) holds a dozen real open mouths cut out in
a canonical frame: the inner mouth corners (landmarks 78 and 308) at ``PATCH_CORNERS``, level. Each
comes with its inner-lip landmarks in the patch, its cheek-skin and lip colour and the colour of
the dark inside of its mouth.

Drawing one into an edited face (``render``): in the mouth's own frame (u along the corner-to-corner
line, t across it, both in mouth widths), a pixel at distance d below the target's displaced upper
inner lip shows the exemplar's pixel at the same distance below *its* upper inner lip, and a pixel
above the lower inner lip the exemplar's pixel at that distance above its lower lip. So the upper
teeth hang from the upper lip and the lower teeth ride on the lower lip (the jaw) at their real size,
and when the target opens wider than the exemplar the gap between them fills with the exemplar's
own dark of the mouth instead of stretched teeth. Colour follows the target: a per-channel gain
from the target's cheek skin over the exemplar's (the exemplar is chosen nearest in skin colour, so
the gain stays near 1 and a pale face does not get glaring teeth), a soft ceiling at the target's
skin brightness, and shading toward the mouth corners.

The exemplar is chosen from the colour of the *source* face's cheeks (stable in a video, independent
of the edit): weights fall off smoothly with the colour distance, so a face between two exemplars
blends them instead of switching (no popping), and the same face always gets the same mouth.

Points (x, y) in crop px, pixel centres at integers.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from reenact.errors import ReenactError
from reenact.models.rig import regions as R
from reenact.models.rig.model import open_asset

DEFAULT_LIBRARY = "mouth_exemplars_v1.npz"
PATCH_SIZE = (96, 48)                                   # (width, height) px
PATCH_CORNERS = ((8.0, 22.0), (88.0, 22.0))             # inner corners 78 and 308 in the patch
_SKIN = list(R.CHEEK_L[:6] + R.CHEEK_R[:6])
_LIP = list(R.LIP_OUTER_LOWER[2:-2] + R.LIP_OUTER_UPPER[2:-2])
_OFFSETS = np.stack(np.meshgrid(np.arange(-1, 2), np.arange(-1, 2)), -1).reshape(-1, 2)


def skin_and_lip_colour(image, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean colour (3,) of the cheeks and of the lips: 3 x 3 pixels around fixed landmarks.

    image: (H, W, 3) in [0, 1], a numpy array, or a torch tensor (3, H, W) in [-1, 1] (a crop
    as the generator gets it);
    pts: (478, 2) landmarks in its pixels. The runtime and the library builder use this one
    function, so the target's and the exemplar's colours are measured alike."""
    torch_crop = isinstance(image, torch.Tensor)
    h, w = image.shape[-2:] if torch_crop else image.shape[:2]

    def mean_at(idx):
        p = np.round(pts[idx]).astype(np.int64)[:, None, :] + _OFFSETS[None]
        xs = np.clip(p[..., 0], 0, w - 1).ravel()
        ys = np.clip(p[..., 1], 0, h - 1).ravel()
        if torch_crop:
            v = image.detach()[:, torch.from_numpy(ys), torch.from_numpy(xs)].mean(1)
            return (v.float().cpu().numpy() + 1.0) * 0.5
        return np.asarray(image[ys, xs], np.float32).mean(0)

    return mean_at(_SKIN), mean_at(_LIP)


@dataclass(frozen=True)
class ExemplarConfig:
    """tau: skin-colour distance (RGB, 0-1) over which the choice blends to the next exemplar;
    chroma: how much of the skins' colour ratio (beyond brightness) the gain takes, 0-1;
    min_weight: subtracted from both shares (then renormalised): a second exemplar below it is
    not drawn, and its share fades out without a step; gain_range: limits of the per-channel
    colour gain; ceiling: no channel brighter than this (a soft knee from 0.8 of it);
    corner_shade: brightness at the mouth corners relative to the middle; fade_px: the upper and
    lower teeth fade into the dark of the mouth over this many exemplar px; seam_px: below this
    opening (crop px) the old painted lip seam is kept, fully exemplar from seam_px + 4."""

    tau: float = 0.01
    min_weight: float = 0.05
    gain_range: tuple[float, float] = (0.6, 1.6)
    chroma: float = 0.5
    ceiling: float = 0.93
    corner_shade: float = 0.55
    fade_px: float = 2.5
    seam_px: float = 2.0


@dataclass
class MouthLibrary:
    """patches: float32 (K, H, W, 3) in [0, 1], canonical frame; inner: float32 (K, 22, 2) the
    inner lip (upper 11 then lower 11, image-left to image-right) in patch px; skin, lip, dark:
    float32 (K, 3) colours in [0, 1]; ids: the London ids they come from."""

    patches: np.ndarray
    inner: np.ndarray
    skin: np.ndarray
    lip: np.ndarray
    dark: np.ndarray
    ids: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        k = len(self.patches)
        if self.patches.ndim != 4 or self.patches.shape[1:] != (PATCH_SIZE[1], PATCH_SIZE[0], 3) \
                or k == 0:
            raise ReenactError(f"mouth exemplar patches must be (K, {PATCH_SIZE[1]}, {PATCH_SIZE[0]}, 3) "
                               f"with K >= 1, got {self.patches.shape}")
        for name in ("inner", "skin", "lip", "dark"):
            if len(getattr(self, name)) != k:
                raise ReenactError(f"mouth exemplar library: {name} has {len(getattr(self, name))} "
                                   f"rows for {k} patches")

    @classmethod
    def load(cls, path: Path | str | None = None) -> "MouthLibrary":
        """From ``path`` or, by default, the library shipped in reenact/assets."""
        with open_asset(path, DEFAULT_LIBRARY) as (f, name):
            try:
                with np.load(f) as z:
                    return cls(patches=z["patches"].astype(np.float32) / 255.0,
                               inner=z["inner"].astype(np.float32), skin=z["skin"].astype(np.float32),
                               lip=z["lip"].astype(np.float32), dark=z["dark"].astype(np.float32),
                               ids=tuple(str(i) for i in z["ids"]), meta=json.loads(str(z["meta"])))
            except (KeyError, ValueError, OSError) as e:
                raise ReenactError(f"{name} is not a mouth exemplar library: {e}") from e

    def choose(self, skin: np.ndarray, cfg: ExemplarConfig) -> list[tuple[int, float]]:
        """[(exemplar index, weight)], at most two, weights summing to 1: a soft nearest match on
        skin colour, continuous in ``skin`` (no switching between frames), deterministic.

        Each candidate's score exp(-distance / tau) minus the third best's: the third has weight
        exactly 0, so when the second and third trade places both are at 0 and nothing pops;
        two mouths at most are blended (more would average the teeth into a blur)."""
        d = np.linalg.norm(self.skin - np.asarray(skin, np.float32)[None], axis=1)
        order = np.argsort(d, kind="stable")
        score = np.exp(-(d[order] - d[order[0]]) / cfg.tau)
        floor = score[2] if len(score) > 2 else 0.0
        w = np.maximum(score[:2] - floor, 0.0)
        if w.sum() <= 1e-12:                           # three exactly equidistant: the first
            return [(int(order[0]), 1.0)]
        w /= w.sum()
        w = np.maximum(w - cfg.min_weight, 0.0)        # a faint second is not drawn, continuously
        w /= w.sum()
        return [(int(order[j]), float(w[j])) for j in range(len(w)) if w[j] > 0.0]


def _curves(pts: np.ndarray, origin: np.ndarray, e: np.ndarray, n: np.ndarray, length: float,
            u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The upper and lower inner-lip lines t(u) (in mouth widths) at the positions ``u``."""
    rel = (pts - origin) / length
    pu, pt = rel @ e, rel @ n

    def line(sl):
        x = np.maximum.accumulate(pu[sl])            # np.interp needs increasing positions
        return np.interp(u, x, pt[sl])

    return line(slice(0, 11)), line(slice(11, 22))


def _frame(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    v = (b - a).astype(np.float64)
    length = max(float(np.linalg.norm(v)), 1e-3)
    e = v / length
    return e, np.array([-e[1], e[0]]), length


_EX_A, _EX_B = (np.asarray(c, np.float64) for c in PATCH_CORNERS)
_EX_E, _EX_N, _EX_L = _frame(_EX_A, _EX_B)


def _cavity(up: np.ndarray, lo: np.ndarray, t: np.ndarray, lip: np.ndarray) -> np.ndarray:
    """Shading (h, w, 3) of the dark of the mouth where the teeth part, relative to its darkest
    colour: darkest at the throat (a little above the middle of the opening), the tongue rising
    toward the lower teeth in the lip's own hue (``lip``, (3,) relative colour)."""
    v = np.clip((t - up) / np.maximum(lo - up, 1e-4), 0.0, 1.0)[..., None]
    throat = 0.55 + 0.45 * np.abs(2.0 * v - 0.9).clip(max=1.0)
    tongue = np.clip((v - 0.55) / 0.35, 0.0, 1.0) ** 2
    return throat * (1.0 - 0.6 * tongue) + 0.6 * tongue * lip


def _draw_one(lib: MouthLibrary, k: int, u: np.ndarray, t: np.ndarray, up: np.ndarray,
              lo: np.ndarray, fade: float, cavity: np.ndarray) -> np.ndarray:
    """Exemplar k seen through the target's opening: (h, w, 3) in [0, 1], exemplar colours;
    ``cavity`` shades its dark of the mouth where the target opens wider than it."""
    uc = np.clip(u, 0.0, 1.0)
    eu, el = _curves(lib.inner[k].astype(np.float64), _EX_A, _EX_E, _EX_N, _EX_L, uc)
    half_e = np.maximum(0.5 * (el - eu), 0.0)
    d_up, d_lo = t - up, lo - t
    upper = d_up <= d_lo
    d = np.where(upper, d_up, d_lo).clip(min=0.0)
    te = np.where(upper, eu + np.minimum(d, half_e), el - np.minimum(d, half_e))
    # The teeth end where the exemplar's opening ends; beyond, the dark of its mouth. Only where
    # the target opens wider than the exemplar: a narrower one just meets its teeth at the middle
    # (fading there too drew a black line between the upper and lower teeth).
    wider = np.clip((0.5 * (lo - up) - half_e) * _EX_L / fade, 0.0, 1.0)
    alpha = (1.0 - wider * (1.0 - np.clip((half_e - d) * _EX_L / fade, 0.0, 1.0)))[..., None]
    xy = _EX_A + uc[..., None] * _EX_L * _EX_E + te[..., None] * _EX_L * _EX_N
    sample = cv2.remap(lib.patches[k], xy[..., 0].astype(np.float32), xy[..., 1].astype(np.float32),
                       cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return alpha * sample + (1.0 - alpha) * lib.dark[k] * cavity


def _gain(target_skin: np.ndarray, exemplar_skin: np.ndarray, cfg: ExemplarConfig) -> np.ndarray:
    """Per-channel gain (3,) from the exemplar's light to the target's: the full brightness ratio
    of the two skins, but only ``cfg.chroma`` (a power) of their colour ratio. The skin ratio mixes
    light and skin pigment; teeth have no skin pigment, so taking the whole colour ratio tinted
    them (blue-grey teeth on a pinkish-grey face)."""
    ratio = target_skin / np.maximum(exemplar_skin, 1e-3)
    level = float(target_skin.mean() / max(float(exemplar_skin.mean()), 1e-3))
    return np.clip(level * (ratio / max(level, 1e-3)) ** cfg.chroma, *cfg.gain_range)


def render(crops: torch.Tensor, src: np.ndarray, dst: np.ndarray, box: tuple[int, int, int, int],
           lib: MouthLibrary, cfg: ExemplarConfig = ExemplarConfig()) -> tuple[torch.Tensor, torch.Tensor]:
    """The exemplar mouth over ``box`` and where to use it instead of the painted seam.

    crops: (N, 3, S, S) in [-1, 1]; src, dst: (N, 478, 2) source and displaced landmarks, crop px;
    box: (x0, y0, x1, y1), exclusive ends. Returns colour (N, 3, h, w) in [-1, 1] and its share
    (N, 1, h, w) in [0, 1] (0 where the opening is only a seam). Only the pixels inside the
    displaced inner-lip polygon are meant to be used (the caller masks with fill_weight)."""
    x0, y0, x1, y1 = box
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    colours, shares = [], []
    for i in range(len(crops)):
        skin, lip = skin_and_lip_colour(crops[i], src[i])
        a, b = dst[i, 78].astype(np.float64), dst[i, 308].astype(np.float64)
        e, n, length = _frame(a, b)
        rx, ry = xs - a[0], ys - a[1]
        u = (rx * e[0] + ry * e[1]) / length
        t = (rx * n[0] + ry * n[1]) / length
        inner = dst[i, list(R.LIP_INNER_UPPER) + list(R.LIP_INNER_LOWER)].astype(np.float64)
        up, lo = _curves(inner, a, e, n, length, np.clip(u, 0.0, 1.0))
        out = np.zeros(u.shape + (3,))
        for k, wk in lib.choose(skin, cfg):
            gain = _gain(skin, lib.skin[k], cfg)
            # The tongue: the target's lip colour, darkened, expressed relative to the cavity's.
            tongue = lip * 0.35 / np.maximum(lib.dark[k] * gain, 1e-3)
            cavity = _cavity(up, lo, t, np.clip(tongue, 0.5, 2.5))
            out += wk * _draw_one(lib, k, u, t, up, lo, cfg.fade_px, cavity) * gain
        # Light: darker toward the corners (the cheeks shade them); no clipped white (a soft
        # knee, so the teeth keep their gradation). The brightness itself comes from the gain:
        # teeth are much brighter than dark skin in a real photo, so no ceiling from the skin.
        taper = np.sqrt(np.clip(1.0 - (2.0 * np.clip(u, 0, 1) - 1.0) ** 2, 0.0, 1.0))[..., None]
        out *= cfg.corner_shade + (1.0 - cfg.corner_shade) * taper
        cap, knee = cfg.ceiling, 0.8 * cfg.ceiling
        out = np.where(out > knee, knee + (cap - knee) * np.tanh((out - knee) / max(cap - knee, 1e-3)), out)
        gap_px = (lo - up) * length
        share = np.clip((gap_px - cfg.seam_px) / 4.0, 0.0, 1.0)
        colours.append(out.transpose(2, 0, 1))
        shares.append(share[None])
    colour = torch.from_numpy(np.stack(colours).astype(np.float32)).to(crops.device, crops.dtype)
    share = torch.from_numpy(np.stack(shares).astype(np.float32)).to(crops.device, crops.dtype)
    return colour * 2.0 - 1.0, share
