"""Head motion for a still source: the actor's relative pose, its smoothing, the 2.5D warp of the
photo's head, and `reenact video PHOTO --pose on/off`."""
from __future__ import annotations

import av
import numpy as np
import pytest
from PIL import Image
from scipy.spatial.transform import Rotation
from typer.testing import CliRunner

from reenact.aus.driver import DriverSource, DriverTrack
from reenact.aus.names import NUM_AUS
from reenact.cli.main import app
from reenact.cli.video import load_model
from reenact.engine.headpose import HeadWarp
from reenact.engine.photo import animate_photo, photo_timing
from reenact.engine.video import edit_video
from reenact.media.photo import PhotoSource
from reenact.tracking.fixed import FixedFaces
from reenact.errors import ReenactError
from reenact.tracking.headpose import (HeadMotion, PoseLimits, face_pose, relative_motions,
                                       smooth_motions)
from reenact.tracking.tracker import FaceTracker, TrackerConfig

from conftest import DATA

FACE = DATA / "faces" / "london_004_03.jpg"
CLIP = DATA / "video" / "single_face_small.mp4"


@pytest.fixture(scope="module")
def photo():
    image = np.asarray(Image.open(FACE).convert("RGB"))
    with FaceTracker(TrackerConfig(mode="image")) as tracker:
        face = tracker.track(image).faces[0]
    return image, face


def yaw(deg: float, roll: float = 0.0) -> HeadMotion:
    rot = Rotation.from_rotvec(np.deg2rad([0.0, deg, roll])).as_matrix()
    return HeadMotion(rot, np.zeros(2), 1.0)


def frames_of(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]


# -- the warp ----------------------------------------------------------------------------------------
def test_identity_motion_leaves_the_frame_exactly_unchanged(photo):
    image, face = photo
    warp = HeadWarp(face, image.shape[:2])
    assert np.array_equal(warp.warp(image, HeadMotion.identity()), image)
    dst, _ = warp.project(HeadMotion.identity())
    assert np.allclose(dst, warp.src)


def test_a_known_yaw_moves_the_nose_tip_by_the_rotation_of_its_depth(photo):
    image, face = photo
    warp = HeadWarp(face, image.shape[:2])
    theta = np.deg2rad(15.0)
    dst, _ = warp.project(yaw(15.0))
    nose = 1
    rel_x = face.landmarks[nose, 0] - warp.pivot[0]
    rel_z = face.depth[nose] - warp.pivot[2]
    expected = np.cos(theta) * rel_x + np.sin(theta) * rel_z - rel_x
    moved = dst[nose] - face.landmarks[nose]
    assert rel_z < 0  # the nose tip is in front of the pivot ...
    assert moved[0] == pytest.approx(expected, abs=1e-3)
    assert moved[0] < -0.1 * warp.size  # ... so this turn carries it to the image's left, clearly
    assert abs(moved[1]) < 1e-3  # a pure yaw does not lift it
    # The opposite turn moves it the other way by the same amount (the pivot is on its row).
    assert (warp.project(yaw(-15.0))[0][nose] - face.landmarks[nose])[0] > 0


def test_background_far_from_the_head_stays_unchanged_under_rotation(photo):
    image, face = photo
    warp = HeadWarp(face, image.shape[:2])
    out = warp.warp(image, yaw(18.0, roll=20.0))
    diff = np.abs(out.astype(int) - image.astype(int)).max(axis=2)
    x0, y0, x1, y1 = warp.box
    outside = np.ones(diff.shape, bool)
    outside[y0:y1, x0:x1] = False
    assert outside.any() and diff[outside].max() == 0
    fx0, fy0, fx1, fy1 = (int(v) for v in face.bbox)
    assert (diff[fy0:fy1, fx0:fx1] > 20).mean() > 0.2  # the head itself did turn
    # Inside the box but beyond the still ring (the box's corners) nothing moves either.
    assert diff[y0, x0] == 0 and diff[y1 - 1, x1 - 1] == 0


def test_a_large_roll_does_not_fold_the_band_around_the_head(photo):
    image, face = photo
    warp = HeadWarp(face, image.shape[:2])
    dst, _ = warp.project(yaw(0.0, roll=60.0))
    tri_src, tri_dst = warp.src[warp.simplices], dst[warp.simplices]
    area = lambda t: np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])  # noqa: E731
    band = (warp.simplices >= 468).all(1)  # triangles between rings only
    assert (np.sign(area(tri_src[band])) == np.sign(area(tri_dst[band]))).all()


# -- the actor's pose --------------------------------------------------------------------------------
def test_relative_motion_is_taken_from_the_actors_median_pose_and_limited():
    yaws = np.deg2rad([0.0, 5.0, 5.0, 5.0, 40.0])
    rots = Rotation.from_rotvec(np.stack([np.zeros(5), yaws, np.zeros(5)], 1)).as_matrix()
    centres = np.array([[100.0, 50.0]] * 4 + [[130.0, 50.0]])
    sizes = np.array([50.0, 50.0, 50.0, 50.0, 100.0])
    m = relative_motions(rots, centres, sizes, PoseLimits(tilt_deg=25.0, scale=(0.85, 1.2)))
    assert np.rad2deg(m[:, 1]) == pytest.approx([-5.0, 0.0, 0.0, 0.0, 25.0], abs=1e-6)  # clamped
    assert m[4, 3] == pytest.approx(0.6) and m[0, 3] == 0.0  # 30 px / 50 px, limited to 0.6
    assert np.exp(m[4, 5]) == pytest.approx(1.2)
    # Roll is not limited.
    roll = Rotation.from_rotvec([[0, 0, 0.0], [0, 0, 0.0], [0, 0, 1.2]]).as_matrix()
    assert relative_motions(roll, centres[:3], sizes[:3])[2, 2] == pytest.approx(1.2)


def test_pose_smoothing_is_bounded_and_removes_jitter():
    rng = np.random.default_rng(0)
    t = np.arange(90) / 30.0
    clean = np.where(t[:, None] < 1.5, 0.0, 0.2) * np.ones((1, 6))
    noisy = clean + rng.normal(0, 0.01, clean.shape)
    out = smooth_motions(t, noisy)
    assert (out >= noisy.min(0) - 1e-12).all() and (out <= noisy.max(0) + 1e-12).all()
    still = slice(10, 45)
    assert np.diff(out[still], axis=0).std() < 0.25 * np.diff(noisy[still], axis=0).std()
    assert np.abs(out[-1] - 0.2).max() < 0.02  # it follows the step within a second


def test_face_pose_reads_mediapipes_matrix_and_falls_back_to_the_template(photo):
    from reenact.aus.geometry import template3d
    _, face = photo
    rot, centre, size = face_pose(face)
    assert np.allclose(rot @ rot.T, np.eye(3), atol=1e-5) and np.linalg.det(rot) > 0
    assert size > 10 and face.bbox[0] < centre[0] < face.bbox[2]
    no_matrix = type(face)(face.face_id, face.landmarks, face.depth)
    fitted, _, _ = face_pose(no_matrix, template3d())
    assert np.allclose(fitted @ fitted.T, np.eye(3), atol=1e-6)
    with pytest.raises(ValueError):
        face_pose(no_matrix)


# -- the photo path ----------------------------------------------------------------------------------
def swaying_driver(n: int = 12, fps: float = 10.0) -> DriverSource:
    """A driver track whose actor keeps a neutral face and turns the head +-12 degrees."""
    t = np.arange(n) / fps
    yaws = np.deg2rad(12.0) * np.sin(2 * np.pi * t / (n / fps))
    rots = Rotation.from_rotvec(np.stack([np.zeros(n), yaws, np.zeros(n)], 1)).as_matrix()
    track = DriverTrack(t, np.zeros((n, NUM_AUS), np.float32), np.ones(n, bool), "sway",
                        rots, np.full((n, 2), 100.0), np.full(n, 50.0))
    return DriverSource("sway", track=track)


def test_pose_off_equals_the_expression_only_output_and_pose_on_moves_the_head(tmp_path, photo):
    image, face = photo
    gen = load_model("identity", "auto", "cpu", 4)
    outs = {}
    for name, pose in (("off", False), ("on", True)):
        src = swaying_driver()
        outs[name] = tmp_path / f"{name}.mp4"
        animate_photo(FACE, outs[name], gen, src, photo_timing(src, fps=10.0), progress=False,
                      log=lambda m: None, pose=pose)
    # The expression-only path as it was before head motion: edit_video with no last stage.
    src = swaying_driver()
    outs["plain"] = tmp_path / "plain.mp4"
    edit_video(FACE, outs["plain"], gen, src, source=PhotoSource(FACE, photo_timing(src, fps=10.0)),
               tracker=FixedFaces(FaceTracker(TrackerConfig(mode="image"))), progress=False,
               log=lambda m: None, audio_from=None)
    off, on, expr = (frames_of(outs[k]) for k in ("off", "on", "plain"))
    assert len(off) == len(on) == len(expr) == 12
    assert all(np.array_equal(a, b) for a, b in zip(off, expr))
    fx0, fy0, fx1, fy1 = (int(v) for v in face.bbox)
    turned = [np.abs(a.astype(int) - b.astype(int))[fy0:fy1, fx0:fx1].mean() for a, b in zip(on, off)]
    assert max(turned) > 5.0


def test_a_driver_track_records_the_actors_pose_per_frame():
    from reenact.aus.driver import track_driver
    track = track_driver(CLIP, max_frames=6, progress=False)
    assert track.rotations.shape == (6, 3, 3) and track.centres.shape == (6, 2)
    assert (track.sizes > 5).all()
    assert np.allclose(track.rotations[0] @ track.rotations[0].T, np.eye(3), atol=1e-5)


def test_pose_option_is_refused_for_a_video_input_and_checked_for_a_photo(tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["video", str(CLIP), "--aus", "smile", "--pose", "off", "-o",
                            str(tmp_path / "o.mp4"), "--model", "identity"])
    assert isinstance(r.exception, ReenactError) and "photo input only" in str(r.exception)
    r = runner.invoke(app, ["video", str(FACE), "--driver", str(CLIP), "--pose", "maybe", "-o",
                            str(tmp_path / "o.mp4"), "--model", "identity"])
    assert isinstance(r.exception, ReenactError) and "on or off" in str(r.exception)
    assert not list(tmp_path.iterdir())


def test_a_still_actors_pose_jitter_leaves_the_photo_pixel_still(photo):
    from fractions import Fraction

    from reenact.engine.headpose import DriverHeadMotion, head_motion_stage
    from reenact.frame import Frame

    image, face = photo
    n = 30
    rng = np.random.default_rng(1)
    jitter = np.deg2rad(rng.normal(0, 0.05, (n, 3)))  # MediaPipe's pose noise on a still face
    jitter[: n // 2, 1] += np.deg2rad(6.0)  # ... and a real turn in the first half
    track = DriverTrack(np.arange(n) / 30.0, np.zeros((n, NUM_AUS), np.float32), np.ones(n, bool),
                        "still", Rotation.from_rotvec(jitter).as_matrix(), np.full((n, 2), 100.0),
                        np.full(n, 50.0))
    stage = head_motion_stage(face, image.shape[:2], DriverHeadMotion(DriverSource("still", track=track)))
    out = [stage(Frame(image.copy(), pts=i, time_base=Fraction(1, 30), index=i)).image
           for i in range(n)]
    still = out[n // 2 + 8:]  # the smoothing has settled after the turn
    assert all(np.array_equal(a, still[0]) for a in still)
    assert not np.array_equal(out[0], out[-1])  # the turn itself did arrive
