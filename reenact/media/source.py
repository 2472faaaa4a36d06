"""Video decoding in its own thread, handing ``Frame`` records to the pipeline.

Every frame is kept (a small bounded queue: the decoder waits for the pipeline). A file played as
if it were a camera, newest frame only, is ``reenact.live.capture`` (one newest-frame slot:
``reenact.live.latest.LatestSlot``).
Decode errors in a damaged stream are counted and skipped; decoding goes on with the next packet.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from reenact.errors import ReenactError
from reenact.frame import Frame
from reenact.media.decode import frame_image, frame_pts, open_container, video_stream
from reenact.media.info import VideoInfo

_END = object()
MAX_CONSECUTIVE_ERRORS = 200  # a stream this broken is not worth reading further


@dataclass(frozen=True)
class SourceConfig:
    """queue_size: frames buffered between the decode thread and the pipeline;
    thread_type: FFmpeg decoder threading ("AUTO" = frame and slice threads); threads: decoder
    threads (0: FFmpeg's choice, one per core; a file run on a small machine gives it 1, see
    reenact.runtime.threads); accurate_rgb: exact YUV -> RGB rounding (see reenact.media.decode:
    the one conversion every reader uses)."""

    queue_size: int = 8
    thread_type: str = "AUTO"
    threads: int = 0
    accurate_rgb: bool = True


def _display_matrix(frame: av.VideoFrame) -> tuple[int, ...] | None:
    for sd in frame.side_data:
        if str(sd.type).endswith("DISPLAYMATRIX"):
            return tuple(int(v) for v in np.frombuffer(bytes(sd), np.int32))
    return None


class VideoSource:
    """Decode a video file into ``Frame`` records on a background thread.

    Use as a context manager and iterate. ``info`` (VideoInfo) is known after construction (the
    first frame is decoded up front, so a file without a decodable frame fails early).
    ``decode_errors`` counts skipped damaged packets.
    Frame images are RGB and upright (reenact.media.decode: one conversion, one rotation policy).
    Each Frame carries ``av_frame``: the decoded frame, which a sink may encode as is when
    the pipeline did not touch the picture.
    """

    def __init__(self, path: str | Path, cfg: SourceConfig = SourceConfig()):
        self.path = Path(path)
        self.cfg = cfg
        self.decode_errors = 0
        self.decode_time = 0.0  # seconds spent decoding and converting (on the decode thread)
        self._container = open_container(self.path)
        try:
            self._stream = video_stream(self._container, self.path, cfg.thread_type, cfg.threads)
        except ReenactError:
            self._container.close()
            raise
        self._frames = self._decoded_frames()
        first = next(self._frames, None)
        if first is None:
            self._container.close()
            raise ReenactError(f"{self.path}: no frame could be decoded "
                               f"({self.decode_errors} decode errors)")
        self._first = first
        self.info = self._read_info(first)
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, cfg.queue_size))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- info ------------------------------------------------------------------------------
    def _read_info(self, first: av.VideoFrame) -> VideoInfo:
        s = self._stream
        audio = self._container.streams.audio
        duration = None
        if s.duration is not None and s.time_base is not None:
            duration = float(s.duration * s.time_base)
        elif self._container.duration is not None:
            duration = self._container.duration / av.time_base
        return VideoInfo(
            path=self.path, width=first.width, height=first.height, codec=s.codec_context.name,
            pix_fmt=first.format.name, time_base=s.time_base or Fraction(1, 90000),
            rate=s.average_rate or s.guessed_rate, frames=s.frames or None, duration=duration,
            rotation=int(round(first.rotation or 0)), display_matrix=_display_matrix(first),
            colorspace=int(first.colorspace), color_range=int(first.color_range),
            color_primaries=int(first.color_primaries), color_trc=int(first.color_trc),
            audio_codec=audio[0].codec_context.name if audio else None)

    # -- decoding --------------------------------------------------------------------------
    def _decoded_frames(self) -> Iterator[av.VideoFrame]:
        """Decoded frames in display order; damaged packets are counted and skipped."""
        demux = self._container.demux(self._stream)
        consecutive = 0
        while True:
            try:
                packet = next(demux)
                frames = packet.decode()
            except StopIteration:
                return
            except av.FFmpegError:  # a damaged packet, in demuxing or decoding: count it, go on
                self.decode_errors += 1
                consecutive += 1
                if consecutive > MAX_CONSECUTIVE_ERRORS:
                    return
                continue
            consecutive = 0
            yield from frames

    def _to_frame(self, f: av.VideoFrame, index: int) -> Frame:
        tb = f.time_base or self.info.time_base
        pts = frame_pts(f, index, tb, self.info.rate)
        rgb = frame_image(f, exact=self.cfg.accurate_rgb)  # upright: the sink turns it back
        return Frame(image=rgb, pts=pts, time_base=tb, index=index,
                     capture_time=time.perf_counter(), av_frame=f)

    def _run(self) -> None:
        try:
            index = 0
            frames = self._chain()
            while not self._stop.is_set():
                t0 = time.perf_counter()
                f = next(frames, None)
                if f is None:
                    break
                item = self._to_frame(f, index)
                self.decode_time += time.perf_counter() - t0
                self._put(item)
                index += 1
        except BaseException as e:  # handed to the consumer, re-raised there
            self._put(e)
        finally:
            self._put(_END)

    def _chain(self) -> Iterator[av.VideoFrame]:
        yield self._first
        yield from self._frames

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[Frame]:
        if self._thread is not None:
            raise RuntimeError("a VideoSource can be iterated once")
        self._thread = threading.Thread(target=self._run, name="reenact-decode", daemon=True)
        self._thread.start()
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            while self._thread.is_alive():
                try:  # unblock a decoder waiting on a full queue
                    self._queue.get_nowait()
                except queue.Empty:
                    self._thread.join(timeout=0.05)
        self._container.close()

    def __enter__(self) -> "VideoSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
