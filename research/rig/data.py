"""Collect the rig's training data once: MediaPipe landmarks and blendshapes of real faces.

The expensive part of fitting (running MediaPipe over ~250 images and video frames) is done once and
cached in ``build/rig/samples.npz``; the AU estimator is re-run on the cached faces at every fit, so
a better estimator only costs a re-fit of a couple of minutes, not a re-tracking.

Sources (all under the shared data folder, none shipped):
- London set: each person neutral (NNN_03.jpg) and smiling (NNN_08.jpg), image mode.
- Videos: every ``stride``-th frame of the real clips, video mode; each clip is one person.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from reenact.atomic import atomic_path
from research.devdata import shared_data_root
from reenact.media.image import read_image

DATA_ROOT = shared_data_root()
# (clip, frame stride). face_noface.mov is left out: its face part is the single_face.mp4 clip.
VIDEOS: tuple[tuple[str, int], ...] = (("WolfgangLanger_Pexels.mp4", 2), ("single_face.mp4", 1))


@dataclass(frozen=True)
class CollectConfig:
    data_root: Path = DATA_ROOT
    cache: Path = Path("build/rig/samples.npz")
    holdout_every: int = 5          # London ids at sorted position i with i % 5 == 0 are held out


def london_ids(root: Path = DATA_ROOT) -> list[str]:
    """Ids NNN with both a neutral and a smiling photo, sorted."""
    neu = {p.stem[:3] for p in (root / "faces/london/neutral").glob("*_03.jpg")}
    smi = {p.stem[:3] for p in (root / "faces/london/smiling").glob("*_08.jpg")}
    return sorted(neu & smi)


def heldout_london_ids(root: Path = DATA_ROOT, every: int = 5) -> list[str]:
    """The London people kept out of every fit (evaluation uses them): every 5th id, from the first."""
    return [i for k, i in enumerate(london_ids(root)) if k % every == 0]


def london_paths(root: Path, nnn: str) -> tuple[Path, Path]:
    return (root / f"faces/london/neutral/{nnn}_03.jpg", root / f"faces/london/smiling/{nnn}_08.jpg")


def analysed_neutrals(ids, analyser, desc: str, root: Path = DATA_ROOT):
    """(id, neutral image, its analysis) for each London person in ``ids`` whose neutral photo
    shows a face; ``analyser`` as in ``analysed_pairs``."""
    for nnn in tqdm(ids, desc=desc):
        image = read_rgb(london_paths(root, nnn)[0])
        src = analyser.largest(image)
        if src is not None:
            yield nnn, image, src


def analysed_pairs(ids, analyser, desc: str = "London pairs", root: Path = DATA_ROOT):
    """(id, neutral image, smiling image, neutral analysis, smiling analysis) for each London
    person in ``ids`` whose two photos both show a face; ``analyser`` is an
    eval.editing.StillAnalyser (``largest(image)`` -> analysis or None)."""
    for nnn in tqdm(ids, desc=desc):
        neutral, smiling = (read_rgb(p) for p in london_paths(root, nnn))
        src, real = analyser.largest(neutral), analyser.largest(smiling)
        if src is not None and real is not None:
            yield nnn, neutral, smiling, src, real


def read_rgb(path: Path) -> np.ndarray:
    """uint8 RGB (H, W, 3) through reenact.media.image (FileNotFoundError when unreadable)."""
    return read_image(path, FileNotFoundError)


def _record(rows: dict, raw, person: str, kind: str, source: str, index: int) -> None:
    rows["landmarks"].append(raw.landmarks)
    rows["depth"].append(raw.depth)
    rows["blendshapes"].append(raw.blendshapes)
    rows["pose"].append(raw.pose if raw.pose is not None else np.eye(4, dtype=np.float32))
    rows["person"].append(person)
    rows["kind"].append(kind)
    rows["source"].append(source)
    rows["index"].append(index)


def _collect_london(cfg: CollectConfig, rows: dict) -> None:
    from reenact.tracking.landmarker import FaceLandmarker, LandmarkerConfig

    with FaceLandmarker(LandmarkerConfig(mode="image", max_faces=1)) as lm:
        for nnn in tqdm(london_ids(cfg.data_root), desc="london"):
            for kind, path in zip(("neutral", "smiling"), london_paths(cfg.data_root, nnn)):
                faces = lm.detect(read_rgb(path))
                if faces:
                    _record(rows, faces[0], f"london/{nnn}", kind, str(path), 0)


def _collect_video(cfg: CollectConfig, name: str, stride: int, rows: dict) -> None:
    from reenact.media.decode import decode_frames
    from reenact.tracking.landmarker import FaceLandmarker, LandmarkerConfig

    path = cfg.data_root / "video" / name
    with FaceLandmarker(LandmarkerConfig(mode="video", max_faces=1)) as lm:
        for frame in tqdm(decode_frames(path), desc=name):
            i = frame.index
            faces = lm.detect(frame.image, int(round(frame.time * 1000)))  # every frame keeps tracking alive
            if faces and i % stride == 0:
                _record(rows, faces[0], f"video/{name}", "frame", str(path), i)


def collect(cfg: CollectConfig = CollectConfig(), refresh: bool = False) -> dict[str, np.ndarray]:
    """All samples as arrays (landmarks (M, 478, 2) frame px, depth, blendshapes (M, 52), pose,
    person, kind, source, index), cached in ``cfg.cache``."""
    if cfg.cache.exists() and not refresh:
        with np.load(cfg.cache) as z:
            return {k: z[k] for k in z.files}
    rows: dict[str, list] = {k: [] for k in ("landmarks", "depth", "blendshapes", "pose", "person",
                                             "kind", "source", "index")}
    _collect_london(cfg, rows)
    for name, stride in VIDEOS:
        _collect_video(cfg, name, stride, rows)
    out = {k: np.asarray(v) for k, v in rows.items()}
    cfg.cache.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cfg.cache) as tmp, open(tmp, "wb") as f:  # a file: numpy adds no ".npz"
        np.savez_compressed(f, **out)
    return out


if __name__ == "__main__":
    s = collect(refresh=True)
    print({k: v.shape for k, v in s.items()})
