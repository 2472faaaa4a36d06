"""Head pose of a tracked face, and an actor's head motion relative to its own reference pose.

Everything here is in the *pixel frame*: x right, y down, z away from the camera (MediaPipe's depth
sign), a right-handed frame. MediaPipe's facial transformation matrix lives in its camera frame
(x right, y up, z toward the viewer); ``S = diag(1, -1, -1)`` converts between the two
(``R_px = S R_cam S``).

A pose is (rotation (3, 3), centre (2,) px, size px): the rotation of the head, the image position
of the centroid of the rigid face points (forehead, nose bridge, eye corners, cheek contour: no
jaw, no lips, no brows), and their RMS 3D spread (rotation invariant, so a turn is not read as a
zoom). An actor's motion is taken relative to a reference pose -- the **median** of the clip's
poses (the actor's usual head position: robust to a few glances away, unlike the first frames) --
as a relative rotation ``R_t R_ref^T``, a shift in units of the reference size and a scale ratio.
The photo's head is then moved by the same rotation about its own rigid-point centroid and by the
same shift and scale in its own face units, which is the same rigid motion whatever the pivot.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from reenact.tracking.smoothing import OneEuroConfig, OneEuroFilter

CAM_TO_PX = np.diag([1.0, -1.0, -1.0])

# Points that move with the skull, not with the expression.
RIGID_POINTS = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 33, 133, 362, 263, 127, 356, 234, 454,
                93, 323, 162, 389, 21, 251, 54, 284, 103, 332, 67, 297, 109, 338)


@dataclass(frozen=True)
class HeadMotion:
    """A head's motion relative to a reference pose: rotation (3, 3) in the pixel frame, shift (2,)
    in reference face sizes, scale (ratio)."""

    rotation: np.ndarray
    shift: np.ndarray
    scale: float

    @classmethod
    def identity(cls) -> "HeadMotion":
        return cls(np.eye(3), np.zeros(2), 1.0)

    def is_identity(self, tol: float = 1e-9) -> bool:
        return (np.abs(self.rotation - np.eye(3)).max() <= tol and np.abs(self.shift).max() <= tol
                and abs(self.scale - 1.0) <= tol)

    def as_vector(self) -> np.ndarray:
        """(6,): rotation vector (rad), shift (2), log scale: what is smoothed and interpolated."""
        rv = Rotation.from_matrix(self.rotation).as_rotvec()
        return np.concatenate([rv, self.shift, [np.log(self.scale)]])

    @classmethod
    def from_vector(cls, v: np.ndarray) -> "HeadMotion":
        v = np.asarray(v, np.float64)
        return cls(Rotation.from_rotvec(v[:3]).as_matrix(), v[3:5].copy(), float(np.exp(v[5])))


def points3d(face) -> np.ndarray:
    """(478, 3) landmarks with depth, px (depth 0 when the tracker gave none)."""
    depth = face.depth if face.depth is not None else np.zeros(len(face.landmarks), np.float32)
    return np.concatenate([np.asarray(face.landmarks, np.float64),
                           np.asarray(depth, np.float64)[:, None]], 1)


def kabsch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The rotation R minimising |R (a - mean a) - (b - mean b)| over paired rows (N, 3)."""
    a0, b0 = a - a.mean(0), b - b.mean(0)
    u, _, vt = np.linalg.svd(b0.T @ a0)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def face_pose(face, template: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """(rotation (3, 3) px frame, centre (2,) px, size px) of one face.

    The rotation is MediaPipe's transformation matrix's (its scale removed); without one it is
    fitted to the rigid points of ``template`` ((478, 3) canonical points in the pixel frame's axes, e.g.
    reenact.aus.geometry.template3d();
    only rotations relative to another pose from the same template are meaningful)."""
    p = points3d(face)[list(RIGID_POINTS)]
    centre = p.mean(0)
    size = float(np.sqrt(((p - centre) ** 2).sum(1).mean()))
    if face.pose is not None:
        u, _, vt = np.linalg.svd(np.asarray(face.pose, np.float64)[:3, :3])
        rot = CAM_TO_PX @ (u @ vt) @ CAM_TO_PX
    elif template is not None:
        rot = kabsch(np.asarray(template, np.float64)[list(RIGID_POINTS)], p)
    else:
        raise ValueError("a face without MediaPipe's pose needs a template to estimate it")
    return rot, centre[:2], size


@dataclass(frozen=True)
class PoseLimits:
    """How far a still source's head is allowed to follow: yaw and pitch (deg), roll is free;
    shift in face sizes; scale ratio range."""

    tilt_deg: float = 25.0
    shift: float = 0.6
    scale: tuple[float, float] = (0.85, 1.2)


def relative_motions(rotations: np.ndarray, centres: np.ndarray, sizes: np.ndarray,
                     limits: PoseLimits = PoseLimits()) -> np.ndarray:
    """(N, 6) motion vectors (HeadMotion.as_vector) of each pose relative to the series' median pose."""
    rotations = np.asarray(rotations, np.float64)
    first = Rotation.from_matrix(rotations[0])
    rel_first = (Rotation.from_matrix(rotations) * first.inv()).as_rotvec()
    ref = Rotation.from_rotvec(np.median(rel_first, 0)) * first
    rv = (Rotation.from_matrix(rotations) * ref.inv()).as_rotvec()
    tilt = np.deg2rad(limits.tilt_deg)
    rv[:, :2] = np.clip(rv[:, :2], -tilt, tilt)           # x: pitch, y: yaw; z (roll) is free
    c0 = np.median(centres, 0)
    s0 = float(np.median(sizes))
    shift = np.clip((np.asarray(centres) - c0) / s0, -limits.shift, limits.shift)
    log_scale = np.log(np.clip(np.asarray(sizes) / s0, *limits.scale))
    return np.concatenate([rv, shift, log_scale[:, None]], 1)


def smooth_motions(times: np.ndarray, motions: np.ndarray,
                   cfg: OneEuroConfig = OneEuroConfig(min_cutoff=0.7, beta=3.0)) -> np.ndarray:
    """Causal One-Euro smoothing of a (N, 6) motion series sampled at ``times`` (s): MediaPipe's
    pose jitters by a fraction of a degree, which a still photo would show as shimmer."""
    f = OneEuroFilter(cfg)
    return np.stack([f.update(m, float(t)) for m, t in zip(motions, times)])
