"""``reenact video`` and ``reenact image`` from the command line: outputs and one-line errors."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from reenact.errors import ReenactError

from conftest import DATA
from helpers.clips import face_canvas
from helpers.clips import make_clip, pattern, probe
from helpers.cli import run

CLIP = DATA / "video" / "single_face_small.mp4"
FACE = DATA / "faces" / "london_002_03.jpg"



def test_video_with_the_identity_model_keeps_the_clip(tmp_path):
    out = tmp_path / "out.mp4"
    r = run("video", CLIP, "--aus", "smile", "-o", out, "--model", "identity", "--batch", "2")
    assert r.exit_code == 0, r.output
    p, q = probe(CLIP), probe(out)
    assert len(q["times"]) == 20 and q["size"] == p["size"]
    assert "20 frames" in r.output and "1 face(s) found" in r.output


def test_hevc_input_with_audio(tmp_path):
    frames = [face_canvas(192, 144, [("london_002_03.jpg", 30, 5, 130)])] * 6
    src = make_clip(tmp_path / "in.mov", frames, codec="libx265", fps=12)
    out = tmp_path / "out.mkv"
    r = run("video", src, "--aus", "smile", "-o", out, "--model", "identity")
    assert r.exit_code == 0, r.output
    q = probe(out)
    assert len(q["times"]) == 6 and q["audio"] is not None


@pytest.mark.parametrize("args,message", [
    (["video", "missing.mp4", "--aus", "smile", "-o", "out.mp4"], "no such file"),
    (["video", CLIP, "--aus", "smile", "-o", "out.gif"], "cannot hold h264"),
    (["video", CLIP, "--aus", "smile", "-o", "out.xyz"], "unknown video container"),
    (["video", CLIP, "-o", "out.mp4"], "exactly one of --aus"),
    (["video", CLIP, "--aus", "smile", "--driver", CLIP, "-o", "out.mp4"], "exactly one of --aus"),
    (["video", CLIP, "--aus", "smile", "-o", "out.mp4", "--faces", "biggest"], "--faces must be"),
    (["video", CLIP, "--aus", "smile", "-o", "out.mp4", "--driver-end", "rewind"], "--driver-end"),
    (["video", CLIP, "--aus", "smile", "-o", "out.mp4", "--model", "nope.pth"], "no such file"),
    (["image", FACE, "--aus", "smile", "-o", "out.txt"], "image file name"),
    (["image", FACE, "--sweep", "AU99", "-o", "out.png"], "unknown AU"),
])
def test_user_mistakes_are_one_line_errors(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    r = run(*args)
    assert r.exit_code != 0
    assert isinstance(r.exception, ReenactError), r.output
    assert message in str(r.exception)
    assert not (tmp_path / "out.mp4").exists()


def test_driver_without_a_face(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    driver = make_clip(tmp_path / "noface.mp4", [pattern(i, 96, 64) for i in range(5)], audio=None)
    r = run("video", CLIP, "--driver", driver, "-o", "out.mp4", "--model", "identity")
    assert isinstance(r.exception, ReenactError) and "no face" in str(r.exception)
    assert not (tmp_path / "out.mp4").exists()


def test_the_console_prints_one_line_without_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-c", "from reenact.cli.main import main; main()", "video",
                        str(tmp_path / "missing.mp4"), "--aus", "smile", "-o", str(tmp_path / "o.mp4")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("reenact")]
    assert lines == [f"reenact: error: {tmp_path / 'missing.mp4'}: no such file"]
    assert "Traceback" not in r.stderr


def test_image_edit_sweep_interpolate_and_masks(tmp_path):
    out = tmp_path / "out.png"
    r = run("image", FACE, "--aus", "smile", "-o", out, "--model", "identity", "--masks")
    assert r.exit_code == 0, r.output
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(FACE).convert("RGB")))
    masks = np.asarray(Image.open(tmp_path / "out_masks.png"))
    assert masks.shape == (4 + 260, 4 + 4 * 260, 3)  # crop | C | A | result, 256 px crops
    assert (masks[4:260, 4 + 2 * 260:4 + 2 * 260 + 256] == 255).all()  # A = 1 is white
    sweep = tmp_path / "sweep.png"
    r = run("image", FACE, "--sweep", "AU12", "--steps", "5", "-o", sweep, "--model", "identity")
    assert r.exit_code == 0, r.output
    assert np.asarray(Image.open(sweep)).shape == (4 + 260, 4 + 5 * 260, 3)
    strip = tmp_path / "strip.png"
    r = run("image", FACE, "--aus", "smile", "--interpolate", "3", "-o", strip, "--model", "identity")
    assert r.exit_code == 0, r.output
    assert np.asarray(Image.open(strip)).shape == (4 + 260, 4 + 3 * 260, 3)


def test_image_without_a_face(tmp_path):
    img = tmp_path / "flat.png"
    Image.fromarray(pattern(0, 120, 90)).save(img)
    r = run("image", img, "--aus", "smile", "-o", tmp_path / "o.png", "--model", "identity")
    assert isinstance(r.exception, ReenactError) and "no face" in str(r.exception)


@pytest.mark.parametrize("signame, code", [("SIGINT", 130), ("SIGTERM", 143), ("SIGHUP", 129)])
def test_ctrl_c_stops_cleanly_and_leaves_no_file(tmp_path, signame, code):
    """SIGINT, SIGTERM and SIGHUP all remove the .part file; the exit code says which signal."""
    import signal
    import time

    frames = [face_canvas(192, 144, [("london_002_03.jpg", 30 + i % 5, 5, 130)]) for i in range(300)]
    src = make_clip(tmp_path / "long.mp4", frames, fps=25)
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen([sys.executable, "-c", "from reenact.cli.main import main; main()", "video",
                             str(src), "--aus", "smile", "-o", str(out), "--model", "identity"],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(tmp_path.glob(".out.*.part.mp4")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(1.0)  # well inside the run
    assert proc.poll() is None, "the run ended before the signal"
    proc.send_signal(getattr(signal, signame))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err[-2000:]
    assert "interrupted: nothing written" in err and "Traceback" not in err
    assert f"interrupted by {signame}" in err or signame == "SIGINT"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4"]


def test_video_faces_id_that_never_appears_writes_nothing(tmp_path):
    out = tmp_path / "out.mp4"
    r = run("video", CLIP, "--aus", "smile", "-o", out, "--model", "identity", "--faces", "9")
    assert isinstance(r.exception, ReenactError), r.output
    assert "face 9 never appears" in str(r.exception) and "face ids found: 0" in str(r.exception)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_truncated_input_is_reported(tmp_path):
    import av

    full = tmp_path / "full.mp4"
    with av.open(str(full), "w", options={"movflags": "faststart"}) as out:  # index at the start
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 96, 64, "yuv420p"
        for i in range(60):
            f = av.VideoFrame.from_ndarray(pattern(i, 96, 64), format="rgb24")
            f.pts = i
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    data = full.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[:len(data) // 2])
    r = run("video", cut, "--aus", "smile", "-o", tmp_path / "out.mp4", "--model", "identity")
    assert r.exit_code == 0, r.output
    n = len(probe(tmp_path / "out.mp4")["times"])
    assert 0 < n < 60
    assert f"the input ended after {n} of its 60 declared frames" in r.output
    r = run("video", full, "--aus", "smile", "-o", tmp_path / "whole.mp4", "--model", "identity")
    assert r.exit_code == 0 and "declared frames" not in r.output
