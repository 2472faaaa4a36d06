"""Soak test of `reenact serve` on loopback: sessions opened, streamed and dropped in a loop (and
offers that fail negotiation), through the real engine (identity model: tracking and compositing,
no generator weights). Threads, file descriptors and memory must stay flat and the server must
still answer at the end."""
from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from pathlib import Path

import aiohttp
import pytest

from reenact.webrtc.client import StampedCamera, connect
from helpers.webrtc import picture, run, serving, until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
SOAK_S = 25.0        # bounded time for the loop; every cycle opens, streams and drops a session
MAX_CYCLES = 40      # and a bounded count, so a faster machine does not soak longer
WARMUP_CYCLES = 2    # first sessions load codecs, the landmarker graph, thread pools


def _native_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _usage() -> dict:
    # Sessions hold reference cycles (aiortc, the engine): what only the cyclic collector frees
    # is not a leak, so collect before measuring.
    gc.collect()
    return {"threads": threading.active_count(), "native_threads": _native_threads(),
            "fds": _fds(), "rss_mb": _rss_mb()}


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_serve_soak_sessions_leave_nothing_behind():
    from reenact.cli.serve import make_factory

    factory = make_factory("identity", "cpu", None, threads=1)
    bad_offer = {"sdp": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n", "type": "offer"}

    async def cycle(url, http, manager):
        client = await connect(url, StampedCamera(picture))
        await client.wait_frames(3, timeout=30)
        await client.close()
        async with http.post(f"{url}/offer", json=bad_offer) as r:
            assert r.status == 400
        await until(lambda: not manager.sessions, 15)

    async def main():
        async with serving(factory) as (url, manager):
            async with aiohttp.ClientSession() as http:
                for _ in range(WARMUP_CYCLES):
                    await cycle(url, http, manager)
                await asyncio.sleep(0.5)
                before, cycles, samples = _usage(), 0, []
                start = time.perf_counter()
                while time.perf_counter() - start < SOAK_S and cycles < MAX_CYCLES:
                    await cycle(url, http, manager)
                    cycles += 1
                    samples.append(_usage())
                await asyncio.sleep(1.0)  # closed sessions' executor threads wind down
                after = _usage()
                async with http.get(f"{url}/stats") as r:  # still answering
                    assert r.status == 200 and (await r.json())["sessions"] == []
                last = await connect(url, StampedCamera(picture))
                await last.wait_frames(3, timeout=30)
                await last.close()
        return before, after, cycles, samples

    before, after, cycles, samples = run(main(), timeout=110)
    assert cycles >= 3, cycles
    detail = f"{cycles} cycles: before {before}, after {after}"
    # Flat: a leak grows with the cycle count (one landmarker, worker or socket per session).
    # Measured over 40 cycles: threads +1, native threads +1, descriptors +0.
    assert after["threads"] <= before["threads"] + 2, detail
    assert after["native_threads"] <= before["native_threads"] + 4, detail
    assert after["fds"] <= before["fds"] + 8, detail
    assert max(s["native_threads"] for s in samples) <= before["native_threads"] + 8, detail
    # Memory: about 3 MB per cycle here, and 0.4 MB with MALLOC_ARENA_MAX=1, i.e. glibc's
    # per-thread arenas fragmented by each session's threads rather than objects kept alive
    # (Python object counts stay flat). The bound catches a leaked engine or frame queue.
    assert after["rss_mb"] <= before["rss_mb"] + 300, detail
