"""A frame number drawn into a picture as black/white blocks, to measure latency through a codec.

A sender stamps frame n in the top-left corner, the receiver reads n back from the decoded frame and
looks up when n was captured: camera timestamp to frame received, with no clock shared but its own.
Blocks are 12x12 px, far larger than VP8/H.264 blocking at any usable bitrate; 16 data bits and a
4-bit checksum (the count of set bits mod 16) between a white start and a black stop block reject a
misread (and a plain black or white corner).
"""
from __future__ import annotations

import numpy as np

BITS, CHECK_BITS, BLOCK, MARGIN = 16, 4, 12, 4
NBLOCKS = 1 + BITS + CHECK_BITS + 1
WIDTH = 2 * MARGIN + NBLOCKS * BLOCK
HEIGHT = 2 * MARGIN + BLOCK


def _bits(n: int) -> list[int]:
    n %= 1 << BITS
    data = [(n >> i) & 1 for i in range(BITS)]
    check = sum(data) % (1 << CHECK_BITS)
    return [1] + data + [(check >> i) & 1 for i in range(CHECK_BITS)] + [0]


def stamp(image: np.ndarray, n: int) -> np.ndarray:
    """Draw ``n`` into ``image`` (uint8 (H, W, 3) RGB, at least WIDTH x HEIGHT) in place; returns it."""
    image[:HEIGHT, :WIDTH] = 128
    for i, bit in enumerate(_bits(n)):
        x = MARGIN + i * BLOCK
        image[MARGIN:MARGIN + BLOCK, x:x + BLOCK] = 255 if bit else 0
    return image


def read_stamp(image: np.ndarray) -> int | None:
    """The number stamped in ``image``, or None where the checksum fails (no stamp, a garbled one)."""
    if image.shape[0] < HEIGHT or image.shape[1] < WIDTH:
        return None
    c = BLOCK // 2
    grey = image[MARGIN + c - 2:MARGIN + c + 2].astype(np.float32).mean(axis=(0, 2))
    bits = [int(grey[MARGIN + i * BLOCK + c - 2:MARGIN + i * BLOCK + c + 2].mean() > 128)
            for i in range(NBLOCKS)]
    n = sum(b << i for i, b in enumerate(bits[1:1 + BITS]))
    return n if _bits(n) == bits else None
