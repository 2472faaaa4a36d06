"""The aiohttp application: the page, its static files, /offer (WebRTC signalling) and /stats."""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import ssl
from pathlib import Path
from typing import Callable

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from reenact.errors import ReenactError
from reenact.live.controls import MutableAUSource
from reenact.live.presets import PresetLibrary
from reenact.webrtc.config import ServeConfig
from reenact.webrtc.ice import keep_loopback_candidates, loopback_ice
from reenact.webrtc.session import Processor, Session, SessionManager

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"

# Makes one processor per session (each has its own tracker state) steered by that session's controls.
ProcessorFactory = Callable[[MutableAUSource], Processor]

MANAGER = web.AppKey("manager", SessionManager)
CONFIG = web.AppKey("config", ServeConfig)


def create_app(cfg: ServeConfig, factory: ProcessorFactory, presets: PresetLibrary,
               default_preset: str | None = None, strength: float = 1.0) -> web.Application:
    """The server's application; ``cfg.check()`` has been called by the caller."""
    app = web.Application(client_max_size=1 << 20)
    app[CONFIG] = cfg
    app[MANAGER] = SessionManager(cfg.max_sessions)
    handlers = _Handlers(cfg, app[MANAGER], factory, presets, default_preset, strength)
    app.router.add_get("/", handlers.page)
    app.router.add_post("/offer", handlers.offer)
    app.router.add_get("/stats", handlers.stats)
    app.router.add_static("/static/", STATIC, show_index=False)
    if cfg.loopback_ice:
        app.cleanup_ctx.append(_loopback_ice_ctx)
    app.on_shutdown.append(_close_sessions)
    return app


async def _loopback_ice_ctx(app: web.Application):
    with loopback_ice():
        yield


async def _close_sessions(app: web.Application) -> None:
    await app[MANAGER].close_all()


class _Handlers:
    def __init__(self, cfg: ServeConfig, manager: SessionManager, factory: ProcessorFactory,
                 presets: PresetLibrary, default_preset: str | None, strength: float):
        self.cfg, self.manager, self.factory, self.presets = cfg, manager, factory, presets
        self.default_preset, self.strength = default_preset, strength

    def _authorised(self, request: web.Request, body: dict | None = None) -> bool:
        if not self.cfg.token:
            return True
        given = (request.query.get("token") or request.headers.get("Authorization", "").removeprefix("Bearer ")
                 or (body or {}).get("token") or "")
        return hmac.compare_digest(str(given).encode(), self.cfg.token.encode())

    async def page(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            return web.Response(status=401, content_type="text/html",
                                text="<!doctype html><title>Reenact</title><p>This server needs a token: "
                                     "open the address you were given, ending in <code>/?token=...</code>.</p>")
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def stats(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, "unauthorized", "wrong or missing token")
        return web.json_response({"max_sessions": self.manager.limit,
                                  "sessions": [s.stats() for s in self.manager.sessions.values()]})

    async def offer(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            offer = RTCSessionDescription(sdp=str(body["sdp"]), type=str(body["type"]))
        except RecursionError:  # json's decoder recurses once per nested [ or {
            return _error(400, "bad_request", "the body nests too deeply to be an offer")
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            return _error(400, "bad_request", 'the body must be JSON {"sdp": ..., "type": "offer"}')
        if not self._authorised(request, body):
            return _error(401, "unauthorized", "wrong or missing token: open the page as /?token=...")
        if self.manager.full:
            n = self.manager.limit
            return _error(503, "busy", f"the server is busy ({n} of {n} session{'s' * (n > 1)} in use); "
                                       "try again in a moment")
        if offer.type != "offer" or "m=video" not in offer.sdp:
            return _error(400, "bad_request", "the offer must be type 'offer' and carry a video track")
        if self.cfg.loopback_ice:
            offer = RTCSessionDescription(sdp=keep_loopback_candidates(offer.sdp), type=offer.type)
        return await self._negotiate(offer)

    async def _negotiate(self, offer: RTCSessionDescription) -> web.Response:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        controls = MutableAUSource(strength=self.strength)
        session = Session(pc, controls, self.presets, self.cfg.session, self.manager.remove)
        self.manager.add(session)  # before any await: the session count can never overshoot
        remote: list = []

        @pc.on("track")
        def _on_track(track):
            if track.kind == "video" and not remote:
                remote.append(track)
                pc.addTrack(session.track)

        process = None
        try:
            if self.default_preset:
                controls.set_source(await asyncio.to_thread(self.presets.open, self.default_preset),
                                    self.default_preset)
            process = await asyncio.to_thread(self.factory, controls)
            await pc.setRemoteDescription(offer)
            if not remote:
                raise ValueError("the offer carries no video track")
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as err:
            log.exception("negotiation failed")
            session.process = process  # made but never started: the session's close releases it
            await session.close(f"negotiation failed: {err!r}")
            return _error(400, "bad_offer", f"could not set up the session: {err}")
        session.start(remote[0], process)
        return web.json_response({"sdp": pc.localDescription.sdp, "type": pc.localDescription.type,
                                  "session": session.id})


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


_TOKEN_VALUE = re.compile(r"(?<=[?&]token=)[^&#\s\"]*")


def redact_token(url: str) -> str:
    """``url`` with the value of its ``token`` query parameter replaced by ``***``."""
    return _TOKEN_VALUE.sub("***", url)


class RedactedAccessLogger(AbstractAccessLogger):
    """aiohttp's access log line, with the token taken out of the address and the referrer (the
    page is opened as /?token=..., so both carry it)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        referer = redact_token(request.headers.get("Referer", "-"))
        self.logger.info('%s "%s %s HTTP/%d.%d" %d %s "%s" "%s" %.3fs', request.remote,
                         request.method, redact_token(request.path_qs), *request.version,
                         response.status, response.body_length, referer,
                         request.headers.get("User-Agent", "-"), time)


def ssl_context(cfg: ServeConfig) -> ssl.SSLContext | None:
    if not cfg.tls:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(str(cfg.cert), str(cfg.key))
    except (ssl.SSLError, OSError) as err:
        raise ReenactError(f"TLS: cannot load {cfg.cert} / {cfg.key}: {err}") from None
    return ctx


async def start_server(app: web.Application, cfg: ServeConfig) -> web.AppRunner:
    """Start listening; returns the runner (``await runner.cleanup()`` stops it)."""
    runner = web.AppRunner(app, handle_signals=False, access_log_class=RedactedAccessLogger)
    await runner.setup()
    site = web.TCPSite(runner, cfg.host, cfg.port, ssl_context=ssl_context(cfg))
    try:
        await site.start()
    except OSError as err:
        await runner.cleanup()
        raise ReenactError(f"cannot listen on {cfg.host}:{cfg.port}: {err.strerror or err}") from None
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The port actually bound (useful with port 0)."""
    for site in runner.sites:
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            return server.sockets[0].getsockname()[1]
    raise RuntimeError("server not started")
