"""The live loop: newest camera frame -> process -> preview window / virtual camera, with keys.

Runs in the calling (main) thread, as OpenCV's window code wants; the capture thread keeps
overwriting its one-frame slot meanwhile, so whatever the processing speed the loop always works
on the newest frame and latency stays at about one processing time.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

from reenact.errors import ReenactError
from reenact.frame import Frame
from reenact.live.capture import LiveCapture
from reenact.live.controls import MutableAUSource
from reenact.live.preview import HELP, PreviewWindow, draw_masks, draw_overlay
from reenact.live.stats import LatencyLog, LatencySummary, RateMeter
from reenact.live.virtualcam import VirtualCamera

Processor = Callable[[Frame], Frame]


@dataclass(frozen=True)
class LiveConfig:
    """max_frames / duration_s: stop after this many processed frames / seconds (None: until the
    source ends or the user quits). stall_s: a device giving no frame for this long is an error."""

    max_frames: int | None = None
    duration_s: float | None = None
    stall_s: float = 5.0


@dataclass
class LiveReport:
    captured: int
    processed: int
    dropped: int
    elapsed_s: float
    latency: LatencySummary

    @property
    def fps(self) -> float:
        return self.processed / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def __str__(self) -> str:
        return (f"{self.processed} frames processed of {self.captured} captured ({self.dropped} dropped, "
                f"newest-frame policy) in {self.elapsed_s:.1f} s: {self.fps:.1f} fps; "
                f"camera-to-output {self.latency}")


class KeyControls:
    """Preview keys: 1-9 pick a preset, +/- strength by 0.1, 0 effect off/on, m masks, r reset, q/Esc quit."""

    QUIT = "quit"

    def __init__(self, source: MutableAUSource, presets: Sequence[tuple[str, object]]):
        self.source, self.presets = source, list(presets)
        self._saved_strength = 1.0

    def handle(self, key: int) -> str | None:
        if key < 0:
            return None
        ch = chr(key) if key < 256 else ""
        if ch in ("q", "\x1b"):
            return self.QUIT
        state = self.source.state()
        if ch.isdigit() and ch != "0" and int(ch) <= len(self.presets):
            name, preset = self.presets[int(ch) - 1]
            self.source.set_source(preset, name)
        elif ch in ("+", "="):
            self.source.set_strength(min(1.0, round(state.strength + 0.1, 2)))
        elif ch in ("-", "_"):
            self.source.set_strength(max(0.0, round(state.strength - 0.1, 2)))
        elif ch == "0":
            if state.strength > 0:
                self._saved_strength = state.strength
            self.source.set_strength(0.0 if state.strength > 0 else self._saved_strength)
        elif ch == "m":
            self.source.toggle_masks()
        elif ch == "r":
            self.source.clear_overrides()
        return ch or None


def run_live(capture: LiveCapture, process: Processor, cfg: LiveConfig = LiveConfig(), *,
             preview: PreviewWindow | None = None, vcam: VirtualCamera | None = None,
             keys: KeyControls | None = None, clock=time.perf_counter) -> LiveReport:
    """Process the newest frame until the source ends, the user quits, or a limit in ``cfg`` is hit."""
    meter, latency = RateMeter(clock=clock), LatencyLog()
    start, processed = clock(), 0
    while True:
        frame = capture.latest(timeout=cfg.stall_s)
        if frame is None:
            if capture.error is not None:
                raise ReenactError(f"camera failed: {capture.error}")
            if capture.ended:
                break
            raise ReenactError(f"the camera gave no frame for {cfg.stall_s:.0f} s")
        if keys is not None:
            frame.want_mask = keys.source.state().show_masks
        out = process(frame)
        now = clock()
        latency.add(now - frame.capture_time)
        meter.tick(now)
        processed += 1
        if vcam is not None:
            vcam.send(out.image)
        if preview is not None:
            key = preview.show(_decorate(out, meter.rate(now), latency.last, keys))
            if keys is not None and keys.handle(key) == KeyControls.QUIT:
                break
        if cfg.max_frames is not None and processed >= cfg.max_frames:
            break
        if cfg.duration_s is not None and now - start >= cfg.duration_s:
            break
    return LiveReport(capture.captured, processed, capture.dropped, clock() - start, latency.summary())


def _decorate(out: Frame, fps: float, latency_s: float, keys: KeyControls | None):
    image = out.image
    lines = [f"{fps:4.1f} fps   latency {latency_s * 1000:4.0f} ms"]
    if keys is not None:
        state = keys.source.state()
        if state.show_masks:
            image = draw_masks(image, out.mask, out.faces, out.occlusion)
        lines.append(f"{state.source_name or 'own'}  strength {state.strength:.1f}")
        lines.append(HELP)
    return draw_overlay(image, lines)
