"""The processors the live side runs: ``process(frame) -> frame``, one per camera/visitor.

``engine_processor``: the video engine in live form (``Engine.process``: no look-ahead, one frame
in, one out), steered by a ``MutableAUSource``. ``PortraitProcessor``: the camera's expressions,
estimated and remapped like a driver video (reenact.aus.driver), animate a still portrait.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reenact.errors import ReenactError
from reenact.frame import Frame
from reenact.live.controls import MutableAUSource


@dataclass(frozen=True)
class LiveEngineConfig:
    """model: generator spec for reenact.models.load.load_generator ("rig", "identity", a checkpoint);
    device: torch device; max_faces: faces tracked per frame; fade_frames: frames over which an edit
    fades in when a face appears (live mode has no look-ahead, so no fade-out); torch_threads: torch's
    intra-op threads for this process (None: torch's default, one per core). Live processing already
    runs beside capture, tracking and codec threads; on a busy CPU fewer torch threads is faster
    (measured in docs/notes/live-measurements.md)."""

    model: str = "rig"
    device: str = "cpu"
    max_faces: int = 4
    fade_frames: int = 3
    torch_threads: int | None = None


def load_live_generator(cfg: LiveEngineConfig):
    import torch

    from reenact.models.load import load_generator

    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)  # process-wide by torch's design
    return load_generator(cfg.model, device=cfg.device)


def engine_processor(controls: MutableAUSource, generator, cfg: LiveEngineConfig = LiveEngineConfig()):
    """An Engine whose AU source is ``controls`` (``.process(frame)``, ``.close()``)."""
    from reenact.engine.pipeline import Engine, EngineConfig
    from reenact.tracking.tracker import TrackerConfig

    # "video" mode: synchronous MediaPipe calls with the frames' own timestamps; the live side
    # already drops frames upstream, so the tracker sees exactly the frames that are processed.
    tracker_cfg = TrackerConfig(mode="video", max_faces=cfg.max_faces)
    return Engine(generator, tracker_cfg, controls, None,
                  EngineConfig(lookahead=False, batch=cfg.max_faces, fade_frames=cfg.fade_frames,
                               device=cfg.device))


class _LiveDriver:
    """The camera face's AUs as a driver: neutral = low percentile of the last ``window`` frames."""

    def __init__(self, window: int = 300):
        from reenact.aus.driver import RemapConfig

        self.history: collections.deque[np.ndarray] = collections.deque(maxlen=window)
        self.remap_cfg = RemapConfig()
        self.current: np.ndarray | None = None

    def update(self, aus: np.ndarray | None) -> None:
        if aus is not None:
            self.current = np.asarray(aus, np.float32)
            self.history.append(self.current)

    def neutral(self) -> np.ndarray | None:
        from reenact.aus.driver import driver_neutral

        if not self.history:
            return None
        return driver_neutral(np.stack(self.history), self.remap_cfg)


class _DrivenSource:
    """AU source for the portrait: own + gains * (camera AUs - camera neutral), smoothed."""

    def __init__(self, driver: _LiveDriver, gains=None):
        from reenact.aus.driver import CausalEMA, parse_gains

        self.driver, self.gains = driver, parse_gains(gains)
        self._ema = CausalEMA(driver.remap_cfg.smoothing_s)

    def targets(self, frame: Frame, own: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        from reenact.aus.driver import frame_time, remap

        neutral, current = self.driver.neutral(), self.driver.current
        t = frame_time(frame, 30.0)
        out = {}
        for fid, mine in own.items():
            target = mine if current is None else remap(mine, current, neutral, self.gains)
            out[fid] = self._ema(fid, np.asarray(target, np.float32), t)
        return out


class PortraitProcessor:
    """process(camera frame) -> the portrait with the camera face's expression (same pts/time).

    The portrait is tracked once; each camera frame is tracked (largest face), its AUs estimated
    and remapped onto the portrait's own AUs (reenact.aus.driver.remap), then the controls
    (slider overrides, strength) apply on top, so the page's sliders still work in this mode.
    """

    mode = "portrait"  # tells the web page: no preset buttons, the camera drives the expression

    def __init__(self, portrait_rgb: np.ndarray, controls: MutableAUSource, generator,
                 cfg: LiveEngineConfig = LiveEngineConfig(), gains=None):
        from reenact.aus.estimator import AUEstimator
        from reenact.engine.pipeline import Engine, EngineConfig
        from reenact.tracking.tracker import FaceTracker, TrackerConfig

        from reenact.tracking.fixed import FixedFaces

        self.portrait = np.ascontiguousarray(portrait_rgb)
        still = FixedFaces(FaceTracker(TrackerConfig(mode="image", max_faces=1)))
        if not still.track(self.portrait).faces:
            still.close()
            raise ReenactError("the --source portrait has no face that the tracker can find")
        self._still = still
        self.driver = _LiveDriver()
        controls.set_source(_DrivenSource(self.driver, gains), "camera")
        self.camera = FaceTracker(TrackerConfig(mode="video", max_faces=1))
        self.estimator = AUEstimator()
        self.engine = Engine(generator, None, controls, self.estimator,
                             EngineConfig(lookahead=False, batch=1, fade_frames=0, device=cfg.device),
                             tracker=still)

    def process(self, frame: Frame) -> Frame:
        ts = None if frame.time is None else int(round(frame.time * 1000))
        faces = self.camera.track(frame.image, ts).faces
        largest = max(faces, key=lambda f: f.area) if faces else None
        self.driver.update(None if largest is None else self.estimator.estimate(largest))
        out = Frame(image=self.portrait.copy(), pts=frame.pts, time_base=frame.time_base,
                    index=frame.index, capture_time=frame.capture_time)
        return self.engine.process(out)

    def close(self) -> None:
        self.camera.close()
        self.engine.close()
        self._still.close()


def read_portrait(path: str | Path, max_side: int = 720) -> np.ndarray:
    """The --source picture as uint8 RGB, its longer side at most ``max_side``, even sizes (the
    one photo scaler, reenact.media.photo.fit_size)."""
    from reenact.media.image import read_image
    from reenact.media.photo import fit_size

    p = Path(path)
    if not p.is_file():
        raise ReenactError(f"--source portrait not found: {p}")
    image, _ = fit_size(read_image(p), max_side, even=True)
    return np.ascontiguousarray(image)