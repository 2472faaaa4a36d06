"""``reenact eval`` on runtime backends: SPEC@BACKEND:PRECISION parsing, one checkpoint on two
backends in one report (with raw output agreement), and clear errors for what cannot run here."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reenact.errors import ReenactError
from reenact.eval.agreement import compare_edits
from reenact.eval.backends import ModelSpec, model_label, parse_model_spec
from reenact.eval.editing import EditedFrame
from reenact.eval.report import EvalConfig, run_eval
from reenact.eval.schema import validate

FACES = Path(__file__).parents[1] / "data" / "faces"


@pytest.fixture
def tiny_checkpoint(tmp_path) -> Path:
    import torch

    from reenact.models.checkpoint import save_checkpoint
    from reenact.models.networks import Generator, GeneratorConfig

    torch.manual_seed(0)
    net = Generator(GeneratorConfig(image_size=32, width=8, n_sampling=1, n_res_blocks=1))
    return save_checkpoint(tmp_path / "tiny.pt", net)


@pytest.fixture
def one_face(tmp_path) -> Path:
    d = tmp_path / "faces"
    d.mkdir()
    (d / "002.jpg").write_bytes((FACES / "london_002_03.jpg").read_bytes())
    return d


@pytest.mark.parametrize("text, expected", [
    ("rig", ModelSpec("rig")),
    ("rig:geometry", ModelSpec("rig:geometry")),
    ("rig:geometry@torch", ModelSpec("rig:geometry", "torch")),
    ("runs/x/ckpt.pt@openvino:bf16", ModelSpec("runs/x/ckpt.pt", "openvino", "bf16")),
    ("ckpt.pt@ort:int8", ModelSpec("ckpt.pt", "ort", "int8")),
    ("ckpt.pt@auto", ModelSpec("ckpt.pt", "auto")),
    ("me@home/ckpt.pt", ModelSpec("me@home/ckpt.pt")),  # an '@' in a path is not a backend
])
def test_parse_model_spec(text, expected):
    assert parse_model_spec(text) == expected


@pytest.mark.parametrize("text, words", [
    ("ckpt.pt@openvino:fp8", ("unknown precision", "fp8", "bf16")),
    ("ckpt.pt@tensorflow:fp16", ("unknown backend", "tensorflow", "onnxruntime")),
    ("@torch", ("no model before",)),
])
def test_bad_model_spec_is_named(text, words):
    with pytest.raises(ReenactError) as e:
        parse_model_spec(text)
    assert all(w in str(e.value) for w in words), str(e.value)


def test_run_default_applies_only_where_the_spec_has_none():
    m = parse_model_spec("a.pt@openvino").resolved("onnxruntime", "int8")
    assert m == ModelSpec("a.pt", "openvino", "int8")
    assert parse_model_spec("rig").resolved(None, None) == ModelSpec("rig")
    assert model_label(ModelSpec("rig"), "torch", "fp32") == "rig"  # reports read as before
    assert model_label(ModelSpec("a.pt", "auto"), "openvino", "fp32") == "a.pt@openvino:fp32"


def _edit(out: np.ndarray, attention: np.ndarray, color: np.ndarray) -> EditedFrame:
    return EditedFrame(image=out.copy(), crop_in=out, crop_out=out, color=color, attention=attention,
                    crop_from_frame=np.eye(2, 3), size=out.shape[0])


def test_compare_edits_known_differences():
    rng = np.random.default_rng(0)
    out = rng.integers(0, 250, (8, 8, 3), dtype=np.uint8)
    att = rng.random((8, 8)).astype(np.float32)
    same = compare_edits(_edit(out, att, out), _edit(out, att, out))
    assert same["output_max"] == 0 and same["output_psnr"] == float("inf")
    shifted = out.copy()
    shifted[0, 0, 0] += 4  # one value 4 levels off: max 4, mean 4 / 192
    d = compare_edits(_edit(out, att, out), _edit(shifted, att + 0.01, out))
    assert d["output_max"] == 4 and d["output_mean"] == pytest.approx(4 / out.size)
    assert d["attention_max"] == pytest.approx(0.01, abs=1e-6)
    assert d["color_max"] == 0
    assert d["output_psnr"] == pytest.approx(10 * np.log10(255 ** 2 / (16 / out.size)))


def test_one_checkpoint_on_torch_and_onnxruntime_in_one_report(tiny_checkpoint, one_face, tmp_path,
                                                               monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("REENACT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "report"
    cfg = EvalConfig(models=(f"{tiny_checkpoint}@torch", f"{tiny_checkpoint}@onnxruntime:fp32"),
                     out=out, faces=one_face, presets=("smile",), sweep_aus=("AU12",),
                     sweep_levels=(0.0, 5.0), strips=1, interp_steps=2, sweep_faces=0, identity=False)
    run_eval(cfg)
    data = json.loads((out / "report.json").read_text())
    assert validate(data) == []
    names = [m["name"] for m in data["models"]]
    assert names == [f"{tiny_checkpoint}@torch:fp32", f"{tiny_checkpoint}@onnxruntime:fp32"]
    assert data["models"][1]["backend"].startswith("onnxruntime (cpu, fp32")
    md = (out / "report.md").read_text()
    assert f"| figure | `{names[0]}` | `{names[1]}` |" in md
    agree = data["agreement"]["models"][names[1]]
    # The same fp32 network on two runtimes: the pasted pixels agree to rounding.
    assert agree["comparable"] and agree["count"] == 1
    assert agree["output_max"] <= 2 and agree["attention_max"] < 1e-3
    assert "Raw output agreement with" in md


def test_precision_a_backend_does_not_run_is_an_error(tiny_checkpoint, one_face, tmp_path):
    pytest.importorskip("onnxruntime")
    cfg = EvalConfig(models=(str(tiny_checkpoint),), out=tmp_path / "r", faces=one_face,
                     backend="onnxruntime", precision="bf16", identity=False)
    with pytest.raises(ReenactError, match="onnxruntime.*bf16"):
        run_eval(cfg)


def test_unavailable_backend_is_a_one_line_error(tiny_checkpoint, one_face, tmp_path):
    r = subprocess.run([sys.executable, "-c", "from reenact.cli.main import main; main()", "eval",
                        "--model", f"{tiny_checkpoint}@tensorrt", "--faces", str(one_face),
                        "--no-identity", "--out", str(tmp_path / "r")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("reenact: error:")]
    assert len(err) == 1 and "tensorrt" in err[0] and "not available" in err[0], r.stderr
    assert "Traceback" not in r.stderr


def test_cli_rejects_unknown_backend_option(one_face, tmp_path):
    from typer.testing import CliRunner

    from reenact.cli.main import app

    res = CliRunner().invoke(app, ["eval", "--model", "identity", "--backend", "cuda",
                                   "--faces", str(one_face), "--out", str(tmp_path / "r")])
    assert isinstance(res.exception, ReenactError)
    assert "--backend" in str(res.exception) and "unknown backend 'cuda'" in str(res.exception)
