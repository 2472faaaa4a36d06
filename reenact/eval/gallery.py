"""Every preset side by side on every evaluated face: a strip per face (one column per preset)
and full-resolution close-ups of the mouth and the eyes, where an edit's faults show first
(slit mouths without teeth, brows that do not move, smeared lids)."""
from __future__ import annotations

import numpy as np

from reenact.aus.geometry import MOUTH_CORNER

EYE_OUTER_CORNERS = (33, 263)   # MediaPipe: outer corners of the two eyes
MOUTH_TILE = (192, 0.55)         # close-up tile width (px) and height / width
EYES_TILE = (256, 0.4)


def _region(image: np.ndarray, center: np.ndarray, width: float, aspect: float) -> np.ndarray:
    """The (width x width*aspect) region of ``image`` around ``center`` at full resolution,
    edge pixels repeated where it leaves the image."""
    h = width * aspect
    x0, y0 = int(round(center[0] - width / 2)), int(round(center[1] - h / 2))
    x1, y1 = x0 + int(round(width)), y0 + int(round(h))
    ys = np.clip(np.arange(y0, y1), 0, image.shape[0] - 1)
    xs = np.clip(np.arange(x0, x1), 0, image.shape[1] - 1)
    return image[ys][:, xs]


def _span(landmarks: np.ndarray, pair: tuple[int, int]) -> float:
    pts = np.asarray(landmarks)[:, :2]
    return float(np.linalg.norm(pts[pair[1]] - pts[pair[0]]))


def mouth_closeup(image: np.ndarray, landmarks: np.ndarray, scale: float | None = None) -> np.ndarray:
    """Lips, corners and the folds beside them: 1.9 x the corner distance wide (``scale``:
    that distance from another photo of the face, so that a wide smile is not shown smaller)."""
    pts = np.asarray(landmarks)[:, :2]
    a, b = pts[MOUTH_CORNER[0]], pts[MOUTH_CORNER[1]]
    d = scale or _span(landmarks, MOUTH_CORNER)
    return _region(image, (a + b) / 2 + [0, 0.05 * d], 1.9 * d, MOUTH_TILE[1])


def eyes_closeup(image: np.ndarray, landmarks: np.ndarray, scale: float | None = None) -> np.ndarray:
    """Both eyes, the brows and the glabella: 1.45 x the outer eye-corner distance wide,
    shifted up to take in the brows."""
    pts = np.asarray(landmarks)[:, :2]
    a, b = pts[EYE_OUTER_CORNERS[0]], pts[EYE_OUTER_CORNERS[1]]
    d = scale or _span(landmarks, EYE_OUTER_CORNERS)
    return _region(image, (a + b) / 2 - [0, 0.18 * d], 1.45 * d, EYES_TILE[1])


class PresetGallery:
    """Collects, per face, the input and each preset's output (aligned crop, mouth, eyes) and
    draws the three grids: rows = faces, columns = input [, real target], presets."""

    def __init__(self):
        self.columns: list[str] = []
        self.faces: dict[str, dict[str, tuple]] = {}

    def add(self, face: str, column: str, crop: np.ndarray, frame: np.ndarray,
            landmarks: np.ndarray, scale_from: np.ndarray | None = None) -> None:
        """``scale_from``: landmarks whose mouth and eye spans size the close-ups (the input's,
        for a real target photo of another expression)."""
        if column not in self.columns:
            self.columns.append(column)
        ref = landmarks if scale_from is None else scale_from
        self.faces.setdefault(face, {})[column] = (
            crop, mouth_closeup(frame, landmarks, _span(ref, MOUTH_CORNER)),
            eyes_closeup(frame, landmarks, _span(ref, EYE_OUTER_CORNERS)))

    def grids(self) -> dict[str, np.ndarray]:
        """{"presets_faces"|"presets_mouths"|"presets_eyes": uint8 RGB grid}; empty if nothing."""
        from reenact.eval import plots

        if not self.faces:
            return {}
        names = list(self.faces)
        out = {}
        for k, (stem, tile, aspect) in enumerate((("presets_faces", 128, 1.0),
                                                  ("presets_mouths", *MOUTH_TILE),
                                                  ("presets_eyes", *EYES_TILE))):
            rows = [[self.faces[n][c][k] if c in self.faces[n] else None for c in self.columns]
                    for n in names]
            out[stem] = plots.labelled_grid(rows, [c[:14] for c in self.columns], names, tile=tile,
                                            aspect=1.0 / aspect)
        return out
