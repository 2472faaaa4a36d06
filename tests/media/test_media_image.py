"""reenact.media.image: the one still reader and the one writer (atomic, format by suffix)."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from reenact.errors import DatasetError, ReenactError
from reenact.media.image import read_image, write_image


def _picture() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (12, 17, 3), dtype=np.uint8)


def test_png_round_trip_is_exact_and_creates_the_folder(tmp_path):
    image = _picture()
    path = write_image(image, tmp_path / "a" / "b" / "crop.png")
    assert path.is_file() and Image.open(path).format == "PNG"
    np.testing.assert_array_equal(read_image(path), image)
    assert [p.name for p in path.parent.iterdir()] == ["crop.png"]  # no temp file left


def test_format_follows_the_suffix(tmp_path):
    write_image(_picture(), tmp_path / "x.jpg")
    assert Image.open(tmp_path / "x.jpg").format == "JPEG"
    write_image(_picture(), tmp_path / "x.unknownsuffix")
    assert Image.open(tmp_path / "x.unknownsuffix").format == "PNG"


def test_written_file_has_a_new_files_mode(tmp_path):
    path = write_image(_picture(), tmp_path / "m.png")
    mask = os.umask(0o022)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = write_image(_picture(), tmp_path / "keep.png")
    before = path.read_bytes()
    with pytest.raises(ValueError, match="uint8"):
        write_image(np.zeros((4, 4, 3), np.float32), path)
    with pytest.raises(TypeError):
        write_image(np.zeros((4, 4, 7), np.uint8), path)  # PIL cannot write 7 channels
    assert path.read_bytes() == before and len(list(tmp_path.iterdir())) == 1


def test_reader_converts_modes_and_applies_exif_orientation(tmp_path):
    Image.fromarray(np.full((5, 8), 200, np.uint8), "L").save(tmp_path / "gray.png")
    assert read_image(tmp_path / "gray.png").shape == (5, 8, 3)
    im = Image.fromarray(_picture())
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    im.save(tmp_path / "turned.jpg", exif=exif)
    assert read_image(tmp_path / "turned.jpg").shape == (17, 12, 3)


def test_unreadable_files_raise_the_callers_error(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not a picture")
    with pytest.raises(ReenactError, match="bad.png: cannot be read as an image"):
        read_image(tmp_path / "bad.png")
    with pytest.raises(DatasetError, match="missing.png"):
        read_image(tmp_path / "missing.png", DatasetError)
