"""Live latency and fps of `reenact serve` over a loopback WebRTC pair (aiortc client, 127.0.0.1 only).

A stamped camera (reenact.webrtc.stamp) plays a face clip at --fps; each frame received back is read
for its number, so latency is camera timestamp to frame received, on one clock.

    .venv/bin/python benchmarks/live_webrtc.py                       # rig, examples/video/clip.mp4
    .venv/bin/python benchmarks/live_webrtc.py --model none          # transport only (no processing)
    .venv/bin/python benchmarks/live_webrtc.py --seconds 20 --width 640 --json out.json
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def clip_frames(path: Path, width: int, limit: int = 300) -> list[np.ndarray]:
    import cv2

    from reenact.media.decode import decode_frames

    out = []
    for f in decode_frames(path, limit=limit):
        img = f.image
        h = round(img.shape[0] * width / img.shape[1]) // 2 * 2
        out.append(cv2.resize(img, (width, h), interpolation=cv2.INTER_AREA))
    return out


async def measure(args) -> dict:
    from reenact.cli.serve import make_factory
    from reenact.live.presets import PresetLibrary
    from reenact.webrtc.client import StampedCamera, connect
    from reenact.webrtc.config import ServeConfig
    from reenact.webrtc.server import MANAGER, bound_port, create_app, start_server

    frames = clip_frames(Path(args.clip), args.width)
    factory = (lambda controls: (lambda frame: frame)) if args.model == "none" else \
        make_factory(args.model, "cpu", None, args.threads)
    cfg = ServeConfig(port=0, loopback_ice=True, max_sessions=args.sessions)
    app = create_app(cfg, factory, PresetLibrary([]))
    runner = await start_server(app, cfg)
    url = f"http://127.0.0.1:{bound_port(runner)}"
    try:
        clients = [await connect(url, StampedCamera(lambda n: frames[n % len(frames)], fps=args.fps))
                   for _ in range(args.sessions)]
        for c in clients:
            if args.preset_au:
                await asyncio.sleep(0.5)
                c.send({"type": "au", "name": args.preset_au, "value": 4.0})
            await c.wait_frames(3, timeout=60)
        await asyncio.sleep(args.warmup)
        start = time.perf_counter()
        await asyncio.sleep(args.seconds)
        end = time.perf_counter()
        server = [sess.stats() for sess in app[MANAGER].sessions.values()]
        results = []
        for c in clients:
            got = [r for r in c.received if start <= r.time < end and r.latency_s is not None]
            lat = np.array([r.latency_s for r in got]) * 1000
            sent = sum(1 for t in c.camera.sent.values() if start <= t < end)
            results.append({"frames_received": len(got), "fps_received": len(got) / (end - start),
                            "fps_camera": sent / (end - start),
                            "latency_ms_median": float(np.median(lat)) if lat.size else None,
                            "latency_ms_p95": float(np.percentile(lat, 95)) if lat.size else None,
                            "latency_ms_max": float(lat.max()) if lat.size else None})
        for c in clients:
            await c.close()
    finally:
        await runner.cleanup()
    return {"model": args.model, "torch_threads": args.threads, "size": list(frames[0].shape[1::-1]), "camera_fps": args.fps,
            "sessions": results, "server": server, "load_average": os.getloadavg(), "cpus": os.cpu_count()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", default=str(ROOT / "examples" / "video" / "clip.mp4"))
    ap.add_argument("--model", default="rig", help="rig, identity, a checkpoint, or none (no processing)")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--sessions", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--preset-au", default="AU12", help="an AU slider set to 4 (so faces are edited)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    report = asyncio.run(asyncio.wait_for(measure(args), args.seconds + args.warmup + 120))
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        from reenact.atomic import write_text_atomic

        write_text_atomic(args.json, text)


if __name__ == "__main__":
    main()
