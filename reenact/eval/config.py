"""The one configuration of an evaluation run (``reenact eval``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reenact.eval.editing import EditConfig

# AUs shown in sweeps and time plots: brows, cheeks, lip corners, mouth, blink.
DEFAULT_SWEEP_AUS = ("AU01", "AU04", "AU06", "AU12", "AU15", "AU25", "AU26", "AU45")


@dataclass(frozen=True)
class EvalConfig:
    """models: generator specs ("rig", "identity", a checkpoint path), each optionally with
    "@BACKEND[:PRECISION]" (reenact.eval.backends); backend / precision: the default for specs
    without one (None: torch, the backend's default precision); faces: a folder of images
    (or of two paired subfolders with ``pairs``); video: a clip; presets: AU presets (names of
    shipped presets or JSON files); limit: first N images/pairs; video_frames: first N frames;
    video_targets: the AU source for the video (default: the first preset); sweep_aus /
    sweep_levels: AU sweep grid; sweep_faces: faces that get sweeps and interpolation strips;
    strips: faces that get a per-face strip; identity: compute ACD when dlib is present;
    expression: run the expression recogniser when its package is present; gallery_faces: faces
    (rows) of the every-preset strips and close-ups."""

    models: tuple[str, ...]
    out: Path
    faces: Path | None = None
    pairs: bool = False
    video: Path | None = None
    presets: tuple[str, ...] = ("smile", "surprise")
    limit: int | None = None
    video_frames: int | None = 120
    video_targets: str | None = None
    sweep_aus: tuple[str, ...] = DEFAULT_SWEEP_AUS
    sweep_levels: tuple[float, ...] = (0.0, 1.25, 2.5, 3.75, 5.0)
    sweep_faces: int = 1
    strips: int = 4
    gallery_faces: int = 24
    interp_steps: int = 6
    identity: bool = True
    expression: bool = True
    backend: str | None = None
    precision: str | None = None
    edit: EditConfig = field(default_factory=EditConfig)
