"""The outgoing video track: hands aiortc the newest processed frame, never a queue of old ones."""
from __future__ import annotations

import asyncio
from typing import Callable

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from reenact.live.latest import LatestSlot


class LatestFrameTrack(MediaStreamTrack):
    """A video track fed from another thread through ``deliver`` (call it on the event loop).

    A frame delivered while the previous one is still unsent replaces it (counted in ``dropped``):
    the encoder always gets the newest result. The frame waits in the live side's one newest-frame
    slot (``LatestSlot``, read without blocking); an asyncio event wakes ``recv`` on the loop. ``on_sent(arrival_time)`` is called as each frame
    leaves for the encoder, with the time its input frame arrived, for latency figures.
    aiortc encodes in a thread-pool executor (RTCRtpSender runs ``encoder.encode`` through
    ``run_in_executor``), so returning here hands encoding off the event loop.
    """

    kind = "video"

    def __init__(self, on_sent: Callable[[float], None] | None = None):
        super().__init__()
        self._slot: LatestSlot[tuple[av.VideoFrame, float]] = LatestSlot()
        self._ready = asyncio.Event()
        self._on_sent = on_sent
        self.sent = 0

    @property
    def dropped(self) -> int:
        return self._slot.dropped

    def deliver(self, frame: av.VideoFrame, arrival: float) -> None:
        self._slot.put((frame, arrival))
        self._ready.set()

    async def recv(self) -> av.VideoFrame:
        while (item := self._slot.get(timeout=0)) is None:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        frame, arrival = item
        self.sent += 1
        if self._on_sent is not None:
            self._on_sent(arrival)
        return frame

    def stop(self) -> None:
        super().stop()
        self._ready.set()  # wake a waiting recv() so it raises MediaStreamError
