"""The rig's appearance (shading) model: exact zero edit, no field without an AU change, a smile
darkens the nasolabial folds and brightens the cheeks but leaves the forehead, and the shipped
model loads from package data."""
from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
import torch

from reenact.aus.names import NUM_AUS, au_index
from reenact.models.rig.appearance import DEFAULT_APPEARANCE, AppearanceModel
from reenact.models.rig.generator import RigConfig, RigGenerator
from reenact.models.rig.model import RigModel

SIZE = 256
HELDOUT = "002 008 014 021 030 037 043 063 069 086 099 105 114 123 128 136 143".split()


@pytest.fixture(scope="module")
def appearance() -> AppearanceModel:
    return AppearanceModel.load()


def _delta(**values) -> np.ndarray:
    d = np.zeros((1, NUM_AUS), np.float32)
    for k, v in values.items():
        d[0, au_index(k)] = v
    return d


def _patch_mean(field: np.ndarray, xy: np.ndarray, half: int = 2) -> float:
    x, y = np.round(xy).astype(int)
    return float(field[y - half:y + half + 1, x - half:x + half + 1].mean())


def test_ships_as_package_data(appearance):
    assert resources.files("reenact.assets").joinpath(DEFAULT_APPEARANCE).is_file()
    assert [au for au in appearance.aus] == [au_index(a) for a in ("AU06", "AU12", "AU25")]
    assert np.isfinite(appearance.fields).all()
    assert 0 < np.abs(appearance.fields).max() < 0.25
    # The fit kept the held-out people (docs/rig.md) out.
    assert appearance.meta["heldout_london"] == HELDOUT


def test_no_field_without_an_au_change(appearance):
    lms = appearance.template[None]
    assert appearance.log_gain(_delta(), lms, SIZE) is None
    assert appearance.log_gain(_delta(AU45=3.0, AU01=2.0), lms, SIZE) is None   # AUs it has no field for
    up = appearance.log_gain(_delta(AU12=2.0), lms, SIZE)
    down = appearance.log_gain(_delta(AU12=-2.0), lms, SIZE)
    assert up.abs().max() > 0.01
    assert torch.allclose(up, -down, atol=1e-6)                                 # linear in the change


def test_smile_darkens_folds_brightens_cheeks_not_forehead(appearance):
    t = appearance.template
    g = appearance.log_gain(_delta(AU06=2.0, AU12=3.3, AU25=0.9), t[None], SIZE)[0, 0].numpy()
    for nose_wing, corner in ((129, 61), (358, 291)):                           # nasolabial folds
        assert _patch_mean(g, (t[nose_wing] + t[corner]) / 2) < -0.03
    for cheek in (50, 280):
        assert _patch_mean(g, t[cheek]) > 0.005
    forehead = g[:int(t[[66, 105, 296, 334], 1].min()) - 6]                     # above the brows
    assert np.abs(forehead).max() < 0.005
    assert np.all(g[:, :20] == 0.0) and np.all(g[-20:] == 0.0)                 # nothing off the face


def test_field_follows_the_face(appearance):
    """Moved landmarks carry the field with them (it is drawn on the face, not the crop)."""
    t = appearance.template
    d = _delta(AU12=3.0)
    g0 = appearance.log_gain(d, t[None], SIZE)[0, 0].numpy()
    g1 = appearance.log_gain(d, (t + np.array([12.0, 8.0], np.float32))[None], SIZE)[0, 0].numpy()
    fold = (t[129] + t[61]) / 2
    assert _patch_mean(g1, fold + [12, 8]) == pytest.approx(_patch_mean(g0, fold), abs=0.004)


def test_zero_edit_exact_with_appearance(appearance, rng):
    gen = RigGenerator(RigModel.load(), RigConfig(size=SIZE, appearance=True), appearance=appearance)
    crops = torch.from_numpy(rng.uniform(-1, 1, (2, 3, SIZE, SIZE)).astype(np.float32))
    lms = torch.from_numpy(np.repeat(appearance.template[None], 2, 0))
    src = torch.from_numpy(rng.uniform(0, 3, (2, NUM_AUS)).astype(np.float32))
    out = gen(crops, src.clone(), landmarks=lms, source_aus=src)
    assert torch.all(out.attention == 1.0)
    assert torch.equal(out.blend(crops), crops)


def test_generator_shades_a_smile_where_the_field_is(appearance):
    """On a flat grey face: with appearance, the fold darkens and A drops there; above the brows
    it changes nothing the geometry does not (same A, same pixels); without it, the flat face
    stays flat."""
    t = appearance.template
    crops = torch.zeros(1, 3, SIZE, SIZE)
    lms = torch.from_numpy(t[None])
    src, tgt = torch.zeros(1, NUM_AUS), torch.from_numpy(_delta(AU06=2.0, AU12=3.3))
    rig = RigModel.load()
    on = RigGenerator(rig, RigConfig(size=SIZE), appearance=appearance)(
        crops, tgt, landmarks=lms, source_aus=src)
    off = RigGenerator(rig, RigConfig(size=SIZE, appearance=False))(crops, tgt, landmarks=lms, source_aus=src)
    img_on, img_off = on.blend(crops)[0, 0].numpy(), off.blend(crops)[0, 0].numpy()
    fold = (t[129] + t[61]) / 2
    assert _patch_mean(img_on, fold) < -0.015 and abs(_patch_mean(img_off, fold)) < 1e-4
    assert _patch_mean(on.attention[0, 0].numpy(), fold) < 0.1
    top = int(t[[66, 105, 296, 334], 1].min()) - 10
    assert torch.equal(on.attention[0, 0, :top], off.attention[0, 0, :top])
    assert np.array_equal(img_on[:top], img_off[:top])


def test_round_trip_and_bad_file(appearance, tmp_path):
    path = tmp_path / "app.npz"
    appearance.save(path)
    back = AppearanceModel.load(path)
    assert back.aus == appearance.aus
    assert np.allclose(back.fields, appearance.fields, atol=1e-3)               # float16 on disk
    bad = tmp_path / "bad.npz"
    np.savez(bad, weights=np.zeros(3))
    with pytest.raises(ValueError, match="bad.npz.*not a rig appearance file"):
        AppearanceModel.load(bad)
