"""Outputs are never lost: an input is never overwritten, an existing file only with -y, and the
output folder is checked for writing before any work (reenact.cli.outputs)."""
from __future__ import annotations

import errno
import os
import shutil
import tempfile

import numpy as np
import pytest
from PIL import Image

from reenact.cli.outputs import check_output_file, check_output_folder
from reenact.errors import ReenactError

from conftest import DATA
from helpers.cli import run

CLIP = DATA / "video" / "single_face_small.mp4"
FACE = DATA / "faces" / "london_002_03.jpg"



def _photo(tmp_path):
    path = tmp_path / "x.jpg"
    shutil.copy(FACE, path)
    return path, path.read_bytes()


@pytest.mark.parametrize("spelling", ["same", "relative", "symlink"])
def test_image_refuses_to_write_over_its_input(tmp_path, monkeypatch, spelling):
    photo, before = _photo(tmp_path)
    monkeypatch.chdir(tmp_path)
    output = {"same": photo, "relative": "./sub/../x.jpg", "symlink": tmp_path / "link.jpg"}[spelling]
    (tmp_path / "sub").mkdir()
    if spelling == "symlink":
        os.symlink(photo, output)
    r = run("image", photo, "-o", output, "--aus", "smile", "--model", "identity", "-y")
    assert isinstance(r.exception, ReenactError) and "overwrite the input" in str(r.exception)
    assert photo.read_bytes() == before


def test_existing_output_needs_overwrite(tmp_path):
    photo, _ = _photo(tmp_path)
    out = tmp_path / "out.png"
    out.write_bytes(b"earlier result")
    r = run("image", photo, "-o", out, "--aus", "smile", "--model", "identity")
    assert isinstance(r.exception, ReenactError)
    assert str(r.exception) == f"{out}: already exists; pass -y/--overwrite to replace it"
    assert out.read_bytes() == b"earlier result"
    r = run("image", photo, "-o", out, "--aus", "smile", "--model", "identity", "--overwrite")
    assert r.exit_code == 0, r.output
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(photo).convert("RGB")))


def test_video_existing_output_is_refused_before_any_work(tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"earlier")
    r = run("video", CLIP, "--aus", "smile", "-o", out, "--model", "identity")
    assert isinstance(r.exception, ReenactError) and "-y/--overwrite" in str(r.exception)
    assert out.read_bytes() == b"earlier"


def test_read_only_output_is_kept_even_with_overwrite(tmp_path):
    out = tmp_path / "keep.png"
    out.write_bytes(b"keep")
    out.chmod(0o444)
    with pytest.raises(ReenactError, match="read-only"):
        check_output_file(out, overwrite=True)
    assert out.read_bytes() == b"keep" and (out.stat().st_mode & 0o777) == 0o444


def test_a_symlinked_output_stays_a_link(tmp_path):
    target = tmp_path / "real.png"
    target.write_bytes(b"old")
    link = tmp_path / "link.png"
    os.symlink(target, link)
    assert check_output_file(link, overwrite=True) == target.resolve()
    with pytest.raises(ReenactError, match="-y/--overwrite"):
        check_output_file(link, overwrite=False)


def test_a_terminal_is_asked(tmp_path):
    out = tmp_path / "o.png"
    out.write_bytes(b"x")
    assert check_output_file(out, overwrite=False, ask=lambda q: True) == out
    with pytest.raises(ReenactError, match="already exists"):
        check_output_file(out, overwrite=False, ask=lambda q: False)


@pytest.mark.parametrize("code, reason", [(errno.ENOSPC, "the disk is full"),
                                          (errno.EACCES, "Permission denied")])
def test_unwritable_folder_fails_in_one_line(tmp_path, monkeypatch, code, reason):
    def refuse(*a, **k):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    with pytest.raises(ReenactError) as e:
        check_output_file(tmp_path / "o.mp4", overwrite=False)
    assert str(e.value) == f"{tmp_path / 'o.mp4'}: cannot write in {tmp_path} ({reason})"


def test_output_naming_a_folder_or_a_file(tmp_path):
    r = run("image", FACE, "-o", tmp_path, "--aus", "smile", "--model", "identity")
    assert isinstance(r.exception, ReenactError) and "is a folder" in str(r.exception)
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    with pytest.raises(ReenactError, match="is a file"):
        check_output_folder(a_file, overwrite=True)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "a").write_text("x")
    with pytest.raises(ReenactError, match="-y/--overwrite"):
        check_output_folder(tmp_path / "full", overwrite=False)
    check_output_folder(tmp_path / "full", overwrite=True)
    check_output_folder(tmp_path / "new", overwrite=False)


@pytest.mark.parametrize("args", [
    ["image", str(FACE), "--aus", "smile", "-o", "o.png", "--device", "banana"],
    ["video", str(CLIP), "--aus", "smile", "-o", "o.mp4", "--device", "banana"],
    ["train", ".", "-o", "run", "--device", "banana"],
    ["eval", "--out", "rep", "--device", "banana"],
])
def test_unknown_device_is_one_line(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    r = run(*args)
    assert isinstance(r.exception, ReenactError)
    assert str(r.exception).startswith("--device 'banana': expected cpu, cuda")


@pytest.mark.parametrize("flag, value", [("--steps", "-5"), ("--batch", "0"), ("--epochs", "-1")])
def test_train_rejects_non_positive_counts(tmp_path, flag, value):
    r = run("train", tmp_path, "-o", tmp_path / "run", flag, value)
    assert isinstance(r.exception, ReenactError) and str(r.exception) == f"{flag} {value}: expected 1 or more"
    assert not (tmp_path / "run").exists()


def test_train_and_eval_out_naming_a_file(tmp_path):
    a_file = tmp_path / "f"
    a_file.write_text("keep")
    r = run("train", tmp_path, "-o", a_file)
    assert isinstance(r.exception, ReenactError) and "is a file" in str(r.exception)
    r = run("eval", "--model", "identity", "--out", a_file)
    assert isinstance(r.exception, ReenactError) and "is a file" in str(r.exception)
    assert a_file.read_text() == "keep"


def test_serve_port_out_of_range(tmp_path):
    r = run("serve", "--port", "99999")
    assert r.exit_code == 2 and "--port" in r.output and "65535" in r.output


def test_aus_csv_and_export_need_overwrite(tmp_path):
    csv = tmp_path / "aus.csv"
    csv.write_text("earlier")
    r = run("aus", FACE, "--csv", csv)
    assert isinstance(r.exception, ReenactError) and "-y/--overwrite" in str(r.exception)
    r = run("aus", FACE, "--csv", csv, "-y")
    assert r.exit_code == 0, r.output
    assert csv.read_text().startswith("input,frame")
    onnx = tmp_path / "g.onnx"
    onnx.write_text("earlier")
    r = run("export", "identity", "-o", onnx)
    assert isinstance(r.exception, ReenactError) and "-y/--overwrite" in str(r.exception)
    assert onnx.read_text() == "earlier"
