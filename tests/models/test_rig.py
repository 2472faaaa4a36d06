"""The AU rig generator: exact zero edit, where the warp moves pixels, attention, batching,
the shipped rig's smile, blink and mouth behaviour."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from reenact.aus.names import NUM_AUS, au_index
from reenact.models.rig import regions as R
from reenact.models.rig.generator import RigConfig, RigGenerator
from reenact.models.rig.model import RigModel
from reenact.models.rig.warp import backward_flow
from reenact.tracking.align import AlignConfig, template_points

SIZE = 128


def _template(size: int = SIZE) -> np.ndarray:
    return template_points(AlignConfig(size=size, margin=0.2)).astype(np.float32)


def _landmarks(rng, n: int = 1, size: int = SIZE) -> torch.Tensor:
    pts = _template(size)[None] + rng.normal(0.0, 0.3, (n, 478, 2)).astype(np.float32)
    return torch.from_numpy(pts)


def _crops(rng, n: int = 1, size: int = SIZE) -> torch.Tensor:
    return torch.from_numpy(rng.uniform(-1, 1, (n, 3, size, size)).astype(np.float32))


def _aus(**values) -> torch.Tensor:
    a = torch.zeros(1, NUM_AUS)
    for k, v in values.items():
        a[0, au_index(k)] = v
    return a


@pytest.fixture(scope="module")
def rig() -> RigModel:
    return RigModel.load()


def test_zero_edit_returns_input_exactly(rig, rng, device):
    gen = RigGenerator(rig, RigConfig(size=SIZE))
    crops = _crops(rng, 2).to(device)
    src = torch.from_numpy(rng.uniform(0, 3, (2, NUM_AUS)).astype(np.float32)).to(device)
    out = gen(crops, src.clone(), landmarks=_landmarks(rng, 2).to(device), source_aus=src)
    assert torch.all(out.attention == 1.0)
    assert torch.equal(out.blend(crops), crops)


def test_missing_inputs_are_clear_errors(rig, rng):
    gen = RigGenerator(rig, RigConfig(size=SIZE))
    with pytest.raises(ValueError, match="source_aus"):
        gen(_crops(rng), _aus(AU12=3), landmarks=_landmarks(rng))
    with pytest.raises(ValueError, match="landmarks"):
        gen(_crops(rng), _aus(AU12=3), source_aus=_aus())
    with pytest.raises(ValueError, match="aus must be"):
        gen(_crops(rng), torch.zeros(1, 5), landmarks=_landmarks(rng), source_aus=_aus())


def _one_point_rig(point: int, shift: tuple[float, float], radius: float = 0.0) -> RigModel:
    """A rig whose AU12 moves one landmark, and every point within ``radius`` px of it on the
    template, rigidly by ``shift`` reference px per AU unit."""
    t = _template()
    near = np.hypot(*(t - t[point]).T) <= radius
    near[point] = True
    w = np.zeros((NUM_AUS, 478, 2), np.float32)
    w[au_index("AU12"), near] = shift
    return RigModel(w, ref_size=SIZE, ref_margin=0.2)


@pytest.mark.parametrize("step", [1, 2])
def test_dot_lands_on_the_displaced_landmark(rng, step):
    point = 61
    size = SIZE
    model = _one_point_rig(point, (1.0, -1.5), radius=10.0)   # AU12 = 4 -> (+4, -6) px
    gen = RigGenerator(model, RigConfig(size=size, flow_step=step, mouth_fill=False, appearance=False))
    lms = torch.from_numpy(_template(size)[None])
    src_xy = np.round(lms[0, point].numpy()).astype(int)
    lms[0, point] = torch.from_numpy(src_xy.astype(np.float32))   # the dot sits on the landmark
    yy, xx = np.mgrid[0:size, 0:size]
    dot = np.exp(-((xx - src_xy[0]) ** 2 + (yy - src_xy[1]) ** 2) / (2 * 1.0 ** 2))
    crops = torch.from_numpy(np.repeat(dot[None, None], 3, 1).astype(np.float32)) * 2 - 1
    out = gen(crops, _aus(AU12=4), landmarks=lms, source_aus=_aus())
    img = (out.blend(crops)[0, 0].numpy() + 1) / 2
    peak = np.array(np.unravel_index(np.argmax(img), img.shape)[::-1])   # (x, y)
    expected = src_xy + np.array([4, -6])
    assert np.abs(peak - expected).max() <= 1, (peak, expected)
    assert img[expected[1], expected[0]] > 0.9                           # the dot's centre is there


def test_attention_in_range_and_one_far_from_motion(rng):
    model = _one_point_rig(61, (0.0, -1.0))
    # Geometry only: the appearance model shades the whole cheek for an AU12 change.
    gen = RigGenerator(model, RigConfig(size=SIZE, mouth_fill=False, appearance=False))
    lms = _landmarks(rng)
    out = gen(_crops(rng), _aus(AU12=3), landmarks=lms, source_aus=_aus())
    a = out.attention[0, 0].numpy()
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert a.min() < 0.5                                  # something did move
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    p = lms[0, 61].numpy()
    far = np.hypot(xx - p[0], yy - p[1]) > 40
    assert np.all(a[far] == 1.0)


def test_batch_of_two_equals_two_singles(rig, rng, device):
    gen = RigGenerator(rig, RigConfig(size=SIZE))
    crops = _crops(rng, 2).to(device)
    lms = _landmarks(rng, 2).to(device)
    src = torch.zeros(2, NUM_AUS, device=device)
    tgt = torch.cat([_aus(AU12=3, AU06=2), _aus(AU25=2, AU26=3)]).to(device)
    both = gen(crops, tgt, landmarks=lms, source_aus=src)
    for i in range(2):
        one = gen(crops[i:i + 1], tgt[i:i + 1], landmarks=lms[i:i + 1], source_aus=src[i:i + 1])
        assert torch.allclose(one.color, both.color[i:i + 1], atol=1e-5)
        assert torch.allclose(one.attention, both.attention[i:i + 1], atol=1e-5)


def test_shipped_smile_moves_mouth_corners_up_and_out(rig):
    t = _template(256)[None].astype(np.float64)
    delta = np.zeros((1, NUM_AUS))
    delta[0, au_index("AU12")] = 3.0
    moved = rig.displace(t, delta, 256, 0.2)[0] - t[0]
    left, right = R.MOUTH_CORNERS
    assert moved[left, 1] < -2.0 and moved[right, 1] < -2.0          # up (y grows downward)
    assert moved[left, 0] < -0.5 and moved[right, 0] > 0.5           # out
    assert np.abs(moved[list(R.BROW_L_UPPER)]).max() < 0.5           # brows stay


def _lid_gaps(pts: np.ndarray) -> np.ndarray:
    """Lower-lid height minus upper-lid height at each upper-lid point's x, both eyes."""
    gaps = []
    for upper, lower in ((R.EYE_L_UPPER, R.EYE_L_LOWER), (R.EYE_R_UPPER, R.EYE_R_LOWER)):
        u, lo = pts[list(upper[1:-1])], pts[list(lower)]
        order = np.argsort(lo[:, 0])
        gaps.append(np.interp(u[:, 0], lo[order, 0], lo[order, 1]) - u[:, 1])
    return np.concatenate(gaps)


def test_blink_closes_the_lids_by_the_face_own_aperture(rig):
    t = _template(256)[None].astype(np.float64)
    delta = np.zeros((1, NUM_AUS))
    delta[0, au_index("AU45")] = 5.0
    moved = rig.displace(t, delta, 256, 0.2)[0]
    before, after = _lid_gaps(t[0]), _lid_gaps(moved)
    assert np.all(before > 1.0)
    assert np.all(after >= -1e-6) and np.all(after < 0.15 * before)


def test_negative_edit_never_crosses_the_lips(rig):
    t = _template(256)[None].astype(np.float64)
    delta = np.zeros((1, NUM_AUS))
    delta[0, au_index("AU26")] = -5.0                                 # close a closed mouth
    moved = rig.displace(t, delta, 256, 0.2)[0]
    assert np.all(moved[list(R.LIP_INNER_LOWER), 1] >= moved[list(R.LIP_INNER_UPPER), 1] - 1e-6)


def test_opening_mouth_is_painted_not_stretched(rig, rng):
    gen = RigGenerator(rig, RigConfig(size=256))
    lms = torch.from_numpy(_template(256)[None])
    crops = torch.full((1, 3, 256, 256), 0.6)                           # bright, flat skin
    out = gen(crops, _aus(AU25=3, AU26=4), landmarks=lms, source_aus=_aus())
    res = out.blend(crops)[0].numpy()
    up = lms[0, 13].numpy()
    lo = rig.displace(lms.numpy().astype(np.float64), (_aus(AU25=3, AU26=4)).numpy(), 256, 0.2)[0, 14]
    x = int(round(up[0]))
    column = res[:, int(up[1]) + 1:int(lo[1]) - 1, x].mean(0)
    assert column.min() < 0.0                                          # a dark interior appears
    assert res[:, 20, 20].tolist() == [pytest.approx(0.6)] * 3          # far away: untouched


def test_rig_file_round_trip(rig, tmp_path):
    path = tmp_path / "rig.npz"
    rig.save(path)
    again = RigModel.load(path)
    assert np.allclose(again.weights, rig.weights, atol=1e-2)
    assert again.ref_size == rig.ref_size and again.meta["data_supported"] == rig.meta["data_supported"]


def test_backward_flow_is_zero_without_motion():
    t = _template()
    assert not backward_flow(t, t, SIZE).any()


def test_closed_eye_gets_a_lash_line_in_the_face_own_colour(rig):
    gen = RigGenerator(rig, RigConfig(size=256))
    lms = torch.from_numpy(_template(256)[None])
    crops = torch.full((1, 3, 256, 256), 0.6)
    for i in R.EYE_L_UPPER + R.EYE_R_UPPER:                              # dark lashes on the lids
        x, y = np.round(lms[0, i].numpy()).astype(int)
        crops[0, :, y, x] = -0.8
    out = gen(crops, _aus(AU45=5), landmarks=lms, source_aus=_aus())
    res = out.blend(crops)[0].mean(0).numpy()
    closed = rig.displace(lms.numpy().astype(np.float64), _aus(AU45=5).numpy(), 256, 0.2)[0]
    x, y = np.round(closed[R.EYE_L_UPPER[4]]).astype(int)
    assert res[y - 1:y + 2, x].min() < 0.0                               # the line is there, dark


def _moved_at(rig, size: int = 256, **aus) -> tuple[np.ndarray, np.ndarray, float]:
    """(template, displaced template, IOD) for AUs ``aus`` applied to the template face."""
    t = _template(size)[None].astype(np.float64)
    delta = np.zeros((1, NUM_AUS))
    for k, v in aus.items():
        delta[0, au_index(k)] = v
    iod = float(np.linalg.norm(t[0, [362, 263]].mean(0) - t[0, [33, 133]].mean(0)))
    return t[0], rig.displace(t, delta, size, 0.2)[0], iod


# Fractions of IOD at AU = 5 below which FACS's appearance change would not be visible (the
# shipped targets are larger: research/rig/magnitudes.py).
_INNER_BROWS = ((55, 107), (285, 336))     # medial brow heads, image-left and image-right


def test_au4_pulls_the_brow_heads_down_and_together(rig):
    t, moved, iod = _moved_at(rig, AU04=5)
    mid = t[[1, 4, 5, 6, 168, 152]].mean(0)[0]
    for pts in _INNER_BROWS:
        d = (moved[list(pts)] - t[list(pts)]).mean(0) / iod
        toward_mid = -d[0] * np.sign(t[list(pts), 0].mean() - mid)
        assert d[1] > 0.08                                   # down (y grows downward)
        assert toward_mid > 0.04                             # toward the midline
    lids = list(R.EYE_L_UPPER + R.EYE_R_UPPER)
    assert np.abs(moved[lids] - t[lids]).max() < 1e-6        # the lids stay where they are


def test_au5_raises_the_upper_lid(rig):
    t, moved, iod = _moved_at(rig, AU05=5)
    for lid in (159, 386):                                    # top of each upper lid
        assert (t[lid, 1] - moved[lid, 1]) / iod > 0.04
    assert _lid_gaps(moved).mean() > _lid_gaps(t).mean() + 0.04 * iod


def test_au7_raises_the_lower_lid(rig):
    t, moved, iod = _moved_at(rig, AU07=5)
    for lid in (145, 374):
        assert (t[lid, 1] - moved[lid, 1]) / iod > 0.03


def test_au15_lowers_the_lip_corners(rig):
    t, moved, iod = _moved_at(rig, AU15=5)
    for corner in R.MOUTH_CORNERS:
        assert (moved[corner, 1] - t[corner, 1]) / iod > 0.05


def test_au17_raises_the_lower_lip_and_chin(rig):
    t, moved, iod = _moved_at(rig, AU17=5)
    assert (t[17, 1] - moved[17, 1]) / iod > 0.04            # lower lip's outer middle up
    assert (t[152, 1] - moved[152, 1]) / iod > 0.03          # chin boss up
    # the mouth line curves down: its middle rises more than its corners
    assert (t[14, 1] - moved[14, 1]) > (t[61, 1] - moved[61, 1])


def test_hand_designed_aus_at_five_do_not_fold_the_warp(rig):
    """Each hand-designed brow, lid and lip AU alone at 5 keeps the orientation of every triangle the warp uses
    (triangulated halfway between input and output, as warp.backward_flow does): a flip would
    be a fold. Slivers (|area| < 0.5 px^2 at either end) are skipped."""
    from scipy.spatial import Delaunay

    for name in ("AU01", "AU02", "AU04", "AU05", "AU07", "AU09", "AU15", "AU17", "AU20", "AU23"):
        t, moved, _ = _moved_at(rig, **{name: 5})
        src, dst = t[:468], moved[:468]
        tri = Delaunay(0.5 * (src + dst)).simplices

        def signed_area(p):
            a, b, c = p[tri[:, 0]], p[tri[:, 1]], p[tri[:, 2]]
            return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])

        before, after = signed_area(src), signed_area(dst)
        real = (np.abs(before) > 0.5) & (np.abs(after) > 0.5)
        assert np.all(np.sign(after[real]) == np.sign(before[real])), name


def test_closing_lid_samples_the_lid_skin_above_the_lashes():
    from reenact.models.rig.eyes import lid_skin_source

    t = _template(256)[None].astype(np.float64)
    assert np.array_equal(lid_skin_source(t, np.zeros(1)), t)            # no blink: unchanged
    half, shut = lid_skin_source(t, np.full(1, 0.5)), lid_skin_source(t, np.ones(1))
    mid, crease = R.EYE_L_UPPER[4], R.LID_CREASE_L[4]
    assert t[0, crease, 1] < shut[0, mid, 1] < half[0, mid, 1] < t[0, mid, 1]  # up, not past the crease
    others = np.setdiff1d(np.arange(478), R.EYE_L_UPPER[1:-1] + R.EYE_R_UPPER[1:-1])
    assert np.array_equal(shut[0, others], t[0, others])


def test_magnitude_floor_scales_a_short_field_up_to_its_facs_target(rig):
    from research.rig.fit import magnitude_floor
    from research.rig.magnitudes import TARGETS, au_movements

    w = rig.weights.astype(np.float64).copy()
    w[au_index("AU05")] *= 0.5
    before = au_movements(w)["AU05"]["upper_lid_up"]
    gains = magnitude_floor(w, max_gain=4.0)
    after = au_movements(w)["AU05"]["upper_lid_up"]
    assert gains["AU05"] > 1.5 and after == pytest.approx(TARGETS["AU05"]["upper_lid_up"], rel=1e-6)
    assert after > before
    assert all(g >= 1.0 for g in gains.values())                      # never weakens a field
