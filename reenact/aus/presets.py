"""AU presets: a named set of AU values applied to a face.

Schema (a JSON object; docs/aus.md has the full description)::

    {"name": "smile", "aus": {"AU06": 2.0, "AU12": 3.0}, "relative": false}

- "aus": AU names ("AU12", also "AU12_r", "12") -> intensity on OpenFace's 0-5 scale.
- "relative" (optional, default false): the values are added to the face's own AUs (then
  clamped to 0-5), and may be negative (-5..5). When false the listed AUs are set to the given
  values and every AU not listed keeps the face's own value, so a "smile" preset does not
  flatten the person's brows or stop their blinks.
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

PRESET_KEYS = {"name", "description", "aus", "relative"}


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
    """values: AU index -> value (0-5, or -5..5 when relative)."""

    name: str
    values: Mapping[int, float]
    relative: bool = False

    def apply(self, own: np.ndarray) -> np.ndarray:
        """Target AUs for a face whose own AUs are ``own`` (17,): float32 (17,) on 0-5."""
        out = np.asarray(own, np.float32).copy()
        for i, v in self.values.items():
            out[i] = out[i] + v if self.relative else v
        return np.clip(out, AU_MIN, AU_MAX).astype(np.float32)

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
    """JSON from a file; a syntax error names the file, line and column."""
    try:
        text = path.read_text()
    except OSError as e:
        raise AUInputError(f"{path}: cannot be read ({e.strerror or e})") from None
    try:
        return json.loads(text)
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
    relative = obj.get("relative", False)
    if not isinstance(relative, bool):
        raise AUInputError(f"{where}: \"relative\" must be true or false, got {relative!r}")
    name = obj.get("name", default_name)
    return Preset(str(name), parse_aus(obj["aus"], f"{where}: \"aus\"", relative), relative)


def resolve_preset_path(spec: str | Path) -> Path:
    """A preset or timeline file path, or a bare name of a shipped preset ("smile", "big_smile") or
    shipped timeline ("smile_then_surprise")."""
    p = Path(spec)
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
