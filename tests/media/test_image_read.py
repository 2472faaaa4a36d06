"""Stills that PIL's convert("RGB") gets wrong, and the pixel limit (reenact.media.image)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from reenact.cli.main import app
from reenact.errors import ReenactError
from reenact.media.image import read_image

from conftest import DATA

FACE = DATA / "faces" / "london_002_03.jpg"


def _gray_face() -> np.ndarray:
    return np.asarray(Image.open(FACE).convert("L"), dtype=np.float64) / 255.0


def test_16_bit_grayscale_png_keeps_its_contrast(tmp_path):
    gray = _gray_face()
    path = tmp_path / "face16.png"
    Image.fromarray((gray * 65535).round().astype(np.uint16)).save(path)
    rgb = read_image(path)
    assert rgb.dtype == np.uint8 and rgb.shape == gray.shape + (3,)
    assert np.abs(rgb[..., 0].astype(int) - (gray * 255).round()).max() <= 1  # was all 255


def test_float_tiff_is_read_as_0_to_1(tmp_path):
    gray = _gray_face()
    path = tmp_path / "face.tif"
    Image.fromarray(gray.astype(np.float32)).save(path)
    rgb = read_image(path)
    assert np.abs(rgb[..., 1].astype(int) - (gray * 255).round()).max() <= 1  # was all 0


def test_a_face_is_found_in_a_16_bit_png(tmp_path):
    path = tmp_path / "face16.png"
    Image.fromarray((_gray_face() * 65535).round().astype(np.uint16)).save(path)
    r = CliRunner().invoke(app, ["image", str(path), "--aus", "smile", "-o", str(tmp_path / "o.png"),
                                 "--model", "identity"])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("side", [40, 400])  # PIL warns from its limit, raises from twice it
def test_too_many_pixels_is_one_line_with_the_option_to_raise_it(tmp_path, monkeypatch, side):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    path = tmp_path / "big.png"
    Image.new("RGB", (side, side), (10, 20, 30)).save(path)
    with pytest.raises(ReenactError) as e:
        read_image(path)
    assert str(e.value) == (f"{path}: {side * side:,} pixels, more than the limit of 1,000 (a guard "
                            f"against decompression bombs); pass --max-pixels {side * side} to read it")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", side * side)
    assert read_image(path).shape == (side, side, 3)


def test_max_pixels_option(tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (300, 300)).save(path)
    try:
        r = CliRunner().invoke(app, ["image", str(path), "--aus", "smile", "-o", str(tmp_path / "o.png"),
                                     "--model", "identity", "--max-pixels", "50000"])
        assert isinstance(r.exception, ReenactError) and "--max-pixels 90000" in str(r.exception)
    finally:
        from reenact.media.image import DEFAULT_MAX_PIXELS, set_max_pixels
        set_max_pixels(DEFAULT_MAX_PIXELS)
