"""ONNX export (dynamic batch, AU input), model hash, and what of the TensorRT path runs without
TensorRT: the torch.export graph with a symbolic batch, the shape profiles, the engine cache key."""
from __future__ import annotations

import copy

import pytest
import torch

from reenact.models.networks import GENERATOR_CONFIGS, GanGenerator, Generator
from reenact.runtime.model import ExportGraph, example_inputs, export_graph, model_hash
from reenact.runtime.onnx_export import INPUT_NAMES, OUTPUT_NAMES, export_onnx
from reenact.runtime.tensorrt_backend import engine_key, export_program, input_ranges


@pytest.fixture
def gen() -> GanGenerator:
    torch.manual_seed(0)
    return GanGenerator(Generator(GENERATOR_CONFIGS["tiny"])).eval()


def test_export_graph_equals_the_protocol_wrapper(gen):
    crops, aus = example_inputs(64, batch=3)
    graph = export_graph(gen)
    assert isinstance(graph, ExportGraph)
    with torch.inference_mode():
        c, a = graph(crops, aus)
        ref = gen(crops, aus)
    torch.testing.assert_close(c, ref.color)
    torch.testing.assert_close(a, ref.attention)


def test_onnx_export_has_dynamic_batch_and_the_au_input(gen, tmp_path):
    onnx = pytest.importorskip("onnx")
    path = export_onnx(gen, tmp_path / "g.onnx")
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    ins = {i.name: i for i in model.graph.input}
    outs = {o.name: o for o in model.graph.output}
    assert set(ins) == set(INPUT_NAMES) and set(outs) == set(OUTPUT_NAMES)

    def dims(v):
        return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]

    assert dims(ins["crops"]) == ["batch", 3, 64, 64]
    assert dims(ins["aus"]) == ["batch", 17]
    assert dims(outs["color"]) == ["batch", 3, 64, 64]
    assert dims(outs["attention"]) == ["batch", 1, 64, 64]
    assert not list(tmp_path.glob("*.tmp"))


def test_onnx_export_fixed_batch(gen, tmp_path):
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(export_onnx(gen, tmp_path / "g1.onnx", dynamic_batch=False, batch=4)))
    d = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert d.dim_value == 4 and not d.dim_param


def test_onnx_runs_any_batch(gen, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(str(export_onnx(gen, tmp_path / "g.onnx")),
                                providers=["CPUExecutionProvider"])
    for n in (1, 5):
        crops, aus = example_inputs(64, batch=n)
        color, attn = sess.run(None, {"crops": crops.numpy(), "aus": aus.numpy()})
        with torch.inference_mode():
            ref = gen(crops, aus)
        torch.testing.assert_close(torch.from_numpy(color), ref.color, atol=1e-4, rtol=1e-4)
        assert attn.shape == (n, 1, 64, 64)


def test_model_hash_is_stable_and_sensitive(gen):
    h = model_hash(export_graph(gen))
    assert h == model_hash(export_graph(copy.deepcopy(gen)))
    other = copy.deepcopy(gen)
    with torch.no_grad():
        other.net.color_head.weight[0, 0, 0, 0] += 1e-3
    assert model_hash(export_graph(other)) != h
    assert model_hash(export_graph(gen), {"opset": 18}) != h


def test_torch_export_program_has_a_symbolic_batch(gen):
    # The input TensorRT compiles: one program serving batch 1..max_batch.
    ep = export_program(export_graph(gen), 64, max_batch=8)
    mod = ep.module()
    for n in (1, 3, 8):
        crops, aus = example_inputs(64, batch=n)
        c, a = mod(crops, aus)
        with torch.inference_mode():
            ref = gen(crops, aus)
        torch.testing.assert_close(c, ref.color, atol=1e-5, rtol=1e-5)
        assert a.shape == (n, 1, 64, 64)
    with pytest.raises(Exception):
        mod(*example_inputs(64, batch=9))  # outside the profile


def test_tensorrt_input_ranges():
    r = input_ranges(128, batch=8, max_batch=32)
    assert [x.name for x in r] == ["crops", "aus"]
    assert r[0].min == (1, 3, 128, 128) and r[0].opt == (8, 3, 128, 128) and r[0].max == (32, 3, 128, 128)
    assert r[1].min == (1, 17) and r[1].opt == (8, 17) and r[1].max == (32, 17)
    with pytest.raises(ValueError):
        input_ranges(128, batch=16, max_batch=8)


def test_tensorrt_cache_key_stability_and_sensitivity():
    base = dict(weights_hash="ab" * 32, gpu_name="NVIDIA H100 80GB HBM3", trt_version="10.9.0",
                ranges=input_ranges(128, 8, 32), precision="fp16", torch_trt_version="2.9.0",
                compute_capability="9.0")

    def key(**change):
        kw = {**base, **change}
        return engine_key(kw.pop("weights_hash"), kw.pop("gpu_name"), kw.pop("trt_version"),
                          kw.pop("ranges"), **kw)

    k = key()
    assert k == key() and len(k) == 32 and all(c in "0123456789abcdef" for c in k)
    assert key(gpu_name=" NVIDIA H100 80GB HBM3 ") == k  # driver padding is not a new GPU
    changed = [key(weights_hash="cd" * 32), key(gpu_name="NVIDIA A10G"), key(trt_version="10.10.0"),
               key(ranges=input_ranges(128, 4, 32)), key(ranges=input_ranges(128, 8, 64)),
               key(ranges=input_ranges(256, 8, 32)), key(precision="fp32"),
               key(torch_trt_version="2.10.0"), key(compute_capability="8.9")]
    assert len(set(changed)) == len(changed) and k not in changed


@pytest.mark.cuda
def test_tensorrt_backend_matches_torch_on_gpu(gen, tmp_path):
    pytest.importorskip("torch_tensorrt")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from reenact.runtime import BackendConfig, make_backend

    cfg = BackendConfig(cache_dir=tmp_path, device="cuda", batch=4)
    b = make_backend("tensorrt", gen, cfg=cfg)
    crops, aus = example_inputs(64, batch=4, device="cuda")
    out = b(crops, aus)
    with torch.inference_mode():
        ref = gen.to("cuda")(crops, aus)
    # fp16 engine: compare loosely.
    assert (out.color - ref.color).abs().mean() < 1e-2
    assert b.cfg.precision == "fp16" and b.engine_path.is_file()  # TensorRT prefers fp16
    again = make_backend("tensorrt", gen, cfg=cfg)  # from the cache
    torch.testing.assert_close(again(crops, aus).color, out.color, atol=1e-3, rtol=0)


def test_export_command_writes_a_checked_onnx(gen, tmp_path):
    pytest.importorskip("onnxruntime")
    from typer.testing import CliRunner

    from reenact.cli.main import app
    from reenact.models.checkpoint import save_checkpoint

    ckpt = save_checkpoint(tmp_path / "g.pt", gen.net)
    out = tmp_path / "g.onnx"
    res = CliRunner().invoke(app, ["export", str(ckpt), "--format", "onnx", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert out.is_file() and "batch dynamic" in res.output
    # The printed check is a real comparison with torch: fp32 export agrees to ~1e-6.
    diff = float(res.output.split("colour max |diff| ")[1].split()[0])
    assert diff < 1e-4
    bad = CliRunner().invoke(app, ["export", str(ckpt), "--format", "tflite", "-o", str(out)])
    assert bad.exit_code != 0 and "tflite" in str(bad.exception or bad.output)


@pytest.mark.parametrize("k,pad,size,bias", [(7, 3, 16, False), (7, 3, 64, True), (3, 1, 8, True),
                                             (5, 2, 5, False)])
def test_au_stem_equals_the_conv_over_tiled_maps(k, pad, size, bias):
    from reenact.runtime.model import AUStem, _border_cases

    torch.manual_seed(k * 100 + size)
    conv = torch.nn.Conv2d(3 + 17, 6, k, 1, pad, bias=bias)
    stem = AUStem(conv, 3, size)
    img = torch.rand(4, 3, size, size) * 2 - 1
    aus = torch.rand(4, 17)
    maps = aus[:, :, None, None].expand(4, 17, size, size)
    with torch.no_grad():
        ref = conv(torch.cat([img, maps], 1))
        out = stem(img, aus)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    cases, index = _border_cases(size, k, pad)
    assert len(cases) == min(2 * pad + 1, size) and len(index) == size


def test_fused_graph_costs_fewer_macs_and_matches(gen):
    from reenact.models.networks import count_cost

    crops, aus = example_inputs(64, batch=1)
    fused, plain = ExportGraph(gen.net), ExportGraph(gen.net, fuse_stem=False)
    assert count_cost(fused, crops, aus).macs < count_cost(plain, crops, aus).macs
    with torch.inference_mode():
        torch.testing.assert_close(fused(crops, aus), plain(crops, aus), atol=1e-5, rtol=1e-5)
