"""The preview window (OpenCV highgui): the reenacted frame, an fps/latency line, keys for controls."""
from __future__ import annotations

import os
import sys

import numpy as np

from reenact.errors import ReenactError

WINDOW = "reenact webcam"
HELP = "1-9 preset  +/- strength  0 off/on  m masks  r reset  q quit"


def display_available() -> bool:
    """False where no window can open (a Linux session without X11/Wayland, e.g. over ssh or in CI)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def draw_overlay(image_rgb: np.ndarray, lines: list[str]) -> np.ndarray:
    """A copy of the frame with ``lines`` of text in its top-left corner (shadowed for legibility)."""
    import cv2

    out = np.ascontiguousarray(image_rgb).copy()
    scale = max(0.4, out.shape[0] / 900)
    for k, text in enumerate(lines):
        org = (8, int(22 * scale / 0.5 * (k + 1)))
        cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def draw_masks(image_rgb: np.ndarray, mask: np.ndarray | None, faces,
               occlusion: np.ndarray | None = None) -> np.ndarray:
    """The mask view: the engine's paste mask (``Frame.mask``) tinted red where it exists, and
    what covers the faces (``Frame.occlusion``, the edit keeps off it) tinted blue; else the
    tracked landmarks."""
    import cv2

    out = image_rgb.copy()
    if mask is not None and mask.shape[:2] == out.shape[:2]:
        m = np.clip(mask.astype(np.float32), 0, 1)[..., None]
        red = np.array([255, 0, 0], np.float32)
        out = out * (1 - 0.5 * m) + red * 0.5 * m
        if occlusion is not None and occlusion.shape[:2] == out.shape[:2]:
            o = np.clip(occlusion.astype(np.float32), 0, 1)[..., None]
            out = out * (1 - 0.6 * o) + np.array([0, 80, 255], np.float32) * 0.6 * o
        return out.astype(np.uint8)
    for face in faces:
        for x, y in np.round(face.landmarks).astype(int)[::3]:
            cv2.circle(out, (int(x), int(y)), 1, (0, 255, 0), -1)
    return out


class PreviewWindow:
    """An OpenCV window. ``show(image_rgb)`` draws and returns the key pressed (-1 for none)."""

    def __init__(self, title: str = WINDOW):
        if not display_available():
            raise ReenactError("no display: the preview window needs X11 or Wayland (DISPLAY is not set); "
                               "run with --no-preview (and --virtual-cam to send the result somewhere)")
        import cv2

        self._cv2, self.title = cv2, title
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error as err:
            raise ReenactError(f"no display: OpenCV cannot open a window ({err}); run with --no-preview") from None

    def show(self, image_rgb: np.ndarray) -> int:
        cv2 = self._cv2
        cv2.imshow(self.title, cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
        key = cv2.waitKey(1)
        # The window's close button: the window reports itself invisible.
        if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            return ord("q")
        return key & 0xFF if key >= 0 else -1

    def close(self) -> None:
        try:
            self._cv2.destroyWindow(self.title)
            self._cv2.waitKey(1)
        except self._cv2.error:
            pass
