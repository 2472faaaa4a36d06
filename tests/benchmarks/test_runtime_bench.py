"""The benchmark harness itself (not speed): fps.py's generator grid covers every available backend
and batch, its JSON is complete, and its difference column is a real comparison with torch."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def fps():
    sys.path.insert(0, str(BENCH))
    try:
        import fps as mod
        yield mod
    finally:
        sys.path.remove(str(BENCH))


def test_fps_generator_grid_and_json(fps, tmp_path):
    from reenact.runtime import available_backends
    import benchlib

    out_path = tmp_path / "fps.json"
    out = fps.main(["--only", "generator", "--configs", "tiny", "--batches", "1,3", "--precisions", "fp32",
                    "--quick", "--threads", "1", "--peak-n", "256", "--json", str(out_path)])
    saved = json.loads(out_path.read_text())
    assert saved["machine"]["cores_usable"] >= 1 and saved["peak"]["gflops_best"] > 0
    rows = saved["generator"]
    expected = set(available_backends("cpu", benchlib.make_gan("tiny")))
    assert {r["backend"] for r in rows} == expected
    assert {r["batch"] for r in rows} == {1, 3}
    for r in rows:
        assert r["error"] is None
        assert r["ms_per_face"] > 0 and r["faces_per_s"] > 0 and 0 < r["peak_fraction"]
        assert r["max_abs_diff"] < 1e-3  # fp32 backends agree with torch eager
    assert out["auto_backend"]["cpu"] in expected
    assert not list(tmp_path.glob("*.tmp"))


def test_table_formats_missing_values(fps):
    import benchlib

    text = benchlib.table([{"a": 1.234, "b": None}, {"a": float("nan"), "b": "x"}],
                          [("a", "A", "{:.1f}"), ("b", "B", "{}")])
    lines = text.splitlines()
    assert lines[0] == "| A | B |" and lines[2] == "| 1.2 | - |" and lines[3] == "| - | x |"


@pytest.mark.slow
def test_pipeline_serial_run_times_every_stage(fps, tmp_path):
    import pipeline
    from reenact.models.load import load_generator
    from reenact.tracking.tracker import TrackerConfig

    clip = Path(__file__).resolve().parents[2] / "examples" / "video" / "clip.mp4"
    if not clip.is_file():
        pytest.skip("bundled clip missing")
    spec = pipeline.RunSpec("identity", load_generator("identity"), TrackerConfig(mode="video"), threads=1)
    r = pipeline.run_file(spec, clip, 3, tmp_path)
    assert r["frames"] == 3 and r["faces"] == 3
    assert set(r["stage_ms"]) == set(pipeline.STAGES)
    assert all(v > 0 for v in r["stage_ms"].values())
    assert (tmp_path / "identity.mp4").stat().st_size > 0
