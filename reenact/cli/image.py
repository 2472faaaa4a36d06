"""``reenact image IN --aus SPEC -o OUT.png``: change the expression in a photo; sweeps and strips
like the paper's figures (``--sweep AU12``: Fig. 4; ``--interpolate N``: Fig. 1; ``--masks``: Fig. 5)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer

from reenact.cli.inputs import apply_max_pixels, max_pixels_option
from reenact.cli.outputs import check_output_file, overwrite_option
from reenact.cli.devices import check_device
from reenact.errors import ReenactError
from reenact.media import image as media_image
from reenact.media.image import write_image
from reenact.media.formats import IMAGE_SUFFIXES


def register(app: typer.Typer) -> None:
    app.command("image")(image_command)


def read_image(path: Path) -> np.ndarray:
    """uint8 RGB (H, W, 3) with the EXIF orientation applied; ReenactError for a bad file."""
    if not path.exists():
        raise ReenactError(f"{path}: no such file")
    return media_image.read_image(path)


def grid(rows: list[list[np.ndarray]], pad: int = 4) -> np.ndarray:
    """Tile equally sized uint8 images (rows of columns) on a white background."""
    h, w = rows[0][0].shape[:2]
    n_cols = max(len(r) for r in rows)
    out = np.full((len(rows) * (h + pad) + pad, n_cols * (w + pad) + pad, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, im in enumerate(row):
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            out[y:y + h, x:x + w] = im
    return out


def _check_output(output: Path, input: Path, overwrite: bool, masks: bool) -> Path:
    """The path to write (a symlink's target); refuses the input itself and, without -y, any
    existing file (the masks picture beside the output too)."""
    if output.suffix.lower() not in IMAGE_SUFFIXES and not output.is_dir():
        raise ReenactError(f"{output}: give an image file name ({', '.join(sorted(IMAGE_SUFFIXES))})")
    target = check_output_file(output, overwrite, inputs=(input,))
    if masks:
        check_output_file(_masks_path(target), overwrite, inputs=(input,))
    return target


def _masks_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}_masks.png")


def image_command(
    input: Path = typer.Argument(..., help="The photo to edit."),
    output: Path = typer.Option(..., "-o", "--output", help="Output image (.png, .jpg)."),
    aus: Optional[str] = typer.Option(None, "--aus", help="Target expression: a preset name, a preset JSON, or a CSV (first row)."),
    sweep: Optional[str] = typer.Option(None, "--sweep", help="One AU (e.g. AU12): a grid of its intensity 0..5 per face (paper Fig. 4)."),
    steps: int = typer.Option(6, "--steps", min=2, help="Columns of --sweep."),
    interpolate: Optional[int] = typer.Option(None, "--interpolate", min=2, help="A strip of N crops from the face's own expression to the target (paper Fig. 1)."),
    masks: bool = typer.Option(False, "--masks", help="Also save the attention A and colour C beside the result (paper Fig. 5)."),
    strength: float = typer.Option(1.0, "--strength", min=0.0, max=1.0),
    faces: str = typer.Option("all", "--faces", help="all, largest, or a face id (ids go left to right)."),
    model: str = typer.Option("rig", "--model"),
    backend: str = typer.Option("auto", "--backend", help="auto, torch, onnxruntime, openvino or tensorrt."),
    device: str = typer.Option("cpu", "--device"),
    overwrite: bool = overwrite_option(),
    max_pixels: int = max_pixels_option(),
    occlusion: bool = typer.Option(False, "--occlusion", help="Keep the edit off whatever covers a face (hands, hair, glasses); experimental: misses a hand of the skin's colour, may read a moustache as cover."),
) -> None:
    """Change the facial expression in a photo (or make a sweep/strip of expressions)."""
    from reenact.aus.names import au_index
    from reenact.cli.video import load_model, open_targets
    from reenact.engine.selection import parse_faces
    from reenact.engine.still import edit_image, interpolate_targets, sweep_targets, track_image

    parse_faces(faces)
    check_device(device)
    apply_max_pixels(max_pixels)
    written = _check_output(output, input, overwrite, masks)
    if aus is None and sweep is None:
        raise ReenactError("give --aus SPEC (or --sweep AU for an intensity grid)")
    if sweep is not None and interpolate is not None:
        raise ReenactError("--sweep and --interpolate make different figures; choose one")
    au = None
    if sweep is not None:
        try:
            au = au_index(sweep)
        except ValueError as e:
            raise ReenactError(f"--sweep: {e}") from None
    image = read_image(input)
    source = open_targets(aus, None, "hold", 30.0) if aus is not None else None
    generator = load_model(model, backend, device, 8)
    found = track_image(image)
    if not found:
        raise ReenactError(f"{input}: no face found")
    kw = dict(strength=strength, faces=faces, tracked=found, device=device, occlusion=occlusion)
    base = edit_image(image, source if source is not None else (lambda own: own), generator, **kw)
    if not base.faces:
        raise ReenactError(f"{input}: no selected face (--faces {faces}; found ids "
                           f"{', '.join(str(f.face_id) for f in found)})")
    own = {r.face_id: r.source_aus for r in base.faces}
    if au is not None:
        values = np.linspace(0.0, 5.0, steps)
        rows = [[edit_image(image, {r.face_id: t}, generator, own=own, **kw).faces[0].output
                 for t in sweep_targets(r.source_aus, au, values)] for r in base.faces]
        write_image(grid(rows), written)
        typer.echo(f"wrote {output}: {sweep.upper()} at {', '.join(f'{v:.1f}' for v in values)} "
                   f"(rows: faces {', '.join(str(r.face_id) for r in base.faces)})", err=True)
    elif interpolate is not None:
        rows = [[edit_image(image, {r.face_id: t}, generator, own=own, **kw).faces[0].output
                 for t in interpolate_targets(r.source_aus, r.target_aus, interpolate)]
                for r in base.faces]
        write_image(grid(rows), written)
        typer.echo(f"wrote {output}: {interpolate} steps from each face's own AUs to the target", err=True)
    else:
        write_image(base.image, written)
        typer.echo(f"wrote {output} ({len(base.faces)} face(s) edited)", err=True)
    if masks:
        _save_masks(base.faces, written)


def _save_masks(records, output: Path) -> None:
    """<stem>_masks.png: per face, a row of crop | C | A | occlusion | output (the occlusion
    column only when it was on)."""
    def grey(m):
        a = (np.clip(m, 0, 1) * 255).round().astype(np.uint8)
        return np.repeat(a[:, :, None], 3, axis=2)
    rows = []
    for r in records:
        occ = [] if r.occlusion is None else [grey(r.occlusion)]
        rows.append([r.crop, r.color, grey(r.attention)] + occ + [r.output])
    path = _masks_path(output)
    write_image(grid(rows), path)
    occ = " | occlusion" if records and records[0].occlusion is not None else ""
    typer.echo(f"wrote {path}: per face crop | colour C | attention A{occ} | result", err=True)
