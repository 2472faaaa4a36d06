"""Head motion for a still source: the photo's head turns, tilts and shifts as the actor's does.

A 2.5D warp. The photo's face mesh (MediaPipe's 468 skin points with their depth) is moved
rigidly -- rotated about the centroid of its rigid points, shifted and scaled by the actor's motion
relative to the actor's reference pose (reenact.tracking.headpose) -- and projected
orthographically. Around the face oval, rings of points carry the motion out to the hair, ears and
neck: the first two rings move with the head (set back in depth like the sides of a skull, so a
turn moves them less than the nose), less so below the chin (the neck stays on the shoulders); an
outer ring and everything beyond it stay still. The image is warped piecewise-affinely over the
triangulation of all those points (fixed for the photo), triangles drawn back to front so the near
cheek covers the far one in a turn. The band between the last moving ring and the outer ring
stretches on one side and compresses on the other: that is what fills the background a moving head
uncovers, and the warp is continuous, so there is no seam to hide.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np
from scipy.spatial import Delaunay

from reenact.aus.driver import frame_time
from reenact.errors import ReenactError
from reenact.frame import Frame
from reenact.models.rig.warp import MESH_POINTS, triangle_flow
from reenact.tracking.headpose import (RIGID_POINTS, HeadMotion, PoseLimits, points3d,
                                       relative_motions, smooth_motions)

# MediaPipe's FACE_OVAL loop, clockwise from the forehead top (10) through the chin (152).
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67,
             109)


@dataclass(frozen=True)
class Ring:
    """Points around the face oval: ``spread`` times the oval's distance from its centre; set back
    ``depth`` face sizes behind the oval; moving with weight ``weight`` on top, ``weight - neck``
    straight below the chin."""

    spread: float
    depth: float
    weight: float
    neck: float


RINGS = (Ring(1.25, 0.15, 1.0, 0.45), Ring(1.6, 0.3, 0.9, 0.65), Ring(2.4, 0.3, 0.0, 0.0))
FLOW_STEP = 2       # pixels between the points where the warp's map is computed exactly
DEADBAND_PX = 0.35  # pose changes smaller than this (px at the face) are jitter, not motion
MIN_AREA_RATIO = 0.2  # the band's triangles keep at least this fraction of their area


class HeadWarp:
    """``warp(image, motion)``: the photo's head moved by ``motion``; ``project(motion)``: where
    its points go. face: the photo's tracked Face; shape: the image's (H, W)."""

    def __init__(self, face, shape: tuple[int, int]):
        mesh = points3d(face)[:MESH_POINTS]
        rigid = mesh[list(RIGID_POINTS)]
        self.pivot = rigid.mean(0)
        self.size = float(np.sqrt(((rigid - self.pivot) ** 2).sum(1).mean()))
        oval = mesh[list(FACE_OVAL)]
        centre = oval[:, :2].mean(0)
        away = oval[:, :2] - centre
        down = np.clip(away[:, 1] / np.maximum(np.linalg.norm(away, axis=1), 1e-9), 0.0, 1.0)
        points, weights = [mesh], [np.ones(len(mesh))]
        for ring in RINGS:
            xy = centre + ring.spread * away
            z = oval[:, 2] + ring.depth * self.size
            points.append(np.concatenate([xy, z[:, None]], 1))
            weights.append(np.clip(ring.weight - ring.neck * down, 0.0, 1.0))
        self.src3 = np.concatenate(points)
        self.weights = np.concatenate(weights)
        self.src = self.src3[:, :2].copy()
        self._still = slice(len(mesh) + 2 * len(FACE_OVAL), None)
        self.simplices = Delaunay(self.src).simplices
        # The rings' own triangles: those touching the mesh may fold at the face's silhouette in a
        # turn (the cheek hides its edge; drawing back to front handles it), these must not.
        self._band = self.simplices[(self.simplices >= len(mesh)).all(1)]
        self._band_area = _signed_areas(self.src[self._band])
        h, w = shape
        x0, y0 = np.floor(self.src[self._still].min(0)).astype(int)
        x1, y1 = np.ceil(self.src[self._still].max(0)).astype(int) + 1
        self.box = (max(0, x0), max(0, y0), min(w, x1), min(h, y1))   # all that may change
        bx0, by0, bx1, by1 = self.box
        ys, xs = np.mgrid[by0:by1, bx0:bx1].astype(np.float32)
        self._grid = (xs, ys)

    def project(self, motion: HeadMotion) -> tuple[np.ndarray, np.ndarray]:
        """(P, 2) image positions and (P,) depths of the warp's points after ``motion``.

        A motion that would squash a triangle between the rings around the face below MIN_AREA_RATIO of
        its area, or fold it over (a very large roll or shift), is scaled back toward the identity
        until it does not: the head follows less far, the background never tears."""
        for _ in range(8):
            dst, depth = self._moved(motion)
            if (_signed_areas(dst[self._band]) / self._band_area).min() >= MIN_AREA_RATIO:
                break
            motion = HeadMotion.from_vector(motion.as_vector() * 0.8)
        return dst, depth

    def _moved(self, motion: HeadMotion) -> tuple[np.ndarray, np.ndarray]:
        shift = np.array([motion.shift[0], motion.shift[1], 0.0]) * self.size
        moved = (self.pivot + motion.scale * (self.src3 - self.pivot) @ np.asarray(motion.rotation).T
                 + shift)
        dst = self.src + self.weights[:, None] * (moved[:, :2] - self.src)
        depth = self.src3[:, 2] + self.weights * (moved[:, 2] - self.src3[:, 2])
        return dst, depth

    def warp(self, image: np.ndarray, motion: HeadMotion) -> np.ndarray:
        """The image with the head moved; exactly ``image`` for the identity motion, and unchanged
        outside the outer ring."""
        if motion.is_identity():
            return image
        dst, depth = self.project(motion)
        x0, y0, x1, y1 = self.box
        if x1 <= x0 or y1 <= y0:
            return image
        # Far triangles first: the last one drawn over a pixel is the one seen.
        order = np.argsort(-depth[self.simplices].mean(1), kind="stable")
        origin = np.array([x0, y0], np.float64)
        side = max(x1 - x0, y1 - y0)
        # The map is piecewise linear: computed on a lattice of every FLOW_STEP-th pixel and
        # upsampled bilinearly it is nearly exact, and FLOW_STEP^2 times cheaper. Lattice point k
        # sits at pixel FLOW_STEP * k + (FLOW_STEP - 1) / 2, where cv2.resize puts it.
        lattice = lambda p: (p - origin - (FLOW_STEP - 1) / 2) / FLOW_STEP  # noqa: E731
        n = -(-side // FLOW_STEP)
        coarse, _ = triangle_flow(lattice(self.src), lattice(dst), self.simplices[order], n)
        flow = cv2.resize(coarse * FLOW_STEP, (n * FLOW_STEP, n * FLOW_STEP),
                          interpolation=cv2.INTER_LINEAR)[: y1 - y0, : x1 - x0]
        xs, ys = self._grid
        region = cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        out = image.copy()
        out[y0:y1, x0:x1] = region
        return out


class DriverHeadMotion:
    """The actor's smoothed head motion at any output time, from a DriverSource's track: relative
    to the actor's median pose, One-Euro smoothed, interpolated by time, with the source's
    end-of-driver policy (hold the last pose, or loop)."""

    def __init__(self, driver_source, limits: PoseLimits = PoseLimits()):
        track = driver_source.track
        if track.rotations is None:
            raise ReenactError(f"{track.path}: the driver was tracked without head poses")
        self.times = np.asarray(track.times, np.float64)
        self.vectors = smooth_motions(self.times, relative_motions(
            track.rotations, track.centres, track.sizes, limits))
        self.duration = driver_source.duration
        self.loop = driver_source.cfg.policy == "loop"

    def at(self, t: float) -> HeadMotion:
        if self.loop and t >= self.duration:
            t = t % self.duration
        t += self.times[0]
        return HeadMotion.from_vector([np.interp(t, self.times, self.vectors[:, j])
                                       for j in range(self.vectors.shape[1])])


def head_motion_stage(face, shape: tuple[int, int], motion: DriverHeadMotion,
                      fps: float = 30.0) -> Callable[[Frame], Frame]:
    """A per-frame stage for edit_video's ``post``: the frame's (edited) picture with the photo's
    head moved to the actor's pose at the frame's time."""
    warp = HeadWarp(face, shape)
    held: list[np.ndarray] = []  # the motion last applied

    def stage(frame: Frame) -> Frame:
        v = motion.at(frame_time(frame, fps)).as_vector()
        # A change that moves no point by DEADBAND_PX is MediaPipe's jitter on a still actor:
        # keep the pose last applied, so a still photo stays pixel-still (no resampling shimmer).
        if held and warp.size * _motion_norm(v - held[0]) < DEADBAND_PX:
            v = held[0]
        held[:] = [v]
        m = HeadMotion.from_vector(v)
        if not m.is_identity():
            frame.image = np.ascontiguousarray(warp.warp(frame.image, m))
            frame.edited = True
        return frame

    return stage


def _motion_norm(dv: np.ndarray) -> float:
    """Roughly how far (in face sizes) a change ``dv`` of a motion vector moves the face's points."""
    return float(np.linalg.norm(dv[:3]) + np.linalg.norm(dv[3:5]) + abs(dv[5]))


def _signed_areas(tri: np.ndarray) -> np.ndarray:
    """Twice the signed area of each (T, 3, 2) triangle."""
    a, b = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    return a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
