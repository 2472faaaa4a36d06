"""What a source tells a sink about the video it came from."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path


@dataclass
class VideoInfo:
    """Stream facts read when a video is opened.

    width, height: coded size in pixels (before rotation). rate: average frame rate (None when
    unknown). time_base: seconds per pts unit. frames: frame count from the header (None when
    absent). duration: seconds (None when unknown). rotation: counter-clockwise degrees from the
    display matrix (0 when absent); display_matrix: the raw 9 int32 values (FFmpeg layout) or None.
    colorspace, color_range, color_primaries, color_trc: FFmpeg enum values of the first frame, so
    the sink writes pixels back with the same matrix and tags.
    """

    path: Path | None
    width: int
    height: int
    codec: str
    pix_fmt: str
    time_base: Fraction
    rate: Fraction | None
    frames: int | None
    duration: float | None
    rotation: int = 0
    display_matrix: tuple[int, ...] | None = None
    colorspace: int = 2
    color_range: int = 0
    color_primaries: int = 2
    color_trc: int = 2
    audio_codec: str | None = None

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None
