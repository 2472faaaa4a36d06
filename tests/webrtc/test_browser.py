"""`reenact serve` in a real browser: headless Chromium, a fake camera fed from a real face clip.

The clip (tests/data/video/single_face_small.mp4) is turned into a .y4m here, each frame stamped
with its number (reenact.webrtc.stamp), so the page's video elements can say which camera frame
they show: the test compares each reenacted frame with the camera frame it came from, and measures
camera capture time to reenacted frame received (requestVideoFrameCallback's captureTime on the
local track, receiveTime on the remote one; one clock, the page's).

Needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver) and
selenium (the dev extra); skipped cleanly without them. Set REENACT_BROWSER_ARTIFACTS=DIR to keep
a screenshot of the page and the measured figures (docs/img/serve_page.png, docs/notes/live-measurements.md).
"""
from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parents[1] / "data"
CLIP = DATA / "video" / "single_face_small.mp4"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                       reason="needs chromium and chromedriver (apt-get install -y chromium chromium-driver)"),
]
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install -e '.[dev]')")

SIZE = (320, 180)  # the clip's size; the page's frames are drawn back to it before reading


def make_y4m(path: Path) -> list[np.ndarray]:
    """The clip forwards then backwards (a loop without a jump), stamped; returns the RGB frames."""
    import av
    import cv2

    from reenact.webrtc.stamp import stamp

    with av.open(str(CLIP)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    frames = frames + frames[-2:0:-1]
    frames = [stamp(f.copy(), n) for n, f in enumerate(frames)]
    w, h = SIZE
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg\n".encode())
        for f in frames:
            out.write(b"FRAME\n" + cv2.cvtColor(f, cv2.COLOR_RGB2YUV_I420).tobytes())
    return frames


class ServerThread:
    """`reenact serve`'s app on 127.0.0.1 (loopback ICE) in its own event loop thread."""

    def __init__(self, factory):
        from reenact.live.presets import PresetLibrary
        from reenact.webrtc.config import ServeConfig

        self.cfg = ServeConfig(port=0, loopback_ice=True, max_sessions=1)
        self.factory, self.presets = factory, PresetLibrary.shipped()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        from reenact.webrtc.server import MANAGER, bound_port, create_app, start_server

        asyncio.set_event_loop(self.loop)
        app = create_app(self.cfg, self.factory, self.presets)
        self.manager = app[MANAGER]
        self.runner = self.loop.run_until_complete(start_server(app, self.cfg))
        self.url = f"http://127.0.0.1:{bound_port(self.runner)}/"
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.runner.cleanup())

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(30), "server did not start"
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)

    def sessions(self) -> list[dict]:
        return [s.stats() for s in list(self.manager.sessions.values())]


# Injected into the page: reads the stamp of every frame the two video elements present.
PROBE_JS = """
const [W, H] = [%d, %d];
const MARGIN = 4, BLOCK = 12, BITS = 16, CHECK = 4, N = BITS + CHECK + 2;
window.probe = { local: {}, remote: [], errors: 0 };
function readStamp(ctx) {
  const row = ctx.getImageData(0, MARGIN + BLOCK / 2 - 2, MARGIN + N * BLOCK, 4).data;
  const width = MARGIN + N * BLOCK, bits = [];
  for (let i = 0; i < N; i++) {
    let sum = 0, count = 0;
    for (let y = 0; y < 4; y++) for (let x = -2; x < 2; x++) {
      const p = (y * width + MARGIN + i * BLOCK + BLOCK / 2 + x) * 4;
      sum += (row[p] + row[p + 1] + row[p + 2]) / 3; count++;
    }
    bits.push(sum / count > 128 ? 1 : 0);
  }
  if (bits[0] !== 1 || bits[N - 1] !== 0) return null;
  let n = 0, ones = 0;
  for (let i = 0; i < BITS; i++) { n |= bits[1 + i] << i; ones += bits[1 + i]; }
  let check = 0;
  for (let i = 0; i < CHECK; i++) check |= bits[1 + BITS + i] << i;
  return check === ones %% 16 ? n : null;
}
function watch(video, side) {
  const canvas = document.createElement("canvas");
  canvas.width = W; canvas.height = H;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const onFrame = (now, meta) => {
    ctx.drawImage(video, 0, 0, W, H);
    const n = readStamp(ctx);
    if (n === null) window.probe.errors++;
    else if (side === "local") window.probe.local[n] = meta.captureTime ?? meta.presentationTime;
    else {
      const captured = window.probe.local[n];
      const received = meta.receiveTime ?? meta.presentationTime;
      window.probe.remote.push({ n, received, shown: meta.expectedDisplayTime,
        latency: captured === undefined ? null : received - captured });
    }
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}
watch(document.getElementById("local"), "local");
watch(document.getElementById("remote"), "remote");
window.grab = () => {
  const v = document.getElementById("remote"), c = document.createElement("canvas");
  c.width = W; c.height = H;
  const ctx = c.getContext("2d");
  ctx.drawImage(v, 0, 0, W, H);
  return c.toDataURL("image/png");
};
""" % SIZE


def chromium(y4m: Path, profile: Path):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={y4m}", "--allow-loopback-in-peer-connection",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--no-default-browser-check", f"--user-data-dir={profile}",
                "--window-size=1280,1050", "--autoplay-policy=no-user-gesture-required"):
        opts.add_argument(arg)
    return webdriver.Chrome(options=opts, service=Service(executable_path=CHROMEDRIVER))


def wait_for(predicate, timeout: float, what: str, step: float = 0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def grab(driver) -> tuple[int | None, np.ndarray]:
    from PIL import Image

    from reenact.webrtc.stamp import read_stamp

    url = driver.execute_script("return window.grab();")
    image = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))
    return read_stamp(image), image


def face_and_background(frame: np.ndarray):
    """Masks (H, W) of the lower face (mouth, cheeks: what AU12/AU25/AU26 move) and of the
    background far from the face (below the stamp)."""
    from reenact.tracking.tracker import FaceTracker, TrackerConfig

    with FaceTracker(TrackerConfig(mode="image", max_faces=1)) as tracker:
        faces = tracker.track(frame).faces
    assert faces, "the clip's face was not found"
    x0, y0, x1, y1 = faces[0].bbox
    h, w = frame.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    face = (xx >= x0) & (xx <= x1) & (yy >= (y0 + y1) / 2) & (yy <= y1)
    pad = 0.5 * (x1 - x0)
    background = ((xx < x0 - pad) | (xx > x1 + pad)) & (yy > 30)
    return face, background


def diffs(driver, frames, masks, count: int) -> list[tuple[float, float]]:
    """(face, background) mean abs difference of ``count`` reenacted frames vs their camera frames."""
    out = []
    face, background = masks
    for _ in range(count * 4):
        n, image = grab(driver)
        if n is not None and n < len(frames):
            d = np.abs(image.astype(np.float32) - frames[n].astype(np.float32)).mean(axis=2)
            out.append((float(d[face].mean()), float(d[background].mean())))
            if len(out) == count:
                break
        time.sleep(0.15)
    assert len(out) >= count // 2, "too few stamped frames could be read back"
    return out


def set_slider(driver, au: str, value: float) -> None:
    driver.execute_script(
        "const s = document.getElementById('au-' + arguments[0]); s.value = arguments[1];"
        "s.dispatchEvent(new Event('input', { bubbles: true }));", au, value)


@pytest.fixture
def restore_torch_threads():
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def test_page_streams_reenacted_video_and_sliders_apply(tmp_path, restore_torch_threads):
    from reenact.cli.serve import make_factory

    frames = make_y4m(tmp_path / "camera.y4m")
    masks = face_and_background(frames[0])
    # As `reenact serve` runs by default (--threads 1).
    with ServerThread(make_factory("rig", "cpu", None, 1)) as server:
        driver = chromium(tmp_path / "camera.y4m", tmp_path / "profile")
        try:
            driver.get(server.url)
            driver.execute_script(PROBE_JS)
            driver.find_element("id", "start").click()
            wait_for(lambda: driver.execute_script("return window.probe.remote.length") > 10, 60,
                     "reenacted frames in the page")
            wait_for(lambda: driver.find_elements("id", "au-AU12"), 20, "the AU sliders")
            before = diffs(driver, frames, masks, 8)
            for au, value in (("AU12", 5), ("AU25", 5), ("AU26", 5)):
                set_slider(driver, au, value)
            # Each slider's echo arrives on its own; wait for all three, not the first.
            wait_for(lambda: driver.execute_script(
                "return document.querySelectorAll('.au.pinned').length") == 3, 10,
                "the server's state echo for all three sliders")
            time.sleep(1.5)  # a few frames for the new targets (fade-in is frame-based)
            after = diffs(driver, frames, masks, 8)
            first = driver.execute_script("return window.probe.remote.length")
            time.sleep(6)  # the measured window: steady streaming with the sliders set
            probe = driver.execute_script("return window.probe")
            probe["remote"] = probe["remote"][first:]
            stats_line = driver.find_element("id", "stats").text
            server_stats = server.sessions()
            artifacts = os.environ.get("REENACT_BROWSER_ARTIFACTS")
            if artifacts:
                Path(artifacts).mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(Path(artifacts) / "serve_page.png"))
            # A second visitor while the only session is taken: the page says the server is busy.
            driver.switch_to.new_window("tab")
            driver.get(server.url)
            driver.find_element("id", "start").click()
            busy = wait_for(lambda: "busy" in driver.find_element("id", "status").text
                            and driver.find_element("id", "status").text, 30, "the busy message")
            assert "error" in driver.find_element("id", "status").get_attribute("class")
            if artifacts:
                driver.save_screenshot(str(Path(artifacts) / "serve_busy.png"))
            assert len(server.sessions()) == 1
        finally:
            driver.quit()
    face_before, bg_before = np.median(before, axis=0)
    face_after, bg_after = np.median(after, axis=0)
    # The slider change shows up in the face and nowhere else.
    assert face_after > face_before + 4.0, (before, after)
    assert face_after > 2.5 * bg_after, (before, after)
    assert bg_after < 8.0 and bg_before < 8.0, (before, after)
    lat = np.array([r["latency"] for r in probe["remote"] if r["latency"] is not None]) / 1000.0
    assert lat.size >= 5 and np.median(lat) < 3.0
    received = np.array([r["received"] for r in probe["remote"]]) / 1000.0
    fps = (received.size - 1) / (received[-1] - received[0])
    assert "fps" in stats_line and "latency" in stats_line
    if artifacts:
        (Path(artifacts) / "browser_figures.json").write_text(json.dumps({
            "latency_ms": {"median": float(np.median(lat) * 1000), "p95": float(np.percentile(lat, 95) * 1000),
                           "count": int(lat.size)},
            "fps_received": float(fps), "face_diff_before_after": [float(face_before), float(face_after)],
            "background_diff_before_after": [float(bg_before), float(bg_after)],
            "page_stats_line": stats_line, "busy_message": busy, "server": server_stats, "stamp_read_errors": probe["errors"]},
            indent=1))
