"""``reenact webcam (--aus smile.json | --source photo.jpg) [--camera 0|file.mp4] [--strength 0.8] [--virtual-cam] [--no-preview]``."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from reenact.cli.devices import check_device
from reenact.errors import ReenactError


def register(app: typer.Typer) -> None:
    app.command("webcam")(webcam_command)


def webcam_command(
    aus: Optional[List[str]] = typer.Option(None, "--aus", help="AU preset(s): a name (smile), a "
                                            "preset/timeline JSON, a CSV or a driver video; repeat "
                                            "for more (keys 1-9 switch)."),
    source: Optional[Path] = typer.Option(None, "--source", help="A photo to animate instead: the "
                                          "camera face's expressions drive it (as serve --source)."),
    camera: str = typer.Option("0", help="Camera index (0), device (/dev/video2), or a video file "
                               "played at its own rate as if it were a camera."),
    strength: float = typer.Option(1.0, min=0.0, max=1.0, help="How far the AUs move from the face's "
                                   "own towards the targets (0..1; keys +/- in the preview)."),
    virtual_cam: bool = typer.Option(False, "--virtual-cam", help="Also send the result to a virtual "
                                     "camera (pyvirtualcam: v4l2loopback, OBS)."),
    no_preview: bool = typer.Option(False, "--no-preview", help="No window (e.g. with --virtual-cam, "
                                    "or to measure)."),
    model: str = typer.Option("rig", help="Generator: rig (default), identity, or a checkpoint."),
    device: str = typer.Option("cpu", help="Torch device."),
    threads: int = typer.Option(1, help="Torch CPU threads (0: torch's default, one per core). Live "
                                "processing shares the CPU with tracking, codecs and capture; 1 was "
                                "3x faster on a 2-core machine."),
    max_side: Optional[int] = typer.Option(640, help="Downscale camera frames to this longer side."),
    width: Optional[int] = typer.Option(None, help="Requested camera width (devices)."),
    height: Optional[int] = typer.Option(None, help="Requested camera height (devices)."),
    fps: float = typer.Option(30.0, help="Requested camera rate; the virtual camera's rate."),
    loop: bool = typer.Option(False, "--loop", help="Restart a file camera at its end."),
    frames: Optional[int] = typer.Option(None, help="Stop after this many processed frames."),
    duration: Optional[float] = typer.Option(None, help="Stop after this many seconds."),
) -> None:
    """Reenact a camera live: preview window, virtual camera, fps and latency."""
    check_device(device)
    from reenact.live.capture import CaptureConfig, LiveCapture, open_reader
    from reenact.live.controls import MutableAUSource
    from reenact.live.loop import KeyControls, LiveConfig, run_live
    from reenact.live.preview import PreviewWindow
    from reenact.live.processor import (LiveEngineConfig, PortraitProcessor, engine_processor,
                                        load_live_generator, read_portrait)

    if (not aus) == (source is None):
        raise ReenactError("give --aus PRESET (edit the camera's face) or --source PHOTO (the camera "
                           "face drives the photo), not both and not neither")
    portrait = read_portrait(source) if source is not None else None  # a bad photo fails first
    if no_preview and not virtual_cam and frames is None and duration is None and not _is_file(camera):
        typer.echo("note: no preview and no virtual camera: processing only (Ctrl-C stops)", err=True)
    presets = key_presets(aus) if aus else []  # a portrait is driven by the camera, not presets
    controls = MutableAUSource(presets[0][1] if presets else None, presets[0][0] if presets else None,
                               strength)
    preview = None if no_preview else PreviewWindow()
    vcam = None
    reader = open_reader(CaptureConfig(camera=camera, width=width, height=height, fps=fps, loop=loop,
                                       max_side=max_side))
    engine = None
    try:
        if virtual_cam:
            _require_pyvirtualcam()  # a missing package is reported before the model loads
        # The model loads before capture starts, so the camera is not dropping frames meanwhile.
        live_cfg = LiveEngineConfig(model=model, device=device, torch_threads=threads or None)
        generator = load_live_generator(live_cfg)
        engine = (PortraitProcessor(portrait, controls, generator, live_cfg) if portrait is not None
                  else engine_processor(controls, generator, live_cfg))
        with LiveCapture(reader, max_side=max_side) as capture:
            if virtual_cam:
                vcam = _open_vcam(capture, fps)
                typer.echo(f"virtual camera: {vcam.device} ({vcam.width}x{vcam.height})", err=True)
            report = run_live(capture, engine.process, LiveConfig(max_frames=frames, duration_s=duration),
                              preview=preview, vcam=vcam, keys=KeyControls(controls, presets))
    except KeyboardInterrupt:
        typer.echo("stopped", err=True)
        return
    finally:
        for closable in (vcam, preview, engine, reader):  # a reader closes twice harmlessly
            if closable is not None:
                closable.close()
    typer.echo(str(report))


def _is_file(camera: str) -> bool:
    from reenact.live.capture import is_device

    return not is_device(camera)


def key_presets(aus: List[str]) -> list[tuple[str, object]]:
    """(name, AU source) for keys 1-9, in the order given; a bare name is a shipped preset."""
    return [(Path(spec).stem, _open_source(spec)) for spec in aus]


def _open_source(spec: str):
    from reenact.aus.sources import open_au_source

    return open_au_source(spec, driver_policy="loop", progress=False)  # AUInputError is a ReenactError


def _require_pyvirtualcam() -> None:
    try:
        import pyvirtualcam  # noqa: F401
    except ImportError:
        raise ReenactError("no virtual camera: the pyvirtualcam package is not installed; "
                           "pip install 'reenact[live]' (or pyvirtualcam)") from None


def _open_vcam(capture, fps: float):
    from reenact.live.virtualcam import VirtualCamera

    first = capture.latest(timeout=5.0)  # the virtual camera takes the camera's frame size
    if first is None:
        raise ReenactError("the camera gave no frame within 5 s")
    h, w = first.image.shape[:2]
    return VirtualCamera(w, h, fps)
