"""``reenact prepare``: a valid trainer dataset (crops, aus.csv, manifest) and skipped files reported."""
from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from reenact.aus.names import OPENFACE_COLUMNS
from reenact.errors import ReenactError
from reenact.dataset.prepare import PrepareConfig, prepare_dataset
from reenact.tracking.align import AlignConfig, template_points, transform_points, warp_to_crop

pytest.importorskip("mediapipe")


@pytest.fixture
def inputs(tmp_path, data_dir):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    shutil.copy(data_dir / "tracking" / "london_003_03.jpg", src / "face.jpg")
    shutil.copy(data_dir / "tracking" / "london_003_03.tem", src / "face.tem")  # not media: ignored
    shutil.copy(data_dir / "video" / "single_face_small.mp4", src / "sub" / "clip.mp4")
    Image.new("RGB", (200, 150), (90, 120, 160)).save(src / "sub" / "blank.png")
    (src / "broken.jpg").write_bytes(b"this is not a jpeg")
    return src


def test_prepare_writes_a_valid_dataset(tmp_path, inputs):
    out = tmp_path / "ds"
    cfg = PrepareConfig(align=AlignConfig(size=64, margin=0.2), stride=5)
    report = prepare_dataset([inputs], out, cfg, progress=False)

    # 1 crop from the photo + frames 0, 5, 10, 15 of the 20-frame clip.
    assert len(report.crops) == 5
    with open(out / "aus.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["file", *OPENFACE_COLUMNS]
    assert [r[0] for r in rows[1:]] == [f"imgs/{i:06d}.png" for i in range(1, 6)]
    aus = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    assert aus.shape == (5, 17) and aus.min() >= 0.0 and aus.max() <= 5.0
    for r in rows[1:]:
        assert np.asarray(Image.open(out / r[0])).shape == (64, 64, 3)

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["align"] == {"size": 64, "margin": 0.2, "template_id": AlignConfig().template_id}
    assert manifest["stride"] == 5 and manifest["version"]
    crops = manifest["crops"]
    assert [c["file"] for c in crops] == [r[0] for r in rows[1:]]
    assert [(c["source"].split("/")[-1], c["frame"], c["face_id"]) for c in crops] == (
        [("face.jpg", None, 0)] + [("clip.mp4", i, 0) for i in (0, 5, 10, 15)])

    # The stored matrix reproduces the stored crop from the source, pixel for pixel.
    photo = np.asarray(Image.open(inputs / "face.jpg").convert("RGB"))
    m = np.array(crops[0]["crop_from_frame"])
    again = warp_to_crop(photo, m, 64)
    assert np.abs(again.astype(int) - np.asarray(Image.open(out / crops[0]["file"])).astype(int)).max() <= 1
    # ... and maps the face's hand-placed eye corners onto the template's eye corners.
    lines = (inputs / "face.tem").read_text().split("\n")
    tem = np.array([[float(v) for v in ln.split()] for ln in lines[1:190]])
    eyes = transform_points(m, tem[[18, 22, 23, 27]])
    target = template_points(AlignConfig(size=64, margin=0.2))[[33, 133, 362, 263]]
    assert np.linalg.norm(eyes - target, axis=1).max() < 0.04 * 64

    skipped = {s["source"].split("/")[-1]: s["reason"] for s in report.skipped}
    assert skipped["blank.png"] == "no face"
    assert skipped["broken.jpg"].startswith("unreadable")
    assert set(skipped) == {"blank.png", "broken.jpg"}
    assert manifest["skipped"] == report.skipped
    assert [p.split("/")[-1] for p in report.ignored] == ["face.tem"]
    assert not [p for p in out.rglob(".*")], "temporary files left behind"


def test_existing_dataset_is_not_overwritten_silently(tmp_path, inputs):
    out = tmp_path / "ds"
    cfg = PrepareConfig(align=AlignConfig(size=32))
    prepare_dataset([inputs / "face.jpg"], out, cfg, progress=False)
    with pytest.raises(FileExistsError, match="--overwrite"):
        prepare_dataset([inputs / "face.jpg"], out, cfg, progress=False)
    report = prepare_dataset([inputs / "face.jpg"], out, cfg, overwrite=True, progress=False)
    assert len(report.crops) == 1 and len(list((out / "imgs").iterdir())) == 1


def test_cli_prepare(tmp_path, inputs):
    from reenact.cli.main import app

    runner = CliRunner()
    out = tmp_path / "cli"
    res = runner.invoke(app, ["prepare", str(inputs / "face.jpg"), str(inputs / "sub" / "blank.png"),
                              "--out", str(out), "--size", "48"])
    assert res.exit_code == 0, res.output
    assert "1 crops" in res.output and "blank.png: no face" in res.output
    assert (out / "aus.csv").exists() and (out / "manifest.json").exists()

    res = runner.invoke(app, ["prepare", str(tmp_path / "missing"), "--out", str(tmp_path / "x")])
    assert isinstance(res.exception, ReenactError) and "missing" in str(res.exception)
    res = runner.invoke(app, ["prepare", str(inputs / "face.tem"), "--out", str(tmp_path / "y")])
    assert isinstance(res.exception, ReenactError) and "not an image or video" in str(res.exception)
    res = runner.invoke(app, ["prepare", str(inputs / "sub" / "blank.png"), "--out", str(tmp_path / "z")])
    assert isinstance(res.exception, ReenactError) and "no face" in str(res.exception)


def test_split_by_source_file_and_the_trainer_reads_it(tmp_path, inputs):
    from reenact.trainer.data import load_index

    out = tmp_path / "ds"
    # Media in sorted order: broken.jpg, face.jpg, sub/blank.png, sub/clip.mp4 -> the 4th is test.
    cfg = PrepareConfig(align=AlignConfig(size=64), stride=5, test_every=4)
    report = prepare_dataset([inputs], out, cfg, progress=False)
    with open(out / "split.csv", newline="") as fh:
        split = {r["file"]: r["split"] for r in csv.DictReader(fh)}
    by_source = {(c.source.split("/")[-1], split[c.file]) for c in report.crops}
    assert by_source == {("face.jpg", "train"), ("clip.mp4", "test")}
    train, test = load_index(out, "train", 64), load_index(out, "test", 64)
    assert len(train.names) == 1 and len(test.names) == 4
    np.testing.assert_allclose(train.aus[0], report.crops[0].aus, atol=1e-4)


def test_an_empty_or_interrupted_run_leaves_the_target_as_it_was(tmp_path, inputs, monkeypatch):
    """No half dataset (crops without aus.csv, a header-only aus.csv) is left to block the next run."""
    import reenact.dataset.prepare as prep

    cfg = PrepareConfig(align=AlignConfig(size=32))
    empty = tmp_path / "empty"
    report = prepare_dataset([inputs / "sub" / "blank.png"], empty, cfg, progress=False)
    assert not report.crops and not empty.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]

    out = tmp_path / "ds"
    prepare_dataset([inputs / "face.jpg"], out, cfg, progress=False)
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    real_add = prep.DatasetWriter.add

    def add_then_interrupt(self, *a, **k):
        real_add(self, *a, **k)
        raise KeyboardInterrupt

    monkeypatch.setattr(prep.DatasetWriter, "add", add_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset([inputs / "face.jpg"], out, cfg, overwrite=True, progress=False)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before
    assert not list(tmp_path.glob(".ds.*")), "staging folder left behind"


def test_cli_prepare_out_naming_a_file(tmp_path, inputs):
    from reenact.cli.main import app

    a_file = tmp_path / "ds.txt"
    a_file.write_text("notes")
    res = CliRunner().invoke(app, ["prepare", str(inputs / "face.jpg"), "--out", str(a_file)])
    assert isinstance(res.exception, ReenactError) and "is a file" in str(res.exception)
    assert a_file.read_text() == "notes"


@pytest.mark.parametrize("signame, code", [("SIGTERM", 143), ("SIGHUP", 129)])
def test_prepare_killed_by_a_signal_leaves_nothing(tmp_path, signame, code):
    """A real run in a subprocess, signalled once its staging folder holds crops."""
    import signal
    import subprocess
    import sys
    import time

    from helpers.clips import face_canvas
    from helpers.clips import make_clip

    frames = [face_canvas(192, 144, [("london_002_03.jpg", 30 + i % 5, 5, 130)]) for i in range(200)]
    clip = make_clip(tmp_path / "long.mp4", frames, fps=25, audio=None)
    out = tmp_path / "ds"
    proc = subprocess.Popen([sys.executable, "-c", "from reenact.cli.main import main; main()", "prepare",
                             str(clip), "--out", str(out), "--size", "32", "--no-tiles"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    deadline = time.time() + 120
    while not list(tmp_path.glob(".ds.*.part/imgs/*.png")) and time.time() < deadline \
            and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before the signal"
    proc.send_signal(getattr(signal, signame))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err[-2000:]
    assert f"interrupted by {signame}" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4"]
