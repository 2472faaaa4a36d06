"""The rig's real mouth interior (reenact/models/rig/exemplar_mouth.py): where it is drawn, that its
colour follows the target, that the packaged library loads, determinism and the zero edit."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from reenact.aus.names import NUM_AUS, au_index
from reenact.errors import ReenactError
from reenact.models.rig.exemplar_mouth import ExemplarConfig, MouthLibrary, render
from reenact.models.rig.generator import RigConfig, RigGenerator
from reenact.models.rig.model import RigModel
from reenact.models.rig.mouth import polygon_masks
from reenact.tracking.align import AlignConfig, template_points

SIZE = 256
HELD_OUT = {"002", "008", "014", "021", "030", "037", "043", "063", "069", "086", "099", "105",
            "114", "123", "128", "136", "143"}
OPEN = {"AU25": 3.0, "AU26": 4.0}


def _aus(**values) -> torch.Tensor:
    a = torch.zeros(1, NUM_AUS)
    for k, v in values.items():
        a[0, au_index(k)] = v
    return a


def _template() -> torch.Tensor:
    return torch.from_numpy(template_points(AlignConfig(size=SIZE, margin=0.2))[None].astype(np.float32))


def _face(level: float, rng=None) -> torch.Tensor:
    """A flat 'skin' crop at ``level`` (in [-1, 1]), a little noise so nothing is degenerate."""
    crops = torch.full((1, 3, SIZE, SIZE), level)
    crops[:, 0] += 0.08                                               # skin is redder than blue
    crops[:, 2] -= 0.08
    if rng is not None:
        crops += torch.from_numpy(rng.normal(0, 0.02, crops.shape).astype(np.float32))
    return crops.clamp(-1, 1)


@pytest.fixture(scope="module")
def rig() -> RigModel:
    return RigModel.load()


@pytest.fixture(scope="module")
def library() -> MouthLibrary:
    return MouthLibrary.load()


def _edit(rig, crops, cfg=RigConfig(size=SIZE), aus=OPEN):
    out = RigGenerator(rig, cfg)(crops, _aus(**aus), landmarks=_template(), source_aus=_aus())
    return out.blend(crops)


def _open_polygon(rig, aus=OPEN) -> np.ndarray:
    dst = rig.displace(_template().numpy().astype(np.float64), _aus(**aus).numpy(), SIZE, 0.2)
    return polygon_masks(dst, (SIZE, SIZE))[0, 0]


def test_packaged_library_loads_and_holds_no_held_out_face(library):
    k = len(library.patches)
    assert 8 <= k <= 16
    assert library.patches.shape[1:] == (48, 96, 3)
    assert 0.0 <= library.patches.min() and library.patches.max() <= 1.0
    assert library.inner.shape == (k, 22, 2)
    assert not set(library.ids) & HELD_OUT
    assert "London" in library.meta["source"]
    # Skin tones spread: a dark and a light face can both find a near exemplar.
    assert library.skin.mean(1).min() < 0.35 and library.skin.mean(1).max() > 0.6


def test_a_file_that_is_not_a_library_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, something=np.zeros(3))
    with pytest.raises(ReenactError, match="not a mouth exemplar library"):
        MouthLibrary.load(bad)


def test_zero_edit_still_exact_with_the_exemplar_mouth(rig, rng):
    gen = RigGenerator(rig, RigConfig(size=SIZE))
    assert gen.mouth_library is not None
    crops = _face(0.2, rng)
    src = torch.from_numpy(rng.uniform(0, 3, (1, NUM_AUS)).astype(np.float32))
    out = gen(crops, src.clone(), landmarks=_template(), source_aus=src)
    assert torch.all(out.attention == 1.0)
    assert torch.equal(out.blend(crops), crops)


def test_exemplar_interior_only_inside_the_displaced_inner_lips(rig, rng):
    crops = _face(0.3, rng)
    real = _edit(rig, crops)
    painted = _edit(rig, crops, RigConfig(size=SIZE, mouth_exemplars=False))
    changed = (real - painted).abs().amax(1)[0].numpy() > 1e-6
    inside = _open_polygon(rig) > 0
    assert changed.sum() > 200                                        # the exemplar is drawn
    assert not (changed & ~inside).any()                              # and nowhere else


def test_interior_shows_teeth_bright_and_a_dark_cavity(rig, rng):
    crops = _face(0.3, rng)
    res = _edit(rig, crops)[0].mean(0).numpy()
    inside = _open_polygon(rig) > 0.99
    vals = res[inside]
    assert vals.max() > 0.35                                          # teeth brighter than the skin
    assert vals.min() < -0.5                                          # the dark of the mouth


def test_colour_follows_the_target_skin(rig, rng):
    inside = _open_polygon(rig) > 0.99
    dark = _edit(rig, _face(-0.55, rng))[0].numpy()
    light = _edit(rig, _face(0.45, rng))[0].numpy()
    mean_dark, mean_light = dark[:, inside].mean(), light[:, inside].mean()
    assert mean_light > mean_dark + 0.1
    # Per channel: the red/blue balance of the skin carries over into the mouth.
    warm = _face(0.2, rng)
    warm[:, 0] += 0.2
    warm[:, 2] -= 0.2
    res_warm = _edit(rig, warm)[0].numpy()[:, inside].mean(1)
    res_flat = _edit(rig, _face(0.2, rng))[0].numpy()[:, inside].mean(1)
    assert (res_warm[0] - res_warm[2]) > (res_flat[0] - res_flat[2])


def test_one_exemplar_is_matched_to_each_target(rig, library, rng):
    """The gain, not only the choice: one exemplar drawn into a dark and a light, a neutral and a
    warm target takes each one's brightness and colour balance."""
    k = int(np.argmin(np.abs(library.skin.mean(1) - 0.55)))          # a mid-tone exemplar
    pick = slice(k, k + 1)
    one = MouthLibrary(library.patches[pick], library.inner[pick], library.skin[pick],
                       library.lip[pick], library.dark[pick])
    src = _template().numpy()
    dst = rig.displace(src.astype(np.float64), _aus(**OPEN).numpy(), SIZE, 0.2).astype(np.float32)
    box = (90, 140, 170, 200)
    inside = torch.from_numpy(_open_polygon(rig)[140:200, 90:170] > 0.99)

    def mean_rgb(crops):
        colour, _ = render(crops, src, dst, box, one)
        return colour[0][:, inside].mean(1)

    assert mean_rgb(_face(0.4)).mean() > mean_rgb(_face(-0.4)).mean() + 0.1
    warm = _face(0.1)
    warm[:, 0] += 0.15
    warm[:, 2] -= 0.15
    w, f = mean_rgb(warm), mean_rgb(_face(0.1))
    assert (w[0] - w[2]) > (f[0] - f[2]) + 0.02


def test_same_input_same_exemplar_and_choice_is_continuous(rig, library, rng):
    crops = _face(0.1, rng)
    assert torch.equal(_edit(rig, crops), _edit(rig, crops.clone()))
    cfg = ExemplarConfig()
    skin = library.skin[:2].mean(0)                                   # between two exemplars
    a = dict(library.choose(skin, cfg))
    b = dict(library.choose(skin + 1e-4, cfg))
    assert a == dict(library.choose(skin.copy(), cfg))
    assert sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b)) < 0.05
    assert abs(sum(a.values()) - 1.0) < 1e-6


def test_teeth_move_with_the_lips(rig, library, rng):
    """Moving the whole displaced mouth down by 3 px moves the drawn mouth with it."""
    crops = _face(0.2, rng)
    src = _template().numpy()
    dst = rig.displace(src.astype(np.float64), _aus(**OPEN).numpy(), SIZE, 0.2).astype(np.float32)
    box = (90, 140, 170, 200)
    first, _ = render(crops, src, dst, box, library)
    lowered = dst.copy()
    lowered[:, :, 1] += 3.0
    second, _ = render(crops, src, lowered, box, library)
    assert torch.allclose(first[..., 10:-13, :], second[..., 13:-10, :], atol=1e-4)
