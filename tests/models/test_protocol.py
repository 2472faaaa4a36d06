"""Every generator Reenact ships satisfies reenact.models.protocol.FaceGenerator: the attributes
the engine, the backends, live/, webrtc/ and the CLI read, with the right types; one that lacks
one (a new backend, say) fails here rather than deep in the engine."""
from __future__ import annotations

import importlib.util

import pytest

from reenact.errors import ReenactError
from reenact.models.checkpoint import save_checkpoint
from reenact.models.load import load_generator
from reenact.models.networks import GanGenerator, Generator, GeneratorConfig
from reenact.models.protocol import ATTRIBUTE_TYPES, FaceGenerator, protocol_errors
from reenact.runtime import BackendConfig, make_backend
from reenact.runtime.base import REGISTRY, Backend
from reenact.runtime.model import resolve_generator
from reenact.tracking.align import AlignConfig

TINY = GeneratorConfig(image_size=32, width=8, n_sampling=1, n_res_blocks=1)
CPU_BACKENDS = ["torch"] + [n for n in ("onnxruntime", "openvino") if importlib.util.find_spec(n)]


def _checkpoint(tmp_path, margin: float = 0.25):
    path = tmp_path / "g.pt"
    save_checkpoint(path, Generator(TINY), align=AlignConfig(size=32, margin=margin))
    return str(path)


def _assert_is_a_generator(gen) -> None:
    assert protocol_errors(gen) == []
    assert isinstance(gen, FaceGenerator)
    assert gen.align.size == gen.image_size
    text = gen.describe()
    assert isinstance(text, str) and text


@pytest.mark.parametrize("spec", ["rig", "rig:geometry", "identity"])
def test_builtin_generators_satisfy_the_protocol(spec):
    _assert_is_a_generator(load_generator(spec))


def test_checkpoint_generator_satisfies_the_protocol_and_crops_as_trained(tmp_path):
    gen = load_generator(_checkpoint(tmp_path, margin=0.25))
    _assert_is_a_generator(gen)
    assert gen.name == "gan" and not gen.needs_landmarks
    assert gen.align == AlignConfig(size=32, margin=0.25)  # the crop it was trained on
    assert GanGenerator(Generator(TINY)).align == AlignConfig(size=32)  # none recorded: default


@pytest.mark.parametrize("name", CPU_BACKENDS)
def test_backends_satisfy_the_protocol_and_pass_on_the_generators_attributes(tmp_path, name):
    gen = load_generator(_checkpoint(tmp_path))
    b = make_backend(name, gen, cfg=BackendConfig(cache_dir=tmp_path, threads=1))
    _assert_is_a_generator(b)
    assert b.name == name and b.align == gen.align and b.needs_landmarks is False
    rig = make_backend("torch", "rig", threads=1)
    _assert_is_a_generator(rig)
    assert rig.needs_landmarks is True and rig.align == load_generator("rig").align


def test_every_registered_backend_is_built_on_the_protocol_base():
    # Backends that cannot run here (TensorRT without CUDA) are still checked for their base,
    # which sets image_size, align and needs_landmarks and defines describe().
    for spec in REGISTRY.values():
        assert issubclass(spec.cls, Backend) and spec.cls.name == spec.name
        assert spec.cls.precisions and callable(spec.cls.describe)


def test_a_generator_missing_an_attribute_fails_with_what_it_lacks():
    class NoAlign:
        name = "partial"
        image_size = 16
        needs_landmarks = "yes"

        def __call__(self, crops, aus, *, landmarks=None, source_aus=None):
            return None

    errors = protocol_errors(NoAlign())
    assert "no align" in errors and "no describe()" in errors
    assert "needs_landmarks is str, not bool" in errors
    with pytest.raises(ReenactError, match="not a generator: NoAlign .*no align"):
        resolve_generator(NoAlign())
    with pytest.raises(ReenactError, match="no align"):
        make_backend("torch", NoAlign())


def test_mismatched_crop_size_is_reported():
    gen = load_generator("identity")
    gen.align = AlignConfig(size=gen.image_size * 2)
    assert protocol_errors(gen) == [f"align.size {gen.image_size * 2} differs from image_size "
                                    f"{gen.image_size}"]
    with pytest.raises(ValueError, match="crop size 64 differs"):
        GanGenerator(Generator(TINY), AlignConfig(size=64))


def test_protocol_attribute_types_are_the_declared_ones():
    # The checked table and the Protocol's annotations name the same attributes.
    declared = set(FaceGenerator.__annotations__)
    assert declared == set(ATTRIBUTE_TYPES)
