"""What the tracker reports about one face in one frame."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Face:
    """One tracked face.

    face_id: stable across frames while the face stays tracked (0, 1, ... in order of appearance).
    landmarks: float32 (478, 2), MediaPipe Face Mesh points in frame pixels, (x, y) order, pixel
        centres at integer coordinates (MediaPipe's normalised x * width - 0.5).
    depth: float32 (478,), MediaPipe's relative z scaled like x (pixels), or None.
    blendshapes: float32 (52,), MediaPipe's blendshape scores in MediaPipe's order
        (``reenact.tracking.blendshapes.BLENDSHAPE_NAMES``), or None.
    pose: float32 (4, 4) facial transformation matrix from MediaPipe, or None.
    presence: 1.0 for a face seen in this frame; the engine lowers it while a face fades in/out.
    """

    face_id: int
    landmarks: np.ndarray
    depth: np.ndarray | None = None
    blendshapes: np.ndarray | None = None
    pose: np.ndarray | None = None
    presence: float = 1.0
    extra: dict = field(default_factory=dict)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the landmarks, in frame pixels."""
        x0, y0 = self.landmarks.min(axis=0)
        x1, y1 = self.landmarks.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.bbox
        return (x1 - x0) * (y1 - y0)
