"""The AU-rig generator: the embedded default behind the GANimation generator protocol.

C is the input crop warped by the rig's landmark displacement (with a painted mouth interior where
the lips part beyond the input), A is 1 minus a soft mask of where anything moves, so
``A * crop + (1 - A) * C`` is the edited face and a zero edit returns the input exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from reenact.aus.names import NUM_AUS
from reenact.models.protocol import GeneratorOutput
from reenact.models.rig.model import RigModel, _iod
from reenact.models.rig.mouth import MouthConfig, fill_weight, paint_mouth
from reenact.models.rig.warp import apply_flow, backward_flow, motion_mask
from reenact.tracking.align import AlignConfig


@dataclass(frozen=True)
class RigConfig:
    """size/margin: the crop the rig works on; full_at_px: flow (crop px) at which the mask is 1;
    mask_blur: softness of the mask edge (px); amplitude: global gain on the AU change;
    min_delta: AU changes below this are treated as no change (keeps A exactly 1)."""

    size: int = 256
    margin: float = 0.2
    full_at_px: float = 0.35
    mask_blur: float = 2.5
    amplitude: float = 1.0
    min_delta: float = 1e-3
    mouth: MouthConfig = MouthConfig()
    mouth_fill: bool = True


class RigGenerator:
    """``RigGenerator(model, cfg)(crops, aus, landmarks=..., source_aus=...) -> GeneratorOutput``."""

    needs_landmarks = True

    def __init__(self, model: RigModel | None = None, cfg: RigConfig = RigConfig(),
                 device: str | torch.device = "cpu"):
        self.model = model if model is not None else RigModel.load()
        self.cfg = cfg
        self.image_size = cfg.size
        self.align = AlignConfig(size=cfg.size, margin=cfg.margin)
        self.device = torch.device(device)

    def to(self, device: str | torch.device) -> "RigGenerator":
        self.device = torch.device(device)
        return self

    def eval(self) -> "RigGenerator":
        return self

    def __call__(self, crops: torch.Tensor, aus: torch.Tensor, *,
                 landmarks: torch.Tensor | None = None,
                 source_aus: torch.Tensor | None = None) -> GeneratorOutput:
        n, s = _check(crops, aus, landmarks, source_aus)
        delta = (aus - source_aus).detach().float().cpu().numpy() * self.cfg.amplitude
        delta[np.abs(delta) < self.cfg.min_delta] = 0.0
        src = landmarks.detach().float().cpu().numpy()
        dst = self.model.displace(src, delta, s, self.cfg.margin)
        flow_np = np.stack([backward_flow(src[i], dst[i], s) for i in range(n)])
        flow = torch.from_numpy(flow_np).to(crops.device, crops.dtype)
        color = apply_flow(crops, flow)
        moving = motion_mask(flow, self.cfg.full_at_px, self.cfg.mask_blur)
        if self.cfg.mouth_fill and bool((flow_np != 0).any()):
            w = fill_weight(src, dst, flow)
            if bool((w > 1e-3).any()):
                painted = paint_mouth(crops, dst, _iod(dst.astype(np.float64)), self.cfg.mouth)
                color = color * (1.0 - w) + painted * w
                moving = torch.maximum(moving, w)
        attention = 1.0 - moving
        return GeneratorOutput(color=color.clamp(-1.0, 1.0), attention=attention)


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
