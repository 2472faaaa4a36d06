"""The one record every pipeline stage passes on: a decoded frame and what stages attached to it.

A source makes a ``Frame`` (image + timing); the tracker attaches ``faces``; the AU source attaches
``targets`` (face id -> 17 AUs on the 0-5 scale); the compositor replaces ``image``; the sink
encodes it with the same ``pts`` and ``time_base``. Nothing else travels between stages.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from reenact.tracking.types import Face


@dataclass
class Frame:
    """One video frame.

    image: uint8 RGB, shape (H, W, 3), C-contiguous.
    pts: presentation timestamp in units of ``time_base`` (None for stills).
    time_base: seconds per pts unit.
    index: 0-based position in the source (decode order after reordering, i.e. display order).
    capture_time: ``time.perf_counter()`` when the source produced it (live latency).
    """

    image: np.ndarray
    pts: int | None = None
    time_base: Fraction | None = None
    index: int = 0
    capture_time: float = 0.0
    faces: list[Face] = field(default_factory=list)
    targets: dict[int, np.ndarray] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    @property
    def time(self) -> float | None:
        """Presentation time in seconds, or None when the frame has no timestamp."""
        if self.pts is None or self.time_base is None:
            return None
        return float(self.pts * self.time_base)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.image.shape[1], self.image.shape[0]
