"""benchmarks/gpu_check.py runs here on the CPU (its CUDA-only parts skip, each saying why), so the
check a lent GPU machine runs cannot rot between loans."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


def test_gpu_check_runs_on_the_cpu(tmp_path):
    out = tmp_path / "gpu.json"
    r = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--quick", "--models", "tiny",
                        "--precisions", "fp32,bf16,fp16", "--speed-precisions", "fp32",
                        "--modes", "eager,graph", "--json", str(out)],
                       cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(out.read_text())
    # The lent machine has none of these: the check must not import them.
    assert res["imported_forbidden"] == []
    prec = {row["precision"]: row for row in res["precision"]}
    assert "CUDA" in prec["fp16"]["skipped"]
    # bf16 against fp32 on the same weights: close, but not identical (it did run in bf16).
    assert 0 < prec["bf16"]["max_levels"] < 30
    eager = [row for row in res["speed"] if row["mode"] == "eager"]
    assert [row["batch"] for row in eager] == [1, 2] and all(row["faces_per_s"] > 0 for row in eager)
    assert all("CUDA" in row["skipped"] for row in res["speed"] if row["mode"] == "graph")
    assert "skipped" in res["kernels"] and "skipped" in res["tensorrt"]
    assert "## speed" in r.stdout
