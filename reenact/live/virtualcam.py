"""Output to a virtual camera (v4l2loopback on Linux, OBS's camera on Windows/macOS) via pyvirtualcam.

pyvirtualcam is optional (``pip install 'reenact[live]'``); everything that is missing (the package,
a device) is reported as one ReenactError that says what to install or load.
"""
from __future__ import annotations

import numpy as np

from reenact.errors import ReenactError


class VirtualCamera:
    """A virtual camera of a fixed size; ``send(image_rgb)`` resizes frames of another size to it."""

    def __init__(self, width: int, height: int, fps: float, device: str | None = None):
        try:
            import pyvirtualcam
        except ImportError:
            raise ReenactError("no virtual camera: the pyvirtualcam package is not installed; "
                               "pip install 'reenact[live]' (or pyvirtualcam)") from None
        try:
            self._cam = pyvirtualcam.Camera(width=width, height=height, fps=fps, device=device,
                                            fmt=pyvirtualcam.PixelFormat.RGB)
        except Exception as err:  # pyvirtualcam raises RuntimeError/ValueError with the backend's reason
            raise ReenactError(
                "no virtual camera device: pyvirtualcam found none it can use "
                f"({err}). On Linux load v4l2loopback (sudo modprobe v4l2loopback devices=1 "
                "exclusive_caps=1); on Windows/macOS install OBS and start its virtual camera once") from None
        self.width, self.height = width, height
        self.device = self._cam.device

    def send(self, image_rgb: np.ndarray) -> None:
        if image_rgb.shape[:2] != (self.height, self.width):
            import cv2

            image_rgb = cv2.resize(image_rgb, (self.width, self.height), interpolation=cv2.INTER_AREA)
        self._cam.send(np.ascontiguousarray(image_rgb))

    def close(self) -> None:
        self._cam.close()
