"""A signalling server on 127.0.0.1 for the WebRTC tests: a painting processor that makes the
controls visible, a camera picture, and small asyncio helpers."""
from __future__ import annotations

import asyncio
import contextlib
import time

import numpy as np

from reenact.frame import Frame
from reenact.live.presets import PresetLibrary
from reenact.webrtc.config import ServeConfig, SessionConfig
from reenact.webrtc.server import MANAGER, bound_port, create_app, start_server

W, H = 320, 240


def picture(n: int) -> np.ndarray:
    """A smooth gradient (codec-friendly) the processors below change only in the centre."""
    y, x = np.mgrid[0:H, 0:W]
    return np.stack([x * 255 // W, y * 255 // H, np.full_like(x, 90)], -1).astype(np.uint8)


CENTRE = (slice(H // 3, 2 * H // 3), slice(W // 3, 2 * W // 3))


def painting_factory(delay_s: float = 0.0):
    """A processor that paints the centre grey at 40 * (AU12 slider value): controls made visible."""
    def factory(controls):
        def process(frame: Frame) -> Frame:
            if delay_s:
                time.sleep(delay_s)
            level = controls.state().overrides.get("AU12", 0.0)
            image = frame.image.copy()
            image[CENTRE] = int(40 * level)
            return Frame(image, frame.pts, frame.time_base, frame.index, frame.capture_time)
        return process
    return factory


@contextlib.asynccontextmanager
async def serving(factory=None, **kw):
    session_cfg = kw.pop("session", SessionConfig(idle_timeout_s=2.0, disconnect_grace_s=1.0))
    cfg = ServeConfig(port=0, loopback_ice=True, session=session_cfg, **kw)
    cfg.check()
    app = create_app(cfg, factory or painting_factory(), PresetLibrary([]))
    runner = await start_server(app, cfg)
    try:
        yield f"http://127.0.0.1:{bound_port(runner)}", app[MANAGER]
    finally:
        await asyncio.wait_for(runner.cleanup(), 10)


async def until(predicate, timeout: float, step: float = 0.05):
    async def _wait():
        while not predicate():
            await asyncio.sleep(step)
    await asyncio.wait_for(_wait(), timeout)


def run(coro, timeout: float = 90):
    return asyncio.run(asyncio.wait_for(coro, timeout))
