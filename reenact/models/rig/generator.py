"""The AU-rig generator: the embedded default behind the GANimation generator protocol.

C is the input crop warped by the rig's landmark displacement (with a painted mouth interior where
the lips part beyond the input), times the appearance model's shading change (folds, cheeks) drawn
on the displaced face; A is 1 minus a soft mask of where anything moves or is shaded, so
``A * crop + (1 - A) * C`` is the edited face and a zero edit returns the input exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from reenact.aus.names import NUM_AUS
from reenact.models.protocol import GeneratorOutput
from reenact.models.rig.appearance import AppearanceModel
from reenact.models.rig.eyes import lash_colour, lash_weight, lid_skin_source
from reenact.models.rig.model import BLINK, RigModel, _iod
from reenact.models.rig.regions import LIP_INNER_LOWER, LIP_INNER_UPPER

INNER_LIPS = LIP_INNER_UPPER + LIP_INNER_LOWER
from reenact.models.rig.mouth import MouthConfig, fill_weight, paint_mouth
from reenact.models.rig.exemplar_mouth import ExemplarConfig, MouthLibrary, render as render_exemplar
from reenact.models.rig.warp import apply_flow, backward_flow, motion_mask, upsample_flow
from reenact.models.rig.wrinkles import WrinkleModel
from reenact.tracking.align import AlignConfig


@dataclass(frozen=True)
class RigConfig:
    """size/margin: the crop the rig works on; full_at_px: flow (crop px) at which the mask is 1;
    mask_blur: softness of the mask edge (px); amplitude: global gain on the AU change;
    min_delta: AU changes below this are treated as no change (keeps A exactly 1);
    flow_step: the piecewise-affine map is evaluated every flow_step pixels and upsampled;
    appearance: multiply C by the appearance model's per-AU shading change (cheeks, folds; see
    appearance.py), appearance_full_at: |log-luminance change| at which A reaches 0 there;
    wrinkles: add folds and creases from real exemplars and anatomical priors (wrinkles.py), on
    luminance, with the shading."""

    size: int = 256
    margin: float = 0.2
    full_at_px: float = 0.35
    mask_blur: float = 2.5
    amplitude: float = 1.0
    min_delta: float = 1e-3
    mouth: MouthConfig = MouthConfig()
    mouth_fill: bool = True
    mouth_exemplars: bool = True
    exemplar: ExemplarConfig = ExemplarConfig()
    lash_line: bool = True
    flow_step: int = 1
    appearance: bool = True
    appearance_full_at: float = 0.01
    wrinkles: bool = True


class RigGenerator:
    """``RigGenerator(model, cfg)(crops, aus, landmarks=..., source_aus=...) -> GeneratorOutput``."""

    name = "rig"
    needs_landmarks = True

    def __init__(self, model: RigModel | None = None, cfg: RigConfig = RigConfig(),
                 device: str | torch.device = "cpu", appearance: AppearanceModel | None = None,
                 wrinkles: WrinkleModel | None = None):
        self.model = model if model is not None else RigModel.load()
        self.cfg = cfg
        self.appearance = appearance if appearance is not None or not cfg.appearance \
            else AppearanceModel.load()
        self.wrinkles = wrinkles if wrinkles is not None or not (cfg.appearance and cfg.wrinkles) \
            else WrinkleModel.load()
        self.mouth_library = MouthLibrary.load() if cfg.mouth_fill and cfg.mouth_exemplars else None
        self.image_size = cfg.size
        self.align = AlignConfig(size=cfg.size, margin=cfg.margin)
        self.device = torch.device(device)

    def to(self, device: str | torch.device) -> "RigGenerator":
        self.device = torch.device(device)
        return self

    def eval(self) -> "RigGenerator":
        return self

    def describe(self) -> str:
        shading = "with" if self.cfg.appearance and self.appearance is not None else "without"
        return f"AU rig ({self.image_size} px, {shading} shading, {self.device})"

    def __call__(self, crops: torch.Tensor, aus: torch.Tensor, *,
                 landmarks: torch.Tensor | None = None,
                 source_aus: torch.Tensor | None = None) -> GeneratorOutput:
        n, s = _check(crops, aus, landmarks, source_aus)
        delta = (aus - source_aus).detach().float().cpu().numpy() * self.cfg.amplitude
        delta[np.abs(delta) < self.cfg.min_delta] = 0.0
        src = landmarks.detach().float().cpu().numpy()
        dst = self.model.displace(src, delta, s, self.cfg.margin)
        step = self.cfg.flow_step
        closure = np.clip(delta[:, BLINK] / 5.0 * self.model.blink_close, 0.0, 1.0)
        # A closing lid samples the input's lid skin above the lashes (eyes.lid_skin_source).
        warp_src = lid_skin_source(src, closure) if self.cfg.lash_line else src
        lattice = np.stack([backward_flow(warp_src[i], dst[i], s, step) for i in range(n)])
        box = self._moving_box(lattice, s, step)
        if box is None:                       # nothing moves: the input, exactly
            return GeneratorOutput(color=crops.clone(), attention=torch.ones_like(crops[:, :1]))
        x0, y0, x1, y1 = box
        # Only the box around the motion is computed; outside it C = input and A = 1.
        full = upsample_flow(torch.from_numpy(lattice).to(crops.device, crops.dtype), s, step)
        flow = full[:, y0:y1, x0:x1]
        sub = apply_flow(crops, flow, offset=(x0, y0))
        moving = motion_mask(flow, self.cfg.full_at_px, self.cfg.mask_blur)
        opens = _mouth_opens(src, dst)
        if self.cfg.mouth_fill and opens.any():
            sub, moving = self._fill_mouth(crops, src, dst, full, sub, moving, (x0, y0), opens)
        if self.cfg.lash_line and (closure > 0.7).any():
            w = torch.from_numpy(lash_weight(dst, closure, (x0, y0, x1, y1))).to(sub.device, sub.dtype)
            lash = (lash_colour((crops + 1.0) * 0.5, src) * 2.0 - 1.0).view(n, 3, 1, 1)
            sub = sub * (1.0 - w) + lash * w
            moving = torch.maximum(moving, w)
        color = crops.clone()
        color[:, :, y0:y1, x0:x1] = sub
        attention = torch.ones_like(crops[:, :1])
        attention[:, :, y0:y1, x0:x1] = 1.0 - moving
        if self.cfg.appearance and self.appearance is not None:
            color, attention = self._shade(color, attention, delta, dst, s, crops, src)
        return GeneratorOutput(color=color.clamp(-1.0, 1.0), attention=attention)

    def _shade(self, color, attention, delta, dst, s, crops, src):
        """Multiply C by the appearance model's luminance ratio and the wrinkles' (folds from the
        exemplar chosen by the input face ``crops``/``src``), drawn on the displaced face, and
        lower A where it changes anything (A stays exactly 1 where both are 0)."""
        log_gain = self.appearance.log_gain(delta, dst, s)
        if self.wrinkles is not None and self.cfg.wrinkles:
            detail = self.wrinkles.log_gain(delta, crops, src, dst, s)
            if detail is not None:
                log_gain = detail if log_gain is None else log_gain + detail
        if log_gain is None:
            return color, attention
        log_gain = log_gain.to(color.device, color.dtype)
        color = ((color + 1.0) * torch.exp(log_gain) - 1.0)
        shaded = (log_gain.abs() / self.cfg.appearance_full_at).clamp(0.0, 1.0)
        return color, torch.minimum(attention, 1.0 - shaded)

    def _fill_mouth(self, crops, src, dst, full, sub, moving, origin, opens):
        """Paint the mouth's inside where the lips part beyond the input, within the box around
        the displaced inner lips (``sub``/``moving`` cover the motion box at ``origin``)."""
        s = crops.shape[-1]
        lips = dst[:, list(INNER_LIPS)]
        mx0, my0 = np.clip(np.floor(lips.min((0, 1))).astype(int) - 3, 0, s - 1)
        mx1, my1 = np.clip(np.ceil(lips.max((0, 1))).astype(int) + 4, 1, s)
        mx0, my0 = max(mx0, origin[0]), max(my0, origin[1])
        mx1 = min(mx1, origin[0] + sub.shape[-1])
        my1 = min(my1, origin[1] + sub.shape[-2])
        if mx1 <= mx0 or my1 <= my0:
            return sub, moving
        off = np.array([mx0, my0], np.float32)
        # With real teeth to show, the input's own opening is kept only where it is more than a
        # seam (its own teeth); a thin dark seam stretched by the warp would cut through them.
        own_erode = 2 if self.mouth_library is not None else 1
        w = fill_weight(src - off, dst - off, full[:, my0:my1, mx0:mx1], crops, (mx0, my0), own_erode)
        w = w * torch.from_numpy(opens).to(w.device, w.dtype).view(-1, 1, 1, 1)
        box = (mx0, my0, mx1, my1)
        painted = paint_mouth(crops, dst, box, _iod(dst.astype(np.float64)), self.cfg.mouth)
        if self.mouth_library is not None:
            # A real mouth where the lips part wide enough; the painted seam where they barely do.
            real, share = render_exemplar(crops, src, dst, box, self.mouth_library, self.cfg.exemplar)
            painted = painted * (1.0 - share) + real * share
            w = _soften_inside(w)
        ys = slice(my0 - origin[1], my1 - origin[1])
        xs = slice(mx0 - origin[0], mx1 - origin[0])
        sub = sub.clone()
        moving = moving.clone()
        sub[:, :, ys, xs] = sub[:, :, ys, xs] * (1.0 - w) + painted * w
        moving[:, :, ys, xs] = torch.maximum(moving[:, :, ys, xs], w)
        return sub, moving

    def _moving_box(self, lattice: np.ndarray, size: int, step: int) -> tuple[int, int, int, int] | None:
        """(x0, y0, x1, y1), exclusive ends: the pixels any face's flow moves, grown by the
        upsampling, the mask's dilation and blur so the mask is exactly 0 outside; None if
        nothing moves."""
        moved = (np.abs(lattice[..., 0]) + np.abs(lattice[..., 1])).max(0) > 0
        rows, cols = np.flatnonzero(moved.any(1)), np.flatnonzero(moved.any(0))
        if len(rows) == 0:
            return None
        xs, ys = cols[[0, -1]] * step, rows[[0, -1]] * step
        grow = int(np.ceil(4 * self.cfg.mask_blur)) + 2 + step
        # Even origin: the mask's half-resolution pass then sees the same pixel pairs whatever
        # the batch (a face edited alone or beside others gives the same result).
        return (max((int(xs.min()) - grow) // 2 * 2, 0), max((int(ys.min()) - grow) // 2 * 2, 0),
                min(int(xs.max()) + grow + 1, size), min(int(ys.max()) + grow + 1, size))


def _soften_inside(w: torch.Tensor) -> torch.Tensor:
    """The fill weight with a soft inner edge: faded over about a pixel inward from the inner lip
    line (the lip's own warped pixels show through there), never extended outside it."""
    k = torch.tensor([0.27, 0.46, 0.27], dtype=w.dtype, device=w.device)   # Gaussian, sigma ~1 px
    kx, ky = k.view(1, 1, 1, 3), k.view(1, 1, 3, 1)
    blur = torch.nn.functional.conv2d(torch.nn.functional.pad(w, (1, 1, 0, 0), mode="replicate"), kx)
    blur = torch.nn.functional.conv2d(torch.nn.functional.pad(blur, (0, 0, 1, 1), mode="replicate"), ky)
    return w * blur


def _mouth_opens(src: np.ndarray, dst: np.ndarray, min_px: float = 0.5) -> np.ndarray:
    """Per face (bool (N,)): whether its inner-lip gap grows by more than ``min_px`` somewhere."""
    up, lo = list(LIP_INNER_UPPER[2:-2]), list(LIP_INNER_LOWER[2:-2])
    gap_src = src[:, lo, 1] - src[:, up, 1]
    gap_dst = dst[:, lo, 1] - dst[:, up, 1]
    return (gap_dst - gap_src > min_px).any(axis=1)


def _check(crops, aus, landmarks, source_aus) -> tuple[int, int]:
    """Validate the protocol's shapes; returns (N, S)."""
    if crops.ndim != 4 or crops.shape[1] != 3 or crops.shape[2] != crops.shape[3]:
        raise ValueError(f"crops must be (N, 3, S, S), got {tuple(crops.shape)}")
    n, s = crops.shape[0], crops.shape[2]
    if tuple(aus.shape) != (n, NUM_AUS):
        raise ValueError(f"aus must be ({n}, {NUM_AUS}), got {tuple(aus.shape)}")
    if landmarks is None:
        raise ValueError("the AU rig needs the face landmarks in crop pixels (landmarks=(N, 478, 2))")
    if tuple(landmarks.shape) != (n, 478, 2):
        raise ValueError(f"landmarks must be ({n}, 478, 2) crop px, got {tuple(landmarks.shape)}")
    if source_aus is None:
        raise ValueError("the AU rig moves a face by target - source AUs: pass source_aus=(N, 17), "
                         "the face's own AUs as estimated by reenact.aus")
    if tuple(source_aus.shape) != (n, NUM_AUS):
        raise ValueError(f"source_aus must be ({n}, {NUM_AUS}), got {tuple(source_aus.shape)}")
    return n, s
