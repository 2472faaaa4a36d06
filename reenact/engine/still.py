"""Editing one photo: the engine's stages on a single image, keeping every intermediate.

``edit_image(image, targets, generator)`` tracks the faces (image mode), estimates their own AUs,
takes target AUs (an AUSource, one (17,) vector for every face, a {face_id: (17,)} dict, or a
callable own -> target), and returns the edited image plus per-face records (crop, output, C, A,
AUs, crop_from_frame) for ``reenact image``, sweeps and evaluation.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from reenact.engine.compose import crop_frame_faces, paste_frame_faces, run_generator
from reenact.engine.occlusion import cover_attention, occlusion_masks
from reenact.engine.selection import FaceSelector
from reenact.frame import Frame
from reenact.kernels import to_uint8
from reenact.kernels.paste import DEFAULT_FEATHER
from reenact.models.protocol import blend
from reenact.tracking.types import Face


@dataclass
class FaceEdit:
    """One edited face. Images are uint8 (S, S, 3) RGB crops; attention float32 (S, S) in [0, 1]
    (the generator's); occlusion float32 (S, S) in [0, 1] (what covers the face; the edit used
    max(attention, occlusion)), or None when occlusion was off; AUs float32 (17,) on the 0-5
    scale; crop_from_frame float64 (2, 3)."""

    face_id: int
    crop: np.ndarray
    output: np.ndarray
    color: np.ndarray
    attention: np.ndarray
    target_aus: np.ndarray
    source_aus: np.ndarray
    crop_from_frame: np.ndarray
    face: Face | None = None
    occlusion: np.ndarray | None = None


@dataclass
class EditResult:
    image: np.ndarray
    faces: list[FaceEdit] = field(default_factory=list)


def track_image(image: np.ndarray, tracker=None) -> list[Face]:
    """Faces of a still (tracker in image mode: full image plus tiles)."""
    if tracker is not None:
        return list(tracker.track(image).faces)
    from reenact.tracking.tracker import FaceTracker, TrackerConfig
    with FaceTracker(TrackerConfig(mode="image")) as t:
        return list(t.track(image).faces)


def _targets_for(spec, image: np.ndarray, faces: list[Face], own: dict[int, np.ndarray]) -> dict:
    if hasattr(spec, "targets"):
        return spec.targets(Frame(image=image, faces=faces), own)
    if isinstance(spec, dict):
        return spec
    if callable(spec):
        return {i: spec(a) for i, a in own.items()}
    vec = np.asarray(spec, np.float32)
    if vec.shape != (17,):
        raise ValueError(f"target AUs must have shape (17,), got {vec.shape}")
    return {i: vec for i in own}


def edit_image(image: np.ndarray, targets, generator, *, strength: float = 1.0,
               faces: str | int = "all", tracked: list[Face] | None = None, tracker=None,
               estimator=None, own: dict[int, np.ndarray] | None = None, feather: float = DEFAULT_FEATHER,
               device: str = "cpu", occlusion: bool = False) -> EditResult:
    """Edit the faces of one uint8 (H, W, 3) RGB image; the input array is not modified.

    tracked / own: faces and their AUs from an earlier call (sweeps reuse them instead of tracking
    again). Faces without a target are left alone. occlusion: keep the edit off what covers a face
    (reenact.engine.occlusion)."""
    found = tracked if tracked is not None else track_image(image, tracker)
    chosen = FaceSelector(faces)(found)
    if own is None:
        if estimator is None:
            from reenact.aus.estimator import AUEstimator
            estimator = AUEstimator()
        own = {f.face_id: estimator.estimate(f) for f in chosen}
    wanted = _targets_for(targets, image, found, own)
    chosen = [f for f in chosen if f.face_id in wanted]
    out = image.copy()
    if not chosen:
        return EditResult(out, [])
    img = torch.from_numpy(out).to(device)
    fc = crop_frame_faces(img, chosen, generator.align)
    tgt = np.stack([np.asarray(wanted[f.face_id], np.float32) for f in chosen])
    src = np.stack([own[f.face_id] for f in chosen])
    gen = run_generator(generator, fc.crops, tgt, src, fc.landmarks, batch=len(chosen))
    occ = occlusion_masks(fc.crops, fc.landmarks, [f.face_id for f in chosen]) if occlusion else None
    attention = cover_attention(gen.attention, occ)
    paste_frame_faces(img, gen.color, attention, fc.crop_from_frame,
                      np.full(len(chosen), strength), feather)
    if img.device.type != "cpu":
        out[...] = img.cpu().numpy()
    y = blend(fc.crops, gen.color, attention)
    y = strength * y + (1.0 - strength) * fc.crops
    records = [FaceEdit(face_id=f.face_id, crop=to_uint8(fc.crops[i]).cpu().numpy(),
                        output=to_uint8(y[i]).cpu().numpy(), color=to_uint8(gen.color[i]).cpu().numpy(),
                        attention=gen.attention[i, 0].cpu().numpy().astype(np.float32),
                        target_aus=tgt[i], source_aus=src[i], crop_from_frame=fc.crop_from_frame[i],
                        face=f, occlusion=None if occ is None else occ[i, 0].cpu().numpy())
               for i, f in enumerate(chosen)]
    return EditResult(out, records)


def sweep_targets(own: np.ndarray, au: int, values) -> list[np.ndarray]:
    """Own AUs with AU index ``au`` set to each of ``values`` (the paper's Fig. 4 rows)."""
    rows = []
    for v in values:
        t = np.asarray(own, np.float32).copy()
        t[au] = v
        rows.append(t)
    return rows


def interpolate_targets(own: np.ndarray, target: np.ndarray, n: int) -> list[np.ndarray]:
    """n AU vectors from the face's own (first) to the target (last), evenly spaced (Fig. 1)."""
    own, target = np.asarray(own, np.float32), np.asarray(target, np.float32)
    return [(own + (target - own) * (i / max(n - 1, 1))).astype(np.float32) for i in range(n)]
