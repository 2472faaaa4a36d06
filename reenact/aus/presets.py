"""AU presets: a named set of AU values applied to a face.

Schema (a JSON object; docs/aus.md has the full description)::

    {"name": "smile", "mode": "prototype", "emotion": "happiness",
     "aus": {"AU06": 2.5, "AU12": 3.5}}

- "aus": AU names ("AU12", also "AU12_r", "12") -> intensity on OpenFace's 0-5 scale.
- "mode" (optional, default "set") says how the values combine with the face's own AUs:
  - "set": the listed AUs are set to the given values and every AU not listed keeps the face's
    own value, so a "brows_up" preset does not flatten the person's mouth or stop their blinks;
  - "additive": the values are added to the face's own AUs (then clamped to 0-5) and may be
    negative (-5..5); ``"relative": true`` is the older spelling of this mode;
  - "prototype": a whole expression (reenact.aus.prototypes): the listed AUs are set, and the
    AUs that contradict the preset's "emotion" (or those in its "relax" list) are lowered to
    their resting level, so a smile on a crying face also lowers the crying brow and mouth.
- "emotion" (prototype mode): one of reenact.aus.prototypes.EMOTIONS; "relax" (prototype mode,
  optional): a list of AU names that replaces the emotion's table of contradicting AUs.
- "name" and "description" are optional and informational.
"""
from __future__ import annotations

import json
from importlib import resources
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from reenact.errors import AUInputError
from reenact.aus.names import AU_MAX, AU_MIN, NUM_AUS, au_index
from reenact.aus.prototypes import EMOTIONS, contradicting, prototype_target

PRESET_KEYS = {"name", "description", "aus", "relative", "mode", "emotion", "relax"}
MODES = ("set", "additive", "prototype")


def shipped_preset_files() -> dict[str, Path]:
    """name -> file of every preset shipped in the package (``reenact.presets``, examples/aus/ in the
    repository), sorted by name. Every front end finds shipped presets through this one function
    (bare names, the web page's buttons), so an installed wheel and a checkout see the same ones."""
    return _json_files(resources.files("reenact.presets"))


def shipped_timeline_files() -> dict[str, Path]:
    """name -> file of every timeline shipped in the package (``reenact.presets.timelines``)."""
    return _json_files(resources.files("reenact.presets") / "timelines")


def _json_files(folder) -> dict[str, Path]:
    # The package is installed as plain files (not zipped), so a resource is a real path.
    files = [Path(str(f)) for f in folder.iterdir() if f.name.endswith(".json")] if folder.is_dir() else []
    return {f.stem: f for f in sorted(files)}


@dataclass(frozen=True)
class Preset:
    """values: AU index -> value (0-5, or -5..5 when relative, i.e. additive).

    relax: AU indices a prototype lowers to their resting level (empty for "set" and "additive"
    presets); emotion: the prototype's emotion ("" when it has none)."""

    name: str
    values: Mapping[int, float]
    relative: bool = False
    relax: tuple[int, ...] = ()
    emotion: str = ""
    prototype: bool = False

    @property
    def mode(self) -> str:
        return "additive" if self.relative else "prototype" if self.prototype else "set"

    def apply(self, own: np.ndarray, strength: float = 1.0) -> np.ndarray:
        """Target AUs for a face whose own AUs are ``own`` (17,): float32 (17,) on 0-5.

        strength s in [0, 1] moves linearly from the face's own AUs (s = 0: ``own`` exactly)
        to the preset's full target (s = 1), so a slider over s has no jumps."""
        if not 0.0 <= strength <= 1.0:  # NaN fails this test too
            raise ValueError(f"strength must be between 0 and 1, got {strength}")
        own = np.clip(np.asarray(own, np.float32), AU_MIN, AU_MAX)
        if self.prototype and not self.relative:
            full = prototype_target(own, self.values, self.relax)
        else:
            full = own.copy()
            for i, v in self.values.items():
                full[i] = full[i] + v if self.relative else v
            full = np.clip(full, AU_MIN, AU_MAX)
        if strength == 1.0:
            return full.astype(np.float32)
        return (own + np.float32(strength) * (full - own)).astype(np.float32)

    def vector(self) -> np.ndarray:
        """The preset applied to a face with all AUs at 0."""
        return self.apply(np.zeros(NUM_AUS, np.float32))


def parse_aus(obj: Any, where: str, relative: bool = False) -> dict[int, float]:
    """An {"AU12": 3.0, ...} mapping -> {index: value}, checked. ``where`` prefixes errors."""
    if not isinstance(obj, dict):
        raise AUInputError(f"{where}: expected an object of AU values like {{\"AU12\": 3.0}}, "
                           f"got {type(obj).__name__}")
    lo = -AU_MAX if relative else AU_MIN
    out: dict[int, float] = {}
    for key, value in obj.items():
        try:
            i = au_index(key)
        except ValueError as e:
            raise AUInputError(f"{where}: key {key!r}: {e}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise AUInputError(f"{where}: {key}: expected a number, got {value!r}")
        if not lo <= float(value) <= AU_MAX:  # NaN fails this test too
            kind = "relative change" if relative else "intensity"
            raise AUInputError(f"{where}: {key}: {kind} {value} is outside {lo:g}..{AU_MAX:g} "
                               f"(OpenFace's 0-5 scale)")
        out[i] = float(value)
    return out


def read_json(path: Path) -> Any:
    """JSON from a file (UTF-8, with or without a BOM, or UTF-16/32: json detects which); a syntax
    error names the file, line and column."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise AUInputError(f"{path}: cannot be read ({e.strerror or e})") from None
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        raise AUInputError(f"{path}: not a JSON text file (expected UTF-8 text)") from None
    except json.JSONDecodeError as e:
        raise AUInputError(f"{path}: line {e.lineno}, column {e.colno}: malformed JSON "
                           f"({e.msg})") from None


def check_keys(obj: dict, allowed: set[str], where: str, what: str) -> None:
    """AUInputError naming the keys of ``obj`` outside ``allowed`` (``what``: "a preset", ...)."""
    unknown = set(obj) - allowed
    if unknown:
        raise AUInputError(f"{where}: unknown key(s) {', '.join(sorted(map(repr, unknown)))}; "
                           f"{what} has {', '.join(sorted(allowed))}")


def preset_from_dict(obj: Any, where: str, default_name: str = "preset") -> Preset:
    if not isinstance(obj, dict):
        raise AUInputError(f"{where}: a preset is a JSON object with an \"aus\" key")
    check_keys(obj, PRESET_KEYS, where, "a preset")
    if "aus" not in obj:
        raise AUInputError(f"{where}: missing key \"aus\"")
    mode = preset_mode(obj, where)
    relative = mode == "additive"
    name = str(obj.get("name", default_name))
    values = parse_aus(obj["aus"], f"{where}: \"aus\"", relative)
    if mode != "prototype":
        for key in ("emotion", "relax"):
            if key in obj:
                raise AUInputError(f"{where}: \"{key}\" belongs to \"mode\": \"prototype\" "
                                   f"presets; this one is \"{mode}\"")
        return Preset(name, values, relative)
    emotion, relax = prototype_relax(obj, where)
    return Preset(name, values, False, relax, emotion, prototype=True)


def preset_mode(obj: dict, where: str) -> str:
    """The preset's mode from "mode" and the older "relative" flag, checked."""
    relative = obj.get("relative", False)
    if not isinstance(relative, bool):
        raise AUInputError(f"{where}: \"relative\" must be true or false, got {relative!r}")
    mode = obj.get("mode", "additive" if relative else "set")
    if mode not in MODES:
        raise AUInputError(f"{where}: \"mode\" {mode!r} is unknown; use one of "
                           f"{', '.join(map(repr, MODES))}")
    if relative and mode != "additive":
        raise AUInputError(f"{where}: \"relative\": true means \"mode\": \"additive\", "
                           f"but \"mode\" is {mode!r}")
    return mode


def prototype_relax(obj: dict, where: str) -> tuple[str, tuple[int, ...]]:
    """(emotion, AU indices to relax) of a prototype preset: its "relax" list, else its emotion's."""
    emotion = obj.get("emotion", "")
    if emotion and emotion not in EMOTIONS:
        raise AUInputError(f"{where}: \"emotion\" {emotion!r} is unknown; use one of "
                           f"{', '.join(EMOTIONS)} (or give a \"relax\" list of AUs)")
    if "relax" not in obj:
        if not emotion:
            raise AUInputError(f"{where}: a \"prototype\" preset needs an \"emotion\" "
                               f"({', '.join(EMOTIONS)}) or a \"relax\" list of AUs")
        return emotion, contradicting(emotion)
    relax = obj["relax"]
    if not isinstance(relax, list):
        raise AUInputError(f"{where}: \"relax\" must be a list of AU names like [\"AU15\"], "
                           f"got {relax!r}")
    try:
        return emotion, tuple(au_index(n) for n in relax)
    except ValueError as e:
        raise AUInputError(f"{where}: \"relax\": {e}") from None


def resolve_preset_path(spec: str | Path) -> Path:
    """A preset or timeline file path, or a bare name of a shipped preset ("smile", "big_smile") or
    shipped timeline ("smile_then_surprise")."""
    if not str(spec).strip():  # Path("") is ".", the current folder
        raise AUInputError(f"empty AU input; give a preset name ({', '.join(shipped_presets())}), "
                           "a preset or timeline .json, or an AU .csv")
    p = Path(spec)
    if p.is_dir():
        raise AUInputError(f"{p}: is a folder; give a preset name or a preset/timeline .json")
    if p.suffix == "" and not p.exists():
        presets, timelines = shipped_preset_files(), shipped_timeline_files()
        found = presets.get(p.name) or timelines.get(p.name)
        if found is None:
            raise AUInputError(f"unknown preset {str(spec)!r}; shipped presets: {', '.join(presets) or 'none'}"
                               + (f"; shipped timelines: {', '.join(timelines)}" if timelines else ""))
        return found
    if not p.exists():
        raise AUInputError(f"{p}: no such file")
    return p


def load_preset(spec: str | Path) -> Preset:
    """A preset from a JSON file or a shipped preset's name."""
    path = resolve_preset_path(spec)
    return preset_from_dict(read_json(path), str(path), path.stem)


def shipped_presets() -> list[str]:
    """The shipped presets' names, sorted."""
    return list(shipped_preset_files())
