"""Camera capture in its own thread, always handing on the latest frame.

A camera is an OpenCV device (``"0"``, ``"1"``, ``"/dev/video2"``) or a video file, which is played
at its own frame rate as if it were a camera: frames are released at their presentation times, and
frames the consumer has not taken by then are overwritten (dropped), exactly as a live camera would.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np

from reenact.errors import ReenactError
from reenact.frame import Frame
from reenact.live.latest import LatestSlot


@dataclass(frozen=True)
class CaptureConfig:
    """camera: a device index ("0"), a device path ("/dev/video2") or a video file.
    width/height/fps: requested camera mode (devices only; None keeps the driver's default).
    loop: restart a file at its end instead of ending the capture.
    max_side: downscale frames whose longer side exceeds this (None: keep the size)."""

    camera: str = "0"
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    loop: bool = False
    max_side: int | None = None


class FrameReader(Protocol):
    """Yields (rgb uint8 (H, W, 3), pts, time_base); a file reader paces itself to its frame rate."""

    def frames(self) -> Iterator[tuple[np.ndarray, int | None, Fraction | None]]: ...

    def close(self) -> None: ...


def is_device(camera: str) -> bool:
    return camera.isdigit() or camera.startswith("/dev/")


class DeviceReader:
    """An OpenCV camera. Frames come at the camera's rate; OpenCV keeps a small driver buffer."""

    def __init__(self, cfg: CaptureConfig):
        import cv2

        self._cv2 = cv2
        target = int(cfg.camera) if cfg.camera.isdigit() else cfg.camera
        if cfg.camera.startswith("/dev/") and not Path(cfg.camera).exists():
            raise ReenactError(f"no camera: {cfg.camera} does not exist; pass --camera FILE.mp4 to use a video file")
        self._cap = cv2.VideoCapture(target)
        if not self._cap.isOpened():
            raise ReenactError(f"no camera: OpenCV could not open camera {cfg.camera!r} "
                               "(none connected, or in use by another program); pass --camera FILE.mp4 "
                               "to use a video file as the camera")
        for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, cfg.width), (cv2.CAP_PROP_FRAME_HEIGHT, cfg.height),
                            (cv2.CAP_PROP_FPS, cfg.fps)):
            if value:
                self._cap.set(prop, value)
        # A one-frame driver buffer where the backend honours it: older frames are the camera's lag.
        self._cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)

    def frames(self):
        while True:
            ok, bgr = self._cap.read()
            if not ok:
                return
            yield self._cv2.cvtColor(bgr, self._cv2.COLOR_BGR2RGB), None, None

    def close(self) -> None:
        self._cap.release()


class FileReader:
    """A video file decoded with PyAV and released at its own frame rate, as if it were a camera."""

    def __init__(self, cfg: CaptureConfig, clock=time.perf_counter, sleep=time.sleep):
        from reenact.media.decode import open_container, video_stream

        path = Path(cfg.camera)
        if not path.is_file():
            raise ReenactError(f"no camera: {cfg.camera!r} is neither a camera index nor an existing video file")
        self._container = open_container(path)
        try:
            self._stream = video_stream(self._container, path)
        except ReenactError:
            self._container.close()
            raise
        self._loop, self._clock, self._sleep = cfg.loop, clock, sleep
        rate = self._stream.average_rate or Fraction(30)
        self.fps = float(rate)

    def frames(self):
        # Pixels as the engine decodes a file (one conversion, upright); only the pacing is live.
        from reenact.media.decode import frame_image

        start = self._clock()
        offset = 0.0  # media time added on each loop so timestamps keep rising
        while True:
            last = 0.0
            first: float | None = None
            for index, frame in enumerate(self._container.decode(self._stream)):
                t = float(frame.time) if frame.time is not None else index / self.fps
                first = t if first is None else first
                last = t - first + offset
                delay = start + last - self._clock()
                if delay > 0:
                    self._sleep(delay)
                yield frame_image(frame), int(round(last * 90_000)), Fraction(1, 90_000)
            if not self._loop or first is None:
                return
            offset = last + 1.0 / self.fps
            self._container.seek(0)

    def close(self) -> None:
        self._container.close()


def open_reader(cfg: CaptureConfig) -> FrameReader:
    """A reader for ``cfg.camera``; ReenactError names what is missing (no camera, no file)."""
    return DeviceReader(cfg) if is_device(cfg.camera) else FileReader(cfg)


def _downscale(image: np.ndarray, max_side: int | None) -> np.ndarray:
    h, w = image.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return image
    import cv2

    scale = max_side / max(h, w)
    size = (max(2, round(w * scale) // 2 * 2), max(2, round(h * scale) // 2 * 2))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


class LiveCapture:
    """Runs a reader in a thread and keeps only the newest frame. Use as a context manager.

    ``latest(timeout)`` returns the newest frame not yet taken (None on timeout, or at the end);
    ``ended`` is True once the source has ended and the last frame was taken.
    """

    def __init__(self, reader: FrameReader, max_side: int | None = None, clock=time.perf_counter):
        self._reader, self._max_side, self._clock = reader, max_side, clock
        self._slot: LatestSlot[Frame] = LatestSlot()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reenact-capture", daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> "LiveCapture":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def latest(self, timeout: float | None = 1.0) -> Frame | None:
        return self._slot.get(timeout)

    @property
    def ended(self) -> bool:
        return self._slot.drained()

    @property
    def captured(self) -> int:
        return self._slot.puts

    @property
    def dropped(self) -> int:
        return self._slot.dropped

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        self._reader.close()

    def _run(self) -> None:
        try:
            for index, (image, pts, time_base) in enumerate(self._reader.frames()):
                if self._stop.is_set():
                    break
                image = np.ascontiguousarray(_downscale(image, self._max_side))
                self._slot.put(Frame(image=image, pts=pts, time_base=time_base, index=index,
                                     capture_time=self._clock()))
        except Exception as err:  # surfaced by the consumer; a capture thread must not die silently
            self.error = err
        finally:
            self._slot.close()
