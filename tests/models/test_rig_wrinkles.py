"""The rig's wrinkles (exemplar ratio images and FACS fold priors): exact zero edit, a luminance
ratio (the three channels scaled alike), folds where FACS puts them, smooth in AU, a
deterministic exemplar choice that does not move with the edit, and the asset ships."""
from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
import torch

from reenact.aus.names import NUM_AUS, au_index
from reenact.models.rig import regions as R
from reenact.models.rig.appearance import AppearanceModel
from reenact.models.rig.generator import RigConfig, RigGenerator
from reenact.models.rig.model import RigModel
from reenact.models.rig.wrinkles import DEFAULT_WRINKLES, WrinkleModel

SIZE = 256
HELDOUT = "002 008 014 021 030 037 043 063 069 086 099 105 114 123 128 136 143".split()


@pytest.fixture(scope="module")
def wrinkles() -> WrinkleModel:
    return WrinkleModel.load()


@pytest.fixture(scope="module")
def face(wrinkles):
    """A skin-like crop (smooth tone with fine texture) and the template's landmarks."""
    g = np.random.default_rng(3)
    ys, xs = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    base = 0.1 + 0.2 * np.sin(3 * xs) * np.cos(2 * ys) + 0.03 * g.standard_normal((SIZE, SIZE))
    crop = np.stack([base + 0.2, base, base - 0.15]).astype(np.float32)[None]
    return torch.from_numpy(crop), wrinkles.template[None].astype(np.float64)


def _delta(**values) -> np.ndarray:
    d = np.zeros((1, NUM_AUS), np.float32)
    for k, v in values.items():
        d[0, au_index(k)] = v
    return d


def _gain(wrinkles, face, **aus) -> np.ndarray:
    crop, lms = face
    g = wrinkles.log_gain(_delta(**aus), crop, lms, lms, SIZE)
    return None if g is None else g[0, 0].numpy()


def test_asset_ships_as_package_data_without_held_out_people(wrinkles):
    ref = resources.files("reenact.assets").joinpath(DEFAULT_WRINKLES)
    assert ref.is_file()
    assert ref.stat().st_size < 400_000                                   # a small asset
    assert not set(wrinkles.meta["exemplar_ids"]) & set(HELDOUT)
    assert set(wrinkles.meta["held_out_excluded"]) == set(HELDOUT)
    assert len(wrinkles.exemplars) >= 8 and np.isfinite(wrinkles.exemplars).all()
    assert {au_index(a) for a in ("AU01", "AU02", "AU04", "AU09", "AU17")} <= set(wrinkles.prior_aus)


def test_bad_file_is_named(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, weights=np.zeros(3))
    with pytest.raises(ValueError, match="bad.npz.*not a rig wrinkle file"):
        WrinkleModel.load(bad)


def test_no_detail_without_an_increase(wrinkles, face):
    assert _gain(wrinkles, face) is None
    assert _gain(wrinkles, face, AU45=3.0, AU26=2.0) is None             # AUs without folds
    assert _gain(wrinkles, face, AU04=-3.0, AU12=-2.0) is None           # decreases draw none


def test_au4_draws_glabellar_lines_between_the_brows_not_on_the_cheeks(wrinkles, face):
    t = wrinkles.template
    g = _gain(wrinkles, face, AU04=4.0)
    x0, x1 = int(t[55, 0]), int(t[285, 0]) + 1                           # the inner brow heads
    y0, y1 = int(t[list(R.BROW_L_UPPER), 1].min()) - 10, int(t[55, 1]) + 4
    between = g[y0:y1, x0:x1]
    assert between.min() < -0.1                                          # a dark crease
    assert between.mean() < -0.005
    for cheek in (50, 280, 205, 425):
        x, y = np.round(t[cheek]).astype(int)
        assert np.all(g[y - 12:y + 13, x - 12:x + 13] == 0.0)            # exactly nothing there
    assert np.all(g[:, :30] == 0.0) and np.all(g[-30:] == 0.0)           # nothing off the face


@pytest.mark.parametrize("aus, region", [
    ({"AU01": 3.0, "AU02": 3.0}, "forehead"), ({"AU09": 3.0}, "nose"), ({"AU17": 3.0}, "chin")])
def test_priors_sit_where_facs_puts_them(wrinkles, face, aus, region):
    t = wrinkles.template
    g = _gain(wrinkles, face, **aus)
    rows = np.flatnonzero(np.abs(g).max(1) > 0.02)
    brow_top = t[list(R.BROW_L_UPPER + R.BROW_R_UPPER), 1].min()
    if region == "forehead":
        assert rows.max() < t[55, 1] and rows.min() < brow_top - 10
    elif region == "nose":
        assert rows.min() > brow_top and rows.max() < t[2, 1]            # nose root, above its tip
    else:
        assert rows.min() > t[17, 1] - 4 and rows.max() < t[152, 1]      # below the lower lip


def test_smile_adds_folds_below_the_brows(wrinkles, face):
    t = wrinkles.template
    g = _gain(wrinkles, face, AU06=3.0, AU12=3.0)
    below = g[int(t[[55, 285], 1].max()) + 8:]
    assert below.min() < -0.05 and below.max() > 0.02                    # creases and their shoulders
    assert np.all(g[:int(t[list(R.BROW_L_UPPER), 1].min()) - 4] == 0.0)  # no forehead from a smile


def test_smooth_and_linear_in_au(wrinkles, face):
    a = _gain(wrinkles, face, AU04=2.0, AU06=1.5, AU12=1.5)
    b = _gain(wrinkles, face, AU04=2.02, AU06=1.515, AU12=1.515)
    c = _gain(wrinkles, face, AU04=4.0, AU06=3.0, AU12=3.0)
    assert np.abs(b - a).max() < 0.005                                   # 1% more AU: a tiny change
    unclipped = np.abs(c) < 0.3
    assert np.allclose(c[unclipped], 2 * a[unclipped], atol=1e-5)


def test_exemplar_choice_is_deterministic_and_ignores_the_edit(wrinkles, face):
    crop, lms = face
    w1 = wrinkles.exemplar_weights(crop, lms)
    w2 = wrinkles.exemplar_weights(crop.clone(), lms.copy())
    assert np.array_equal(w1, w2) and w1.sum() == pytest.approx(1.0, abs=1e-5)
    # Weights come from the input face only: a smile twice as big is the same blend, twice as deep.
    small, big = _gain(wrinkles, face, AU06=1.0, AU12=1.0), _gain(wrinkles, face, AU06=2.0, AU12=2.0)
    assert np.allclose(big, 2 * small, atol=1e-5)
    # Continuous in the face: a slightly brighter face changes the weights a little, no jump.
    w3 = wrinkles.exemplar_weights(crop * 0.99 + 0.01, lms)
    assert np.abs(w3 - w1).max() < 0.05
    darker = wrinkles.exemplar_weights(crop * 0.5 - 0.5, lms)             # another skin tone
    assert np.abs(darker - w1).max() > 0.05


@pytest.fixture(scope="module")
def generators():
    rig, app = RigModel.load(), AppearanceModel.load()
    on = RigGenerator(rig, RigConfig(size=SIZE), appearance=app)
    off = RigGenerator(rig, RigConfig(size=SIZE, wrinkles=False), appearance=app)
    return on, off


def test_zero_edit_exact_with_wrinkles(generators, face):
    on, _ = generators
    crop, lms = face
    src = torch.from_numpy(np.full((1, NUM_AUS), 1.5, np.float32))
    out = on(crop, src.clone(), landmarks=torch.from_numpy(lms).float(), source_aus=src)
    assert torch.all(out.attention == 1.0)
    assert torch.equal(out.blend(crop), crop)


def test_generator_ratio_is_luminance_only_and_local(generators, face):
    """Same geometry with and without wrinkles: C differs by one factor for all three channels
    (no tint), and only where a fold is drawn (A is exactly as without elsewhere)."""
    on, off = generators
    crop, lms = face
    src = torch.zeros(1, NUM_AUS)
    tgt = torch.from_numpy(_delta(AU04=4.0, AU06=2.0, AU12=2.0))
    kw = dict(landmarks=torch.from_numpy(lms).float(), source_aus=src)
    a, b = on(crop, tgt, **kw), off(crop, tgt, **kw)
    ratio = (a.color + 1.0) / (b.color + 1.0)
    inside = ((a.color > -0.99) & (a.color < 0.99) & (b.color > -0.99)).all(1, keepdim=True)
    changed = (ratio - 1.0).abs().amax(1, keepdim=True) > 1e-3
    sel = (inside & changed).expand_as(ratio)
    r = ratio[sel].view(3, -1)
    assert r.shape[1] > 100
    assert torch.allclose(r[0], r[1], atol=1e-4) and torch.allclose(r[1], r[2], atol=1e-4)
    assert (r < 1.0).any()                                                # folds darken
    t = on.wrinkles.template
    x, y = np.round(t[50]).astype(int)                                    # a cheek: untouched by AU4
    g = on.wrinkles.log_gain(_delta(AU04=4.0), crop, lms, lms, SIZE)[0, 0]
    assert torch.all(g[y - 10:y + 11, x - 10:x + 11] == 0.0)
    assert torch.equal(a.attention[..., :20, :], b.attention[..., :20, :])


def test_upsampling_around_the_face_equals_the_whole_lattice():
    from reenact.models.rig.wrinkles import _upsample_around
    g = np.random.default_rng(1)
    maps = torch.from_numpy(g.standard_normal((2, 2, 64, 64)).astype(np.float32))
    whole = torch.nn.functional.interpolate(maps, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    for pts in (np.array([[[60.0, 50.0], [190.0, 230.0]]] * 2), np.array([[[1.0, 3.0], [255.0, 120.0]]] * 2)):
        part, (x0, y0, x1, y1) = _upsample_around(maps, pts, SIZE)
        assert x0 <= pts[..., 0].min() and x1 > pts[..., 0].max() and y1 > pts[..., 1].max()
        assert torch.allclose(part, whole[:, :, y0:y1, x0:x1], atol=1e-6)
