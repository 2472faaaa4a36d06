"""AU targets that can change between frames: the live side's preset, strength and slider values.

``MutableAUSource`` implements the ``AUSource`` protocol (reenact.aus.sources) around a swappable base
source (a preset, a timeline, a driver), so the engine keeps one AU source while the user switches
presets, moves sliders or changes the strength; a change applies to the next frame's ``targets``.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from reenact.aus.names import AU_MAX, AU_MIN, AU_NAMES, au_index
from reenact.frame import Frame


class AUSourceLike(Protocol):
    def targets(self, frame: Frame, own: dict[int, np.ndarray]) -> dict[int, np.ndarray]: ...


@dataclass(frozen=True)
class ControlState:
    """What the user has chosen: base source name, strength (0..1), slider overrides (AU name -> 0-5)."""

    source_name: str | None
    strength: float
    overrides: dict[str, float] = field(default_factory=dict)
    show_masks: bool = False

    def as_json(self) -> dict:
        return {"preset": self.source_name, "strength": self.strength, "aus": dict(self.overrides),
                "masks": self.show_masks}


class MutableAUSource:
    """targets = own + strength * (base targets with slider overrides - own), clamped to 0-5.

    base: an AU source (None: the face's own AUs, so only slider overrides act). strength 0 leaves
    every face as it is; 1 applies the targets fully. Thread-safe: setters may be called from any
    thread (a key handler, the web server's event loop) while the engine runs ``targets``.
    """

    def __init__(self, base: AUSourceLike | None = None, name: str | None = None, strength: float = 1.0):
        self._lock = threading.Lock()
        self._base, self._name = base, name
        self._strength = _check_strength(strength)
        self._overrides: dict[int, float] = {}
        self._masks = False

    def set_source(self, base: AUSourceLike | None, name: str | None = None) -> None:
        """Switch the base source; slider overrides are cleared (a preset replaces them)."""
        with self._lock:
            self._base, self._name, self._overrides = base, name, {}

    def set_strength(self, strength: float) -> None:
        with self._lock:
            self._strength = _check_strength(strength)

    def set_au(self, au: str | int, value: float | None) -> None:
        """Pin one AU's target to ``value`` (0-5), or release it (None)."""
        i = au if isinstance(au, int) else au_index(au)
        with self._lock:
            if value is None:
                self._overrides.pop(i, None)
            else:
                value = float(value)
                if not np.isfinite(value):  # json.dumps would echo a bare NaN the page cannot parse
                    raise ValueError(f"AU value must be a finite number, got {value}")
                self._overrides[i] = float(np.clip(value, AU_MIN, AU_MAX))

    def clear_overrides(self) -> None:
        with self._lock:
            self._overrides = {}

    def toggle_masks(self) -> bool:
        with self._lock:
            self._masks = not self._masks
            return self._masks

    def state(self) -> ControlState:
        with self._lock:
            return ControlState(self._name, self._strength,
                                {AU_NAMES[i]: v for i, v in sorted(self._overrides.items())}, self._masks)

    def targets(self, frame: Frame, own: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        with self._lock:  # one consistent snapshot per frame
            base, strength, overrides = self._base, self._strength, dict(self._overrides)
        goal = base.targets(frame, own) if base is not None else {}
        out: dict[int, np.ndarray] = {}
        for face_id, mine in own.items():
            mine = np.asarray(mine, np.float32)
            target = np.array(goal.get(face_id, mine), np.float32)
            for i, v in overrides.items():
                target[i] = v
            out[face_id] = np.clip(mine + strength * (target - mine), AU_MIN, AU_MAX).astype(np.float32)
        return out


def _check_strength(strength: float) -> float:
    strength = float(strength)
    if not 0.0 <= strength <= 1.0 or not np.isfinite(strength):
        raise ValueError(f"strength must be between 0 and 1, got {strength}")
    return strength
