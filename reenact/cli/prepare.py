"""``reenact prepare <inputs...> --out DIR``: the trainer's dataset from folders of images and videos."""
from __future__ import annotations

from pathlib import Path

import typer

from reenact.cli.inputs import apply_max_pixels, max_pixels_option
from reenact.cli.outputs import check_output_folder
from reenact.errors import ReenactError


def register(app: typer.Typer) -> None:
    app.command("prepare")(prepare_command)


def prepare_command(
    inputs: list[Path] = typer.Argument(..., help="Images, videos or folders of them (walked recursively)."),
    out: Path = typer.Option(..., "--out", "-o", help="Dataset folder: imgs/, aus.csv, manifest.json."),
    size: int = typer.Option(128, help="Crop side in pixels (128 for the paper model)."),
    margin: float = typer.Option(0.15, help="Border around the face template, as a fraction of its box."),
    stride: int = typer.Option(1, help="Use every N-th video frame."),
    max_faces: int = typer.Option(8, help="Faces per image or frame."),
    min_iod: float = typer.Option(0.0, help="Leave out faces whose inter-ocular distance is below "
                                  "this many source pixels."),
    tiles: bool = typer.Option(True, "--tiles/--no-tiles", help="Also search stills tile by tile "
                               "for small faces (slower)."),
    test_every: int = typer.Option(0, help="Put every N-th input file (all its crops) in the test "
                                   "split (split.csv); 0: no split.csv, everything is training data."),
    overwrite: bool = typer.Option(False, "-y", "--overwrite", help="Replace a dataset already in --out."),
    max_pixels: int = max_pixels_option(),
) -> None:
    """Detect, align and crop every face, estimate its AUs, and write a training dataset."""
    from reenact.dataset.prepare import PrepareConfig, prepare_dataset
    from reenact.tracking.align import AlignConfig

    if size < 16:
        raise ReenactError(f"--size {size}: crops must be at least 16 pixels")
    if not 0.0 <= margin < 2.0:
        raise ReenactError(f"--margin {margin}: expected a fraction in [0, 2)")
    if stride < 1:
        raise ReenactError(f"--stride {stride}: expected 1 or more")
    if test_every < 0:
        raise ReenactError(f"--test-every {test_every}: expected 0 (no test split) or more")
    if max_faces < 1:
        raise ReenactError(f"--max-faces {max_faces}: expected 1 or more")
    apply_max_pixels(max_pixels)
    # The dataset's own files are checked by the writer; other files in --out are left alone.
    check_output_folder(out, overwrite, inputs=inputs, must_be_empty=False)
    cfg = PrepareConfig(align=AlignConfig(size=size, margin=margin), stride=stride,
                        max_faces=max_faces, min_iod=min_iod, tiles=tiles,
                        test_every=test_every)
    try:
        report = prepare_dataset(inputs, out, cfg, overwrite=overwrite)
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        raise ReenactError(str(err)) from None
    typer.echo(f"{len(report.crops)} crops from {report.sources - len(report.skipped)} of "
               f"{report.sources} files -> {out}")
    for s in report.skipped:
        typer.echo(f"skipped {s['source']}: {s['reason']}")
    if report.ignored:
        typer.echo(f"ignored {len(report.ignored)} files that are not images or videos "
                   f"(e.g. {report.ignored[0]})")
    if not report.crops:
        raise ReenactError("no face found in any input; nothing to train on")
