"""The built-in AU estimator: real London pairs, pose invariance of the geometry, calibration, neutral."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from reenact.aus.calibration import NeutralCalibration, NeutralConfig, neutral_from_image
from reenact.aus.estimator import AUEstimator, EstimatorConfig, estimate_aus, load_calibration
from reenact.aus.geometry import FEATURE_NAMES, canonical_points, features, template3d
from reenact.aus.names import AU_NAMES, NUM_AUS, au_index
from reenact.aus.pyfeat import BackendUnavailable, PyFeatEstimator, pyfeat_available
from reenact.tracking.types import Face

DATA = Path(__file__).parents[1] / "data" / "faces"
PAIRS = ("002", "003", "004", "005")
I06, I12 = au_index("AU06"), au_index("AU12")


def load_rgb(path: Path) -> np.ndarray:
    from PIL import Image
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def london():
    """AUs and faces of the small London pairs in tests/data (tracked once per module)."""
    from reenact.tracking.tracker import FaceTracker, TrackerConfig

    est = AUEstimator()
    out = {}
    with FaceTracker(TrackerConfig(mode="image", max_faces=1)) as tracker:
        for pid in PAIRS:
            for kind, suffix in (("neutral", "03"), ("smiling", "08")):
                faces = tracker.track(load_rgb(DATA / f"london_{pid}_{suffix}.jpg")).faces
                assert len(faces) == 1
                out[pid, kind] = (faces[0], est.estimate(faces[0]))
    return out


def test_output_shape_dtype_range(london):
    for _, aus in london.values():
        assert aus.shape == (NUM_AUS,) and aus.dtype == np.float32
        assert (aus >= 0).all() and (aus <= 5).all()


def test_au12_higher_when_smiling(london):
    for pid in PAIRS:
        assert london[pid, "smiling"][1][I12] > london[pid, "neutral"][1][I12], pid


def test_au6_rises_on_average_when_smiling(london):
    diffs = [london[p, "smiling"][1][I06] - london[p, "neutral"][1][I06] for p in PAIRS]
    assert np.mean(diffs) > 0.5


def test_neutral_faces_read_low_on_smile_aus(london):
    # Some people rest with a slight smile (003 reads AU12 ~1.5): the typical neutral face is low.
    neutral = np.stack([london[p, "neutral"][1] for p in PAIRS])
    assert np.median(neutral[:, I12]) < 0.5
    assert neutral[:, au_index("AU25")].max() < 1.0


def test_default_function_matches_estimator(london):
    face, aus = london["002", "smiling"]
    np.testing.assert_array_equal(estimate_aus(face), aus)


def rot3(yaw: float, pitch: float, roll: float) -> np.ndarray:
    cy, sy, cp, sp, cr, sr = (np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch),
                              np.cos(roll), np.sin(roll))
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rz @ rx @ ry


def test_features_ignore_head_pose_size_and_position(london):
    """A face turned in 3-D, scaled and moved (orthographic view) measures the same."""
    face, _ = london["004", "smiling"]
    mesh = np.c_[face.landmarks, face.depth].astype(np.float64)
    ref = features(canonical_points(mesh[:, :2], mesh[:, 2]))
    centre = mesh.mean(0)
    moved = (mesh - centre) @ rot3(0.35, -0.2, 0.3).T * 1.7 + np.array([40.0, -25.0, 3.0])
    got = features(canonical_points(moved[:, :2], moved[:, 2]))
    np.testing.assert_allclose(got, ref, atol=1e-6)
    # without depth only roll, scale and translation are removed: a yawed face then differs
    flat = features(canonical_points(moved[:, :2], None))
    assert np.abs(flat - ref).max() > 1e-3


def test_template_is_normalised():
    t = template3d()
    eye_r, eye_l = t[[33, 133]].mean(0), t[[263, 362]].mean(0)
    assert np.linalg.norm(eye_l - eye_r) == pytest.approx(1.0, abs=1e-4)
    np.testing.assert_allclose((eye_r + eye_l) / 2, 0.0, atol=1e-4)
    assert len(FEATURE_NAMES) == len(set(FEATURE_NAMES))


def test_template_neutral_reads_neutral():
    """The template itself (a mean neutral face) has its features at the calibration neutrals."""
    t = template3d()
    face = Face(0, t[:, :2] * 100 + 300, t[:, 2] * 100, np.zeros(52, np.float32))
    aus = AUEstimator().estimate(face)
    assert aus[I12] < 0.5 and aus[au_index("AU25")] < 0.5 and aus[I06] < 0.8


def test_packaged_calibration_covers_every_au():
    calib = load_calibration()
    assert set(AU_NAMES) <= set(calib["aus"])
    for entry in calib["aus"].values():
        assert entry["terms"] and all("how" in t for t in entry["terms"])


def test_bad_calibration_file(tmp_path):
    p = tmp_path / "calib.json"
    p.write_text(json.dumps({"aus": {"AU01": {"base": 0, "terms": []}}}))
    with pytest.raises(ValueError, match="calibration lacks AU02"):
        AUEstimator(EstimatorConfig(calibration=str(p)))
    p.write_text("{nope")
    with pytest.raises(ValueError, match="not an AU calibration file"):
        AUEstimator(EstimatorConfig(calibration=str(p)))


def test_face_without_blendshapes_is_refused(london):
    face, _ = london["002", "neutral"]
    with pytest.raises(ValueError, match="no blendshapes"):
        AUEstimator().estimate(Face(0, face.landmarks, face.depth, None))


# -- per-person neutral ----------------------------------------------------------------------
def test_neutral_calibration_from_first_frames():
    cal = NeutralCalibration(NeutralConfig(frames=3))
    rows = [np.full(NUM_AUS, v, np.float32) for v in (1.0, 3.0, 2.0, 5.0, 5.0)]
    for r in rows:
        cal.update(7, r)
    assert cal.ready(7) and not cal.ready(8)
    np.testing.assert_allclose(cal.neutral(7), 2.0)            # median of the first 3 only
    np.testing.assert_allclose(cal.relative(7, np.full(NUM_AUS, 4.5)), 2.5)
    assert cal.neutral(8) is None
    cal.set(8, np.full(NUM_AUS, 1.0))
    assert cal.ready(8)
    np.testing.assert_allclose(cal.relative(8, np.zeros(NUM_AUS)), -1.0)


def test_neutral_from_image_and_relative_smile(london):
    neutral = neutral_from_image(load_rgb(DATA / "london_002_03.jpg"))
    np.testing.assert_allclose(neutral, london["002", "neutral"][1], atol=1e-5)
    cal = NeutralCalibration()
    cal.set(0, neutral)
    rel = cal.relative(0, london["002", "smiling"][1])
    assert rel[I12] > 1.5


def test_neutral_from_image_without_face():
    with pytest.raises(ValueError, match="no face found"):
        neutral_from_image(np.full((120, 160, 3), 128, np.uint8), source="grey.png")


# -- py-feat backend ---------------------------------------------------------------------------
@pytest.mark.skipif(pyfeat_available(), reason="py-feat is installed here")
def test_pyfeat_backend_says_what_to_install():
    with pytest.raises(BackendUnavailable) as e:
        PyFeatEstimator()
    assert "pip install reenact[feat]" in str(e.value) and "CUDA" in str(e.value)


def test_soft_floor_keeps_faint_differences_in_order():
    """Two mouths below the population neutral: a hard clip reads both 0, the soft floor keeps
    the less drooping one higher (and both stay >= 0)."""
    t = template3d()
    base_lm, depth = t[:, :2] * 100 + 300, t[:, 2] * 100
    faces = []
    for drop in (1.0, 3.0):                       # lip corners lowered by 1 and 3 pixels
        lm = base_lm.copy()
        lm[[61, 291], 1] += drop
        faces.append(Face(0, lm, depth, np.zeros(52, np.float32)))
    hard = AUEstimator(EstimatorConfig(floor_softness=0.0))
    soft = AUEstimator()
    assert hard.estimate(faces[0])[I12] == 0.0 and hard.estimate(faces[1])[I12] == 0.0
    a, b = soft.estimate(faces[0])[I12], soft.estimate(faces[1])[I12]
    assert a > b >= 0.0
