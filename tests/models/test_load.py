"""load_generator: the embedded rig (offline, from package data), identity, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from reenact.errors import ReenactError
from reenact.models.load import load_generator
from reenact.models.protocol import FaceGenerator
from reenact.tracking.align import template_points


def test_rig_loads_from_package_data_and_runs():
    gen = load_generator("rig")
    assert isinstance(gen, FaceGenerator) and gen.needs_landmarks
    s = gen.image_size
    assert gen.align.size == s
    lms = torch.from_numpy(template_points(gen.align)[None])
    crops = torch.zeros(1, 3, s, s)
    src = torch.zeros(1, 17)
    tgt = src.clone()
    tgt[0, 8] = 3.0                                                     # AU12
    out = gen(crops, tgt, landmarks=lms, source_aus=src)
    assert out.color.shape == (1, 3, s, s) and out.attention.shape == (1, 1, s, s)
    assert out.attention.min() < 1.0


def test_rig_from_a_fitted_file(tmp_path):
    from reenact.models.rig.model import RigModel

    path = tmp_path / "mine.npz"
    RigModel.load().save(path)
    assert load_generator(f"rig:{path}").model.weights.shape == (17, 478, 2)


def test_rig_shading_on_by_default_geometry_spec_turns_it_off():
    assert load_generator("rig").cfg.appearance and load_generator("rig").appearance is not None
    assert not load_generator("rig:geometry").cfg.appearance


def test_rig_with_an_appearance_file(tmp_path):
    from reenact.models.rig.appearance import AppearanceModel

    app = AppearanceModel.load()
    app.fields = app.fields * 0.5
    path = tmp_path / "shading.npz"
    app.save(path)
    gen = load_generator(f"rig:{path}")
    assert gen.cfg.appearance
    assert np.allclose(gen.appearance.fields, app.fields, atol=1e-3)


def test_identity_returns_input():
    gen = load_generator("identity")
    crops = torch.rand(2, 3, 32, 32) * 2 - 1
    out = gen(crops, torch.zeros(2, 17))
    assert torch.equal(out.blend(crops), crops)


@pytest.mark.parametrize("spec", ["no_such_model", "rig:/nonexistent/rig.npz"])
def test_unknown_specs_are_one_line_errors(spec):
    with pytest.raises(ReenactError):
        load_generator(spec)


def test_bad_rig_file_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, something=np.zeros(3))
    with pytest.raises(ReenactError, match="not a rig file"):
        load_generator(f"rig:{path}")


def test_checkpoint_path_goes_to_the_gan_loader(tmp_path):
    from reenact.models.checkpoint import save_checkpoint
    from reenact.models.networks import Generator as Net, GeneratorConfig

    net = Net(GeneratorConfig(image_size=32, width=8, n_sampling=1, n_res_blocks=1))
    path = tmp_path / "g.pt"
    save_checkpoint(path, net)
    gen = load_generator(str(path))
    assert gen.image_size == 32
