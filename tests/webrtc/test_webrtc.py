"""`reenact serve` with aiortc clients, all on 127.0.0.1 (loopback ICE candidates only).

Every test runs under a pytest timeout and awaits with asyncio.wait_for: an exception inside an
aiortc track's recv() is swallowed and the receiver waits forever.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
import textwrap
import time

import aiohttp
import numpy as np
import pytest

from reenact.errors import ReenactError
from reenact.frame import Frame
from reenact.webrtc.client import OfferRefused, StampedCamera, connect
from reenact.webrtc.config import ServeConfig
from reenact.webrtc.ice import keep_loopback_candidates, loopback_ice
from reenact.webrtc.stamp import HEIGHT as STAMP_H

from helpers.webrtc import CENTRE, W, painting_factory, picture, run, serving, until

pytestmark = pytest.mark.timeout(120)
def test_stream_comes_back_processed_and_a_slider_applies():
    async def main():
        async with serving() as (url, manager):
            client = await connect(url, StampedCamera(picture, fps=30), keep_images=True)
            await client.wait_frames(20, timeout=20)
            first = client.received[-1].image
            assert abs(int(first[CENTRE].mean()) - 0) < 20  # the processor's work arrived
            background = first[STAMP_H + 10:, :W // 4].astype(int)
            assert np.abs(background - picture(0)[STAMP_H + 10:, :W // 4]).mean() < 8  # the rest did not change
            await until(lambda: any(m["type"] == "hello" for m in client.messages), 10)
            client.send({"type": "au", "name": "AU12", "value": 5})
            seen = len(client.received)
            await until(lambda: any(abs(r.image[CENTRE].mean() - 200) < 20 for r in client.received[seen:]), 10)
            await until(lambda: any(m["type"] == "stats" for m in client.messages), 10)
            state = [m for m in client.messages if m["type"] == "state"][-1]["state"]
            assert state["aus"] == {"AU12": 5.0}
            assert client.latencies().size >= 15 and np.median(client.latencies()) < 1.0
            await client.close()
            await until(lambda: not manager.sessions, 10)
    run(main())


def test_bad_control_message_is_answered_not_fatal():
    async def main():
        async with serving() as (url, manager):
            client = await connect(url, StampedCamera(picture))
            await client.wait_frames(3, timeout=20)
            await until(lambda: any(m["type"] == "hello" for m in client.messages), 10)
            client.send({"type": "au", "name": "AU99", "value": 1})
            client.send({"type": "nonsense"})
            await until(lambda: sum(m["type"] == "error" for m in client.messages) == 2, 10)
            n = len(client.received)
            await client.wait_frames(n + 5, timeout=10)  # still streaming
            await client.close()
    run(main())


def test_several_sessions_at_once():
    async def main():
        async with serving(max_sessions=3) as (url, manager):
            clients = await asyncio.gather(*(connect(url, StampedCamera(picture, fps=15)) for _ in range(3)))
            assert len(manager.sessions) == 3
            await asyncio.gather(*(c.wait_frames(15, timeout=30) for c in clients))
            for c in clients:
                assert c.latencies().size >= 10
            await asyncio.gather(*(c.close() for c in clients))
            await until(lambda: not manager.sessions, 10)
    run(main())


def test_busy_server_says_so():
    async def main():
        async with serving(max_sessions=1) as (url, manager):
            first = await connect(url, StampedCamera(picture))
            await first.wait_frames(3, timeout=20)
            with pytest.raises(OfferRefused) as refused:
                await connect(url, StampedCamera(picture))
            assert refused.value.status == 503 and refused.value.body["error"] == "busy"
            assert "busy" in refused.value.body["message"]
            await first.close()
            await until(lambda: not manager.sessions, 10)
            second = await connect(url, StampedCamera(picture))  # the slot is free again
            await second.wait_frames(3, timeout=20)
            await second.close()
    run(main())


def test_token_is_required_when_set():
    async def main():
        async with serving(token="s3cret") as (url, manager):
            with pytest.raises(OfferRefused) as refused:
                await connect(url, StampedCamera(picture), token="wrong")
            assert refused.value.status == 401
            with pytest.raises(OfferRefused):
                await connect(url, StampedCamera(picture))
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{url}/") as r:
                    assert r.status == 401
                async with http.get(f"{url}/?token=s3cret") as r:
                    assert r.status == 200 and "Reenact" in await r.text()
                async with http.get(f"{url}/stats") as r:
                    assert r.status == 401
            assert not manager.sessions
            client = await connect(url, StampedCamera(picture), token="s3cret")
            await client.wait_frames(3, timeout=20)
            await client.close()
    run(main())


def test_bad_offer_is_refused():
    async def main():
        async with serving() as (url, manager):
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{url}/offer", data=b"not json") as r:
                    assert r.status == 400
                async with http.post(f"{url}/offer", json={"sdp": "v=0\r\n", "type": "offer"}) as r:
                    assert r.status == 400 and "video" in (await r.json())["message"]
            assert not manager.sessions
    run(main())


def test_deeply_nested_offer_is_a_400_not_a_500():
    async def main():
        async with serving() as (url, manager):
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{url}/offer", data=b"[" * 100_000,
                                     headers={"Content-Type": "application/json"}) as r:
                    assert r.status == 400
                    assert "nests too deeply" in (await r.json())["message"]
            assert not manager.sessions
    run(main())


class ClosableProcessor:
    """A processor owning something to release (as an Engine owns its landmarker)."""

    def __init__(self, made: list):
        self.closed = False
        made.append(self)

    def process(self, frame: Frame) -> Frame:
        return frame

    def close(self) -> None:
        self.closed = True


def test_failed_negotiation_releases_the_processor_it_made():
    made: list[ClosableProcessor] = []

    async def main():
        async with serving(lambda controls: ClosableProcessor(made)) as (url, manager):
            async with aiohttp.ClientSession() as http:
                bad = {"sdp": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n", "type": "offer"}
                async with http.post(f"{url}/offer", json=bad) as r:
                    assert r.status == 400 and (await r.json())["error"] == "bad_offer"
            assert not manager.sessions
    run(main())
    assert len(made) == 1 and made[0].closed


def test_access_log_does_not_show_the_token(caplog):
    async def main():
        async with serving(token="s3cret") as (url, manager):
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{url}/?token=s3cret&x=1") as r:
                    assert r.status == 200
                async with http.get(f"{url}/stats?token=s3cret",
                                    headers={"Referer": f"{url}/?token=s3cret"}) as r:
                    assert r.status == 200
    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        run(main())
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(lines) == 2
    assert '"GET /?token=***&x=1 HTTP/1.1" 200' in lines[0]
    assert '"GET /stats?token=*** HTTP/1.1" 200' in lines[1] and '/?token=***" "' in lines[1]
    assert "s3cret" not in "\n".join(lines)


def test_slow_processor_drops_frames_and_latency_does_not_grow():
    async def main():
        async with serving(painting_factory(delay_s=0.15)) as (url, manager):
            client = await connect(url, StampedCamera(picture, fps=30))
            await client.wait_frames(1, timeout=20)
            start = time.perf_counter()
            await asyncio.sleep(5.0)
            sent = sum(1 for t in client.camera.sent.values() if t >= start)
            got = [r for r in client.received if r.time >= start and r.latency_s is not None]
            stats = next(iter(manager.sessions.values())).stats()
            await client.close()
        assert len(got) < sent * 0.5 and stats["dropped"] > 0  # ~6 fps out of 30: frames were dropped
        lat = np.array([r.latency_s for r in got])
        half = len(lat) // 2
        # Lag does not build up: the second half is no slower than the first (plus jitter) ...
        assert np.median(lat[half:]) < np.median(lat[:half]) + 0.15
        # ... and stays near one processing time plus transport, never a queue of seconds.
        assert lat.max() < 1.5
    run(main())


CLIENT_SCRIPT = textwrap.dedent("""
    import asyncio, sys, numpy as np
    from reenact.webrtc.client import StampedCamera, connect
    from reenact.webrtc.ice import loopback_ice

    async def main():
        with loopback_ice():
            c = await connect(sys.argv[1], StampedCamera(lambda n: np.full((240, 320, 3), 90, np.uint8)))
            await c.wait_frames(5, timeout=30)
            print("streaming", flush=True)
            await asyncio.sleep(3600)
    asyncio.run(main())
""")


def test_killed_peer_is_cleaned_up_within_seconds(tmp_path):
    script = tmp_path / "client.py"
    script.write_text(CLIENT_SCRIPT)

    async def main():
        async with serving() as (url, manager):
            proc = await asyncio.create_subprocess_exec(sys.executable, str(script), url,
                                                        stdout=asyncio.subprocess.PIPE)
            try:
                line = await asyncio.wait_for(proc.stdout.readline(), 60)
                assert line.strip() == b"streaming" and len(manager.sessions) == 1
                session = next(iter(manager.sessions.values()))
            finally:
                proc.send_signal(signal.SIGKILL)
                await proc.wait()
            killed = time.perf_counter()
            await until(lambda: not manager.sessions, 10)
            gone_after = time.perf_counter() - killed
            assert "no video" in session.close_reason or "connection" in session.close_reason
            assert not session._worker.is_alive() and session.track.readyState == "ended"
            return gone_after
    assert run(main()) < 6.0


def test_non_loopback_host_needs_a_token_or_tls(tmp_path):
    with pytest.raises(ReenactError, match="--token"):
        ServeConfig(host="0.0.0.0").check()
    ServeConfig(host="0.0.0.0", token="t").check()
    with pytest.raises(ReenactError, match="cert"):
        ServeConfig(host="0.0.0.0", cert=tmp_path / "c.pem").check()
    with pytest.raises(ReenactError, match="loopback"):
        ServeConfig(host="0.0.0.0", token="t", loopback_ice=True).check()
    ServeConfig(host="localhost").check()


def test_loopback_ice_patch_and_candidate_filter():
    import aioice.ice

    original = aioice.ice.get_host_addresses
    with loopback_ice():
        assert aioice.ice.get_host_addresses(True, False) == ["127.0.0.1"]
    assert aioice.ice.get_host_addresses is original
    sdp = ("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
           "a=candidate:1 1 udp 2122260223 192.0.2.2 50000 typ host\r\n"
           "a=candidate:2 1 udp 2122260223 127.0.0.1 50001 typ host\r\n"
           "a=candidate:3 1 udp 2122260223 abcd.local 50002 typ host\r\n")
    kept = keep_loopback_candidates(sdp)
    assert "127.0.0.1 50001" in kept and "192.0.2.2" not in kept and ".local" not in kept
    assert kept.startswith("v=0\r\nm=video")


def _cli(args):
    from typer.testing import CliRunner

    from reenact.cli.main import app

    return CliRunner().invoke(app, args)


def test_serve_command_refuses_unsafe_or_wrong_settings():
    result = _cli(["serve", "--host", "0.0.0.0", "--model", "identity"])
    assert isinstance(result.exception, ReenactError) and "--token" in str(result.exception)
    result = _cli(["serve", "--preset", "no_such_preset_xyz", "--model", "identity"])
    assert isinstance(result.exception, ReenactError) and "no_such_preset_xyz" in str(result.exception)
    result = _cli(["serve", "--source", "missing_portrait.jpg", "--model", "identity"])
    assert isinstance(result.exception, ReenactError) and "missing_portrait.jpg" in str(result.exception)


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_serve_command_starts_serves_the_page_and_stops_on_ctrl_c(signame):
    proc = subprocess.Popen([sys.executable, "-m", "reenact.cli.main", "serve", "--port", "0",
                             "--model", "identity", "--token", "tok", "--loopback-ice"],
                            stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 60
        while "open http" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "serve exited early"
        port = int(line.split("open http://localhost:")[1].split("/")[0])
        assert "/?token=tok" in line

        async def fetch():
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/?token=tok") as r:
                    page = r.status, await r.text()
                async with http.get(f"http://127.0.0.1:{port}/static/app.js") as r:
                    return page, r.status
        (status, text), js_status = run(fetch(), 20)
        assert status == 200 and 'id="start"' in text and js_status == 200
    finally:
        proc.send_signal(getattr(signal, signame))  # SIGTERM: a clean stop too (it killed it)
        code = proc.wait(timeout=20)
    assert code == 0


def test_outgoing_track_sends_the_newest_frame_and_counts_the_rest():
    import av
    from aiortc.mediastreams import MediaStreamError

    from reenact.webrtc.tracks import LatestFrameTrack

    async def main():
        sent_arrivals = []
        track = LatestFrameTrack(on_sent=sent_arrivals.append)
        frames = [av.VideoFrame(16, 16, "yuv420p") for _ in range(3)]
        for i, f in enumerate(frames):
            track.deliver(f, float(i))
        assert await track.recv() is frames[2]  # the two older ones were replaced
        waiting = asyncio.ensure_future(track.recv())
        await asyncio.sleep(0.01)
        assert not waiting.done()  # nothing new: recv waits for the next delivery
        later = av.VideoFrame(16, 16, "yuv420p")
        track.deliver(later, 3.0)
        assert await asyncio.wait_for(waiting, 2) is later
        assert (track.dropped, track.sent, sent_arrivals) == (2, 2, [2.0, 3.0])
        track.stop()
        with pytest.raises(MediaStreamError):
            await track.recv()

    run(main())
