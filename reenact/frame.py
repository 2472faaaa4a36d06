"""The one record every pipeline stage passes on: a decoded frame and what stages attached to it.

A source makes a ``Frame`` (image + timing, and for a file its decoded ``av_frame``); the tracker
attaches ``faces``; the engine attaches each selected face's ``own_aus``, asks the AU source for
``targets`` (face id -> 17 AUs on the 0-5 scale), sets each face's ``presence`` (how much of the
edit shows while it fades in or out), replaces ``image`` and sets ``edited``; the sink encodes it
with the same ``pts`` and ``time_base`` (the untouched ``av_frame`` itself when nothing was edited).
A live preview sets ``want_mask`` and reads back ``mask`` (and ``occlusion``). Nothing else travels between stages:
every hand-off is a field here, so a stage cannot read a key that nobody writes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from reenact.tracking.types import Face

if TYPE_CHECKING:  # PyAV is imported by the media layer only; the record just carries its frame
    import av


@dataclass
class Frame:
    """One video frame.

    image: uint8 RGB, shape (H, W, 3), C-contiguous.
    pts: presentation timestamp in units of ``time_base`` (None for stills).
    time_base: seconds per pts unit.
    index: 0-based position in the source (decode order after reordering, i.e. display order).
    capture_time: ``time.perf_counter()`` when the source produced it (live latency).
    faces: the tracked faces (tracker).
    targets: face id -> float32 (17,) target AUs, 0-5, for the faces being edited (AU source).
    own_aus: face id -> float32 (17,) the face's own AUs as estimated from this frame, 0-5 (engine);
        the rig moves a face by ``targets - own_aus``.
    presence: face id -> weight in [0, 1] of the edit in this frame: 1 once a face is established,
        lower while it fades in after appearing or out before leaving (engine). A face without an
        entry is not edited.
    edited: True once the engine has written generated pixels into ``image``; a frame that stays
        False still holds exactly the decoded picture.
    want_mask: asks the engine for ``mask`` (a preview's mask view; computing it costs a paste).
    mask: float32 (H, W) in [0, 1], the weight with which edited pixels replaced the frame's own;
        set by the engine only when ``want_mask`` was set and a face was edited, else None.
    occlusion: float32 (H, W) in [0, 1], where something covers an edited face (the edit keeps
        off it: reenact.engine.occlusion); set with ``mask`` when occlusion is on, else None.
    av_frame: the decoded ``av.VideoFrame`` this frame came from (file sources only, else None);
        a sink encodes it as is when ``edited`` is False, so untouched frames keep their pixels.
    """

    image: np.ndarray
    pts: int | None = None
    time_base: Fraction | None = None
    index: int = 0
    capture_time: float = 0.0
    faces: list[Face] = field(default_factory=list)
    targets: dict[int, np.ndarray] = field(default_factory=dict)
    own_aus: dict[int, np.ndarray] = field(default_factory=dict)
    presence: dict[int, float] = field(default_factory=dict)
    edited: bool = False
    want_mask: bool = False
    mask: np.ndarray | None = None
    occlusion: np.ndarray | None = None
    av_frame: av.VideoFrame | None = None

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
