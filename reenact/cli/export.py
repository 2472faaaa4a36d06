"""``reenact export MODEL --format onnx -o model.onnx``: the GAN generator as an ONNX graph.

Inputs ``crops`` float32 (N, 3, S, S) in [-1, 1] and ``aus`` float32 (N, 17) on OpenFace's 0-5
scale; outputs ``color`` (N, 3, S, S) in [-1, 1] and ``attention`` (N, 1, S, S) in [0, 1]; N is
dynamic unless --fixed-batch. After writing, the file is run once with ONNX Runtime and compared
with the torch model (the maximum difference is printed).
"""
from __future__ import annotations

from pathlib import Path

import typer

from reenact.cli.outputs import check_output_file, overwrite_option
from reenact.errors import ReenactError

FORMATS = ("onnx",)


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)


def export_command(
    model: str = typer.Argument(..., help="A GAN checkpoint (ours or the authors' net_epoch_N_id_G.pth)."),
    fmt: str = typer.Option("onnx", "--format", "-f", help="Export format: onnx."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file (written to a temp file, then renamed)."),
    opset: int = typer.Option(17, help="ONNX opset."),
    fixed_batch: int = typer.Option(0, "--fixed-batch", help="Fix the batch axis to this size "
                                    "(default 0: dynamic batch)."),
    int8: bool = typer.Option(False, "--int8", help="Also quantize (dynamic int8, ONNX Runtime) "
                              "and write it instead."),
    check: bool = typer.Option(True, "--check/--no-check", help="Run the export once with ONNX "
                               "Runtime and compare with torch."),
    overwrite: bool = overwrite_option(),
) -> None:
    """Export a GAN generator for ONNX Runtime, OpenVINO or TensorRT."""
    if fmt not in FORMATS:
        raise ReenactError(f"--format {fmt!r} is not supported; choose one of {', '.join(FORMATS)}")
    if fixed_batch < 0:
        raise ReenactError(f"--fixed-batch must be >= 0, got {fixed_batch}")
    out = check_output_file(out, overwrite, inputs=(Path(model),))
    from reenact.runtime.model import resolve_generator
    from reenact.runtime.onnx_export import export_onnx, quantize_int8

    generator = resolve_generator(model)
    # With --int8 the float export goes beside the output, so ``out`` only ever holds the final file.
    fp32 = out.with_name(out.stem + ".fp32.onnx") if int8 else out
    path = export_onnx(generator, fp32, opset=opset, dynamic_batch=fixed_batch == 0,
                       batch=max(1, fixed_batch))
    if int8:
        path = quantize_int8(fp32, out)
        fp32.unlink()
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, opset {opset}, "
               f"batch {'dynamic' if fixed_batch == 0 else fixed_batch}{', int8' if int8 else ''})")
    if check:
        typer.echo(_check(generator, path, max(1, fixed_batch) if fixed_batch else 2))


def _check(generator, path: Path, batch: int) -> str:
    try:
        import onnxruntime as ort
    except ImportError:
        return "not checked: onnxruntime is not installed"
    import torch

    from reenact.runtime.model import example_inputs

    crops, aus = example_inputs(generator.image_size, batch=batch)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    color, attn = sess.run(["color", "attention"], {"crops": crops.numpy(), "aus": aus.numpy()})
    with torch.inference_mode():
        ref = generator(crops, aus)
    dc = (torch.from_numpy(color) - ref.color).abs()
    da = (torch.from_numpy(attn) - ref.attention).abs()
    return (f"checked with ONNX Runtime (batch {batch}): colour max |diff| {dc.max():.2e} "
            f"(mean {dc.mean():.2e}), attention max |diff| {da.max():.2e} (mean {da.mean():.2e})")
