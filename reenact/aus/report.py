"""Estimate AUs for images, folders and videos: the work behind ``reenact aus``.

Each face yields a record ``{"input", "frame", "timestamp", "face_id", "box", "aus"}`` (aus:
float32 (17,) on 0-5, OpenFace order); an image or frame without a face yields one record with
``face_id`` None and ``aus`` None, so it is reported, not fatal.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from reenact.errors import AUInputError
from reenact.media import formats

IMAGE_SUFFIXES = formats.IMAGE_SUFFIXES | {".gif"}  # a GIF's first frame is a still too
VIDEO_SUFFIXES = formats.VIDEO_SUFFIXES


@dataclass(frozen=True)
class ReportConfig:
    """max_faces: faces per image/frame; stride: every N-th video frame; progress: tqdm bars."""

    max_faces: int = 8
    stride: int = 1
    progress: bool = True


def read_image(path: Path) -> np.ndarray:
    """Any image PIL reads (grayscale, RGBA, palette, 16-bit) -> uint8 RGB, EXIF-rotated."""
    from reenact.media.image import read_image as read_rgb

    return read_rgb(path, AUInputError)


def list_inputs(path: Path) -> list[Path]:
    if not path.exists():
        raise AUInputError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix.lower() not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
            raise AUInputError(f"{path}: not an image or a video; give a still "
                               f"({', '.join(sorted(IMAGE_SUFFIXES))}) or a video "
                               f"({', '.join(sorted(VIDEO_SUFFIXES))})")
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file()
                   and p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
    if not files:
        raise AUInputError(f"{path}: no images or videos in this folder")
    return files


def _record(path, frame, t, face, aus) -> dict:
    return {"input": str(path), "frame": frame, "timestamp": t,
            "face_id": None if face is None else face.face_id,
            "box": None if face is None else [round(v, 1) for v in face.bbox], "aus": aus}


def image_records(path: Path, tracker, estimator) -> list[dict]:
    faces = tracker.track(read_image(path)).faces
    if not faces:
        return [_record(path, 0, None, None, None)]
    return [_record(path, 0, None, f, estimator.estimate(f)) for f in faces]


def video_records(path: Path, estimator, cfg: ReportConfig) -> Iterator[dict]:
    from tqdm import tqdm

    from reenact.aus.driver import frame_time
    from reenact.errors import ReenactError
    from reenact.media.source import VideoSource
    from reenact.tracking.tracker import FaceTracker, TrackerConfig

    try:
        src = VideoSource(path)
    except ReenactError as e:
        raise AUInputError(str(e)) from None
    with src, FaceTracker(TrackerConfig(mode="video", max_faces=cfg.max_faces)) as tracker:
        for frame in tqdm(src, desc=path.name, unit="frame", disable=not cfg.progress):
            t = frame_time(frame, 30.0)
            faces = tracker.track(frame.image, int(round(t * 1000))).faces
            if frame.index % cfg.stride:
                continue  # still tracked, so ids stay stable across skipped frames
            if not faces:
                yield _record(path, frame.index, t, None, None)
            for f in faces:
                yield _record(path, frame.index, t, f, estimator.estimate(f))


def estimate_inputs(path: Path, cfg: ReportConfig = ReportConfig(), estimator=None,
                    errors: list[str] | None = None) -> Iterator[dict]:
    """Records for an image, a video or a folder of them. In a folder, unreadable files are
    appended to ``errors`` and skipped; a single unreadable input raises AUInputError."""
    from reenact.aus.estimator import AUEstimator
    from reenact.tracking.tracker import FaceTracker, TrackerConfig

    files = list_inputs(Path(path))
    est = estimator or AUEstimator()
    single = len(files) == 1 and Path(path).is_file()
    with FaceTracker(TrackerConfig(mode="image", max_faces=cfg.max_faces)) as still:
        for f in files:
            try:
                if f.suffix.lower() in VIDEO_SUFFIXES:
                    yield from video_records(f, est, cfg)
                else:
                    yield from image_records(f, still, est)
            except AUInputError as e:
                if single or errors is None:
                    raise
                errors.append(str(e))
