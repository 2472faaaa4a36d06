"""The two operations evaluation repeats: analyse a still (track + estimate AUs) and edit one face.

Editing is the engine's still path (reenact.engine.still.edit_image: kernels crop -> generator ->
feathered paste of ``s * (1 - A)``) given an already tracked face, so one tracking pass serves the
dozens of edits of a sweep. Analysis re-tracks every output image from scratch: the estimated
AUs of an edit are those a viewer's tracker would see, not the ones the input's landmarks imply.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reenact.aus.estimator import AUEstimator
from reenact.kernels.paste import DEFAULT_FEATHER
from reenact.models.protocol import FaceGenerator
from reenact.tracking.tracker import FaceTracker, TrackerConfig
from reenact.tracking.types import Face


@dataclass
class Analysed:
    """One face of a still: the tracked face and its estimated AUs (float32 (17,), 0-5)."""

    face: Face
    aus: np.ndarray


@dataclass
class EditedFrame:
    """A frame with one face edited, as eval measures it (not the engine's per-face record,
    ``reenact.engine.still.FaceEdit``, which it is made from). image: the whole edited frame,
    uint8 (H, W, 3); crop_in / crop_out /
    color: uint8 (S, S, 3); attention: float32 (S, S) in [0, 1] (1 keeps the input pixel);
    crop_from_frame: (2, 3); size: S."""

    image: np.ndarray
    crop_in: np.ndarray
    crop_out: np.ndarray
    color: np.ndarray
    attention: np.ndarray
    crop_from_frame: np.ndarray
    size: int


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
        # Outputs are re-tracked where the face is known to be: a full-image pass finds it in
        # most photos at a seventh of the cost of the tiled search, which stays the fallback.
        self._quick = FaceTracker(TrackerConfig(mode="image", max_faces=max_faces, multiscale=None))

    def close(self) -> None:
        self._tracker.close()
        self._quick.close()

    def __enter__(self) -> "StillAnalyser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def faces(self, image: np.ndarray, quick: bool = False) -> list[Analysed]:
        """Every face found, largest first (``quick``: full-image pass only, no tiles)."""
        found = (self._quick if quick else self._tracker).track(image).faces
        found = sorted(found, key=lambda f: f.area, reverse=True)
        return [Analysed(f, self.estimator.estimate(f)) for f in found]

    def largest(self, image: np.ndarray) -> Analysed | None:
        """The largest face; the quick pass first, as for outputs, so that inputs and outputs
        are measured alike (the tiled pass moves landmarks by a pixel or two)."""
        found = self.faces(image, quick=True) or self.faces(image)
        return found[0] if found else None

    def matching(self, image: np.ndarray, like: Face, min_iou: float = 0.3) -> Analysed | None:
        """The face of ``image`` that overlaps ``like``'s landmark box most (None if none does:
        the edit made the face unrecognisable to the tracker)."""
        for quick in (True, False):
            best, best_iou = None, min_iou
            for a in self.faces(image, quick):
                iou = _box_iou(a.face.bbox, like.bbox)
                if iou >= best_iou:
                    best, best_iou = a, iou
            if best is not None:
                return best
        return None


@dataclass(frozen=True)
class EditConfig:
    """strength: s in the paste weight s * (1 - A); feather: border ramp as a fraction of the
    crop (the engine's default); device: where the generator runs."""

    strength: float = 1.0
    feather: float = DEFAULT_FEATHER
    device: str = "cpu"


def edit_face(generator: FaceGenerator, image: np.ndarray, face: Face, source_aus: np.ndarray,
              target_aus: np.ndarray, cfg: EditConfig = EditConfig()) -> EditedFrame:
    """Edit one already tracked face of ``image`` (uint8 RGB (H, W, 3)) toward ``target_aus``
    (17,) on 0-5 with the engine's still path (reenact.engine.still.edit_image)."""
    from reenact.engine.still import edit_image

    res = edit_image(image, {face.face_id: np.asarray(target_aus, np.float32)}, generator,
                     strength=cfg.strength, tracked=[face],
                     own={face.face_id: np.asarray(source_aus, np.float32)},
                     feather=cfg.feather, device=cfg.device)
    if len(res.faces) != 1:  # the engine dropped the face: a bug there, not a user error
        raise RuntimeError(f"edit_image returned {len(res.faces)} faces for one")
    f = res.faces[0]
    return EditedFrame(image=res.image, crop_in=f.crop, crop_out=f.output, color=f.color,
                    attention=f.attention, crop_from_frame=f.crop_from_frame,
                    size=int(f.crop.shape[0]))
