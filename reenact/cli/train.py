"""``reenact train DATA_DIR --config paper|light|cpu|tiny --out runs/NAME``: train GANimation.

Multi-GPU / multi-node: launch the same command under torchrun, e.g.
``torchrun --nproc_per_node 4 -m reenact.cli.main train DATA --config paper --out runs/x``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from reenact.cli.devices import check_device
from reenact.errors import ReenactError


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)


def train_command(
    data_dir: Path = typer.Argument(..., help="Folder of aligned crops with aus.csv (or the "
                                    "GANimation authors' layout: imgs/, aus_openface.pkl, *_ids.csv)."),
    config: str = typer.Option("paper", "--config", "-c", help="Recipe: paper, light, cpu or tiny."),
    out: Path = typer.Option(..., "--out", "-o", help="Run directory (config, stats, samples, "
                             "TensorBoard events, checkpoints)."),
    steps: Optional[int] = typer.Option(None, help="Total critic steps (default: the recipe's epochs)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out exactly where "
                                "its last checkpoint left off (its stored config is used)."),
    batch: Optional[int] = typer.Option(None, help="Global batch size (default: the recipe's)."),
    epochs: Optional[int] = typer.Option(None, help="Epochs (default: the recipe's)."),
    workers: Optional[int] = typer.Option(None, help="Data loading processes."),
    sample_every: Optional[int] = typer.Option(None, help="Steps between sample sheets."),
    checkpoint_every: Optional[int] = typer.Option(None, help="Steps between checkpoints."),
    log_every: Optional[int] = typer.Option(None, help="Steps between stats.jsonl lines."),
    seed: Optional[int] = typer.Option(None, help="Random seed."),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:N or auto."),
    stop_after: Optional[int] = typer.Option(None, help="Leave after this step (the schedule "
                                             "still follows the full length; resume later)."),
) -> None:
    """Train the GANimation generator and critic on aligned face crops."""
    from reenact.trainer.config import recipe
    from reenact.trainer.loop import load_run_config, train

    check_device(device, allow_auto=True)
    for name, value in (("--steps", steps), ("--batch", batch), ("--epochs", epochs),
                        ("--stop-after", stop_after)):
        if value is not None and value < 1:
            raise ReenactError(f"{name} {value}: expected 1 or more")
    if out.exists() and not out.is_dir():
        raise ReenactError(f"{out}: is a file; give a run folder")
    overrides = dict(batch=batch, epochs=epochs, workers=workers, sample_every=sample_every,
                     checkpoint_every=checkpoint_every, log_every=log_every, seed=seed, steps=steps)
    try:
        if resume:
            cfg = load_run_config(out)
            changed = {k: v for k, v in overrides.items()
                       if v is not None and k not in ("steps", "workers", "sample_every",
                                                      "checkpoint_every", "log_every")}
            if changed:
                raise ReenactError(f"--resume uses the run's stored config; drop {', '.join(changed)} "
                                   "(only --steps, --workers and the intervals may change)")
            cfg = cfg.with_overrides(**overrides)
        else:
            cfg = recipe(config).with_overrides(**overrides)
    except (ValueError, ReenactError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    try:
        result = train(data_dir, out, cfg, resume=resume, device=device, stop_after=stop_after)
    except ReenactError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    last = result.history[-1] if result.history else {}
    typer.echo(f"trained to step {result.last_step}; run directory {out}"
               + (f"; {last.get('sec_per_step', 0):.3f} s/step at the end" if last else ""))
