"""The two operations evaluation repeats: analyse a still (track + estimate AUs) and edit one face.

Editing follows the engine's still path exactly (reenact.kernels crop -> generator -> feathered
paste of ``s * (1 - A)``), but takes an already tracked face, so one tracking pass serves the
dozens of edits of a sweep. Analysis re-tracks every output image from scratch: the estimated
AUs of an edit are those a viewer's tracker would see, not the ones the input's landmarks imply.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from reenact.aus.estimator import AUEstimator
from reenact.kernels import crop_faces, paste_faces, paste_weight, to_numpy_image
from reenact.models.protocol import Generator
from reenact.tracking.align import AlignConfig, crop_from_frame, transform_points
from reenact.tracking.tracker import FaceTracker, TrackerConfig
from reenact.tracking.types import Face


@dataclass
class Analysed:
    """One face of a still: the tracked face and its estimated AUs (float32 (17,), 0-5)."""

    face: Face
    aus: np.ndarray


@dataclass
class FaceEdit:
    """One edited face. image: the whole edited frame, uint8 (H, W, 3); crop_in / crop_out /
    color: uint8 (S, S, 3); attention: float32 (S, S) in [0, 1] (1 keeps the input pixel);
    crop_from_frame: (2, 3); size: S."""

    image: np.ndarray
    crop_in: np.ndarray
    crop_out: np.ndarray
    color: np.ndarray
    attention: np.ndarray
    crop_from_frame: np.ndarray
    size: int


def generator_align(generator: Generator) -> AlignConfig:
    """The crop a generator wants (its ``align`` attribute, else the default at its size)."""
    return getattr(generator, "align", None) or AlignConfig(size=int(generator.image_size))


def _box_iou(a: tuple, b: tuple) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class StillAnalyser:
    """Tracks stills (image mode) and estimates AUs. Use as a context manager."""

    def __init__(self, estimator: AUEstimator | None = None, max_faces: int = 4):
        self.estimator = estimator or AUEstimator()
        self._tracker = FaceTracker(TrackerConfig(mode="image", max_faces=max_faces))

    def close(self) -> None:
        self._tracker.close()

    def __enter__(self) -> "StillAnalyser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def faces(self, image: np.ndarray) -> list[Analysed]:
        """Every face found, largest first."""
        found = self._tracker.track(image).faces
        found = sorted(found, key=lambda f: f.area, reverse=True)
        return [Analysed(f, self.estimator.estimate(f)) for f in found]

    def largest(self, image: np.ndarray) -> Analysed | None:
        found = self.faces(image)
        return found[0] if found else None

    def matching(self, image: np.ndarray, like: Face, min_iou: float = 0.3) -> Analysed | None:
        """The face of ``image`` that overlaps ``like``'s landmark box most (None if none does:
        the edit made the face unrecognisable to the tracker)."""
        best, best_iou = None, min_iou
        for a in self.faces(image):
            iou = _box_iou(a.face.bbox, like.bbox)
            if iou >= best_iou:
                best, best_iou = a, iou
        return best


@dataclass(frozen=True)
class EditConfig:
    """strength: s in the paste weight s * (1 - A); feather: border ramp as a fraction of the
    crop (the engine's default); device: where the generator runs."""

    strength: float = 1.0
    feather: float = 0.08
    device: str = "cpu"


@torch.no_grad()
def edit_face(generator: Generator, image: np.ndarray, face: Face, source_aus: np.ndarray,
              target_aus: np.ndarray, cfg: EditConfig = EditConfig()) -> FaceEdit:
    """Edit one face of ``image`` (uint8 RGB (H, W, 3)) toward ``target_aus`` (17,) on 0-5."""
    align = generator_align(generator)
    dev = torch.device(cfg.device)
    m = crop_from_frame(face.landmarks, align)
    frame = torch.from_numpy(np.ascontiguousarray(image)).to(dev)
    crops = crop_faces(frame, m[None], align.size)
    aus = torch.as_tensor(np.asarray(target_aus, np.float32)[None], device=dev)
    src = torch.as_tensor(np.asarray(source_aus, np.float32)[None], device=dev)
    lms = torch.as_tensor(transform_points(m, face.landmarks)[None], device=dev)
    out = generator(crops, aus, landmarks=lms, source_aus=src)
    edited = frame.clone()
    paste_faces(edited, out.color, m[None], paste_weight(out.attention, cfg.strength), feather=cfg.feather)
    return FaceEdit(image=edited.cpu().numpy(), crop_in=to_numpy_image(crops[0]),
                    crop_out=to_numpy_image(out.blend(crops)[0]), color=to_numpy_image(out.color[0]),
                    attention=out.attention[0, 0].float().cpu().numpy(), crop_from_frame=m,
                    size=align.size)
