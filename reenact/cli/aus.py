"""``reenact aus <image|folder|video> [--csv out.csv] [--json]``: estimated AUs per face and frame."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from reenact.cli.inputs import apply_max_pixels, max_pixels_option
from reenact.cli.outputs import check_output_file, overwrite_option
from reenact.errors import ReenactError


def register(app: typer.Typer) -> None:
    app.command("aus")(aus_command)


def aus_command(
    input: Path = typer.Argument(..., help="An image, a video, or a folder of them."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Write an OpenFace-style CSV "
                                       "(input, frame, timestamp, face_id, success, AU01_r ... AU45_r)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines (one record per face) "
                                 "instead of a table."),
    max_faces: int = typer.Option(8, help="Faces per image or frame."),
    stride: int = typer.Option(1, help="Report every N-th video frame."),
    calibration: Optional[Path] = typer.Option(None, help="Another estimator calibration JSON."),
    overwrite: bool = overwrite_option(),
    max_pixels: int = max_pixels_option(),
) -> None:
    """Estimate the 17 AUs (OpenFace names, 0-5) of every face; images without a face are reported."""
    from reenact.aus.csv_io import write_au_csv
    from reenact.aus.estimator import AUEstimator, EstimatorConfig
    from reenact.aus.report import ReportConfig, estimate_inputs

    if stride < 1 or max_faces < 1:
        raise ReenactError("--stride and --max-faces must be 1 or more")
    apply_max_pixels(max_pixels)
    if csv is not None:
        csv = check_output_file(csv, overwrite, inputs=(input,))
    errors: list[str] = []
    records: list[dict] = []
    try:
        est = AUEstimator(EstimatorConfig(calibration=str(calibration) if calibration else None))
        cfg = ReportConfig(max_faces=max_faces, stride=stride, progress=sys.stderr.isatty())
        printer = _Printer(as_json)
        for rec in estimate_inputs(input, cfg, est, errors):
            records.append(rec)
            if csv is None:
                printer(rec)
    except ValueError as e:  # AUInputError included
        raise ReenactError(str(e)) from None
    if csv is not None:
        try:
            write_au_csv(csv, records)
        except OSError as e:
            raise ReenactError(f"{csv}: cannot write ({e.strerror or e})") from None
    _summary(records, errors, csv)


class _Printer:
    """Prints records as JSON lines, or as a table with its header before the first row."""

    def __init__(self, as_json: bool):
        self.as_json = as_json
        self.header_done = False

    def __call__(self, rec: dict) -> None:
        from reenact.aus.names import AU_NAMES, OPENFACE_COLUMNS

        if self.as_json:
            aus = rec["aus"]
            out = {**rec, "aus": None if aus is None else
                   {c: round(float(v), 3) for c, v in zip(OPENFACE_COLUMNS, aus)}}
            print(json.dumps(out))
            return
        if not self.header_done:
            self.header_done = True
            print("input  frame  face  " + " ".join(f"{n[2:]:>4}" for n in AU_NAMES))
        where = f"{Path(rec['input']).name}  {rec['frame']:>5}"
        if rec["aus"] is None:
            print(f"{where}     -  no face")
        else:
            print(f"{where}  {rec['face_id']:>4}  " + " ".join(f"{v:4.2f}" for v in rec["aus"]))


def _summary(records: list[dict], errors: list[str], csv: Optional[Path]) -> None:
    faces = sum(r["aus"] is not None for r in records)
    empty = sorted({(r["input"], r["frame"]) for r in records if r["aus"] is None})
    for e in errors:
        print(f"skipped: {e}", file=sys.stderr)
    msg = f"{faces} face estimate(s)"
    if empty:
        msg += f"; no face in {len(empty)} image(s)/frame(s)"
    if csv is not None:
        msg += f"; wrote {csv}"
    print(msg, file=sys.stderr)
