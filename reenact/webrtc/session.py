"""One visitor: a peer connection, the camera track in, the reenacted track out, a control channel.

Stages, each handing on only its newest item:
  event loop: camera track recv() (aiortc decodes in its own thread) -> LatestSlot
  worker thread: av frame -> Frame -> process (tracking, AUs, generator) -> av frame
  event loop: LatestFrameTrack -> aiortc's sender (encodes in an executor thread) -> network
So inference never runs on the event loop, and a slow processor drops frames instead of lagging.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from typing import Callable

import av
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError

from reenact.aus.names import AU_NAMES
from reenact.frame import Frame
from reenact.live.controls import MutableAUSource
from reenact.live.latest import LatestSlot
from reenact.live.presets import PresetLibrary
from reenact.live.stats import LatencyLog, RateMeter
from reenact.media.decode import frame_image
from reenact.webrtc.config import SessionConfig
from reenact.webrtc.tracks import LatestFrameTrack

log = logging.getLogger(__name__)

# process(frame) -> frame, or an object with .process(frame) (and optionally .close(), e.g. an Engine).
Processor = Callable[[Frame], Frame]


class Session:
    """Lives from the offer until the peer leaves, fails, goes quiet, or the server stops."""

    def __init__(self, pc: RTCPeerConnection, controls: MutableAUSource, presets: PresetLibrary,
                 cfg: SessionConfig, on_closed: Callable[["Session"], None]):
        self.id = uuid.uuid4().hex[:12]
        self.pc, self.controls, self.presets, self.cfg = pc, controls, presets, cfg
        self._on_closed = on_closed
        self._loop = asyncio.get_running_loop()
        self._slot: LatestSlot[tuple[av.VideoFrame, float, int]] = LatestSlot()
        self.track = LatestFrameTrack(on_sent=self._sent)
        self.process: Processor | None = None
        self.channel = None
        self.created = time.perf_counter()
        self.last_input: float | None = None
        self.frames_in = 0
        self.processed = 0
        self.process_s = 0.0
        self.latency = LatencyLog(keep=2000)
        self.fps_in, self.fps_out = RateMeter(), RateMeter()
        self.closed = asyncio.Event()
        self._done = asyncio.Event()
        self.close_reason = ""
        self._disconnected_at: float | None = None
        self._tasks: list[asyncio.Task] = []
        self._worker: threading.Thread | None = None
        pc.on("connectionstatechange", self._on_state)
        pc.on("datachannel", self._on_datachannel)

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self, remote_track, process: Processor) -> None:
        """Begin reading the camera track and processing it (call once the answer is set)."""
        self.process = process  # kept for close(); an Engine-like object or a plain callable
        self._run = getattr(process, "process", process)
        self._worker = threading.Thread(target=self._work, name=f"reenact-session-{self.id}", daemon=True)
        self._worker.start()
        self._tasks = [asyncio.ensure_future(self._read(remote_track)),
                       asyncio.ensure_future(self._watch())]

    async def close(self, reason: str) -> None:
        """Idempotent: stop tasks and the worker, close the peer connection, free the slot.
        A second caller waits until the first one has finished closing."""
        if self.closed.is_set():
            await self._done.wait()
            return
        self.closed.set()
        self.close_reason = reason
        try:
            await self._shutdown()
        finally:
            self._done.set()
            self._on_closed(self)

    async def _shutdown(self) -> None:
        log.info("session %s closing: %s", self.id, self.close_reason)
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        self._slot.close()
        self.track.stop()
        try:
            await asyncio.wait_for(self.pc.close(), timeout=5.0)
        except Exception as err:  # a half-dead connection may fail to close; it is dropped anyway
            log.warning("session %s: closing the peer connection failed: %r", self.id, err)
        if self._worker is not None:
            await asyncio.to_thread(self._worker.join, 5.0)
        close = getattr(self.process, "close", None)
        if callable(close):
            await asyncio.to_thread(close)

    # ---- stages ----------------------------------------------------------------------------------
    async def _read(self, remote_track) -> None:
        while True:
            try:
                frame = await remote_track.recv()
            except MediaStreamError:
                break
            self.last_input = time.perf_counter()
            self.fps_in.tick(self.last_input)
            self._slot.put((frame, self.last_input, self.frames_in))
            self.frames_in += 1
        await self.close("the camera track ended")

    def _work(self) -> None:
        """Worker thread: newest decoded frame -> process -> back to the loop."""
        while True:
            item = self._slot.get(timeout=0.5)
            if item is None:
                if self._slot.closed:
                    return
                continue
            video, arrival, index = item
            frame = Frame(image=frame_image(video), pts=video.pts, time_base=video.time_base,
                          index=index, capture_time=arrival)
            t0 = time.perf_counter()
            try:
                out = self._run(frame)
            except Exception as err:
                log.exception("session %s: processing failed", self.id)
                self._loop.call_soon_threadsafe(self._spawn_close, f"processing failed: {err!r}")
                return
            self.process_s = time.perf_counter() - t0
            self.processed += 1
            result = av.VideoFrame.from_ndarray(out.image, format="rgb24")
            result.pts, result.time_base = video.pts, video.time_base
            try:
                self._loop.call_soon_threadsafe(self.track.deliver, result, arrival)
            except RuntimeError:  # the event loop is gone (server stopped): nothing to deliver to
                return

    def _sent(self, arrival: float) -> None:
        now = time.perf_counter()
        self.latency.add(now - arrival)
        self.fps_out.tick(now)

    async def _watch(self) -> None:
        """Close a session whose peer went quiet; send stats to the page."""
        cfg = self.cfg
        while True:
            await asyncio.sleep(min(cfg.stats_interval_s, 0.5))
            now = time.perf_counter()
            if self.last_input is None and now - self.created > cfg.connect_timeout_s:
                return await self.close(f"no video within {cfg.connect_timeout_s:.0f} s")
            if self.last_input is not None and now - self.last_input > cfg.idle_timeout_s:
                return await self.close(f"no video for {cfg.idle_timeout_s:.0f} s (peer gone)")
            if self._disconnected_at is not None and now - self._disconnected_at > cfg.disconnect_grace_s:
                return await self.close("peer disconnected")
            self._send(self.stats())

    def _spawn_close(self, reason: str) -> None:
        asyncio.ensure_future(self.close(reason))

    def _on_state(self) -> None:
        state = self.pc.connectionState
        if state in ("failed", "closed"):
            self._spawn_close(f"connection {state}")
        elif state == "disconnected":
            self._disconnected_at = self._disconnected_at or time.perf_counter()
        else:
            self._disconnected_at = None

    # ---- control channel -------------------------------------------------------------------------
    def _on_datachannel(self, channel) -> None:
        if channel.label != "controls":
            return
        self.channel = channel
        channel.on("message", self._on_message)
        self._send({"type": "hello", "session": self.id, "aus": list(AU_NAMES), "mode": self._mode(),
                    "presets": self.presets.names if self._mode() == "camera" else [],
                    "state": self.controls.state().as_json()})

    def _mode(self) -> str:
        """"portrait" when the camera drives a still (presets would replace the driving), else "camera"."""
        return getattr(self.process, "mode", "camera")

    def _on_message(self, message) -> None:
        try:
            self._apply(json.loads(message))
        except Exception as err:  # a bad message is the page's bug; say so, keep the session
            self._send({"type": "error", "message": f"bad control message {str(message)[:200]!r}: {err}"})
            return
        self._send({"type": "state", "state": self.controls.state().as_json(), "from_frame": self.frames_in})

    def _apply(self, msg: dict) -> None:
        kind = msg.get("type")
        if kind == "preset":
            if self._mode() != "camera":
                raise ValueError("presets do not apply here: the camera drives the portrait")
            name = msg.get("name")
            source = None if name in (None, "", "own") else self.presets.open(name)
            self.controls.set_source(source, name if source is not None else None)
        elif kind == "strength":
            self.controls.set_strength(float(msg["value"]))
        elif kind == "au":
            value = msg.get("value")
            self.controls.set_au(str(msg["name"]), None if value is None else float(value))
        elif kind == "reset":
            self.controls.clear_overrides()
        else:
            raise ValueError(f"unknown type {kind!r}")

    def _send(self, payload: dict) -> None:
        if self.channel is not None and self.channel.readyState == "open":
            self.channel.send(json.dumps(payload))

    def stats(self) -> dict:
        recent = self.latency.values()[-60:] * 1000.0
        return {"type": "stats", "session": self.id, "frames_in": self.frames_in, "processed": self.processed,
                "frames_out": self.track.sent, "dropped": self._slot.dropped + self.track.dropped,
                "fps_in": round(self.fps_in.rate(), 1), "fps_out": round(self.fps_out.rate(), 1),
                "process_ms": round(self.process_s * 1000.0, 1),
                "server_latency_ms": round(float(recent.mean()), 1) if recent.size else None}


class SessionManager:
    """At most ``limit`` live sessions; checked and added on the event loop, so never over-filled."""

    def __init__(self, limit: int):
        self.limit = limit
        self.sessions: dict[str, Session] = {}

    @property
    def full(self) -> bool:
        return len(self.sessions) >= self.limit

    def add(self, session: Session) -> None:
        self.sessions[session.id] = session

    def remove(self, session: Session) -> None:
        self.sessions.pop(session.id, None)

    async def close_all(self, reason: str = "server stopping") -> None:
        await asyncio.gather(*(s.close(reason) for s in list(self.sessions.values())), return_exceptions=True)
