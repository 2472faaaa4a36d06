"""MediaPipe Face Landmarker (Tasks API) behind a small, offline, context-managed wrapper.

The model bundle ships inside the package (reenact/assets/face_landmarker.task, Apache-2.0), so
nothing is downloaded. MediaPipe separates three running modes and so does this wrapper:
- "image": every call is independent (stills, dataset preparation);
- "video": calls carry monotonically increasing timestamps; MediaPipe tracks between frames;
- "live": asynchronous; results arrive through a callback and frames may be dropped under load.

Output is a list of ``RawFace`` in frame pixels (x, y), pixel centres at integer coordinates.
Face ids are not assigned here: that is the tracker's job (reenact.tracking.tracker).
"""
from __future__ import annotations

import threading
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np

from reenact.tracking.native_logs import filtered_stderr

MODES = ("image", "video", "live")


def default_model_path() -> Path:
    return Path(str(resources.files("reenact.assets").joinpath("face_landmarker.task")))


@dataclass(frozen=True)
class LandmarkerConfig:
    mode: str = "video"
    max_faces: int = 4
    min_detection_confidence: float = 0.5
    min_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    model_path: str | None = None


@dataclass
class RawFace:
    """One face as MediaPipe reports it, converted to frame pixels.

    landmarks: float32 (478, 2) (x, y) pixels; depth: float32 (478,) z in the same pixel units;
    blendshapes: float32 (52,) in BLENDSHAPE_NAMES order; pose: float32 (4, 4) facial
    transformation matrix (canonical face -> camera, cm).
    """

    landmarks: np.ndarray
    depth: np.ndarray
    blendshapes: np.ndarray
    pose: np.ndarray | None


BLENDSHAPE_NAMES: tuple[str, ...] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft",
    "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft",
    "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen",
    "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower",
    "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight",
)


def blendshape_index(name: str) -> int:
    return BLENDSHAPE_NAMES.index(name)


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Any uint8 image (H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA -> contiguous RGB."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {img.dtype}")
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    elif not (img.ndim == 3 and img.shape[2] == 3):
        raise ValueError(f"expected an image of shape (H, W[, 1|3|4]), got {img.shape}")
    return np.ascontiguousarray(img)


class FaceLandmarker:
    """MediaPipe's FaceLandmarker, offline. Use as a context manager so the graph is released.

    image mode: ``detect(image)``; video mode: ``detect(image, timestamp_ms)`` with increasing
    timestamps; live mode: ``submit(image, timestamp_ms)`` and ``latest()`` (or ``on_result``).
    """

    def __init__(self, cfg: LandmarkerConfig = LandmarkerConfig(),
                 on_result: Callable[[list[RawFace], int], None] | None = None):
        if cfg.mode not in MODES:
            raise ValueError(f"landmarker mode must be one of {MODES}, got {cfg.mode!r}")
        from mediapipe.tasks.python import BaseOptions, vision  # heavy import, kept local

        self.cfg = cfg
        self._on_result = on_result
        self._latest: tuple[list[RawFace], int] | None = None
        self._lock = threading.Lock()
        self._last_ts = -1
        mode = {"image": vision.RunningMode.IMAGE, "video": vision.RunningMode.VIDEO,
                "live": vision.RunningMode.LIVE_STREAM}[cfg.mode]
        path = cfg.model_path or str(default_model_path())
        opts = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=path), running_mode=mode,
            num_faces=cfg.max_faces, min_face_detection_confidence=cfg.min_detection_confidence,
            min_face_presence_confidence=cfg.min_presence_confidence,
            min_tracking_confidence=cfg.min_tracking_confidence,
            output_face_blendshapes=True, output_facial_transformation_matrixes=True,
            result_callback=self._callback if cfg.mode == "live" else None)
        with filtered_stderr():
            self._task = vision.FaceLandmarker.create_from_options(opts)
        # Closes the task once, from close(), garbage collection or interpreter exit (the
        # finalizer holds the task, never self).
        self._release = weakref.finalize(self, _close_task, self._task)
        self._first_call = True
        self._size: tuple[int, int] = (0, 0)

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        if self._task is not None:
            self._release()  # closes the task, once
            self._task = None

    def __enter__(self) -> "FaceLandmarker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- calls -----------------------------------------------------------------------------
    def detect(self, image: np.ndarray, timestamp_ms: int | None = None) -> list[RawFace]:
        """Faces in one RGB image (image mode) or video frame (video mode, timestamp required)."""
        mp_image, (w, h) = self._to_mp(image)
        if self.cfg.mode == "live":
            raise RuntimeError("live mode is asynchronous: use submit() and latest()")
        if self.cfg.mode == "video" and timestamp_ms is None:
            raise ValueError("video mode needs a timestamp_ms for every frame")
        with self._quiet_first_call():
            if self.cfg.mode == "image":
                result = self._task.detect(mp_image)
            else:
                result = self._task.detect_for_video(mp_image, self._monotonic(timestamp_ms))
        return _convert(result, w, h)

    def submit(self, image: np.ndarray, timestamp_ms: int) -> None:
        """Live mode: hand a frame over; MediaPipe may drop it if it is still busy."""
        if self.cfg.mode != "live":
            raise RuntimeError("submit() is for live mode")
        mp_image, self._size = self._to_mp(image)
        with self._quiet_first_call():
            self._task.detect_async(mp_image, self._monotonic(timestamp_ms))

    def latest(self) -> tuple[list[RawFace], int] | None:
        """Live mode: the newest result and its timestamp, or None before the first."""
        with self._lock:
            return self._latest

    # -- helpers ---------------------------------------------------------------------------
    @contextmanager
    def _quiet_first_call(self):
        """MediaPipe prints its start-up notices on the first inference too (see native_logs)."""
        if not self._first_call:
            yield
            return
        self._first_call = False
        with filtered_stderr():
            yield

    def _monotonic(self, ts: int) -> int:
        ts = max(int(ts), self._last_ts + 1)  # MediaPipe refuses equal or decreasing stamps
        self._last_ts = ts
        return ts

    def _to_mp(self, image: np.ndarray):
        import mediapipe as mp

        rgb = as_rgb(image)
        return mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb), (rgb.shape[1], rgb.shape[0])

    def _callback(self, result, _image, timestamp_ms: int) -> None:
        faces = _convert(result, *self._size)
        with self._lock:
            self._latest = (faces, timestamp_ms)
        if self._on_result is not None:
            self._on_result(faces, timestamp_ms)


def _close_task(task) -> None:
    """Close a MediaPipe task; at interpreter exit, when that can no longer work, forget it.

    MediaPipe runs its C calls on a worker thread that the interpreter stops before atexit
    handlers run, and its ``__del__`` retries the close during module teardown, printing a
    traceback per landmarker left open. Dropping the handle (the process is ending; the OS
    frees the graph) keeps that ``__del__`` quiet."""
    try:
        task.close()
    except RuntimeError:  # "cannot schedule new futures after shutdown"
        task._handle = None


def _convert(result, width: int, height: int) -> list[RawFace]:
    faces = []
    for i, lms in enumerate(result.face_landmarks):
        arr = np.array([(p.x, p.y, p.z) for p in lms], dtype=np.float32)
        # Normalised [0, 1] image coordinates -> pixels with centres at integers.
        pts = np.stack([arr[:, 0] * width - 0.5, arr[:, 1] * height - 0.5], axis=1)
        depth = arr[:, 2] * width
        bs = np.zeros(len(BLENDSHAPE_NAMES), np.float32)
        if result.face_blendshapes and i < len(result.face_blendshapes):
            for c in result.face_blendshapes[i]:
                bs[c.index] = c.score
        pose = None
        if result.facial_transformation_matrixes and i < len(result.facial_transformation_matrixes):
            pose = np.asarray(result.facial_transformation_matrixes[i], np.float32)
        faces.append(RawFace(pts.astype(np.float32), depth.astype(np.float32), bs, pose))
    return faces
