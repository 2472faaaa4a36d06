"""What a run measured: frames, faces, errors and time per stage."""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

STAGES = ("decode", "track", "aus", "crop", "generator", "paste", "encode")


@dataclass
class EngineStats:
    """Counters and per-stage wall time (seconds). decode and encode run on their own threads:
    their times overlap the others, so the stage sum can exceed the run's wall time."""

    frames: int = 0
    edited_frames: int = 0
    face_frames: int = 0            # (frame, face) pairs edited
    faces_seen: set[int] = field(default_factory=set)
    decode_errors: int = 0
    dropped: int = 0
    generator_calls: int = 0
    wall: float = 0.0
    times: dict[str, float] = field(default_factory=lambda: {s: 0.0 for s in STAGES})

    @contextmanager
    def timed(self, stage: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.times[stage] = self.times.get(stage, 0.0) + time.perf_counter() - t0

    def summary(self) -> str:
        fps = self.frames / self.wall if self.wall > 0 else 0.0
        lines = [f"{self.frames} frames in {self.wall:.1f} s ({fps:.1f} fps); "
                 f"{len(self.faces_seen)} face(s) found, {self.face_frames} face edits in "
                 f"{self.edited_frames} frames; {self.decode_errors} decode error(s)"]
        if self.dropped:
            lines[0] += f"; {self.dropped} frame(s) dropped"
        per = ", ".join(f"{s} {1000 * t / max(self.frames, 1):.1f}" for s, t in self.times.items())
        lines.append(f"ms per frame: {per}")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {"frames": self.frames, "edited_frames": self.edited_frames,
                "face_frames": self.face_frames, "faces_seen": sorted(self.faces_seen),
                "decode_errors": self.decode_errors, "dropped": self.dropped, "wall_s": self.wall,
                "generator_calls": self.generator_calls,
                "ms_per_frame": {s: 1000 * t / max(self.frames, 1) for s, t in self.times.items()}}
