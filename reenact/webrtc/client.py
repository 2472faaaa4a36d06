"""A Python WebRTC client for `reenact serve`: streams a stamped camera, receives the result.

Used by the tests and by benchmarks: it measures camera timestamp to frame received per frame
(the frame number is stamped into the picture, see ``reenact.webrtc.stamp``).
"""
from __future__ import annotations

import asyncio
import fractions
import json
import time
from dataclasses import dataclass, field
from typing import Callable

import aiohttp
import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, VideoStreamTrack

from reenact.webrtc.stamp import read_stamp, stamp

VIDEO_CLOCK = 90_000


class StampedCamera(VideoStreamTrack):
    """A fake camera at ``fps``: ``picture(n)`` (uint8 RGB) with n stamped in its corner.

    ``sent[n]`` is the perf_counter time frame n was handed to the sender (its camera timestamp).
    """

    def __init__(self, picture: Callable[[int], np.ndarray], fps: float = 30.0):
        super().__init__()
        self._picture, self._period = picture, 1.0 / fps
        self._start: float | None = None
        self._n = 0
        self.sent: dict[int, float] = {}

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.perf_counter()
        due = self._start + self._n * self._period
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        n = self._n
        self._n += 1
        image = stamp(np.array(self._picture(n), np.uint8, copy=True), n)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = round(n * self._period * VIDEO_CLOCK), fractions.Fraction(1, VIDEO_CLOCK)
        self.sent[n] = time.perf_counter()
        return frame


@dataclass
class Received:
    n: int | None
    latency_s: float | None
    time: float
    image: np.ndarray | None = None


@dataclass
class ClientSession:
    """An open session; ``received`` fills as frames arrive, ``messages`` as the server talks."""

    pc: RTCPeerConnection
    camera: StampedCamera
    session_id: str
    channel: object
    received: list[Received] = field(default_factory=list)
    messages: list[dict] = field(default_factory=list)
    keep_images: bool = False
    _reader: asyncio.Task | None = None

    def send(self, message: dict) -> None:
        self.channel.send(json.dumps(message))

    def latencies(self) -> np.ndarray:
        return np.array([r.latency_s for r in self.received if r.latency_s is not None])

    async def wait_frames(self, count: int, timeout: float) -> None:
        async def _wait():
            while len(self.received) < count:
                await asyncio.sleep(0.02)
        await asyncio.wait_for(_wait(), timeout)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self.pc.close()


class OfferRefused(Exception):
    def __init__(self, status: int, body: dict):
        super().__init__(f"HTTP {status}: {body.get('message', body)}")
        self.status, self.body = status, body


async def connect(url: str, camera: StampedCamera, token: str | None = None, keep_images: bool = False
                  ) -> ClientSession:
    """Offer ``camera`` to the server at ``url`` (e.g. http://127.0.0.1:8080); OfferRefused on 4xx/5xx."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver(camera, direction="sendrecv")
    channel = pc.createDataChannel("controls")
    await pc.setLocalDescription(await pc.createOffer())
    body = {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{url}/offer", json=body, headers=headers) as response:
                answer = await response.json()
                if response.status != 200:
                    raise OfferRefused(response.status, answer)
    except BaseException:
        await pc.close()
        raise
    session = ClientSession(pc, camera, answer["session"], channel, keep_images=keep_images)
    channel.on("message", lambda m: session.messages.append(json.loads(m)))

    @pc.on("track")
    def _on_track(track):
        session._reader = asyncio.ensure_future(_read(session, track))

    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))
    return session


async def _read(session: ClientSession, track) -> None:
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        now = time.perf_counter()
        image = frame.to_ndarray(format="rgb24")
        n = read_stamp(image)
        sent = session.camera.sent.get(n) if n is not None else None
        session.received.append(Received(n, None if sent is None else now - sent, now,
                                         image if session.keep_images else None))
