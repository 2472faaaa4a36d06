"""Training data: aligned face crops with OpenFace AU intensities, validated before training.

Two layouts are read:

- Reenact's (written by ``reenact prepare``): ``DIR/aus.csv`` with a ``file`` column (path relative
  to DIR, e.g. ``imgs/000001.png``) and the 17 OpenFace columns ``AU01_r ... AU45_r`` (0-5);
  optional ``DIR/split.csv`` (``file,split`` with ``train``/``test``) and ``DIR/manifest.json``.
- The GANimation authors': ``DIR/imgs/<id>.jpg``, ``DIR/aus_openface.pkl`` (a pickled dict id ->
  17 floats, 0-5, OpenFace order), ``DIR/train_ids.csv`` and ``DIR/test_ids.csv`` (one image file
  name per line).

Every problem (missing image, row without an image, NaN or out-of-range AU, wrong image size,
empty split) is reported with the file and line before any training starts.
"""
from __future__ import annotations

import csv
import json
import math
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from reenact.aus.names import AU_MAX, AU_MIN, NUM_AUS, OPENFACE_COLUMNS
from reenact.errors import DatasetError
from reenact.media.image import read_image
from reenact.tracking.align import AlignConfig

MAX_LISTED = 10  # problems listed in one error message


@dataclass
class DatasetIndex:
    """What training reads: image paths and their AUs (float32 (N, 17), 0-5, OpenFace order)."""

    root: Path
    names: list[str]      # as written in the dataset files (relative to root)
    aus: np.ndarray
    layout: str           # "reenact" or "ganimation"
    split: str
    image_size: int
    manifest: dict | None = None   # the small top-level fields of manifest.json, not its per-crop list
    align: AlignConfig | None = None  # how the crops were made, from manifest.json when present

    def __len__(self) -> int:
        return len(self.names)

    def path(self, i: int) -> Path:
        return self.root / self.names[i]

    def summary(self) -> dict:
        """A JSON-able description stored in run configs and checkpoints."""
        return {"root": str(self.root), "layout": self.layout, "split": self.split,
                "count": len(self), "image_size": self.image_size,
                "au_mean": [round(float(v), 4) for v in self.aus.mean(0)],
                "manifest": self.manifest}


class _Problems:
    """Collects problems so one error lists all of them (up to MAX_LISTED)."""

    def __init__(self, root: Path):
        self.root = root
        self.items: list[str] = []

    def add(self, msg: str) -> None:
        self.items.append(msg)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        shown = self.items[:MAX_LISTED]
        more = len(self.items) - len(shown)
        tail = f"\n  ... and {more} more" if more > 0 else ""
        raise DatasetError(f"dataset {self.root} has {len(self.items)} problem(s):\n  "
                           + "\n  ".join(shown) + tail)


# ------------------------------------------------------------------------------------------
# Reading
# ------------------------------------------------------------------------------------------
def load_index(root: str | Path, split: str = "train", image_size: int = 128) -> DatasetIndex:
    """Read and validate a dataset folder; raises DatasetError listing every problem found."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist")
    if (root / "aus.csv").is_file():
        names, aus, layout = *_read_reenact(root, split), "reenact"
    elif (root / "aus_openface.pkl").is_file():
        names, aus, layout = *_read_authors(root, split), "ganimation"
    else:
        raise DatasetError(f"{root} holds neither aus.csv (Reenact layout) nor aus_openface.pkl "
                           "(GANimation layout)")
    manifest = _read_manifest(root)
    align = _manifest_align(root, manifest, image_size)
    problems = _Problems(root)
    for name in names:
        _check_image(root / name, name, image_size, problems)
    problems.raise_if_any()
    return DatasetIndex(root, names, aus, layout, split, image_size, manifest, align)


def _check_au_values(values: list[float], where: str, problems: _Problems) -> None:
    for col, v in zip(OPENFACE_COLUMNS, values):
        if not math.isfinite(v):
            problems.add(f"{where}: {col} is {v}")
        elif not AU_MIN <= v <= AU_MAX:
            problems.add(f"{where}: {col} = {v:g} is outside OpenFace's {AU_MIN:g}-{AU_MAX:g} scale")


def _read_reenact(root: Path, split: str) -> tuple[list[str], np.ndarray]:
    problems = _Problems(root)
    path = root / "aus.csv"
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise DatasetError(f"{path} is empty")
        header = [h.strip() for h in header]
        missing = [c for c in ("file", *OPENFACE_COLUMNS) if c not in header]
        if missing:
            raise DatasetError(f"{path} line 1: missing column(s) {', '.join(missing)}")
        fi = header.index("file")
        ci = [header.index(c) for c in OPENFACE_COLUMNS]
        rows: dict[str, np.ndarray] = {}
        for line, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            where = f"aus.csv line {line}"
            if len(row) != len(header):
                problems.add(f"{where}: {len(row)} fields, the header has {len(header)}")
                continue
            name = row[fi].strip()
            if not name:
                problems.add(f"{where}: no image file named")
                continue
            if name in rows:
                problems.add(f"{where}: {name} appears twice")
                continue
            try:
                values = [float(row[i]) for i in ci]
            except ValueError:
                problems.add(f"{where}: non-numeric AU value in {[row[i] for i in ci]}")
                continue
            _check_au_values(values, f"{where} ({name})", problems)
            if not (root / name).is_file():
                problems.add(f"{where}: image {name} does not exist")
            rows[name] = np.asarray(values, np.float32)
    problems.raise_if_any()
    names = _select_split(root, list(rows), split)
    return names, np.stack([rows[n] for n in names]) if names else np.zeros((0, NUM_AUS), np.float32)


def _select_split(root: Path, names: list[str], split: str) -> list[str]:
    path = root / "split.csv"
    if not path.is_file():
        if split != "train":
            raise DatasetError(f"{root} has no split.csv, so there is no '{split}' split")
        if not names:
            raise DatasetError(f"{root / 'aus.csv'} has no rows")
        return names
    problems = _Problems(root)
    known = set(names)
    chosen = []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or not {"file", "split"} <= set(reader.fieldnames):
            raise DatasetError(f"{path} line 1: expected columns file,split")
        for line, row in enumerate(reader, start=2):
            name, which = (row["file"] or "").strip(), (row["split"] or "").strip()
            if name not in known:
                problems.add(f"split.csv line {line}: {name!r} is not in aus.csv")
            elif which not in ("train", "test"):
                problems.add(f"split.csv line {line}: split {which!r} is neither train nor test")
            elif which == split:
                chosen.append(name)
    problems.raise_if_any()
    if not chosen:
        raise DatasetError(f"{path}: the '{split}' split is empty")
    return chosen


def _read_authors(root: Path, split: str) -> tuple[list[str], np.ndarray]:
    ids_path = root / f"{split}_ids.csv"
    if not ids_path.is_file():
        raise DatasetError(f"{root} (GANimation layout) has no {ids_path.name}")
    try:
        with open(root / "aus_openface.pkl", "rb") as fh:
            # Python 2 pickles of numpy arrays need latin1; this file is the user's own data.
            table = pickle.load(fh, encoding="latin1")
    except Exception as e:
        raise DatasetError(f"cannot read {root / 'aus_openface.pkl'}: {e}") from e
    if not isinstance(table, dict):
        raise DatasetError(f"{root / 'aus_openface.pkl'} is not a dict of id -> 17 AUs")
    problems = _Problems(root)
    names, rows = [], []
    for line, text in enumerate(ids_path.read_text().splitlines(), start=1):
        entry = text.strip()
        if not entry:
            continue
        where = f"{ids_path.name} line {line}"
        sample_id = Path(entry).stem
        if sample_id not in table:
            problems.add(f"{where}: {sample_id} has no AUs in aus_openface.pkl")
            continue
        values = np.asarray(table[sample_id], np.float64).ravel()
        if values.shape != (NUM_AUS,):
            problems.add(f"{where}: {sample_id} has {values.size} AU values, expected {NUM_AUS}")
            continue
        _check_au_values(values.tolist(), f"{where} ({sample_id})", problems)
        name = f"imgs/{sample_id}.jpg"
        if not (root / name).is_file():
            problems.add(f"{where}: image {name} does not exist")
        names.append(name)
        rows.append(values.astype(np.float32))
    problems.raise_if_any()
    if not names:
        raise DatasetError(f"{ids_path}: the '{split}' split is empty")
    return names, np.stack(rows)


MANIFEST_SUMMARY_KEYS = ("tool", "version", "align", "stride", "test_every", "max_faces", "min_iod")


def _read_manifest(root: Path) -> dict | None:
    """The small fields of manifest.json (its per-crop list can be long: it stays on disk)."""
    path = root / "manifest.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path} line {e.lineno}: not valid JSON ({e.msg})") from e
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a JSON object")
    return {k: data[k] for k in MANIFEST_SUMMARY_KEYS if k in data}


def _manifest_align(root: Path, manifest: dict | None, image_size: int) -> AlignConfig | None:
    """The crop alignment recorded by ``reenact prepare``; its size must be the model's."""
    if not manifest or not isinstance(manifest.get("align"), dict):
        return None
    a = manifest["align"]
    try:
        align = AlignConfig(size=int(a["size"]), margin=float(a["margin"]),
                            template_id=str(a["template_id"]))
    except (KeyError, TypeError, ValueError) as e:
        raise DatasetError(f"{root / 'manifest.json'}: unreadable \"align\" entry ({e})") from e
    if align.size != image_size:
        raise DatasetError(f"{root / 'manifest.json'}: crops were made at {align.size} px, this "
                           f"config trains on {image_size} px")
    return align


def _check_image(path: Path, name: str, size: int, problems: _Problems) -> None:
    if not path.is_file():
        return  # already reported by the reader
    try:
        with Image.open(path) as im:  # header only: the size check reads no pixels
            w, h = im.size
    except Exception as e:
        problems.add(f"{name}: not a readable image ({e})")
        return
    if (w, h) != (size, size):
        problems.add(f"{name}: {w}x{h} pixels, this config trains on {size}x{size} crops")


# ------------------------------------------------------------------------------------------
# Torch side
# ------------------------------------------------------------------------------------------
class CropDataset(torch.utils.data.Dataset):
    """Item i -> (uint8 (3, S, S) RGB crop, float32 (17,) AUs on 0-5). No randomness here: flips
    and targets are drawn by the training loop from per-step generators (exact resume)."""

    def __init__(self, index: DatasetIndex):
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        path = self.index.path(i)
        arr = read_image(path, DatasetError)
        return torch.from_numpy(arr).permute(2, 0, 1), torch.from_numpy(self.index.aus[i])


class StepBatches(torch.utils.data.Sampler):
    """Batch indices for steps start..stop-1, a pure function of (seed, step, rank).

    Each epoch is one permutation of the dataset (seeded by seed and epoch, the same on every
    rank); step k of the epoch takes the k-th slice of ``batch`` indices, and rank r keeps every
    world-th of them (shards differ by one where ``batch`` does not divide by ``world``). The last
    partial batch of an epoch is dropped."""

    def __init__(self, n: int, batch: int, *, seed: int, start: int, stop: int,
                 rank: int = 0, world: int = 1):
        if n < batch:
            raise DatasetError(f"the dataset has {n} images, fewer than one batch of {batch}")
        if batch < world:
            raise ValueError(f"batch {batch} is smaller than the {world} processes sharing it")
        self.n, self.batch, self.seed = n, batch, seed
        self.start, self.stop, self.rank, self.world = start, stop, rank, world

    @property
    def steps_per_epoch(self) -> int:
        return self.n // self.batch

    def indices(self, step: int) -> list[int]:
        epoch, k = divmod(step, self.steps_per_epoch)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        perm = torch.randperm(self.n, generator=g)
        return perm[k * self.batch:(k + 1) * self.batch][self.rank::self.world].tolist()

    def __iter__(self):
        for step in range(self.start, self.stop):
            yield self.indices(step)

    def __len__(self) -> int:
        return max(0, self.stop - self.start)
