"""Outputs written atomically: a temp file beside the target, renamed over it when complete.

A reader (or a crashed run's next start) sees the old file or the whole new one, never half a file.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _umask() -> int:
    # Read without changing it where the system allows (os.umask sets it process-wide).
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def chmod_like_new_file(path: str | Path) -> None:
    """mkstemp makes a 0600 file; give an output the mode a newly created file would have."""
    os.chmod(path, 0o666 & ~_umask())


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A fresh temp path in ``path``'s folder (the rename needs the same file system) for the block
    to write; renamed over ``path`` when the block completes, removed when it raises. The temp
    name is hidden (leading dot) and ends in ``path``'s suffix, for writers that choose the format
    by it (PIL, cv2, np.savez); the file gets the mode a newly created file would have."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}",
                                dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        chmod_like_new_file(tmp)
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """``Path.write_text`` through ``atomic_path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
