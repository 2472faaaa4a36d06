"""The one way Reenact turns decoded video into pixels, used by every reader of video files.

The engine's ``VideoSource``, ``reenact prepare``, ``eval``, live capture from a file, the rig's
fitting scripts and the benchmarks all take their RGB from here, so a model trained on prepared
crops sees at run time exactly the pixels it was trained on.

Decisions
- RGB conversion: exact by default (swscale's bilinear + accurate rounding + full chroma
  interpolation). The fast path (``exact=False``, swscale's default) is kept as a measured option.
  Measured on the shared data's clips (one core, best of 3): 640x360 H.264 0.33 ms/frame fast vs
  2.29 exact; 960x540 HEVC 0.46 vs 5.78. Fast is on average 1.2-1.3 levels darker (mean |diff|
  1.25-1.31, max 16-95 at sharp colour edges, 2-3 % of values off by more than 2): a brightness
  step between edited and untouched frames, and a different input for a trained model.
- Rotation: frames are handed on upright, as a player shows them (the display matrix's rotation
  applied, in quarter turns), so face detection and training crops see faces the right way up.
  ``VideoSink`` turns edited pixels back to the coded orientation and keeps the display matrix, so
  a written file matches its input frame for frame.
- Timestamps come from the stream (pts and time base); only a stream without them gets times
  derived from its frame rate.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np
from av.video.reformatter import Interpolation

from reenact.errors import ReenactError

_EXACT = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
FALLBACK_RATE = Fraction(25)  # frame rate assumed for a stream that states none


def to_rgb(frame: av.VideoFrame, exact: bool = True) -> np.ndarray:
    """uint8 RGB (H, W, 3) of a decoded frame in its coded orientation (see ``upright``)."""
    return frame.reformat(format="rgb24", interpolation=_EXACT if exact else None).to_ndarray()


def quarter_turns(rotation: float | int | None) -> int:
    """Counter-clockwise quarter turns (0..3) for a display rotation in degrees (PyAV's sign)."""
    return int(round((rotation or 0) / 90.0)) % 4


def upright(image: np.ndarray, rotation: float | int | None) -> np.ndarray:
    """``image`` (coded orientation) turned as the display matrix says a player shows it."""
    k = quarter_turns(rotation)
    return np.ascontiguousarray(np.rot90(image, k)) if k else image


def coded(image: np.ndarray, rotation: float | int | None) -> np.ndarray:
    """The inverse of ``upright``: an upright image back in the stream's coded orientation."""
    k = quarter_turns(rotation)
    return np.ascontiguousarray(np.rot90(image, -k)) if k else image


def frame_pts(frame: av.VideoFrame, index: int, time_base: Fraction, rate: Fraction | None) -> int:
    """The frame's pts; for a stream without timestamps, one derived from its index and rate."""
    if frame.pts is not None:
        return frame.pts
    return int(round(index / (rate or FALLBACK_RATE) / time_base))


def frame_image(frame: av.VideoFrame, exact: bool = True) -> np.ndarray:
    """The frame's pixels as every reader of video hands them on: RGB, upright."""
    return upright(to_rgb(frame, exact), frame.rotation)


@dataclass(frozen=True)
class DecodedFrame:
    """index: position in decoding (display) order; pts in time_base units; time: seconds as the
    stream states them (pts * time_base, not shifted to start at 0); image: uint8 RGB, upright."""

    index: int
    pts: int
    time_base: Fraction
    image: np.ndarray

    @property
    def time(self) -> float:
        return float(self.pts * self.time_base)


def open_container(path: str | Path) -> av.container.InputContainer:
    """Open a media file for reading; a missing or unreadable file is a ReenactError."""
    p = Path(path)
    if not p.exists():
        raise ReenactError(f"{p}: no such file")
    if p.is_dir():
        raise ReenactError(f"{p}: is a directory, not a video file")
    try:
        return av.open(str(p), "r")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as e:
        raise ReenactError(f"{p}: cannot be read as a video ({e})") from None


def video_stream(container: av.container.InputContainer, path: str | Path,
                 thread_type: str = "AUTO", threads: int = 0) -> av.video.stream.VideoStream:
    """The container's first video stream, set up for decoding; none is a ReenactError.
    threads: decoder threads (0: FFmpeg's choice, one per core); decoding is bit-exact either way."""
    if not container.streams.video:
        raise ReenactError(f"{path}: has no video stream")
    stream = container.streams.video[0]
    stream.thread_type = thread_type
    stream.codec_context.thread_count = threads
    return stream


def decode_frames(path: str | Path, *, exact: bool = True, stride: int = 1, limit: int | None = None,
                  thread_type: str = "AUTO") -> Iterator[DecodedFrame]:
    """Every ``stride``-th frame of a video file (the first ``limit`` decoded frames at most), on
    the calling thread. For the engine's threaded, error-tolerant reader see ``VideoSource``."""
    with open_container(path) as container:
        stream = video_stream(container, path, thread_type)
        time_base = stream.time_base or Fraction(1, 90000)
        rate = stream.average_rate or stream.guessed_rate
        frames = container.decode(stream)
        index = 0
        while limit is None or index < limit:
            # Only the decoding is guarded, not the yield: a generator closed at interpreter exit
            # (after Ctrl-C or SIGTERM) must not evaluate ``av.FFmpegError`` once modules are gone.
            try:
                frame = next(frames)
            except StopIteration:
                return
            except av.FFmpegError as e:
                raise ReenactError(f"{path}: cannot be decoded ({e})") from None
            if index % stride == 0:
                yield DecodedFrame(index, frame_pts(frame, index, time_base, rate),
                                   frame.time_base or time_base, frame_image(frame, exact))
            index += 1
