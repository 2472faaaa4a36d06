"""OpenVINO bf16 is bf16 or refused: without AVX512-BF16/AMX OpenVINO would quietly run fp32."""
from __future__ import annotations

import pytest
import torch

from reenact.errors import BackendUnavailable
from reenact.models.networks import GENERATOR_CONFIGS, GanGenerator, Generator
from reenact.runtime import BackendConfig, available_backends, make_backend


def test_openvino_bf16_runs_bf16_or_says_why_not(tmp_path):
    torch.manual_seed(0)
    gen = GanGenerator(Generator(GENERATOR_CONFIGS["tiny"])).eval()
    if "openvino" not in available_backends("cpu", gen):
        pytest.skip("openvino is not installed")
    fp32 = make_backend("openvino", gen, cfg=BackendConfig(precision="fp32", threads=1, cache_dir=tmp_path))
    assert fp32.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name() == "f32"
    try:
        b = make_backend("openvino", gen, cfg=BackendConfig(precision="bf16", threads=1, cache_dir=tmp_path))
    except BackendUnavailable as e:
        assert "AVX512-BF16 or AMX" in str(e)
    else:
        assert b.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name() == "bf16"
