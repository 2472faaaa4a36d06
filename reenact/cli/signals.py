"""SIGTERM and SIGHUP end a command the way Ctrl-C does.

Python turns only SIGINT into KeyboardInterrupt; the default action of SIGTERM and SIGHUP kills the
process on the spot, so no ``finally`` runs and a half-written ``.part`` file stays behind. While
``InterruptGuard`` is active all three raise KeyboardInterrupt, so every writer's cleanup (the
sink's temp file, ``atomic_path``, a dataset built beside its target) runs for each of them, and
the exit code says which signal it was (128 + its number, the shell's convention).
"""
from __future__ import annotations

import signal

HANDLED = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s)


class InterruptGuard:
    """Context manager: installs the handlers in the main thread and restores the old ones."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame) -> None:
        if self.signum is not None:
            return  # a second signal while cleaning up is ignored: the cleanup must finish
        self.signum = signum
        raise KeyboardInterrupt

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or signal.SIGINT)

    def __enter__(self) -> "InterruptGuard":
        for s in HANDLED:
            self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, old in self._previous.items():
            signal.signal(s, old)
