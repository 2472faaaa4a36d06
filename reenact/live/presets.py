"""Named AU presets for the live controls (keys 1-9 in the preview, buttons on the web page)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from reenact.aus import presets as aus_presets
from reenact.errors import ReenactError


def _default_opener(path: Path):
    from reenact.aus.sources import open_au_source

    return open_au_source(path)


class PresetLibrary:
    """Preset files by name (the file stem); ``open(name)`` makes a fresh AU source for one session."""

    def __init__(self, paths: list[Path], opener: Callable[[Path], object] = _default_opener):
        self._paths: dict[str, Path] = {}
        for path in paths:
            self._paths.setdefault(Path(path).stem, Path(path))
        self._opener = opener

    @classmethod
    def shipped(cls, opener: Callable[[Path], object] = _default_opener) -> "PresetLibrary":
        """The presets shipped in the package (reenact.aus.presets.shipped_preset_files)."""
        return cls(list(aus_presets.shipped_preset_files().values()), opener)

    @classmethod
    def from_specs(cls, specs: list[str | Path], opener: Callable[[Path], object] = _default_opener
                   ) -> "PresetLibrary":
        """Files, folders (every *.json inside) and names of shipped presets; ReenactError names a
        missing one."""
        paths: list[Path] = []
        for spec in specs:
            p = Path(spec)
            if p.is_dir():
                paths += sorted(p.glob("*.json"))
            elif p.is_file():
                paths.append(p)
            elif p.suffix == "":
                paths.append(aus_presets.resolve_preset_path(spec))  # AUInputError names the known ones
            else:
                raise ReenactError(f"AU preset not found: {spec}")
        return cls(paths, opener)

    @property
    def names(self) -> list[str]:
        return list(self._paths)

    def path(self, name: str) -> Path:
        try:
            return self._paths[name]
        except KeyError:
            raise ReenactError(f"unknown preset {name!r}; known: {', '.join(self._paths) or 'none'}") from None

    def open(self, name: str):
        return self._opener(self.path(name))
