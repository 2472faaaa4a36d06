"""``reenact video IN (--aus SPEC | --driver VIDEO) -o OUT``: change the expressions in a video."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from reenact.cli.outputs import check_output_file, overwrite_option
from reenact.cli.devices import check_device
from reenact.errors import ReenactError

DRIVER_ENDS = ("hold", "loop", "stop")
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
                "veryslow", "placebo")


def register(app: typer.Typer) -> None:
    app.command("video")(video_command)


def load_model(model: str, backend: str, device: str, batch: int):
    """The generator behind the chosen backend; every failure is a one-line
    ReenactError (an unavailable backend is an error, never a silent fallback)."""
    from reenact.runtime.registry import make_backend

    try:
        generator = make_backend(backend, model, device=device, batch=batch)
    except ImportError as e:
        raise ReenactError(f"model {model!r} cannot be loaded: {e}") from None
    return generator


def open_targets(aus: Optional[str], driver: Optional[Path], driver_end: str, fps: float):
    """The AU source for --aus or --driver (exactly one of them)."""
    from reenact.aus.sources import open_au_source

    if (aus is None) == (driver is None):
        raise ReenactError("give exactly one of --aus SPEC or --driver VIDEO")
    if driver_end not in DRIVER_ENDS:
        raise ReenactError(f"--driver-end must be one of {', '.join(DRIVER_ENDS)}, got {driver_end!r}")
    if driver is not None:
        from reenact.aus.driver import DriverSource
        if not driver.exists():
            raise ReenactError(f"{driver}: no such driver video")
        return DriverSource(driver, driver_end, progress=sys.stderr.isatty())
    return open_au_source(aus, driver_policy=driver_end, fps=fps, progress=sys.stderr.isatty())


def parse_pose(pose: Optional[str], photo: bool) -> bool:
    """--pose on/off (default on) -> bool; only a photo source has a head to move, so the option
    given with a video input is refused rather than silently ignored."""
    if pose is None:
        return True
    text = pose.strip().lower()
    if text not in ("on", "off"):
        raise ReenactError(f"--pose must be on or off, got {pose!r}")
    if not photo:
        raise ReenactError("--pose applies to a photo input only: a video keeps its own head motion")
    return text == "on"


def video_command(
    input: Path = typer.Argument(..., help="The video to edit (any format FFmpeg reads), or a photo "
                                 "to animate (with --driver, a timeline, or --duration)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output video (.mp4, .mov or .mkv)."),
    aus: Optional[str] = typer.Option(None, "--aus", help="Target expression: a preset name "
                                      "(smile), a preset/timeline JSON, or an OpenFace/py-feat CSV."),
    driver: Optional[Path] = typer.Option(None, "--driver", help="A video of an actor whose "
                                          "expressions are remapped onto the faces of IN."),
    driver_end: str = typer.Option("hold", "--driver-end", help="When a driver or AU sequence is "
                                   "shorter than IN: hold its last frame, loop, or stop the output."),
    strength: float = typer.Option(1.0, "--strength", min=0.0, max=1.0,
                                   help="alpha in alpha*generated + (1-alpha)*real."),
    faces: str = typer.Option("all", "--faces", help="Which faces to edit: all, largest, or a face id."),
    model: str = typer.Option("rig", "--model", help="rig (embedded default), identity, or a checkpoint path."),
    backend: str = typer.Option("auto", "--backend", help="auto (the fastest that runs here, and it "
                                "says which), torch, onnxruntime, openvino or tensorrt."),
    batch: int = typer.Option(4, "--batch", min=1, help="Faces per generator call."),
    crf: int = typer.Option(18, "--crf", min=0, max=51, help="H.264 quality: 0 lossless, 18 visually lossless, 51 worst."),
    x264_preset: str = typer.Option("veryfast", "--x264-preset", help="x264 speed preset (ultrafast ... veryslow); veryfast: 3 ms CPU per 640x360 frame, medium: 8 ms and 9% smaller files."),
    fade: int = typer.Option(6, "--fade", min=0, help="Frames over which an edit fades in/out when a face appears/leaves."),
    device: str = typer.Option("cpu", "--device", help="torch device for crops, model and paste (cpu, cuda)."),
    no_audio: bool = typer.Option(False, "--no-audio", help="Leave the audio out."),
    occlusion: bool = typer.Option(False, "--occlusion", help="Keep the edit off whatever covers a face (hands, hair, glasses); experimental: misses a hand of the skin's colour, may read a moustache as cover."),
    duration: Optional[float] = typer.Option(None, "--duration", min=0.0, help="IN is a photo: "
                                             "seconds of video to make (default: the driver's or "
                                             "the timeline's length)."),
    fps: float = typer.Option(30.0, "--fps", min=1.0, max=240.0, help="IN is a photo: frame rate "
                              "of the video made from it (a driver video gives its own)."),
    pose: Optional[str] = typer.Option(None, "--pose", help="IN is a photo driven by --driver: "
                                       "its head follows the actor's head motion (on, the "
                                       "default) or stays still (off). A video keeps its own."),
    overwrite: bool = overwrite_option(),
) -> None:
    """Change the facial expressions in a video; sound, timing and resolution are kept."""
    from reenact.engine.pipeline import EngineConfig
    from reenact.engine.selection import parse_faces
    from reenact.engine.photo import animate_photo, photo_timing
    from reenact.engine.video import edit_video
    from reenact.media.photo import is_photo
    from reenact.media.sink import SinkConfig, check_output_path
    from reenact.media.source import VideoSource

    parse_faces(faces)
    check_device(device)
    if x264_preset not in X264_PRESETS:
        raise ReenactError(f"--x264-preset must be one of {', '.join(X264_PRESETS)}, got {x264_preset!r}")
    check_output_path(output)  # a bad container fails before the driver or model is loaded
    target = check_output_file(output, overwrite, inputs=(input, driver))
    photo = is_photo(input)
    follow_head = parse_pose(pose, photo)
    if not photo:
        with VideoSource(input) as probe:  # unreadable input fails before anything slow
            fps = float(probe.info.rate or 30)
    source = open_targets(aus, driver, driver_end, fps)
    timing = photo_timing(source, fps=fps, duration=duration, driver=driver) if photo else None
    generator = load_model(model, backend, device, batch)
    typer.echo(f"model {model}: {generator.describe()}", err=True)
    cfg = EngineConfig(strength=strength, faces=faces, batch=batch, fade_frames=fade, device=device,
                       occlusion=occlusion)
    sink_cfg = SinkConfig(crf=crf, preset=x264_preset, audio="none" if no_audio else "copy")
    log = lambda m: typer.echo(m, err=True)  # noqa: E731
    try:
        if photo:
            stats = animate_photo(input, target, generator, source, timing, audio_from=driver,
                                  engine_cfg=cfg, sink_cfg=sink_cfg, progress=sys.stderr.isatty(),
                                  log=log, pose=follow_head)
        else:
            stats = edit_video(input, target, generator, source, engine_cfg=cfg, sink_cfg=sink_cfg,
                               progress=sys.stderr.isatty(), log=log)
    except KeyboardInterrupt:
        typer.echo(f"interrupted: nothing written to {output}", err=True)
        raise typer.Exit(130)
    typer.echo(stats.summary(), err=True)
    typer.echo(f"wrote {output}", err=True)
