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
    assert saved["machine"]["cores_usable"] >= 1 and saved["peak"]["fp32@1"]["gflops_median"] > 0
    assert len(saved["machine"]["loadavg_start"]) == 3 and saved["machine"]["cpu"]
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


def test_each_row_is_judged_against_its_own_precision_and_threads(fps, tmp_path):
    out_path = tmp_path / "fps.json"
    fps.main(["--only", "generator", "--configs", "tiny", "--batches", "1", "--backends", "torch,onnxruntime",
              "--precisions", "fp32,bf16,int8", "--quick", "--threads", "1", "--peak-n", "128",
              "--peak-repeats", "2", "--json", str(out_path)])
    saved = json.loads(out_path.read_text())
    rows = [r for r in saved["generator"] if r["error"] is None]
    assert {r["precision"] for r in rows} >= {"fp32", "bf16"}
    for r in rows:
        assert r["peak_threads"] == r["threads"] == 1
        if r["precision"] == "int8":  # no torch matmul to compare quantized convolutions with
            assert r["peak_precision"] is None and r["peak_fraction"] is None
            assert r["peak_note"].startswith("n/a")
            continue
        assert r["peak_precision"] == r["precision"]
        yard = saved["peak"][f"{r['precision']}@1"]
        assert len(yard["samples"]) == 2 and r["peak_gflops"] == yard["gflops_median"]
        assert r["peak_fraction"] == r["gflops"] / r["peak_gflops"]
        assert r["peak_fraction"] <= 1.0 or r["peak_note"]


def test_yardstick_keeps_the_median_and_explains_rows_above_peak(fps):
    import statistics

    import benchlib

    y = benchlib.Yardstick(n=64, runs=1, repeats=3)
    for _ in range(5):
        y.sample("fp32", 1)
    samples = y.samples[("fp32", 1)]
    assert len(samples) == 3 and y.peak("fp32", 1) == statistics.median(samples)
    assert y.peak("int8", 1) is None

    def row(**extra):
        return {"backend": "openvino", "precision": "fp32", "threads": 1, "gflops": 1e9 * y.peak("fp32", 1),
                "extra": extra}

    assert y.judge(row(kernels={"jit_avx512_winograd fp32": 3}))["peak_note"].startswith("Winograd")
    assert "bf16" in y.judge(row(kernels={"brgconv_avx512_amx bf16": 3}))["peak_note"]
    assert "every MAC executed" in y.judge(row(kernels={"brgconv_avx2_f32 fp32": 3}))["peak_note"]
    below = y.judge({**row(), "gflops": 0.5 * y.peak("fp32", 1)})
    assert below["peak_fraction"] == 0.5 and "peak_note" not in below


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
