"""The rig's learned refiner: shapes, exact zero edit (it can only change where the rig moves),
save/load, the paired losses, and a tiny seeded refiner whose paired L1 falls on real pairs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from reenact.aus.names import NUM_AUS, au_index
from reenact.models.networks import GeneratorConfig
from reenact.models.protocol import GeneratorOutput
from reenact.models.rig.generator import RigConfig, RigGenerator
from reenact.models.rig.model import RigModel
from reenact.tracking.align import AlignConfig, template_points
# research/ is not installed; tests/conftest.py makes it importable.
from research.refiner.model import RefinedRigGenerator, RefinerConfig, RefinerNet, load_refiner, refine, save_refiner
from research.refiner.train import (RefinerTrainConfig, gradient_l1, masked_l1, match_exposure, to_tensors,
                                    train)

PAIRS = Path(__file__).parents[1] / "data" / "refiner" / "pairs_32.npz"


def _tiny(with_input: bool = True) -> RefinerNet:
    return RefinerNet(RefinerConfig(GeneratorConfig(image_size=32, width=8, n_res_blocks=1,
                                                    upsample="resize_conv"), with_input))


def _images(rng, n: int, s: int) -> torch.Tensor:
    return torch.from_numpy(rng.uniform(-1, 1, (n, 3, s, s)).astype(np.float32))


@pytest.mark.parametrize("with_input", [True, False])
def test_shapes_and_ranges(rng, with_input):
    net = _tiny(with_input)
    crop, rig = _images(rng, 2, 32), _images(rng, 2, 32)
    aus = torch.full((2, NUM_AUS), 2.0)
    with torch.no_grad():
        refined, color, att = net(crop, rig, aus, torch.ones(2, 1, 32, 32))
    assert refined.shape == color.shape == (2, 3, 32, 32) and att.shape == (2, 1, 32, 32)
    assert float(att.min()) >= 0.0 and float(att.max()) <= 1.0
    assert float(color.abs().max()) <= 1.0


def test_refiner_changes_nothing_outside_the_rig_region(rng):
    net = _tiny()
    crop, rig = _images(rng, 1, 32), _images(rng, 1, 32)
    region = torch.zeros(1, 1, 32, 32)
    region[..., 8:20, 10:24] = 1.0
    refined, _, _ = net(crop, rig, torch.ones(1, NUM_AUS), region)
    outside = region == 0
    assert torch.equal(refined.expand_as(rig)[outside.expand_as(rig)], rig[outside.expand_as(rig)])
    assert not torch.equal(refined, rig)          # inside, the untrained net does change pixels
    # At a larger crop the change is computed at the net's size and gated at full size.
    big_rig, big_crop = _images(rng, 1, 64), _images(rng, 1, 64)
    big_region = torch.zeros(1, 1, 64, 64)
    big_region[..., 20:40, 20:40] = 1.0
    out = refine(net, big_crop, big_rig, torch.ones(1, NUM_AUS), big_region)
    keep = (big_region == 0).expand_as(big_rig)
    assert out.shape == big_rig.shape and torch.equal(out[keep], big_rig[keep])


def test_zero_edit_through_the_rig_is_exact(rng):
    rig = RigGenerator(RigModel.load(), RigConfig(size=64))
    gen = RefinedRigGenerator(rig, _tiny())
    crops = _images(rng, 1, 64)
    pts = template_points(AlignConfig(size=64, margin=0.2)).astype(np.float32)[None]
    src = torch.from_numpy(rng.uniform(0, 2, (1, NUM_AUS)).astype(np.float32))
    out = gen(crops, src.clone(), landmarks=torch.from_numpy(pts), source_aus=src)
    assert torch.equal(out.blend(crops), crops)
    # A real edit: the output differs from the rig alone only where the rig moved something.
    tgt = src.clone()
    tgt[0, au_index("AU12")] = 4.0
    ed = gen(crops, tgt, landmarks=torch.from_numpy(pts), source_aus=src)
    alone = rig(crops, tgt, landmarks=torch.from_numpy(pts), source_aus=src)
    still = (alone.attention == 1.0).expand_as(crops)
    assert isinstance(ed, GeneratorOutput) and still.any() and (~still).any()
    assert torch.equal(ed.blend(crops)[still], crops[still])
    assert not torch.equal(ed.blend(crops), alone.blend(crops))


def test_save_load_round_trip(tmp_path, rng):
    net = _tiny(with_input=False)
    save_refiner(net, tmp_path / "r.pt", {"note": 1})
    back = load_refiner(tmp_path / "r.pt")
    assert back.cfg == net.cfg
    x, aus, m = _images(rng, 1, 32), torch.ones(1, NUM_AUS), torch.ones(1, 1, 32, 32)
    net.eval()
    assert torch.allclose(net(x, x, aus, m)[0], back(x, x, aus, m)[0])


def test_losses_and_exposure_match(rng):
    a = _images(rng, 1, 16)
    m = torch.ones(1, 1, 16, 16)
    assert masked_l1(a, a, m).item() == 0.0 and gradient_l1(a, a + 0.3, m).item() == pytest.approx(0.0, abs=1e-6)
    assert masked_l1(a, a + 0.5, m).item() == pytest.approx(0.5)
    assert masked_l1(a, a + 0.5, torch.zeros_like(m)).item() == 0.0
    ref = np.full((8, 8, 3), 120, np.uint8)
    dark = np.full((8, 8, 3), 60, np.uint8)
    assert np.all(match_exposure(dark, ref, np.ones((8, 8), np.float32)) == 120)


def test_tiny_refiner_paired_l1_falls_on_real_pairs():
    with np.load(PAIRS) as z:
        data = {k: z[k] for k in z.files}
    t = to_tensors(data, np.ones(len(data["ids"]), bool), 32)
    torch.manual_seed(0)
    net = _tiny()
    net.eval()
    with torch.no_grad():
        before = masked_l1(net(t["crop"], t["rig"], t["aus"], t["region"])[0], t["real"], t["face"]).item()
    rows = train(net, t, RefinerTrainConfig(steps=40, minutes=5.0, batch=3, lr=1e-3, log_every=40, seed=0))
    with torch.no_grad():
        after = masked_l1(net(t["crop"], t["rig"], t["aus"], t["region"])[0], t["real"], t["face"]).item()
    assert rows and after < 0.9 * before
