"""The faces of a still picture, found once and reported for every frame of a video made from it.

A photo source repeats one picture; tracking it again on every frame would cost a landmarker call
per frame and let MediaPipe's small frame-to-frame differences shimmer through the edit. The
faces of the first frame are kept and handed out as fresh copies (the engine sets ``presence``
on the faces it is given).
"""
from __future__ import annotations

import copy

import numpy as np

from reenact.tracking.tracker import TrackResult


class FixedFaces:
    """``track(image, timestamp_ms)`` like a FaceTracker, for a stream whose picture never changes.

    tracker: anything with ``track(image) -> TrackResult`` (an image-mode FaceTracker); it is called
    on the first frame only, and when ``owns`` is True closed right after (MediaPipe's graph is
    not needed again).
    """

    def __init__(self, tracker, owns: bool = True):
        self._tracker = tracker
        self._owns = owns
        self._faces = None
        self.calls = 0  # how many times the wrapped tracker ran (1 after the first frame)

    def track(self, image: np.ndarray, timestamp_ms: int | None = None) -> TrackResult:
        if self._faces is None:
            first = self._tracker.track(image)
            self.calls += 1
            self._faces = list(first.faces)
            self.close()
            return TrackResult(copy.deepcopy(self._faces), [f.face_id for f in self._faces], [],
                               timestamp_ms)
        return TrackResult(copy.deepcopy(self._faces), [], [], timestamp_ms)

    def close(self) -> None:
        if self._owns and self._tracker is not None and hasattr(self._tracker, "close"):
            self._tracker.close()
            self._tracker = None

    def __enter__(self) -> "FixedFaces":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
