"""How many threads each stage of a file run gets, so that together they fit the cores.

A file run has its own decode thread and encode thread next to the thread that tracks and
generates. Each of them would also start a pool of its own: FFmpeg's decoder one thread per core
(frame threading), x264 about 1.5 per core plus look-ahead threads, torch one per core. On two
cores that is a dozen busy threads contending for two: measured inside the engine, decode cost
7.5 ms/frame and encode 10.0 ms against 2.4 and 3.4 in a serial loop. On small machines the
stages' own threads already are the parallelism, so each library gets one thread.
(MediaPipe's XNNPACK pool is not configurable through its Python API: it stays as it is.)
"""
from __future__ import annotations

from dataclasses import dataclass

from reenact.errors import ReenactError
from reenact.runtime.base import default_threads

# Up to this many cores, the decode/encode/main threads of a file run are all the parallelism
# there is room for: the libraries' own pools only add contention.
SMALL_MACHINE_CORES = 2


@dataclass(frozen=True)
class ThreadBudget:
    """decoder: FFmpeg decoder threads (0: FFmpeg's choice); encoder: encoder (x264) threads (0:
    the encoder's choice); generator: torch intra-op threads while the generator runs (None: as
    the backend set them)."""

    decoder: int = 0
    encoder: int = 0
    generator: int | None = None

    def __post_init__(self) -> None:
        if self.decoder < 0 or self.encoder < 0:
            raise ReenactError(f"decoder/encoder threads must be >= 0 (0: the library's choice), "
                               f"got {self.decoder}/{self.encoder}")
        if self.generator is not None and self.generator < 1:
            raise ReenactError(f"generator threads must be >= 1, got {self.generator}")

    @classmethod
    def for_cores(cls, cores: int | None = None) -> "ThreadBudget":
        """The budget for ``cores`` cores (None: the cores this process may use)."""
        cores = cores or default_threads()
        if cores <= SMALL_MACHINE_CORES:
            return cls(decoder=1, encoder=1, generator=1)
        # Larger machines: the codecs pick their own pools; torch leaves a core each to the
        # decode and encode threads.
        return cls(decoder=0, encoder=0, generator=cores - 2)
