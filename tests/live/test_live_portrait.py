"""`reenact serve --source portrait.jpg`: a camera face's expressions animate a still portrait."""
from __future__ import annotations

import asyncio
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from reenact.errors import ReenactError
from reenact.frame import Frame
from reenact.live.controls import MutableAUSource
from reenact.live.processor import LiveEngineConfig, PortraitProcessor, load_live_generator, read_portrait

DATA = Path(__file__).parents[1] / "data"
PORTRAIT = DATA / "faces" / "london_002_03.jpg"          # neutral, 240x240
SMILE_CLIP = DATA / "video" / "single_face_smile_small.mp4"  # neutral -> smile, 18 frames
pytestmark = pytest.mark.timeout(180)


def clip_frames() -> list[np.ndarray]:
    with av.open(str(SMILE_CLIP)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def face_box(image: np.ndarray) -> tuple[float, float, float, float]:
    from reenact.tracking.tracker import FaceTracker, TrackerConfig

    with FaceTracker(TrackerConfig(mode="image", max_faces=1)) as tracker:
        return tracker.track(image).faces[0].bbox


@pytest.fixture(scope="module")
def generator():
    return load_live_generator(LiveEngineConfig())


def test_camera_smile_animates_the_portrait(generator):
    portrait = read_portrait(PORTRAIT)
    controls = MutableAUSource()
    proc = PortraitProcessor(portrait, controls, generator)
    try:
        outs = [proc.process(Frame(f, pts=i * 6000, time_base=Fraction(1, 90_000), index=i)).image
                for i, f in enumerate(clip_frames())]
    finally:
        proc.close()
    assert controls.state().source_name == "camera"
    assert all(o.shape == portrait.shape for o in outs)
    change = [np.abs(o.astype(np.float32) - portrait).mean(axis=2) for o in outs]
    x0, y0, x1, y1 = face_box(portrait)
    h, w = portrait.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    lower_face = (xx >= x0) & (xx <= x1) & (yy >= (y0 + y1) / 2) & (yy <= y1)
    far = (xx < x0 - 10) | (xx > x1 + 10) | (yy < y0 - 10)
    # Neutral camera face at the start: the portrait stays as it is (its own AUs are the target).
    assert change[0][lower_face].mean() < 1.0
    # Smiling at the end: the portrait's lower face moves, the rest of the picture does not.
    assert change[-1][lower_face].mean() > 4.0
    assert change[-1][far].mean() < 0.5


def test_sliders_still_apply_in_portrait_mode(generator):
    portrait = read_portrait(PORTRAIT)
    controls = MutableAUSource()
    proc = PortraitProcessor(portrait, controls, generator)
    first = clip_frames()[0]
    try:
        still = proc.process(Frame(first.copy(), pts=0, time_base=Fraction(1, 90_000))).image
        controls.set_au("AU26", 5.0)
        opened = proc.process(Frame(first.copy(), pts=3000, time_base=Fraction(1, 90_000), index=1)).image
    finally:
        proc.close()
    assert np.abs(opened.astype(np.float32) - still).mean() > 0.5


def test_portrait_errors(tmp_path, generator):
    with pytest.raises(ReenactError, match="not found"):
        read_portrait(tmp_path / "none.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    with pytest.raises(ReenactError, match="cannot be read as an image"):
        read_portrait(tmp_path / "bad.jpg")
    with pytest.raises(ReenactError, match="no face"):
        PortraitProcessor(np.full((120, 160, 3), 128, np.uint8), MutableAUSource(), generator)


@pytest.mark.slow
def test_portrait_mode_over_webrtc():
    """The server's --source factory end to end: the client's camera in, the portrait back."""
    from reenact.cli.serve import make_factory
    from reenact.live.presets import PresetLibrary
    from reenact.webrtc.client import StampedCamera, connect
    from reenact.webrtc.config import ServeConfig
    from reenact.webrtc.server import MANAGER, bound_port, create_app, start_server

    frames = clip_frames()
    portrait = read_portrait(PORTRAIT)

    async def main():
        cfg = ServeConfig(port=0, loopback_ice=True)
        app = create_app(cfg, make_factory("rig", "cpu", PORTRAIT), PresetLibrary.shipped())
        runner = await start_server(app, cfg)
        try:
            client = await connect(f"http://127.0.0.1:{bound_port(runner)}",
                                   StampedCamera(lambda n: frames[n % len(frames)], fps=15), keep_images=True)
            await client.wait_frames(5, timeout=60)
            image = client.received[-1].image
            for _ in range(100):
                if any(m["type"] == "hello" for m in client.messages):
                    break
                await asyncio.sleep(0.05)
            hello = next(m for m in client.messages if m["type"] == "hello")
            assert hello["mode"] == "portrait" and hello["presets"] == []
            client.send({"type": "preset", "name": "smile"})  # would replace the camera's driving
            for _ in range(100):
                if any(m["type"] == "error" for m in client.messages):
                    break
                await asyncio.sleep(0.05)
            assert any("camera drives" in m.get("message", "") for m in client.messages)
            await client.close()
        finally:
            await runner.cleanup()
        return image, app[MANAGER]

    image, manager = asyncio.run(asyncio.wait_for(main(), 150))
    assert image.shape == portrait.shape
    assert np.abs(image.astype(np.float32) - portrait).mean() < 12  # the portrait (after VP8), not the camera
    assert not manager.sessions
