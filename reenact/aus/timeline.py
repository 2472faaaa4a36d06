"""AU timelines: keyframes with times and easing, for animating an expression over a clip.

Schema (docs/aus.md)::

    {"name": "...", "relative": false,
     "keyframes": [
        {"t": 0.0, "aus": {}},
        {"t": 1.0, "preset": "smile", "ease": "ease-in-out"},
        {"t": 2.5, "aus": {"AU12": -2}, "relative": true, "ease": "linear"}]}

- "t": seconds, strictly increasing.
- each keyframe gives either "preset" (a shipped preset's name, or a path, relative to the timeline
  file's folder first) or "aus" (an AU mapping as in a preset); an empty "aus" means "the face's
  own AUs".
- "relative" per keyframe overrides the preset file's own flag, which overrides the timeline's.
- "ease" says how the segment from the previous keyframe to this one moves: "linear",
  "ease-in-out" (smoothstep) or "step" (hold the previous keyframe until this one's time).
  Before the first keyframe the first holds; after the last, the last holds.
Each keyframe is resolved against the face's own AUs (a preset's "unlisted AUs keep the face's
own value" rule) and the resolved vectors are interpolated, so relative and absolute keyframes mix.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reenact.errors import AUInputError
from reenact.aus.names import AU_NAMES
from reenact.aus.presets import (Preset, check_keys, parse_aus, preset_from_dict, read_json,
                                 resolve_preset_path)

EASINGS = ("linear", "ease-in-out", "step")
TIMELINE_KEYS = {"name", "description", "relative", "keyframes"}
KEYFRAME_KEYS = {"t", "aus", "preset", "relative", "ease"}


def ease(kind: str, u: float) -> float:
    """Progress 0..1 through a segment -> blend weight of the segment's end keyframe."""
    u = min(max(u, 0.0), 1.0)
    if kind == "linear":
        return u
    if kind == "ease-in-out":
        return u * u * (3.0 - 2.0 * u)
    if kind == "step":
        return 1.0 if u >= 1.0 else 0.0
    raise ValueError(f"unknown easing {kind!r}; use one of {', '.join(EASINGS)}")


@dataclass(frozen=True)
class Keyframe:
    t: float
    preset: Preset
    ease: str = "linear"


@dataclass(frozen=True)
class Timeline:
    name: str
    keyframes: tuple[Keyframe, ...]

    @property
    def duration(self) -> float:
        return self.keyframes[-1].t

    def at(self, t: float, own: np.ndarray) -> np.ndarray:
        """Target AUs (float32 (17,), 0-5) at time ``t`` seconds for a face with AUs ``own``."""
        times = [k.t for k in self.keyframes]
        j = bisect.bisect_right(times, t)
        if j == 0:
            return self.keyframes[0].preset.apply(own)
        if j == len(times):
            return self.keyframes[-1].preset.apply(own)
        k0, k1 = self.keyframes[j - 1], self.keyframes[j]
        w = ease(k1.ease, (t - k0.t) / (k1.t - k0.t))
        a, b = k0.preset.apply(own), k1.preset.apply(own)
        return ((1.0 - w) * a + w * b).astype(np.float32)


def _keyframe(obj: Any, where: str, folder: Path, default_relative: bool, prev_t: float | None,
              prev_where: str) -> Keyframe:
    if not isinstance(obj, dict):
        raise AUInputError(f"{where}: a keyframe is an object like {{\"t\": 1.0, \"preset\": \"smile\"}}")
    check_keys(obj, KEYFRAME_KEYS, where, "a keyframe")
    t = obj.get("t")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not np.isfinite(t) or t < 0:
        raise AUInputError(f"{where}: \"t\" must be a time in seconds >= 0, got {t!r}")
    if prev_t is not None and t <= prev_t:
        raise AUInputError(f"{where}: time {t} is not after the previous keyframe's "
                           f"({prev_where}: {prev_t}); keyframes must be in increasing time order")
    kind = obj.get("ease", "linear")
    if kind not in EASINGS:
        raise AUInputError(f"{where}: \"ease\" {kind!r} is unknown; use one of {', '.join(EASINGS)}")
    rel = obj.get("relative")
    if rel is not None and not isinstance(rel, bool):
        raise AUInputError(f"{where}: \"relative\" must be true or false, got {rel!r}")
    if ("aus" in obj) == ("preset" in obj):
        raise AUInputError(f"{where}: give exactly one of \"aus\" or \"preset\"")
    if "aus" in obj:
        relative = default_relative if rel is None else rel
        preset = Preset(f"{where}", parse_aus(obj["aus"], f"{where}: \"aus\"", relative), relative)
    else:
        preset = _keyframe_preset(obj["preset"], where, folder)
        if rel is not None and rel != preset.relative:
            # Re-check the values: a relative preset may hold negatives an absolute one may not.
            preset = Preset(preset.name, parse_aus(_named(preset), f"{where}: preset", rel), rel)
    return Keyframe(float(t), preset, kind)


def _named(preset: Preset) -> dict[str, float]:
    return {AU_NAMES[i]: v for i, v in preset.values.items()}


def _keyframe_preset(spec: Any, where: str, folder: Path) -> Preset:
    if not isinstance(spec, str):
        raise AUInputError(f"{where}: \"preset\" must be a preset name or a path, got {spec!r}")
    local = folder / spec
    try:
        path = local if local.suffix and local.exists() else resolve_preset_path(spec)
    except AUInputError as e:
        raise AUInputError(f"{where}: {e}") from None
    return preset_from_dict(read_json(path), str(path), path.stem)


def timeline_from_dict(obj: Any, source: str, folder: Path = Path(".")) -> Timeline:
    if not isinstance(obj, dict) or "keyframes" not in obj:
        raise AUInputError(f"{source}: a timeline is an object with a \"keyframes\" list")
    check_keys(obj, TIMELINE_KEYS, source, "a timeline")
    relative = obj.get("relative", False)
    if not isinstance(relative, bool):
        raise AUInputError(f"{source}: \"relative\" must be true or false, got {relative!r}")
    frames = obj["keyframes"]
    if not isinstance(frames, list) or not frames:
        raise AUInputError(f"{source}: \"keyframes\" must be a non-empty list")
    out: list[Keyframe] = []
    for i, kf in enumerate(frames):
        where = f"{source}: keyframes[{i}]"
        prev = (out[-1].t, f"keyframes[{i - 1}]") if out else (None, "")
        out.append(_keyframe(kf, where, folder, relative, prev[0], prev[1]))
    return Timeline(str(obj.get("name", Path(source).stem)), tuple(out))


def load_timeline(path: str | Path) -> Timeline:
    p = Path(path)
    if not p.exists():
        raise AUInputError(f"{p}: no such file")
    return timeline_from_dict(read_json(p), str(p), p.parent)
