"""The ``--device`` value every command takes, checked before anything loads."""
from __future__ import annotations

import re

from reenact.errors import ReenactError

# torch device strings the commands can use; "auto" only where a command picks one itself.
_DEVICE = re.compile(r"(cpu|cuda(:\d+)?|mps)")


def check_device(device: str, allow_auto: bool = False) -> str:
    if (allow_auto and device == "auto") or _DEVICE.fullmatch(device):
        return device
    choices = "cpu, cuda, cuda:N, mps" + (" or auto" if allow_auto else "")
    raise ReenactError(f"--device {device!r}: expected {choices}")
