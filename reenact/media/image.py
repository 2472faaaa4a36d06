"""Still images in and out: the one reader and the one writer every part of Reenact uses.

In: any file PIL reads, as the uint8 RGB array the rest of Reenact works on (EXIF orientation
applied, as a viewer shows the picture). Out: uint8 RGB written atomically through
``reenact.atomic`` (a reader never sees half a file, a failed write leaves none), in the format the
file name's suffix names (PNG for names without a known one).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from reenact.atomic import atomic_path
from reenact.errors import ReenactError


def read_image(path: str | Path, error: type[Exception] = ReenactError) -> np.ndarray:
    """uint8 RGB (H, W, 3), writable, of any still PIL reads (grayscale, RGBA, palette, 16-bit),
    with its EXIF orientation applied. A missing or unreadable file raises ``error`` (callers whose
    errors have their own type pass it) with a message naming the file."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(ImageOps.exif_transpose(im).convert("RGB")).copy()
    except (UnidentifiedImageError, OSError) as e:
        raise error(f"{path}: cannot be read as an image ({e})") from None


def write_image(image: np.ndarray, path: str | Path) -> Path:
    """Write uint8 RGB (H, W, 3) (or grayscale (H, W)) to ``path`` atomically, creating its folder;
    the format follows the suffix (PNG when PIL does not know it). Returns ``path``."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.ascontiguousarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"{path}: images are written from uint8 pixels, got {array.dtype}")
    known = Image.registered_extensions()
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format=known.get(path.suffix.lower(), "PNG"))
    return path
