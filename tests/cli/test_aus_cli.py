"""``reenact aus``: images, folders (with a face-less and a broken file), video, CSV and JSON output."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from reenact.aus.csv_io import read_au_csv
from reenact.aus.names import AU_NAMES, OPENFACE_COLUMNS, au_index
from reenact.errors import ReenactError
from reenact.cli.main import app

DATA = Path(__file__).parents[1] / "data"
runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["aus", *map(str, args)])


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(DATA / "faces" / "london_002_08.jpg", d / "smile.jpg")
    Image.fromarray(np.full((90, 120), 128, np.uint8)).save(d / "grey.png")      # no face
    rgba = np.asarray(Image.open(DATA / "faces" / "london_002_03.jpg").convert("RGBA"))
    Image.fromarray(rgba).save(d / "neutral_rgba.png")
    (d / "broken.jpg").write_text("not an image")
    return d


def test_folder_to_csv_reports_faceless_and_broken(folder, tmp_path):
    out = tmp_path / "aus.csv"
    res = run(folder, "--csv", out)
    assert res.exit_code == 0, res.output
    assert "no face in 1" in res.output and "skipped" in res.output and "broken.jpg" in res.output
    header = out.read_text().splitlines()[0].split(",")
    assert header[-17:] == list(OPENFACE_COLUMNS)
    lines = out.read_text().splitlines()[1:]
    by_name = {Path(line.split(",")[0]).name: line.split(",") for line in lines}
    assert set(by_name) == {"smile.jpg", "grey.png", "neutral_rgba.png"}
    assert by_name["grey.png"][4] == "0"                   # success 0, empty AUs
    i12 = 5 + au_index("AU12")
    assert float(by_name["smile.jpg"][i12]) > float(by_name["neutral_rgba.png"][i12]) + 1.0


def test_single_image_json(tmp_path):
    res = run(DATA / "faces" / "london_002_08.jpg", "--json")
    assert res.exit_code == 0, res.output
    recs = [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]
    assert len(recs) == 1 and recs[0]["face_id"] == 0
    assert set(recs[0]["aus"]) == set(OPENFACE_COLUMNS) and recs[0]["aus"]["AU12_r"] > 1.5


def test_video_rows_per_frame(tmp_path):
    out = tmp_path / "video.csv"
    res = run(DATA / "video" / "single_face_smile_small.mp4", "--csv", out)
    assert res.exit_code == 0, res.output
    seq = read_au_csv(out)                                # our own CSV reads back as a sequence
    assert len(seq) == 18
    a12 = seq.aus[:, au_index("AU12")]
    assert a12[:4].mean() < 1.0 and a12[-4:].mean() > 2.5


def test_table_output_names_the_face(tmp_path):
    res = run(DATA / "faces" / "london_002_03.jpg")
    assert res.exit_code == 0
    lines = res.output.splitlines()
    assert lines[0].split()[3:] == [n[2:] for n in AU_NAMES]
    row = next(line for line in lines if line.startswith("london_002_03.jpg"))
    assert len(row.split()) == 3 + len(AU_NAMES)


@pytest.mark.parametrize("target, expected", [
    ("missing.jpg", "no such file or folder"), ("broken.jpg", "cannot be read as an image")])
def test_bad_single_input_is_a_reenact_error(folder, target, expected):
    res = run(folder / target)
    assert res.exit_code != 0
    assert isinstance(res.exception, ReenactError) and expected in str(res.exception)


def test_aus_on_a_sound_file_says_what_it_takes(tmp_path):
    from typer.testing import CliRunner

    from reenact.cli.main import app
    from reenact.errors import ReenactError

    wav = tmp_path / "talk.wav"
    wav.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    r = CliRunner().invoke(app, ["aus", str(wav)])
    assert isinstance(r.exception, ReenactError)
    assert str(r.exception).startswith(f"{wav}: not an image or a video; give a still (.bmp")
