"""A photo animated into a video: by an actor's clip, a timeline, an AU file, or a preset held for
a given duration.

The output has the photo's size, the driver's frame count, timestamps and audio (or the timeline's
length at ``fps``). The faces are found once (the picture never changes), so the only motion in the
output is the edit.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Callable

from reenact.aus.driver import DriverSource, SeriesRemapSource
from reenact.aus.sources import SequenceSource, TimelineSource
from reenact.engine.pipeline import EngineConfig
from reenact.engine.stats import EngineStats
from reenact.errors import ReenactError
from reenact.media.photo import PhotoSource, Timing
from reenact.media.sink import SinkConfig


def photo_timing(au_source, *, fps: float = 30.0, duration: float | None = None,
                 driver: str | Path | None = None) -> Timing:
    """When the frames of a photo video are shown, from what drives it.

    A driver video gives its own frame times (and ``duration`` cuts or extends them at its rate);
    a timeline runs to its last keyframe, an AU file for its rows, at ``fps``; a preset has no length
    of its own and needs ``duration``.
    """
    if isinstance(au_source, DriverSource) and driver is not None:
        track = au_source.track  # its stream's time base and rate were read while tracking it
        if duration is None:
            return Timing.of_times(track.times, track.time_base or Fraction(1, 90000), track.rate)
        return Timing.uniform(duration, float(track.rate or fps))
    if duration is not None:
        return Timing.uniform(duration, fps)
    if isinstance(au_source, TimelineSource):
        # The last keyframe gets a frame of its own.
        return Timing.uniform(au_source.timeline.duration + 1 / fps, fps)
    if isinstance(au_source, SeriesRemapSource):
        return Timing.uniform(au_source.duration, fps)
    if isinstance(au_source, SequenceSource):
        return Timing.uniform(len(au_source.seq) / fps, fps)
    raise ReenactError("the input is a photo and a preset has no length: add --duration SECONDS, "
                       "or drive it with a timeline or --driver VIDEO; for a still, use `reenact image`")


def animate_photo(photo: str | Path, output: str | Path, generator, au_source, timing: Timing, *,
                  audio_from: str | Path | None = None, engine_cfg: EngineConfig = EngineConfig(),
                  sink_cfg: SinkConfig = SinkConfig(), progress: bool = True,
                  log: Callable[[str], None] = print, pose: bool = True) -> EngineStats:
    """Write ``output``: ``photo`` at ``timing``'s timestamps, each frame edited to ``au_source``'s
    targets for its time, with the audio of ``audio_from`` (the driver) when given.

    pose: with a driver video, the photo's head also follows the actor's head motion
    (reenact.engine.headpose; the face chosen by ``--faces``, else the largest); other AU sources
    carry no head motion."""
    from reenact.engine.video import edit_video
    from reenact.tracking.fixed import FixedFaces
    from reenact.tracking.tracker import FaceTracker, TrackerConfig

    source = PhotoSource(photo, timing)
    for note in source.notes:
        log(note)
    tracker = FixedFaces(FaceTracker(TrackerConfig(mode="image")))
    try:
        faces = tracker.track(source.image).faces
        if not faces:
            raise ReenactError(f"{photo}: no face found in the photo; nothing to animate")
        post = None
        if pose and isinstance(au_source, DriverSource):
            post = _head_stage(faces, source.image.shape[:2], au_source, engine_cfg)
        return edit_video(photo, output, generator, au_source, engine_cfg=engine_cfg,
                          sink_cfg=sink_cfg, tracker=tracker, progress=progress, log=log,
                          source=source, audio_from=audio_from, post=post)
    finally:
        tracker.close()


def _head_stage(faces, shape, au_source: DriverSource, engine_cfg: EngineConfig):
    """The head-motion stage for the photo face ``--faces`` picks (an id), else its largest."""
    from reenact.engine.headpose import DriverHeadMotion, head_motion_stage
    from reenact.engine.selection import parse_faces

    wanted = parse_faces(engine_cfg.faces)
    chosen = [f for f in faces if f.face_id == wanted] if isinstance(wanted, int) else []
    face = chosen[0] if chosen else max(faces, key=lambda f: f.area)
    return head_motion_stage(face, shape, DriverHeadMotion(au_source), fps=au_source.cfg.fps)
