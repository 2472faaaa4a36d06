"""Still images in: any file PIL reads, as the uint8 RGB array the rest of Reenact works on."""
from __future__ import annotations

from pathlib import Path

import numpy as np

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
