"""``reenact serve [--host 127.0.0.1] [--port 8080] [--token T] [--max-sessions N] [--source portrait.jpg]``."""
from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path
from typing import List, Optional

import typer

from reenact.cli.devices import check_device


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)


def serve_command(
    host: str = typer.Option("127.0.0.1", help="Address to listen on; anything but loopback needs "
                             "--token or --cert/--key."),
    port: int = typer.Option(8080, min=0, max=65535, help="TCP port (0: any free port)."),
    token: Optional[str] = typer.Option(None, help="Secret the page must present (/?token=...); "
                                        "'auto' makes one up and prints the address."),
    max_sessions: int = typer.Option(2, help="Concurrent visitors; the next one is told the server is busy."),
    source: Optional[Path] = typer.Option(None, help="A portrait: the visitor's expressions animate "
                                          "this still photo instead of their own face."),
    aus: List[str] = typer.Option([], "--aus", help="Preset names, files or folders for the page's "
                                  "buttons (default: the shipped presets)."),
    preset: Optional[str] = typer.Option(None, help="Preset applied when a visitor connects."),
    strength: float = typer.Option(1.0, min=0.0, max=1.0, help="Initial strength (0..1)."),
    model: str = typer.Option("rig", help="Generator: rig (default), identity, or a checkpoint."),
    device: str = typer.Option("cpu", help="Torch device."),
    threads: int = typer.Option(1, help="Torch CPU threads (0: torch's default, one per core). Live "
                                "processing shares the CPU with tracking, codecs and capture; 1 was "
                                "3x faster on a 2-core machine."),
    cert: Optional[Path] = typer.Option(None, help="TLS certificate (PEM)."),
    key: Optional[Path] = typer.Option(None, help="TLS private key (PEM)."),
    loopback_ice: bool = typer.Option(False, "--loopback-ice", help="Use 127.0.0.1 ICE candidates only "
                                      "(a headless browser on this machine with "
                                      "--allow-loopback-in-peer-connection; tests)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log sessions and requests."),
) -> None:
    """Serve a page: the browser's camera goes in over WebRTC, the reenacted video comes back."""
    from reenact.live.presets import PresetLibrary
    from reenact.webrtc.config import ServeConfig

    check_device(device)
    if token == "auto":
        token = secrets.token_urlsafe(16)
    cfg = ServeConfig(host=host, port=port, token=token, max_sessions=max_sessions, cert=cert, key=key,
                      loopback_ice=loopback_ice)
    cfg.check()
    presets = PresetLibrary.from_specs(aus) if aus else PresetLibrary.shipped()
    if preset is not None:
        presets.path(preset)  # a typo fails here, not when a visitor connects
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    factory = make_factory(model, device, source, threads)
    try:
        asyncio.run(_serve(cfg, factory, presets, preset, strength))
    except KeyboardInterrupt:
        pass


def make_factory(model: str, device: str, source: Path | None, threads: int | None = None):
    """The per-session processor factory; the generator (and portrait) are loaded once, shared."""
    from reenact.live.processor import (LiveEngineConfig, PortraitProcessor, engine_processor,
                                        load_live_generator, read_portrait)

    cfg = LiveEngineConfig(model=model, device=device, torch_threads=threads or None)
    portrait = read_portrait(source) if source is not None else None
    generator = load_live_generator(cfg)
    if portrait is None:
        return lambda controls: engine_processor(controls, generator, cfg)
    return lambda controls: PortraitProcessor(portrait, controls, generator, cfg)


async def _serve(cfg, factory, presets, preset, strength) -> None:
    from reenact.webrtc.server import bound_port, create_app, start_server

    app = create_app(cfg, factory, presets, default_preset=preset, strength=strength)
    runner = await start_server(app, cfg)
    scheme = "https" if cfg.tls else "http"
    shown = "localhost" if cfg.host in ("127.0.0.1", "::1") else cfg.host
    query = f"/?token={cfg.token}" if cfg.token else "/"
    typer.echo(f"reenact serve: open {scheme}://{shown}:{bound_port(runner)}{query}  "
               f"(at most {cfg.max_sessions} sessions; Ctrl-C stops)", err=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
