"""Runtime backends agree with torch eager on a tiny seeded generator; auto selection; errors."""
from __future__ import annotations

import importlib.util
from dataclasses import replace

import numpy as np
import pytest
import torch

from reenact.models.networks import GENERATOR_CONFIGS, GanGenerator, Generator
from reenact.models.protocol import FaceGenerator, GeneratorOutput
from reenact.runtime import (BackendConfig, BackendUnavailable, available_backends, choose_auto,
                             make_backend, why_unavailable)
from reenact.tracking.align import AlignConfig

CPU_COMPILED = [n for n in ("onnxruntime", "openvino") if importlib.util.find_spec(n)]


@pytest.fixture
def gen() -> GanGenerator:
    torch.manual_seed(0)
    net = Generator(GENERATOR_CONFIGS["tiny"])
    # Non-trivial norm affine parameters, so a backend that dropped them would be caught.
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.InstanceNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return GanGenerator(net).eval()


@pytest.fixture
def cfg(tmp_path) -> BackendConfig:
    return BackendConfig(cache_dir=tmp_path, threads=1)


def _inputs(n=3, s=64):
    g = torch.Generator().manual_seed(3)
    return torch.rand(n, 3, s, s, generator=g) * 2 - 1, torch.rand(n, 17, generator=g) * 5


@pytest.mark.parametrize("name", ["torch", *CPU_COMPILED])
def test_backend_agrees_with_torch_eager(gen, cfg, name):
    crops, aus = _inputs()
    with torch.inference_mode():
        ref = gen(crops, aus)
    b = make_backend(name, gen, cfg=cfg)
    assert isinstance(b, FaceGenerator) and b.name == name and b.image_size == 64
    out = b(crops, aus)
    assert isinstance(out, GeneratorOutput)
    assert out.color.shape == (3, 3, 64, 64) and out.attention.shape == (3, 1, 64, 64)
    assert out.color.dtype == torch.float32
    torch.testing.assert_close(out.color, ref.color, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out.attention, ref.attention, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", CPU_COMPILED)
def test_dynamic_batch_and_chunking(gen, tmp_path, name):
    # batch_limit 2: five faces run as 2 + 2 + 1 through one dynamic-batch graph.
    cfg = BackendConfig(cache_dir=tmp_path, threads=1, max_batch=2)
    b = make_backend(name, gen, cfg=cfg)
    crops, aus = _inputs(5)
    with torch.inference_mode():
        ref = gen(crops, aus)
    out = b(crops, aus)
    torch.testing.assert_close(out.color, ref.color, atol=1e-4, rtol=1e-4)
    one = b(crops[:1], aus[:1])
    torch.testing.assert_close(one.attention, ref.attention[:1], atol=1e-4, rtol=1e-4)
    empty = b(crops[:0], aus[:0])
    assert empty.color.shape == (0, 3, 64, 64)


def test_backend_output_depends_on_aus(gen, cfg):
    # The AU input must reach the graph (not be folded to a constant by tracing).
    if not CPU_COMPILED:
        pytest.skip("no compiled CPU backend installed")
    b = make_backend(CPU_COMPILED[0], gen, cfg=cfg)
    crops, aus = _inputs(1)
    a = b(crops, aus).color
    c = b(crops, torch.clamp(5 - aus, 0, 5)).color
    assert (a - c).abs().max() > 1e-4


def test_int8_onnxruntime_stays_close(gen, cfg):
    pytest.importorskip("onnxruntime")
    crops, aus = _inputs()
    with torch.inference_mode():
        ref = gen(crops, aus)
    out = make_backend("onnxruntime", gen, cfg=replace(cfg, precision="int8"))(crops, aus)
    err = (out.color - ref.color).abs()
    assert err.mean() < 0.02 and err.max() < 0.2


def test_torch_backend_wraps_a_non_network_generator_unchanged(cfg):
    class Shift:
        name = "shift"
        image_size = 16
        align = AlignConfig(size=16)
        needs_landmarks = True

        def describe(self) -> str:
            return "shift"

        def __call__(self, crops, aus, *, landmarks=None, source_aus=None):
            assert landmarks is not None and source_aus is not None
            return GeneratorOutput(color=crops + (aus - source_aus).mean(), attention=crops[:, :1] * 0)

    g = Shift()
    b = make_backend("torch", g, cfg=cfg)
    crops, aus = torch.zeros(2, 3, 16, 16), torch.full((2, 17), 2.0)
    out = b(crops, aus, landmarks=torch.zeros(2, 478, 2), source_aus=torch.ones(2, 17))
    assert b.needs_landmarks and torch.allclose(out.color, torch.ones(2, 3, 16, 16))
    # Compiled backends refuse it with a reason, and auto picks torch for it.
    for name in CPU_COMPILED:
        assert "not a GAN network" in why_unavailable(name, "cpu", g)
        with pytest.raises(BackendUnavailable, match="only the torch backend"):
            make_backend(name, g, cfg=cfg)
    assert choose_auto("cpu", g) == "torch"


def test_auto_picks_the_fastest_available_and_says_which(gen, cfg, caplog):
    avail = available_backends("cpu", gen)
    assert "torch" in avail and "tensorrt" not in avail
    expected = next(n for n in ("openvino", "onnxruntime", "torch") if n in avail)
    with caplog.at_level("INFO", logger="reenact.runtime"):
        b = make_backend("auto", gen, cfg=cfg)
    assert b.name == expected
    assert f"backend auto -> {expected}" in caplog.text


def test_unavailable_backend_is_an_error_not_a_fallback(gen, cfg):
    with pytest.raises(BackendUnavailable, match="tensorrt.*not available"):
        make_backend("tensorrt", gen, cfg=cfg)
    with pytest.raises(BackendUnavailable, match="unknown backend 'fastest'"):
        make_backend("fastest", gen, cfg=cfg)
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailable, match="CUDA"):
            make_backend("torch", gen, cfg=replace(cfg, device="cuda"))


def test_unsupported_precision_is_an_error(gen, cfg):
    with pytest.raises(BackendUnavailable, match="does not run int8"):
        make_backend("torch", gen, cfg=replace(cfg, precision="int8"))
    with pytest.raises(Exception, match="precision must be one of"):
        BackendConfig(precision="fp8")


def test_export_cache_is_reused(gen, cfg):
    pytest.importorskip("onnxruntime")
    a = make_backend("onnxruntime", gen, cfg=cfg)
    mtime = a.onnx_path.stat().st_mtime_ns
    b = make_backend("onnxruntime", gen, cfg=cfg)
    assert b.onnx_path == a.onnx_path and b.onnx_path.stat().st_mtime_ns == mtime
    files = list((cfg.cache / "onnx").glob("*.onnx"))
    assert len(files) == 1 and not list((cfg.cache / "onnx").glob("*.tmp*"))


def test_torch_backend_bf16_is_close(gen, cfg):
    crops, aus = _inputs(2)
    with torch.inference_mode():
        ref = gen(crops, aus)
    out = make_backend("torch", gen, cfg=replace(cfg, precision="bf16"))(crops, aus)
    assert out.color.dtype == torch.float32
    assert np.abs((out.color - ref.color).numpy()).mean() < 0.05


def test_wrong_crop_size_is_a_clear_error(gen, cfg):
    b = make_backend("torch", gen, cfg=cfg)
    with pytest.raises(ValueError, match="64x64 crops"):
        b(torch.zeros(1, 3, 32, 32), torch.zeros(1, 17))


def test_make_backend_takes_a_config_or_keywords_not_both(gen, cfg):
    from reenact.errors import ReenactError

    # A config is used as given: its batch and threads are not replaced by keyword defaults.
    b = make_backend("torch", gen, cfg=replace(cfg, batch=3, threads=2))
    assert (b.cfg.batch, b.cfg.threads, b.cfg.cache_dir) == (3, 2, cfg.cache_dir)
    assert b.cfg.precision == "fp32"  # None in the config: the backend's preferred precision
    # Keywords build the config; what they leave out is BackendConfig's default.
    k = make_backend("torch", gen, batch=2, threads=1)
    assert (k.cfg.device, k.cfg.batch, k.cfg.threads, k.cfg.precision) == ("cpu", 2, 1, "fp32")
    assert k.describe().startswith("torch (cpu, fp32, batch 2, 1 threads")
    with pytest.raises(ReenactError, match=r"not both: got cfg and batch=2, precision='bf16'"):
        make_backend("torch", gen, cfg=cfg, batch=2, precision="bf16")
