"""What ``reenact eval`` reads: a folder of face images, or a folder of same-person pairs.

Pairs layout (the London set's, generalised): DIR holds exactly two subfolders, the source
expression first in name order unless named ``neutral``/``smiling``; files are paired by their
leading id, the first run of digits or letters before "_", "-", "." or a space
(``neutral/002_03.jpg`` and ``smiling/002_08.jpg`` are person "002").
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from reenact.errors import ReenactError
from reenact.media.formats import IMAGE_SUFFIXES
_ID = re.compile(r"^([^_\-. ]+)")
SOURCE_NAMES = ("neutral", "source", "a")


@dataclass(frozen=True)
class Pair:
    """One person: ``source`` (the photo that is edited) and ``target`` (the real expression)."""

    pid: str
    source: Path
    target: Path


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReenactError(f"{folder}: not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ReenactError(f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def leading_id(path: Path) -> str:
    m = _ID.match(path.name)
    return m.group(1) if m else path.stem


def _split_folders(folder: Path) -> tuple[Path, Path]:
    subs = sorted(p for p in Path(folder).iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(subs) != 2:
        found = ", ".join(p.name for p in subs) or "none"
        raise ReenactError(f"{folder}: --pairs needs exactly two subfolders (e.g. neutral/ and "
                           f"smiling/), found {found}")
    a, b = subs
    if b.name.lower() in SOURCE_NAMES and a.name.lower() not in SOURCE_NAMES:
        a, b = b, a
    return a, b


def list_pairs(folder: Path) -> list[Pair]:
    """Same-person pairs of ``folder`` (layout in the module docstring), sorted by id.

    Every file must have a partner: an id present on one side only, or twice on one side, is a
    ReenactError naming the files.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ReenactError(f"{folder}: not a folder")
    src_dir, tgt_dir = _split_folders(folder)
    sides = []
    for d in (src_dir, tgt_dir):
        by_id: dict[str, Path] = {}
        for p in list_images(d):
            pid = leading_id(p)
            if pid in by_id:
                raise ReenactError(f"{d}: two files share the id {pid!r} ({by_id[pid].name}, "
                                   f"{p.name}); pairs are matched by the leading id")
            by_id[pid] = p
        sides.append(by_id)
    lonely = [sides[0][k] for k in sorted(set(sides[0]) - set(sides[1]))] + \
             [sides[1][k] for k in sorted(set(sides[1]) - set(sides[0]))]
    if lonely:
        names = ", ".join(str(p.relative_to(folder)) for p in lonely[:5])
        more = f" and {len(lonely) - 5} more" if len(lonely) > 5 else ""
        raise ReenactError(f"{folder}: {len(lonely)} file(s) without a partner in the other "
                           f"subfolder: {names}{more} (pairs share the leading id, e.g. 002_03.jpg "
                           f"and 002_08.jpg)")
    return [Pair(k, sides[0][k], sides[1][k]) for k in sorted(sides[0])]
