"""Dataset preparation: images and videos -> the trainer's folder of aligned face crops with AUs.

Output layout (what ``reenact train`` reads):
- ``imgs/000001.png ...``: crops of ``size`` x ``size``, made with reenact.tracking.align
  (``crop_from_frame`` + ``warp_to_crop``: the same crop the engine makes at run time);
- ``aus.csv``: ``file,AU01_r,...,AU45_r``, file relative to the folder, AUs on the 0-5 scale from
  reenact.aus.estimator;
- ``split.csv`` (with ``test_every``): ``file,split`` (train/test, by source file);
- ``manifest.json``: where every crop came from (source file, frame index and time, face id, the
  2x3 ``crop_from_frame`` matrix mapping source-frame pixels to crop pixels), the alignment config
  and template id, the tool version, and the inputs that were skipped and why.
Images are tracked in image mode (tiles find small faces); videos in video mode (stable face ids,
no smoothing: training crops should follow the raw landmarks), taking every ``stride``-th frame.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from reenact.atomic import write_text_atomic
from reenact.aus.names import OPENFACE_COLUMNS
from reenact.media.formats import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from reenact.media.image import read_image, write_image
from reenact.tracking.align import AlignConfig, crop_from_frame, inter_ocular, warp_to_crop

OUTPUTS = ("imgs", "aus.csv", "manifest.json", "split.csv")


@dataclass(frozen=True)
class PrepareConfig:
    """align: crop size, margin and template; stride: every stride-th video frame is used;
    max_faces: faces per image or frame; min_iod: faces whose inter-ocular distance in the
    source is below this many pixels are left out (they would be upscaled into blurry crops);
    tiles: also search stills tile by tile for small faces (reenact.tracking.multiscale; about
    0.2-0.5 s more per image); test_every: if > 0, every test_every-th source file (in input
    order) goes to the test split, with all its crops (no person split across train and test when
    each file shows one person), written to split.csv."""

    align: AlignConfig = AlignConfig()
    stride: int = 1
    max_faces: int = 8
    min_iod: float = 0.0
    tiles: bool = True
    test_every: int = 0


@dataclass
class Crop:
    file: str
    source: str
    frame: int | None
    time: float | None
    face_id: int
    crop_from_frame: list[list[float]]
    iod: float
    aus: list[float]
    split: str = "train"


@dataclass
class PrepareReport:
    crops: list[Crop] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)   # {"source": ..., "reason": ...}
    ignored: list[str] = field(default_factory=list)    # files in folders that are not media
    sources: int = 0


def collect_inputs(inputs: list[Path]) -> tuple[list[Path], list[str]]:
    """Media files under the given files/folders (folders walked recursively, sorted), and the
    files found in folders that are neither images nor videos. A missing path raises
    FileNotFoundError; a named file of an unknown type raises ValueError."""
    media, ignored = [], []
    for p in inputs:
        p = Path(p)
        if p.is_dir():
            for f in sorted(q for q in p.rglob("*") if q.is_file()):
                (media if f.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES else ignored).append(f)
        elif p.is_file():
            if p.suffix.lower() not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
                raise ValueError(f"{p}: not an image or video (known types: "
                                 f"{', '.join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))})")
            media.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    return media, [str(f) for f in ignored]


def video_frames(path: Path, stride: int) -> Iterator[tuple[int, float, np.ndarray]]:
    """(frame index, time in s, RGB uint8) of every stride-th frame, decoded as the engine decodes
    (reenact.media.decode: exact RGB, upright), so training crops match what the engine sees."""
    from reenact.media.decode import decode_frames

    for f in decode_frames(path, stride=stride):
        yield f.index, f.time, f.image


class DatasetWriter:
    """Writes crops as they come, then aus.csv and manifest.json, into a hidden folder beside
    ``out``; ``finish`` moves them into ``out`` and ``discard`` removes them. An interrupted or
    empty run leaves ``out`` as it was (half a dataset would block the next run)."""

    def __init__(self, out: Path, cfg: PrepareConfig, overwrite: bool = False):
        existing = [n for n in OUTPUTS if (out / n).exists()]
        if existing and not overwrite:
            raise FileExistsError(f"{out} already holds a dataset ({', '.join(existing)}); "
                                  "choose another folder or pass -y/--overwrite")
        out.parent.mkdir(parents=True, exist_ok=True)
        self.target, self.cfg = out, cfg
        # Same folder as the target: the final renames stay on one file system.
        self.out = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
        (self.out / "imgs").mkdir()

    def discard(self) -> None:
        shutil.rmtree(self.out, ignore_errors=True)

    def _move_into_place(self) -> None:
        self.target.mkdir(exist_ok=True)
        for n in OUTPUTS:  # the old dataset's files go, the new ones take their names
            old = self.target / n
            if old.is_dir():
                shutil.rmtree(old)
            elif old.exists():
                old.unlink()
        for n in OUTPUTS:
            if (self.out / n).exists():
                os.replace(self.out / n, self.target / n)
        self.out.rmdir()
        self.out = self.target

    def add(self, report: PrepareReport, image: np.ndarray, face, aus: np.ndarray, source: Path,
            frame: int | None, time: float | None, split: str = "train") -> None:
        m = crop_from_frame(face.landmarks, self.cfg.align)
        name = f"imgs/{len(report.crops) + 1:06d}.png"
        write_image(warp_to_crop(image, m, self.cfg.align.size), self.out / name)
        report.crops.append(Crop(name, str(source), frame, time, int(face.face_id),
                                 np.round(m, 6).tolist(), round(inter_ocular(face.landmarks), 2),
                                 [round(float(v), 4) for v in aus], split))

    def finish(self, report: PrepareReport) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            tool_version = version("reenact")
        except PackageNotFoundError:  # running from a source tree that is not installed
            tool_version = "unknown"
        rows = ["file," + ",".join(OPENFACE_COLUMNS)]
        rows += [c.file + "," + ",".join(f"{v:.4f}" for v in c.aus) for c in report.crops]
        write_text_atomic(self.out / "aus.csv", "\n".join(rows) + "\n")
        if self.cfg.test_every > 0:
            split = ["file,split"] + [f"{c.file},{c.split}" for c in report.crops]
            write_text_atomic(self.out / "split.csv", "\n".join(split) + "\n")
        manifest = {
            "tool": "reenact prepare", "version": tool_version,
            "align": asdict(self.cfg.align), "stride": self.cfg.stride,
            "max_faces": self.cfg.max_faces, "min_iod": self.cfg.min_iod, "tiles": self.cfg.tiles,
            "test_every": self.cfg.test_every,
            "au_columns": list(OPENFACE_COLUMNS),
            "conventions": "crop_from_frame maps source-frame pixels (x, y; pixel centres at "
                           "integers) to crop pixels: p_crop = M[:, :2] @ p_frame + M[:, 2]",
            "crops": [{k: v for k, v in asdict(c).items() if k != "aus"} for c in report.crops],
            "skipped": report.skipped,
            "ignored_files": len(report.ignored),
        }
        write_text_atomic(self.out / "manifest.json", json.dumps(manifest, indent=1) + "\n")
        self._move_into_place()


def prepare_dataset(inputs: list[Path], out: Path, cfg: PrepareConfig = PrepareConfig(),
                    overwrite: bool = False, progress: bool = True) -> PrepareReport:
    """Detect, align, crop and AU-label every face in ``inputs`` (files or folders) into ``out``.
    Files without a face or that cannot be read are reported in the returned report (and the
    manifest), not fatal."""
    from tqdm import tqdm

    from reenact.aus.estimator import AUEstimator

    if cfg.stride < 1:
        raise ValueError(f"stride must be >= 1, got {cfg.stride}")
    media, ignored = collect_inputs(inputs)
    writer = DatasetWriter(Path(out), cfg, overwrite)
    report = PrepareReport(ignored=ignored, sources=len(media))
    try:
        estimator = AUEstimator()
        bar = tqdm(media, desc="prepare", unit="file", disable=not progress)
        _prepare_all(bar, cfg, writer, estimator, report)
        if not report.crops:  # nothing to train on: leave no dataset that looks usable
            writer.discard()
            return report
        writer.finish(report)
    except BaseException:  # Ctrl-C, SIGTERM, a full disk: the target is left as it was
        writer.discard()
        raise
    return report


def _prepare_all(bar, cfg: PrepareConfig, writer: DatasetWriter, estimator,
                 report: PrepareReport) -> None:
    for k, path in enumerate(bar):
        before = len(report.crops)
        split = "test" if cfg.test_every > 0 and k % cfg.test_every == cfg.test_every - 1 else "train"
        try:
            reason = _prepare_one(path, cfg, writer, estimator, report, split)
        except Exception as err:  # a broken file is reported and skipped, never fatal
            kept = len(report.crops) - before
            what = f"partly read ({kept} crops kept)" if kept else "unreadable"
            reason = f"{what}: {type(err).__name__}: {err}".strip()
        if reason:
            report.skipped.append({"source": str(path), "reason": reason})
        bar.set_postfix(crops=len(report.crops), skipped=len(report.skipped))


def _prepare_one(path: Path, cfg: PrepareConfig, writer: DatasetWriter, estimator,
                 report: PrepareReport, split: str) -> str | None:
    """Crops from one file; returns why it gave none (or None when it gave some)."""
    from reenact.tracking.tracker import FaceTracker, TrackerConfig

    is_video = path.suffix.lower() in VIDEO_SUFFIXES
    tcfg = TrackerConfig(mode="video" if is_video else "image", max_faces=cfg.max_faces,
                         smoothing=False)
    if not cfg.tiles:
        tcfg = replace(tcfg, multiscale=None)
    before, small, frames = len(report.crops), 0, 0
    with FaceTracker(tcfg) as tracker:
        items = (video_frames(path, cfg.stride) if is_video
                 else iter([(None, None, read_image(path))]))
        for index, t, image in items:
            frames += 1
            ts = None if t is None else int(round(t * 1000))
            for face in tracker.track(image, ts).faces:
                if inter_ocular(face.landmarks) < cfg.min_iod:
                    small += 1
                    continue
                writer.add(report, image, face, estimator.estimate(face), path, index, t, split)
    if len(report.crops) > before:
        return None
    if frames == 0:
        return "unreadable: no video frames decoded"
    if small:
        return f"faces too small (inter-ocular distance < {cfg.min_iod} px): {small}"
    return "no face" if not is_video else f"no face in any of {frames} sampled frames"
