"""Checks every command makes on a file it is about to write, before any slow work starts.

ffmpeg's convention: an existing file is never replaced silently. On a terminal the user is asked;
otherwise the command refuses with a line naming ``-y/--overwrite``. An output that is one of the
inputs (through a symlink or another spelling of the path) is refused even with ``-y``: the input
would be gone before it was read. The folder is checked for writing and for free space with a
small probe file, so a read-only folder or a full disk fails in one line before the model loads.
"""
from __future__ import annotations

import errno
import os
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterable

import typer

from reenact.errors import ReenactError

# Written and removed in the output folder: a full disk refuses it (ENOSPC) before the real output.
PROBE_BYTES = 64 * 1024


def overwrite_option() -> bool:
    """The ``-y/--overwrite`` option every writing command shares."""
    return typer.Option(False, "-y", "--overwrite", help="Replace an existing output without asking.")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def check_folder_writable(folder: Path, what: str) -> None:
    """A probe file in ``folder``: read-only folders and full disks fail here, in one line."""
    try:
        with tempfile.TemporaryFile(dir=folder) as probe:
            probe.write(b"\0" * PROBE_BYTES)
            probe.flush()
    except OSError as e:
        reason = "the disk is full" if e.errno in (errno.ENOSPC, errno.EDQUOT) else (e.strerror or str(e))
        raise ReenactError(f"{what}: cannot write in {folder} ({reason})") from None


def _ask(question: str) -> bool:
    typer.echo(f"{question} [y/N] ", err=True, nl=False)
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


def check_output_file(path: Path, overwrite: bool, inputs: Iterable[Path] = (),
                      ask: Callable[[str], bool] | None = None) -> Path:
    """Refuse (ReenactError) an output file that cannot or may not be written; return the path to
    write, which for a symlink is its target (the link stays a link, like ffmpeg's)."""
    path = Path(path)
    if path.is_dir():
        raise ReenactError(f"{path}: is a folder; give an output file name inside it")
    if not path.parent.is_dir():
        raise ReenactError(f"{path}: the folder {path.parent} does not exist")
    for source in inputs:
        if source is not None and Path(source).exists() and _same_file(Path(source), path):
            raise ReenactError(f"{path}: the output would overwrite the input {source}; choose another name")
    target = path.resolve() if path.is_symlink() else path
    if target.exists():
        # By its mode bits, not os.access: root may write anything, yet a read-only file was
        # protected on purpose (the atomic rename would replace it with a 0644 one).
        if not target.stat().st_mode & 0o222 or not os.access(target, os.W_OK):
            raise ReenactError(f"{path}: exists and is read-only; choose another name")
        if not overwrite:
            ask = ask or (_ask if _interactive() else None)
            if ask is None or not ask(f"{path} exists. Overwrite?"):
                raise ReenactError(f"{path}: already exists; pass -y/--overwrite to replace it")
    check_folder_writable(target.parent, str(path))
    return target


def check_output_folder(path: Path, overwrite: bool, inputs: Iterable[Path] = (),
                        must_be_empty: bool = True) -> None:
    """A folder the command fills (a dataset, a report): not a file, not an input, and (when
    ``must_be_empty``) a non-empty one only with -y/--overwrite; its parent must be writable."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ReenactError(f"{path}: is a file; give a folder name")
    for source in inputs:
        if Path(source).exists() and _same_file(Path(source), path):
            raise ReenactError(f"{path}: the output folder is an input; choose another folder")
    if must_be_empty and path.is_dir() and any(path.iterdir()) and not overwrite:
        raise ReenactError(f"{path}: already exists and is not empty; pass -y/--overwrite to replace it")
    parent = path if path.is_dir() else path.parent
    if not parent.is_dir():
        raise ReenactError(f"{path}: the folder {parent} does not exist")
    check_folder_writable(parent, str(path))
