"""Live side: latest-frame slot and capture, mutable AU controls, keys, the live loop, `reenact webcam`."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from reenact.aus.names import AU_NAMES, au_index
from reenact.errors import ReenactError
from reenact.frame import Frame
from reenact.live.capture import CaptureConfig, FileReader, LiveCapture, open_reader
from reenact.live.controls import MutableAUSource
from reenact.live.latest import LatestSlot
from reenact.live.loop import KeyControls, LiveConfig, run_live
from reenact.tracking.types import Face

DATA = Path(__file__).parents[1] / "data"

CLIP = DATA / "video" / "single_face_small.mp4"  # 20 frames, 30 fps
pytestmark = pytest.mark.timeout(120)


def test_slot_hands_on_newest_and_counts_drops():
    slot: LatestSlot[int] = LatestSlot()
    for i in range(5):
        slot.put(i)
    assert slot.get(timeout=0.1) == 4
    assert slot.dropped == 4 and slot.puts == 5
    assert slot.get(timeout=0.05) is None  # nothing new


def test_slot_close_wakes_a_waiting_reader():
    slot: LatestSlot[int] = LatestSlot()
    got = []
    reader = threading.Thread(target=lambda: got.append(slot.get(timeout=30)))
    reader.start()
    time.sleep(0.05)
    slot.close()
    reader.join(timeout=5)
    assert not reader.is_alive() and got == [None] and slot.drained()


class _Fixed:
    """An AU source returning fixed targets for every face."""

    def __init__(self, value: float):
        self.value = value

    def targets(self, frame, own):
        return {fid: np.full(17, self.value, np.float32) for fid in own}


def _frame_with_face() -> tuple[Frame, dict[int, np.ndarray]]:
    face = Face(face_id=3, landmarks=np.zeros((478, 2), np.float32))
    return Frame(image=np.zeros((4, 4, 3), np.uint8), faces=[face]), {3: np.full(17, 1.0, np.float32)}


def test_mutable_source_interpolates_and_overrides():
    frame, own = _frame_with_face()
    src = MutableAUSource(_Fixed(3.0), "fixed", strength=0.5)
    np.testing.assert_allclose(src.targets(frame, own)[3], 2.0)  # 1 + 0.5 * (3 - 1)
    src.set_au("AU12", 5.0)
    out = src.targets(frame, own)[3]
    assert out[au_index("AU12")] == pytest.approx(3.0) and out[0] == pytest.approx(2.0)
    src.set_strength(0.0)
    np.testing.assert_allclose(src.targets(frame, own)[3], 1.0)  # strength 0: the face as it is
    src.set_strength(1.0)
    src.set_source(None, None)  # no base: own AUs, overrides cleared with the switch
    np.testing.assert_allclose(src.targets(frame, own)[3], 1.0)
    assert src.state().overrides == {}
    with pytest.raises(ValueError):
        src.set_strength(1.5)
    with pytest.raises(ValueError):
        src.set_au("AU99", 1.0)


@pytest.mark.parametrize("value", ["NaN", "inf", "-Infinity"])
def test_non_finite_au_values_are_refused(value):
    """The data channel sent {"value": "NaN"}; it was kept and echoed as a bare NaN, which the
    page's JSON.parse rejects."""
    import json

    src = MutableAUSource(None)
    with pytest.raises(ValueError, match="finite"):
        src.set_au("AU12", float(value))
    assert src.state().overrides == {}
    json.dumps(src.state().as_json(), allow_nan=False)


def test_mutable_source_clamps_to_scale():
    frame, own = _frame_with_face()
    src = MutableAUSource(None)
    src.set_au(AU_NAMES[0], 9.0)
    assert src.targets(frame, own)[3][0] == pytest.approx(5.0)


def test_keys_switch_presets_strength_and_quit():
    src = MutableAUSource(_Fixed(1.0), "a", strength=0.5)
    keys = KeyControls(src, [("a", _Fixed(1.0)), ("b", _Fixed(2.0))])
    keys.handle(ord("2"))
    assert src.state().source_name == "b"
    keys.handle(ord("+"))
    assert src.state().strength == pytest.approx(0.6)
    keys.handle(ord("0"))
    assert src.state().strength == 0.0
    keys.handle(ord("0"))
    assert src.state().strength == pytest.approx(0.6)
    keys.handle(ord("m"))
    assert src.state().show_masks
    keys.handle(ord("9"))  # no ninth preset: ignored
    assert src.state().source_name == "b"
    assert keys.handle(ord("q")) == KeyControls.QUIT


def test_file_camera_plays_at_its_own_rate():
    reader = FileReader(CaptureConfig(camera=str(CLIP)))
    start = time.perf_counter()
    n = sum(1 for _ in reader.frames())
    elapsed = time.perf_counter() - start
    reader.close()
    assert n == 20
    assert elapsed >= 19 / 30 * 0.9  # released at 30 fps, not as fast as it decodes


def test_capture_keeps_only_the_newest_frame():
    period = 1 / 30
    with LiveCapture(open_reader(CaptureConfig(camera=str(CLIP)))) as capture:
        taken = []
        while True:
            frame = capture.latest(timeout=5)
            if frame is None:
                break
            taken.append((frame.index, time.perf_counter() - frame.capture_time))
            time.sleep(4 * period)  # a consumer four times slower than the camera
        assert capture.ended and capture.error is None
        assert capture.captured == 20
        assert capture.dropped > 0 and len(taken) + capture.dropped == 20
    indices = [i for i, _ in taken]
    assert indices == sorted(indices) and indices[-1] == 19
    # Every frame handed on was the newest: never older than about one camera period.
    assert max(age for _, age in taken) < 0.25


def test_capture_loop_restarts_a_file_with_rising_timestamps():
    with LiveCapture(open_reader(CaptureConfig(camera=str(CLIP), loop=True))) as capture:
        times = []
        while len(times) < 30:
            frame = capture.latest(timeout=5)
            assert frame is not None
            times.append(frame.time)
    assert all(b > a for a, b in zip(times, times[1:]))


def test_run_live_with_a_slow_processor_drops_frames_not_time():
    def slow(frame: Frame) -> Frame:
        time.sleep(0.12)
        return frame

    with LiveCapture(open_reader(CaptureConfig(camera=str(CLIP)))) as capture:
        report = run_live(capture, slow, LiveConfig(stall_s=5))
    assert report.captured == 20
    assert 0 < report.processed < 20 and report.dropped > 0
    assert report.latency.count == report.processed
    assert report.latency.max_ms < 600  # processing time plus at most a frame's wait, never a queue


def test_run_live_stops_after_max_frames():
    with LiveCapture(open_reader(CaptureConfig(camera=str(CLIP)))) as capture:
        report = run_live(capture, lambda f: f, LiveConfig(max_frames=3))
    assert report.processed == 3


def test_missing_camera_and_file_are_clear_errors(tmp_path):
    with pytest.raises(ReenactError, match="no camera"):
        open_reader(CaptureConfig(camera=str(tmp_path / "nope.mp4")))
    with pytest.raises(ReenactError, match="no camera"):
        open_reader(CaptureConfig(camera="/dev/video99"))


def _invoke(args):
    from reenact.cli.main import app

    return CliRunner().invoke(app, args)


def test_webcam_command_runs_on_a_file_camera():
    result = _invoke(["webcam", "--aus", "smile", "--aus", "surprise", "--camera", str(CLIP),
                      "--no-preview", "--model", "identity", "--threads", "0"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "frames processed of 20 captured" in result.output


def test_webcam_without_display_names_it(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    result = _invoke(["webcam", "--aus", "smile", "--camera", str(CLIP), "--model", "identity"])
    assert isinstance(result.exception, ReenactError) and "no display" in str(result.exception)


def test_webcam_without_virtual_camera_names_it():
    pytest.importorskip("pyvirtualcam")
    if any(Path("/dev").glob("video*")):
        pytest.skip("this machine has video devices; a virtual camera might exist")
    result = _invoke(["webcam", "--aus", "smile", "--camera", str(CLIP), "--no-preview", "--virtual-cam",
                      "--model", "identity"])
    assert isinstance(result.exception, ReenactError) and "virtual camera" in str(result.exception)


def test_webcam_source_photo_is_driven_by_the_camera(monkeypatch):
    """--source PHOTO: what the loop shows is the photo (its size), not the camera frame."""
    import reenact.live.loop as live_loop

    photo = Path(__file__).parents[1] / "data" / "faces" / "london_003_03.jpg"
    shown, real_run = [], live_loop.run_live

    def recording_run(capture, process, cfg, **kw):
        def process_and_record(frame):
            out = process(frame)
            shown.append((frame.image.shape, out.image.shape))
            return out
        return real_run(capture, process_and_record, cfg, **kw)

    monkeypatch.setattr(live_loop, "run_live", recording_run)
    result = _invoke(["webcam", "--source", str(photo), "--camera", str(CLIP), "--no-preview",
                      "--model", "identity", "--frames", "4"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    portrait = np.asarray(Image.open(photo)).shape
    assert shown and all(out == portrait and cam != portrait for cam, out in shown)


def test_webcam_needs_exactly_one_of_aus_and_source():
    photo = Path(__file__).parents[1] / "data" / "faces" / "london_003_03.jpg"
    for args in ([], ["--aus", "smile", "--source", str(photo)]):
        result = _invoke(["webcam", "--camera", str(CLIP), "--no-preview", *args])
        assert isinstance(result.exception, ReenactError) and "--source" in str(result.exception)


def test_webcam_unknown_preset_is_a_clear_error():
    result = _invoke(["webcam", "--aus", "no_such_preset_xyz", "--camera", str(CLIP), "--no-preview"])
    assert isinstance(result.exception, ReenactError) and "no_such_preset_xyz" in str(result.exception)


class _ScriptedPreview:
    """Stands in for the OpenCV window: records what it is shown, answers with scripted keys."""

    def __init__(self, keys: list[int]):
        self.keys, self.shown = list(keys), []

    def show(self, image):
        self.shown.append(image)
        return self.keys.pop(0) if self.keys else -1


def test_preview_keys_reach_the_controls_and_quit_the_loop():
    src = MutableAUSource(_Fixed(1.0), "a", strength=1.0)
    keys = KeyControls(src, [("a", _Fixed(1.0)), ("b", _Fixed(2.0))])
    preview = _ScriptedPreview([ord("2"), ord("-"), ord("q")])
    with LiveCapture(open_reader(CaptureConfig(camera=str(CLIP)))) as capture:
        report = run_live(capture, lambda f: f, LiveConfig(), preview=preview, keys=keys)
    assert report.processed == 3 and len(preview.shown) == 3
    assert src.state().source_name == "b" and src.state().strength == pytest.approx(0.9)
    # The overlay (fps/latency line) is drawn on the frame shown, not on the processed frame.
    assert preview.shown[0].shape == (180, 320, 3)
    assert not np.array_equal(preview.shown[0][:40, :200], preview.shown[0][:40, :200].mean())


def test_overlay_and_mask_view_draw_only_where_expected():
    from reenact.live.preview import draw_masks, draw_overlay

    image = np.full((120, 160, 3), 100, np.uint8)
    out = draw_overlay(image, ["12.0 fps   latency 80 ms"])
    assert np.array_equal(image, np.full((120, 160, 3), 100, np.uint8))  # input untouched
    assert (out[:30] != 100).any() and (out[60:] == 100).all()
    mask = np.zeros((120, 160), np.float32)
    mask[40:80, 60:100] = 1.0
    tinted = draw_masks(image, mask, [])
    assert tinted[60, 80, 0] > 100 and tinted[60, 80, 1] < 100 and (tinted[:30] == 100).all()
    face = Face(face_id=0, landmarks=np.tile(np.array([[20.0, 20.0]], np.float32), (478, 1)))
    dots = draw_masks(image, None, [face])  # no mask from the engine: the landmarks instead
    assert (dots[19:22, 19:22] != 100).any() and (dots[60:] == 100).all()


def test_virtual_camera_without_pyvirtualcam_says_what_to_install(monkeypatch):
    import sys

    from reenact.live.virtualcam import VirtualCamera

    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)  # import fails as if not installed
    with pytest.raises(ReenactError, match="pyvirtualcam package is not installed"):
        VirtualCamera(320, 180, 30)
    result = _invoke(["webcam", "--aus", "smile", "--camera", str(CLIP), "--no-preview", "--virtual-cam"])
    assert isinstance(result.exception, ReenactError) and "pip install" in str(result.exception)
