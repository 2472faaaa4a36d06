"""Optional in-process py-feat backend (AU detection with py-feat's own models).

py-feat is an extra (``pip install reenact[feat]``). It imports only with a CUDA build of torch
beside it and downloads its models at first use, so it cannot run on the CPU-only machines
Reenact is developed and tested on. This module is guarded: where py-feat cannot be imported,
``PyFeatEstimator`` raises ``BackendUnavailable`` saying so. Nothing here ever falls back to the
built-in estimator; choose that one explicitly. py-feat's CSV output is read by
``reenact.aus.csv_io`` without py-feat installed.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

from reenact.aus.csv_io import PYFEAT_COLUMNS, PYFEAT_SCALE
from reenact.aus.names import AU_MAX, NUM_AUS
from reenact.errors import BackendUnavailable

INSTALL_HINT = ("install it with `pip install reenact[feat]` together with a CUDA build of torch "
                "(py-feat does not import with the CPU-only torch Reenact pins); it downloads its "
                "models at first use, so run it once online")


def _import_feat():
    try:
        import feat  # noqa: F401  (py-feat's import name)
    except Exception as e:  # ImportError, or py-feat failing inside its own imports (torch)
        raise BackendUnavailable(f"the py-feat AU backend is not available ({type(e).__name__}: "
                                 f"{e}); {INSTALL_HINT}") from None
    if not hasattr(feat, "Detector"):
        raise BackendUnavailable(f"the module 'feat' found at {getattr(feat, '__file__', '?')} is "
                                 f"not py-feat; {INSTALL_HINT}")
    return feat


def pyfeat_available() -> bool:
    try:
        _import_feat()
    except BackendUnavailable:
        return False
    return True


def pyfeat_row_to_aus(row) -> np.ndarray:
    """One py-feat result row (a mapping with AU01 ... AU43 on 0-1) -> float32 (17,) on 0-5."""
    vals = np.array([float(row[c]) for c in PYFEAT_COLUMNS], np.float32) * PYFEAT_SCALE
    return np.clip(vals, 0.0, AU_MAX)


class PyFeatEstimator:
    """AUs per face of an image with py-feat's Detector: ``estimate_image(rgb)`` ->
    list of (box (x0, y0, x1, y1), aus float32 (17,) on 0-5)."""

    def __init__(self, device: str = "cuda", **detector_kwargs):
        feat = _import_feat()
        self._detector = feat.Detector(device=device, **detector_kwargs)

    def estimate_image(self, image: np.ndarray) -> list[tuple[tuple[float, ...], np.ndarray]]:
        from reenact.media.image import write_image
        from reenact.tracking.landmarker import as_rgb

        fd, path = tempfile.mkstemp(suffix=".png")
        os.close(fd)
        try:
            write_image(as_rgb(image), path)
            fex = self._detector.detect_image(path)  # py-feat reads files, not arrays
        finally:
            os.unlink(path)
        out = []
        for _, row in fex.iterrows():
            x, y, w, h = (float(row[k]) for k in ("FaceRectX", "FaceRectY", "FaceRectWidth",
                                                  "FaceRectHeight"))
            if any(np.isnan(v) for v in (x, y, w, h)):
                continue
            out.append(((x, y, x + w, y + h), pyfeat_row_to_aus(row)))
        return out


__all__ = ["BackendUnavailable", "PyFeatEstimator", "pyfeat_available", "pyfeat_row_to_aus",
           "NUM_AUS"]
