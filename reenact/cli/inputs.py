"""Options about reading inputs that several commands share."""
from __future__ import annotations

import typer

from reenact.errors import ReenactError
from reenact.media.image import DEFAULT_MAX_PIXELS, set_max_pixels


def max_pixels_option() -> int:
    return typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", help="Largest image read, in pixels "
                        "(a guard against decompression bombs; raise it for huge photos).")


def apply_max_pixels(limit: int) -> None:
    if limit < 1:
        raise ReenactError(f"--max-pixels {limit}: expected 1 or more")
    set_max_pixels(limit)
