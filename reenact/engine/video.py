"""A whole file through the engine: decode thread -> Engine -> encode thread, with a progress bar.

Used by ``reenact video`` and by tests. The output appears under its name only when the run ends
normally (or the driver ends under the "stop" policy); an error or Ctrl-C leaves no file behind.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from tqdm import tqdm

# DriverEnded: an AU source's driver ended under the "stop" policy.
from reenact.errors import DriverEnded
from reenact.errors import ReenactError
from reenact.frame import Frame
from reenact.engine.pipeline import Engine, EngineConfig
from reenact.engine.selection import parse_faces
from reenact.engine.stats import EngineStats
from reenact.media.sink import SinkConfig, VideoSink, check_output_path
from reenact.media.source import SourceConfig, VideoSource
from reenact.runtime.threads import ThreadBudget


def edit_video(input_path: str | Path, output_path: str | Path, generator, au_source, *,
               engine_cfg: EngineConfig = EngineConfig(), sink_cfg: SinkConfig = SinkConfig(),
               tracker_cfg=None, tracker=None, estimator=None, progress: bool = True,
               log: Callable[[str], None] = print, source=None,
               audio_from: str | Path | None | bool = True,
               threads: ThreadBudget | None = None,
               post: Callable[[Frame], Frame] | None = None) -> EngineStats:
    """Edit the faces of ``input_path`` into ``output_path`` (see the module doc).

    source: the frames to edit, when they are not decoded from ``input_path`` (a PhotoSource);
    audio_from: the file whose audio goes into the output (True: ``input_path``; None: no audio);
    threads: the decoder, encoder and generator threads (None: by core count; settings given in
    ``sink_cfg.threads`` or ``engine_cfg.generator_threads`` win);
    post: a last per-frame stage between the engine and the sink (a photo's head motion).
    Returns the run's EngineStats (per-stage times included: decode and encode are their threads'
    busy time)."""
    input_path, output_path = Path(input_path), Path(output_path)
    check_output_path(output_path, sink_cfg.codec)
    if output_path.exists() and input_path.exists() and output_path.resolve() == input_path.resolve():
        raise ReenactError(f"{output_path}: the output would overwrite the input; choose another name")
    t0 = time.perf_counter()
    if audio_from is True:
        audio_from = input_path
    budget = threads or ThreadBudget.for_cores()
    if sink_cfg.threads is None:
        sink_cfg = replace(sink_cfg, threads=budget.encoder)
    if engine_cfg.generator_threads is None:
        engine_cfg = replace(engine_cfg, generator_threads=budget.generator)
    with source or VideoSource(input_path, SourceConfig(threads=budget.decoder)) as src:
        if tracker_cfg is None and tracker is None:
            from reenact.tracking.tracker import TrackerConfig
            tracker_cfg = TrackerConfig(mode="video", fps=float(src.info.rate or 30))
        # The engine (MediaPipe's graphs, the first heavy imports) is made before the output's
        # temp file exists: an interruption during that slow start has nothing to clean up.
        with Engine(generator, tracker_cfg, au_source, estimator, engine_cfg, tracker=tracker) as eng:
            sink = VideoSink(output_path, src.info, sink_cfg, audio_from=audio_from)
            if src.info.rotation:
                log(f"{input_path.name}: rotation {src.info.rotation} degrees (display matrix) kept in the output")
            told = len(sink.notes)
            for note in sink.notes:
                log(note)
            try:
                complete = _pump(src, eng, sink, progress, log, post)
                stats = eng.stats
                _check_selected_face_seen(engine_cfg.faces, stats, input_path)
                declared = src.info.frames
                if complete and declared and stats.frames < declared:
                    log(f"{input_path.name}: the input ended after {stats.frames} of its {declared} "
                        "declared frames (the file is truncated or damaged); the output is as short")
                sink.close(complete=complete)
            except BaseException:
                sink.abort()
                raise
        for note in sink.notes[told:]:  # notes from encoding (odd sizes)
            log(note)
        stats.times["decode"] = src.decode_time
        stats.times["encode"] = sink.encode_time
        stats.decode_errors = src.decode_errors
    stats.wall = time.perf_counter() - t0
    return stats


def _check_selected_face_seen(faces, stats: EngineStats, input_path: Path) -> None:
    """``--faces ID`` for a face that never appeared would write an unedited copy: refuse it (the
    sink is aborted, no file appears), as ``reenact image`` does."""
    wanted = parse_faces(faces)
    if isinstance(wanted, int) and wanted not in stats.faces_seen:
        found = ", ".join(str(i) for i in sorted(stats.faces_seen)) or "none"
        raise ReenactError(f"{input_path}: face {wanted} never appears (--faces {wanted}; "
                           f"face ids found: {found}); nothing written")


def _pump(src: VideoSource, eng: Engine, sink: VideoSink, progress: bool, log,
          post: Callable[[Frame], Frame] | None = None) -> bool:
    """Frames from source through the engine (and ``post``) into the sink. False when the driver
    stopped early."""
    bar = tqdm(total=src.info.frames, unit="frame", disable=not progress, dynamic_ncols=True,
               desc=src.path.name)
    post = post or (lambda f: f)
    try:
        try:
            for frame in eng.run(src):
                sink.write(post(frame))
                bar.update(1)
            return True
        except DriverEnded:
            for frame in eng.flush():
                sink.write(post(frame))
                bar.update(1)
            log(f"the driver ended: output stops after {eng.stats.frames - 1} frames (--driver-end stop)")
            return False
    finally:
        bar.close()
