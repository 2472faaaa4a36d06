"""The evaluated faces: inputs tracked, their AUs estimated and their identity described once,
shared by every model of a run."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from reenact.errors import ReenactError
from reenact.eval.config import EvalConfig
from reenact.eval.editing import Analysed, StillAnalyser
from reenact.eval.identity import FaceDescriptor, acd, dlib_box_from_landmarks, unavailable_reason
from reenact.eval.inputs import list_images, list_pairs
from reenact.media.image import read_image
from reenact.eval.stats import stats

@dataclass
class Subject:
    """One evaluated face: the source image and, in pairs mode, the real target expression."""

    name: str
    image: np.ndarray
    src: Analysed
    target_image: np.ndarray | None = None
    target: Analysed | None = None
    descriptor: np.ndarray | None = None
    target_descriptor: np.ndarray | None = None


class Identity:
    """Descriptors when dlib is present; ``reason`` says why not otherwise."""

    def __init__(self, enabled: bool):
        self.reason = None if enabled else "disabled (--no-identity)"
        self.fd = None
        if enabled:
            self.reason = unavailable_reason()
            if self.reason is None:
                self.fd = FaceDescriptor()

    def describe(self, image: np.ndarray, a: Analysed | None) -> np.ndarray | None:
        if self.fd is None or a is None:
            return None
        return self.fd.describe(image, dlib_box_from_landmarks(a.face.landmarks))


def analyse_inputs(cfg: EvalConfig, analyser: StillAnalyser, ident: Identity) -> tuple[list[Subject], dict]:
    """Track and describe every input; images without a face are listed, not fatal, unless no
    image has one."""
    if cfg.faces is None:
        return [], {"images": 0, "with_face": 0, "skipped": []}
    if cfg.pairs:
        items = [(p.pid, p.source, p.target) for p in list_pairs(cfg.faces)]
    else:
        items = [(p.stem, p, None) for p in list_images(cfg.faces)]
    items = items[:cfg.limit] if cfg.limit else items
    subjects, skipped = [], []
    for name, src_path, tgt_path in tqdm(items, desc="analysing inputs", unit="face"):
        img = read_image(src_path)
        src = analyser.largest(img)
        tgt_img = read_image(tgt_path) if tgt_path is not None else None
        tgt = analyser.largest(tgt_img) if tgt_img is not None else None
        missing = [str(p) for p, a in ((src_path, src), (tgt_path, tgt)) if p is not None and a is None]
        if missing:
            skipped += missing
            continue
        subjects.append(Subject(name, img, src, tgt_img, tgt, ident.describe(img, src),
                                ident.describe(tgt_img, tgt) if tgt is not None else None))
    if not subjects:
        raise ReenactError(f"{cfg.faces}: no face found in any of the {len(items)} image(s) "
                           f"(faces must be visible and at least ~40 px across)")
    return subjects, {"images": len(items), "with_face": len(subjects), "skipped": skipped}


def measured_reference(subjects: list[Subject]) -> dict | None:
    """ACD between the two photos of each person, and between different people's source
    photos, on this data: the scale an ACD figure is read against."""
    same = [acd(s.descriptor, s.target_descriptor) for s in subjects
            if s.descriptor is not None and s.target_descriptor is not None]
    descs = [s.descriptor for s in subjects if s.descriptor is not None]
    diff = [acd(a, b) for i, a in enumerate(descs) for b in descs[i + 1:]]
    if not same and not diff:
        return None
    return {"same_person": stats(same), "different_people": stats(diff)}
