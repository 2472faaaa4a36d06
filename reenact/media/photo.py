"""A still photo as a video source: the same picture at a list of timestamps.

This is how a portrait is animated: the frames of the output are the photo, repeated at the
driver's timestamps (or a timeline's), and each is edited to the expression of its moment.
``PhotoSource`` offers what the engine and the sink read of a ``VideoSource`` (``path``, ``info``,
iteration of ``Frame`` records, ``decode_time``, ``decode_errors``, a context manager).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from reenact.errors import ReenactError
from reenact.frame import Frame
from reenact.media.image import read_image
from reenact.media.info import VideoInfo

# Still formats read as a photo source (everything else goes to the video decoder; a GIF is a
# photo only when it has a single frame).
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
MAX_SIDE = 3840  # a larger photo is scaled down (with a note): 4K is plenty for a face video
# Tags for a video made from an sRGB photo: BT.709 matrix, primaries and transfer, limited range
# (FFmpeg enum values), which every player reads as the photo's colours.
BT709, LIMITED_RANGE = 1, 1


@dataclass(frozen=True)
class Timing:
    """When the frames of a photo video are shown.

    pts: presentation timestamps in ``time_base`` units, increasing; time_base: seconds per pts
    unit; rate: the nominal frame rate (the sink's stream rate).
    """

    pts: tuple[int, ...]
    time_base: Fraction
    rate: Fraction

    @classmethod
    def uniform(cls, seconds: float, fps: float) -> "Timing":
        """``ceil(seconds * fps)`` frames (at least one) at ``fps``, starting at 0."""
        if not (seconds > 0 and math.isfinite(seconds)):
            raise ReenactError(f"the duration must be a positive number of seconds, got {seconds}")
        if not (fps > 0 and math.isfinite(fps)):
            raise ReenactError(f"the frame rate must be positive, got {fps}")
        rate = Fraction(fps).limit_denominator(1001)
        n = max(1, math.ceil(seconds * fps - 1e-9))
        return cls(tuple(range(n)), 1 / rate, rate)

    @classmethod
    def of_times(cls, times: Sequence[float], time_base: Fraction, rate: Fraction | None) -> "Timing":
        """Timestamps from frame times in seconds (a driver's), on that stream's ``time_base``."""
        if len(times) == 0:
            raise ReenactError("no frame times to follow")
        pts, last = [], None
        for t in times:
            p = int(round(float(t) / time_base))
            p = p if last is None or p > last else last + 1  # strictly increasing, as muxers need
            pts.append(p)
            last = p
        if rate is None:
            span = float((pts[-1] - pts[0]) * time_base)
            rate = Fraction(len(pts) - 1, 1) / Fraction(span).limit_denominator(10**6) if span > 0 \
                else Fraction(30)
        return cls(tuple(pts), time_base, Fraction(rate).limit_denominator(1001))

    @property
    def duration(self) -> float:
        """Seconds from the first frame to the end of the last (each shows for one frame period)."""
        return float((self.pts[-1] - self.pts[0]) * self.time_base + 1 / self.rate)


def is_photo(path: str | Path) -> bool:
    """True when ``path`` names a still image (a single-frame GIF included)."""
    p = Path(path)
    if p.suffix.lower() not in PHOTO_SUFFIXES or not p.is_file():
        return False
    if p.suffix.lower() != ".gif":
        return True
    from PIL import Image

    try:
        with Image.open(p) as im:
            return getattr(im, "n_frames", 1) == 1
    except OSError:
        return False


def fit_size(image: np.ndarray, max_side: int = MAX_SIDE, even: bool = False
             ) -> tuple[np.ndarray, str | None]:
    """The image, scaled down (area filter) when its longer side exceeds ``max_side``, and a note
    saying so (None when nothing was done). ``even``: both sides also rounded down to even sizes
    (the live video tracks want them), a small image included."""
    h, w = image.shape[:2]
    s = min(1.0, max_side / max(h, w))
    size = (max(2, round(w * s)), max(2, round(h * s)))
    if even:
        size = (max(2, int(w * s) // 2 * 2), max(2, int(h * s) // 2 * 2))
    if size == (w, h):
        return image, None
    import cv2

    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    if s == 1.0:                      # only evened: no note, nothing a user needs to know
        return small, None
    return small, f"the photo is {w}x{h}: scaled to {size[0]}x{size[1]} (longer side {max_side})"


class PhotoSource:
    """``Frame`` records of one photo at ``timing``'s timestamps, each a fresh copy (the engine
    edits frames in place). ``notes`` says what was done to the photo (scaling)."""

    def __init__(self, path: str | Path, timing: Timing, max_side: int = MAX_SIDE):
        self.path = Path(path)
        self.timing = timing
        self.decode_errors = 0
        self.dropped = 0
        t0 = time.perf_counter()
        image, note = fit_size(read_image(self.path), max_side)
        self.image = np.ascontiguousarray(image)
        self.decode_time = time.perf_counter() - t0
        self.notes = [note] if note else []
        h, w = self.image.shape[:2]
        self.info = VideoInfo(
            path=self.path, width=w, height=h, codec="photo", pix_fmt="rgb24",
            time_base=timing.time_base, rate=timing.rate, frames=len(timing.pts),
            duration=timing.duration, colorspace=BT709, color_range=LIMITED_RANGE,
            color_primaries=BT709, color_trc=BT709)

    def __iter__(self) -> Iterator[Frame]:
        for i, pts in enumerate(self.timing.pts):
            yield Frame(image=self.image.copy(), pts=pts, time_base=self.timing.time_base, index=i,
                        capture_time=time.perf_counter())

    def close(self) -> None:
        pass

    def __enter__(self) -> "PhotoSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
