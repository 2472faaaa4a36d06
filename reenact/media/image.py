"""Still images in and out: the one reader and the one writer every part of Reenact uses.

In: any file PIL reads, as the uint8 RGB array the rest of Reenact works on (EXIF orientation
applied, as a viewer shows the picture). Out: uint8 RGB written atomically through
``reenact.atomic`` (a reader never sees half a file, a failed write leaves none), in the format the
file name's suffix names (PNG for names without a known one).
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from reenact.atomic import atomic_path
from reenact.errors import ReenactError

# PIL's own default (about 89 Mpx); above it a file is refused as a possible decompression bomb.
DEFAULT_MAX_PIXELS = 89_478_485


def set_max_pixels(limit: int) -> None:
    """Raise (or lower) the largest image read, for ``--max-pixels``. PIL keeps this limit
    process-wide, so this sets PIL's own setting; a command calls it once before reading."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = int(limit)


def _to_uint8_rgb(im) -> np.ndarray:
    """PIL's convert("RGB") clips 16-bit and float pixels to 0..255: a 16-bit PNG becomes white
    and a 0..1 float TIFF black. Those are scaled from their full range instead."""
    if im.mode == "F" or im.mode.startswith("I"):
        a = np.asarray(im, dtype=np.float64)
        full = 1.0 if im.mode == "F" else 65535.0  # "I" and "I;16*" hold 16-bit samples
        a = np.clip(np.nan_to_num(a) / full * 255.0, 0, 255).round().astype(np.uint8)
        return np.repeat(a[:, :, None], 3, axis=2)
    return np.asarray(im.convert("RGB")).copy()


def _too_large(path, pixels: int | None, limit: int, error: type[Exception]) -> Exception:
    size = f"{pixels:,} pixels" if pixels else "too many pixels"
    return error(f"{path}: {size}, more than the limit of {limit:,} (a guard against "
                 f"decompression bombs); pass --max-pixels {pixels or 2 * limit} to read it")


def read_image(path: str | Path, error: type[Exception] = ReenactError) -> np.ndarray:
    """uint8 RGB (H, W, 3), writable, of any still PIL reads (grayscale, RGBA, palette, 16-bit,
    float), with its EXIF orientation applied. A missing, unreadable or too large file raises
    ``error`` (callers whose errors have their own type pass it) with a message naming the file."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    limit = Image.MAX_IMAGE_PIXELS or 0
    try:
        with warnings.catch_warnings():
            # PIL only warns between its limit and twice it; here the limit is the limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if limit and im.width * im.height > limit:
                    raise _too_large(path, im.width * im.height, limit, error)
                return _to_uint8_rgb(ImageOps.exif_transpose(im))
    except Image.DecompressionBombError as e:
        found = re.search(r"\((\d+) pixels\)", str(e))
        raise _too_large(path, int(found.group(1)) if found else None, limit, error) from None
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
