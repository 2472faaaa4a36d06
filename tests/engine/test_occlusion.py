"""reenact.engine.occlusion: what covers a face is found, the edit keeps off it, over time too."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import DATA
from reenact.engine.compose import crop_frame_faces
from reenact.engine.occlusion import OcclusionConfig, OcclusionTracker, estimate_occlusion, occlusion_masks
from reenact.engine.pipeline import Engine, EngineConfig
from reenact.engine.still import edit_image, track_image
from reenact.frame import Frame
from reenact.models.load import load_generator
from reenact.models.protocol import GeneratorOutput
from reenact.tracking.align import AlignConfig
from reenact.tracking.tracker import TrackResult

SIZE = 256
BLUE = (40, 90, 200)   # a colour no skin or lips have


class PaintGen:
    """Paints every crop red with A = 0: any pixel the paste may touch turns red."""
    name = "paint"
    image_size = SIZE
    align = AlignConfig(size=SIZE)
    needs_landmarks = True

    def describe(self) -> str:
        return "paint"

    def __call__(self, crops, aus, *, landmarks=None, source_aus=None):
        c = torch.empty_like(crops)
        c[:, 0], c[:, 1:] = 1.0, -1.0
        return GeneratorOutput(c, torch.zeros_like(crops[:, :1]))


class FixedTracker:
    """The same faces in every frame (a video of a still face)."""

    def __init__(self, faces):
        self.faces = faces

    def track(self, image, timestamp_ms=None):
        return TrackResult(list(self.faces))


class ZeroEstimator:
    def estimate(self, face):
        return np.zeros(17, np.float32)


@pytest.fixture(scope="module")
def photo():
    """A London face (a tuning id, never a held-out one) and its tracked face."""
    image = np.asarray(Image.open(DATA / "faces" / "london_003_03.jpg").convert("RGB"))
    faces = track_image(image)
    assert len(faces) == 1
    return image, faces


@pytest.fixture(scope="module")
def crop(photo):
    image, faces = photo
    fc = crop_frame_faces(torch.from_numpy(image.copy()), faces, AlignConfig(size=SIZE))
    rgb = ((fc.crops[0].permute(1, 2, 0) + 1) * 127.5).round().to(torch.uint8).numpy()
    return rgb, fc.landmarks[0].numpy()


def mouth_bar(lms: np.ndarray, shift: float = 0.0, half: float = 7.0) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 of a bar across the mouth (mouth corners 61, 291; lip centre 13, 14)."""
    x0, x1 = lms[61, 0] - 12, lms[291, 0] + 12
    y = (lms[13, 1] + lms[14, 1]) / 2 + shift
    return int(x0), int(y - half), int(x1), int(y + half)


def with_bar(image: np.ndarray, box) -> np.ndarray:
    out = image.copy()
    x0, y0, x1, y1 = box
    out[y0:y1 + 1, x0:x1 + 1] = BLUE
    return out


def cheeks(lms: np.ndarray) -> list[tuple[slice, slice]]:
    """10 px windows on both cheeks (clear skin, away from the mouth; this face's forehead is
    under her fringe, which is rightly an occluder)."""
    wins = []
    for i in (50, 280, 117, 346):
        x, y = np.round(lms[i]).astype(int)
        wins.append((slice(y - 5, y + 5), slice(x - 5, x + 5)))
    return wins


def test_a_foreign_bar_over_the_mouth_is_covered_and_clear_skin_is_not(crop):
    rgb, lms = crop
    box = mouth_bar(lms)
    est = estimate_occlusion(with_bar(rgb, box), lms)
    x0, y0, x1, y1 = box
    assert est.mask[y0:y1 + 1, x0:x1 + 1].min() > 0.99
    for win in cheeks(lms):
        assert est.mask[win].mean() < 0.1 and est.mask[win].max() < 0.15
    clear = estimate_occlusion(rgb, lms)
    assert clear.covered < 0.02 and clear.covered < est.covered
    for win in cheeks(lms) + [(slice(y0, y1 + 1), slice(x0, x1 + 1))]:
        assert clear.mask[win].mean() < 0.1


def test_the_edit_leaves_the_occluder_exactly_as_it_was(photo):
    image, faces = photo
    lms = faces[0].landmarks  # the mesh still predicts lips under the bar, as MediaPipe does
    barred = with_bar(image, mouth_bar(lms, half=10))
    x0, y0, x1, y1 = mouth_bar(lms, half=10)
    on = edit_image(barred, np.zeros(17, np.float32), PaintGen(), tracked=faces, own={0: np.zeros(17)},
                    occlusion=True)
    off = edit_image(barred, np.zeros(17, np.float32), PaintGen(), tracked=faces, own={0: np.zeros(17)})
    bar = (slice(y0, y1 + 1), slice(x0, x1 + 1))
    assert np.array_equal(on.image[bar], barred[bar])
    assert not np.array_equal(off.image[bar], barred[bar])          # without it, the paint covers it
    assert off.faces[0].occlusion is None and on.faces[0].occlusion.max() == 1.0
    nose = tuple(np.round(lms[4]).astype(int))
    assert on.image[nose[1], nose[0], 0] > 200                       # the clear face is still edited


def test_zero_edit_with_the_rig_is_still_exact(photo):
    image, faces = photo
    barred = with_bar(image, mouth_bar(faces[0].landmarks))
    res = edit_image(barred, lambda own: own, load_generator("rig"), tracked=faces, occlusion=True)
    assert np.array_equal(res.image, barred)


def test_a_moving_bar_gives_a_mask_that_follows_it_smoothly(crop):
    rgb, lms = crop
    cfg = OcclusionConfig()
    tracker = OcclusionTracker(cfg)
    masks = []
    for t in range(8):
        box = mouth_bar(lms, shift=-6 + 2 * t)
        m = tracker.update(0, with_bar(rgb, box), lms)
        x0, y0, x1, y1 = box
        assert m[y0:y1 + 1, x0:x1 + 1].min() > 0.99        # covered in every frame
        masks.append(m)
    for a, b in zip(masks, masks[1:]):
        assert (a - b).max() <= cfg.fall + 1e-6            # it fades, it does not switch off
    # The bar leaves: over it the mask falls by `fall` a frame, never to 0 at once.
    x0, y0, x1, y1 = box
    last = (slice(y0, y1 + 1), slice(x0, x1 + 1))
    gone = [tracker.update(0, rgb, lms)[last] for _ in range(3)]
    assert gone[0].min() == pytest.approx(1.0 - cfg.fall, abs=1e-5)
    assert gone[1].min() == pytest.approx(1.0 - 2 * cfg.fall, abs=1e-5)
    tracker.forget(set())                                   # the face left: a new one starts clear
    assert tracker.update(0, rgb, lms)[last].mean() < 0.1


def test_masks_follow_face_ids_and_shape(crop):
    rgb, lms = crop
    barred = with_bar(rgb, mouth_bar(lms))
    crops = torch.from_numpy(np.stack([rgb, barred])).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    occ = occlusion_masks(crops, torch.from_numpy(np.stack([lms, lms])), [0, 1])
    assert occ.shape == (2, 1, SIZE, SIZE)
    assert occ[1].mean() > occ[0].mean() + 0.02


def test_engine_switch(photo):
    image, faces = photo
    box = mouth_bar(faces[0].landmarks, half=10)
    barred = with_bar(image, box)
    x0, y0, x1, y1 = box
    bar = (slice(y0, y1 + 1), slice(x0, x1 + 1))
    for on in (True, False):
        eng = Engine(PaintGen(), au_source=_Const(), estimator=ZeroEstimator(), tracker=FixedTracker(faces),
                     cfg=EngineConfig(fade_frames=0, lookahead=False, occlusion=on))
        frame = Frame(image=barred.copy(), want_mask=True)
        out = eng.process(frame)
        assert out.edited
        assert np.array_equal(out.image[bar], barred[bar]) == on
        assert (eng.occlusion is not None) == on and (out.occlusion is not None) == on
        if on:
            assert out.occlusion[bar].min() > 0.99 and out.mask[bar].max() == 0.0


class _Const:
    def targets(self, frame, own):
        return {i: np.zeros(17, np.float32) for i in own}


def test_image_cli_shows_the_mask_when_the_flag_turns_it_on(tmp_path):
    from typer.testing import CliRunner

    from reenact.cli.main import app

    src = DATA / "faces" / "london_003_03.jpg"
    widths = {}
    for flag in ([], ["--occlusion"]):
        out = tmp_path / f"out{len(flag)}.png"
        res = CliRunner().invoke(app, ["image", str(src), "--aus", "big_smile", "-o", str(out), "--masks", *flag])
        assert res.exit_code == 0, res.output
        widths[bool(flag)] = np.asarray(Image.open(out.with_name(f"{out.stem}_masks.png"))).shape[1]
    pad = 4  # grid(): crop | C | A | occlusion | result, 256 px each, 4 px between
    assert widths[True] == 5 * (SIZE + pad) + pad and widths[False] == 4 * (SIZE + pad) + pad


def test_the_preview_mask_view_tints_what_covers_the_face():
    from reenact.live.preview import draw_masks

    image = np.full((20, 30, 3), 128, np.uint8)
    mask = np.ones((20, 30), np.float32)
    occ = np.zeros((20, 30), np.float32)
    occ[:, 15:] = 1.0
    out = draw_masks(image, mask, [], occ).astype(int)
    assert out[5, 20, 2] > out[5, 5, 2] + 50 and out[5, 20, 0] < out[5, 5, 0]   # blue over red
    assert np.array_equal(draw_masks(image, mask, []), draw_masks(image, mask, [], None))
