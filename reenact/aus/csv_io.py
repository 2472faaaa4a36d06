"""AU sequences in CSV files: OpenFace 2.x (AU01_r ... AU45_r) and py-feat, read and written.

- OpenFace: the 17 ``AUxx_r`` intensity columns, 0-5, one row per frame (header names may carry
  leading spaces, as OpenFace writes them). A ``face_id`` column (OpenFace's multi-face output, and
  ``reenact aus --csv``) keeps the rows of the first face id only.
- py-feat: ``AU01`` ... ``AU43`` on py-feat's 0-1 scale (its detectors' probabilities/intensities).
  The 17 Reenact uses are taken and multiplied by 5; py-feat has no AU45 (blink), so its AU43
  (eyes closed) stands in for it. This is a scale change, not a calibration: py-feat's numbers are
  not OpenFace's (docs/aus.md).
Errors name the file, the line and the column.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from reenact.atomic import atomic_path
from reenact.errors import AUInputError
from reenact.aus.names import AU_MAX, AU_NAMES, NUM_AUS, OPENFACE_COLUMNS

PYFEAT_SCALE = AU_MAX
PYFEAT_COLUMNS: tuple[str, ...] = tuple("AU43" if n == "AU45" else n for n in AU_NAMES)
TOLERANCE = 1e-3  # OpenFace prints 2 decimals; allow rounding at the scale's ends


@dataclass(frozen=True)
class AUSequence:
    """aus: float32 (N, 17) on 0-5, one row per frame; kind: "openface" | "pyfeat"."""

    aus: np.ndarray
    kind: str
    path: str

    def __len__(self) -> int:
        return len(self.aus)


def _rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # Excel writes a BOM
            text = f.read()
    except OSError as e:
        raise AUInputError(f"{path}: cannot be read ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise AUInputError(f"{path}: not a text CSV file") from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise AUInputError(f"{path}: empty file, expected a CSV header line") from None
    except csv.Error as e:
        raise AUInputError(f"{path}: line 1: malformed CSV ({e})") from None
    rows = []
    try:
        for row in reader:
            if row and any(c.strip() for c in row):
                rows.append((reader.line_num, row))
    except csv.Error as e:
        raise AUInputError(f"{path}: line {reader.line_num}: malformed CSV ({e})") from None
    return header, rows


def detect_kind(header: list[str]) -> str | None:
    if "AU01_r" in header:
        return "openface"
    if "AU01" in header and "AU12" in header:
        return "pyfeat"
    return None


def read_au_csv(path: str | Path) -> AUSequence:
    """An OpenFace or py-feat CSV (detected from the header) -> AUSequence on 0-5."""
    p = Path(path)
    if not p.exists():
        raise AUInputError(f"{p}: no such file")
    header, rows = _rows(p)
    kind = detect_kind(header)
    if kind is None:
        raise AUInputError(f"{p}: line 1: no AU columns; expected OpenFace's AU01_r ... AU45_r "
                           f"or py-feat's AU01 ... AU43")
    columns, scale = (OPENFACE_COLUMNS, 1.0) if kind == "openface" else (PYFEAT_COLUMNS, PYFEAT_SCALE)
    missing = [c for c in columns if c not in header]
    if missing:
        raise AUInputError(f"{p}: line 1: missing column(s) {', '.join(missing)}")
    if not rows:
        raise AUInputError(f"{p}: no data rows after the header")
    idx = [header.index(c) for c in columns]
    rows = _first_face(p, header, rows)
    out = np.zeros((len(rows), NUM_AUS), np.float32)
    top = AU_MAX / scale
    for r, (line, row) in enumerate(rows):
        if len(row) != len(header):
            raise AUInputError(f"{p}: line {line}: {len(row)} fields, the header has {len(header)}")
        for j, (c, i) in enumerate(zip(columns, idx)):
            if row[i].strip() == "":
                out[r, j] = np.nan  # a frame without a face: filled from the frame before
                continue
            try:
                v = float(row[i])
            except ValueError:
                raise AUInputError(f"{p}: line {line}, column {c}: {row[i].strip()!r} is not a "
                                   f"number") from None
            if not -TOLERANCE <= v <= top + TOLERANCE:
                raise AUInputError(f"{p}: line {line}, column {c}: {v} is outside 0..{top:g} "
                                   f"({'OpenFace' if kind == 'openface' else 'py-feat'} scale)")
            out[r, j] = v * scale
    return AUSequence(np.clip(_hold_gaps(out), 0.0, AU_MAX), kind, str(p))


def _hold_gaps(aus: np.ndarray) -> np.ndarray:
    """Empty cells take the previous row's value (0 before the first value)."""
    out = aus.copy()
    prev = np.zeros(aus.shape[1], np.float32)
    for r in range(len(out)):
        gaps = np.isnan(out[r])
        out[r, gaps] = prev[gaps]
        prev = out[r]
    return out


def _first_face(path: Path, header: list[str], rows):
    if "face_id" not in header:
        return rows
    i = header.index("face_id")
    ids = []
    for line, row in rows:
        text = row[i].strip() if i < len(row) else ""
        try:
            ids.append(None if text == "" else int(float(text)))
        except ValueError:
            raise AUInputError(f"{path}: line {line}, column face_id: {text!r} is not an "
                               f"integer") from None
    known = [x for x in ids if x is not None]
    first = min(known) if known else None
    # A row with no face id is a frame without a face: it keeps its place in the sequence.
    return [r for r, fid in zip(rows, ids) if fid is None or fid == first]


def write_au_csv(path: str | Path, records: Iterable[dict]) -> None:
    """Write records {"input", "frame", "timestamp", "face_id", "aus" (17,)} as an OpenFace-style
    CSV (AU01_r ... AU45_r), through a temporary file renamed into place."""
    p = Path(path)
    fields = ["input", "frame", "timestamp", "face_id", "success", *OPENFACE_COLUMNS]
    with atomic_path(p) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields)
        for rec in records:
            aus = rec.get("aus")
            values = ["" if aus is None else f"{float(v):.3f}" for v in
                      (aus if aus is not None else [None] * NUM_AUS)]
            ts = rec.get("timestamp")
            w.writerow([rec.get("input", ""), rec.get("frame", 0),
                        "" if ts is None else f"{ts:.4f}",
                        "" if rec.get("face_id") is None else rec["face_id"],
                        0 if aus is None else 1, *values])
