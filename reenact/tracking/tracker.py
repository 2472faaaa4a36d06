"""Face tracking: MediaPipe landmarks -> faces with stable ids, smoothed landmarks, enter/leave events.

``FaceTracker(cfg).track(image, timestamp_ms) -> TrackResult``. Modes follow MediaPipe's:
- "image": every call is independent (stills). Faces are found with a full-image pass plus tiles
  (reenact.tracking.multiscale) so small faces in group photos are not missed; ids are 0..n-1 from
  left to right and every face is reported as entered.
- "video": frames in order with increasing timestamps. Each frame's faces are matched to the
  previous frame's by landmark-box overlap (Hungarian assignment), so a face keeps its id while it
  stays in view. A face that MediaPipe loses is searched for again in a region around its last box
  (re-detection) for up to ``lost_patience`` frames before it is reported as left.
- "live": like video, but frames are handed to MediaPipe asynchronously and the newest finished
  result is used; frames may be dropped under load.

Landmarks are causally smoothed per face with a One-Euro filter (reenact.tracking.smoothing), reset
whenever a face id appears or reappears. Coordinates follow reenact.tracking.types.Face: (x, y)
frame pixels, pixel centres at integers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from reenact.tracking.align import inter_ocular
from reenact.tracking.landmarker import FaceLandmarker, LandmarkerConfig, MODES, RawFace, as_rgb
from reenact.tracking.multiscale import (MultiScaleConfig, box, box_overlap, detect_all_faces,
                                         detect_in_roi, face_area, merge_duplicates)
from reenact.tracking.smoothing import OneEuroConfig, OneEuroFilter
from reenact.tracking.types import Face


@dataclass(frozen=True)
class TrackerConfig:
    """mode: "image" | "video" | "live"; max_faces: faces reported per frame (the largest);
    smoothing / filter: One-Euro smoothing of landmarks (video and live modes); the confidences go
    to MediaPipe; match_iou: least landmark-box IoU for a face to keep its id from one frame to
    the next; lost_patience: frames a lost face is searched for (and keeps its id) before it is
    reported as left; redetect: search for a lost face in a region around its last box;
    verify_new: confirm a face MediaPipe reports for the first time by detecting it again in a
    region around it (drops one-frame false positives on cartoons and textures); rescan_every:
    video/live modes: every N frames also search the frame tile by tile (as image mode does) for
    faces too small for MediaPipe's video graph; they are then followed by re-detection (0: off;
    costs one landmarker call per such face per frame);
    multiscale: image mode finds faces with tiles as well (None: full-image pass only);
    fps: frame rate assumed for smoothing when ``track`` gets no timestamp; model_path: another
    MediaPipe bundle."""

    mode: str = "video"
    max_faces: int = 4
    smoothing: bool = True
    filter: OneEuroConfig = OneEuroConfig()
    min_detection_confidence: float = 0.5
    min_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    match_iou: float = 0.2
    lost_patience: int = 5
    redetect: bool = True
    verify_new: bool = True
    rescan_every: int = 0
    multiscale: MultiScaleConfig | None = MultiScaleConfig()
    fps: float = 30.0
    model_path: str | None = None

    def landmarker(self, mode: str | None = None) -> LandmarkerConfig:
        return LandmarkerConfig(mode=mode or self.mode, max_faces=self.max_faces,
                                min_detection_confidence=self.min_detection_confidence,
                                min_presence_confidence=self.min_presence_confidence,
                                min_tracking_confidence=self.min_tracking_confidence,
                                model_path=self.model_path)


@dataclass
class TrackResult:
    """faces: the faces seen in this frame, sorted by face_id; entered: ids seen for the first
    time (or again after being reported as left: such a face gets a new id); left: ids dropped in
    this frame; timestamp_ms: the time of the frame these faces belong to (in live mode possibly
    an earlier frame than the one just passed in)."""

    faces: list[Face] = field(default_factory=list)
    entered: list[int] = field(default_factory=list)
    left: list[int] = field(default_factory=list)
    timestamp_ms: int | None = None


@dataclass
class _Track:
    face_id: int
    raw: RawFace
    filter: OneEuroFilter
    missing: int = 0


class FaceTracker:
    """Faces with stable ids in a stream of frames (or independent stills). Use as a context
    manager so MediaPipe's graphs are released."""

    def __init__(self, cfg: TrackerConfig = TrackerConfig()):
        if cfg.mode not in MODES:
            raise ValueError(f"tracker mode must be one of {MODES}, got {cfg.mode!r}")
        self.cfg = cfg
        self._lm = FaceLandmarker(cfg.landmarker())
        self._roi_lm: FaceLandmarker | None = None  # image-mode landmarker for re-detection
        if cfg.mode != "image" and (cfg.redetect or cfg.verify_new):
            self._roi_landmarker()  # made now, so the first new face causes no hitch mid-stream
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._frame = 0
        self._last_live_ts: int | None = None
        self._pending: dict[int, np.ndarray] = {}  # live mode: submitted frames awaiting results
        self._last_result = TrackResult()

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        self._lm.close()
        if self._roi_lm is not None:
            self._roi_lm.close()
            self._roi_lm = None

    def __enter__(self) -> "FaceTracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def reset(self) -> None:
        """Forget every face (a new clip) without reporting them as left. Ids continue from where
        they were."""
        self._tracks = []

    # -- tracking ----------------------------------------------------------------------------
    def track(self, image: np.ndarray, timestamp_ms: int | None = None) -> TrackResult:
        """Faces in one frame. image: uint8 (H, W), (H, W, 1|3|4); timestamp_ms: the frame's time
        (video/live; if None, frames are assumed ``cfg.fps`` apart)."""
        rgb = as_rgb(image)
        if self.cfg.mode == "image":
            return self._still(rgb)
        ts = int(timestamp_ms) if timestamp_ms is not None else round(self._frame * 1000 / self.cfg.fps)
        self._frame += 1
        if self.cfg.mode == "video":
            return self._update(rgb, self._lm.detect(rgb, ts), ts)
        self._pending[ts] = rgb
        if len(self._pending) > 16:  # results lag far behind: forget the oldest frame
            self._pending.pop(next(iter(self._pending)))
        self._lm.submit(rgb, ts)
        latest = self._lm.latest()
        if latest is None or latest[1] == self._last_live_ts:
            # Nothing new finished: the same faces, no events.
            return TrackResult(self._last_result.faces, [], [], self._last_result.timestamp_ms)
        raw, self._last_live_ts = latest
        # Verification and re-detection must look at the frame the result belongs to.
        frame = self._pending.get(latest[1])
        self._pending = {k: v for k, v in self._pending.items() if k > latest[1]}
        return self._update(frame, raw, latest[1])

    def _still(self, rgb: np.ndarray) -> TrackResult:
        if self.cfg.multiscale is not None:
            raw = detect_all_faces(self._lm, rgb, self.cfg.multiscale)
        else:
            raw = self._lm.detect(rgb)
        raw = _largest(raw, self.cfg.max_faces)
        raw.sort(key=lambda f: float(f.landmarks[:, 0].mean()))
        faces = [_to_face(i, f, f.landmarks) for i, f in enumerate(raw)]
        return TrackResult(faces, [f.face_id for f in faces], [], None)

    def _update(self, rgb: np.ndarray | None, raw: list[RawFace], ts: int) -> TrackResult:
        raw = _largest(merge_duplicates(_largest(raw, len(raw)), 0.7), self.cfg.max_faces)
        matches, unmatched = self._match(raw)
        if rgb is not None:
            if self.cfg.verify_new:
                unmatched = [f for f in unmatched if self._confirmed(rgb, f)]
            if self.cfg.redetect:
                matches.update(self._redetect(rgb, list(matches.values()) + unmatched))
            if self.cfg.rescan_every and (self._frame - 1) % self.cfg.rescan_every == 0:
                unmatched += self._rescan(rgb, list(matches.values()) + unmatched)
        entered, left, faces = [], [], []
        t = ts / 1000.0
        for tr in list(self._tracks):
            seen = matches.get(tr.face_id)
            if seen is None:
                tr.missing += 1
                if tr.missing > self.cfg.lost_patience:
                    self._tracks.remove(tr)
                    left.append(tr.face_id)
                continue
            if tr.missing > 0:
                tr.filter.reset()  # reappeared after a gap: start the filter afresh
            tr.missing, tr.raw = 0, seen
            faces.append(self._smoothed(tr, seen, t))
        for f in unmatched:
            tr = _Track(self._next_id, f, OneEuroFilter(self.cfg.filter))
            self._next_id += 1
            self._tracks.append(tr)
            entered.append(tr.face_id)
            faces.append(self._smoothed(tr, f, t))
        faces.sort(key=lambda f: f.face_id)
        self._last_result = TrackResult(faces, entered, left, ts)
        return self._last_result

    def _smoothed(self, tr: _Track, f: RawFace, t: float) -> Face:
        if not self.cfg.smoothing:
            return _to_face(tr.face_id, f, f.landmarks)
        scale = max(inter_ocular(f.landmarks), 1.0)
        lms = tr.filter.update(f.landmarks, t, scale).astype(np.float32)
        return _to_face(tr.face_id, f, lms)

    def _match(self, raw: list[RawFace]) -> tuple[dict[int, RawFace], list[RawFace]]:
        """Assign this frame's faces to known tracks (maximum total IoU, Hungarian).
        Returns {face_id: face} and the faces that match no track."""
        if not self._tracks or not raw:
            return {}, list(raw)
        iou = np.array([[box_overlap(box(tr.raw.landmarks), box(f.landmarks))[0] for f in raw]
                        for tr in self._tracks])
        rows, cols = linear_sum_assignment(-iou)
        matches, used = {}, set()
        for r, c in zip(rows, cols):
            if iou[r, c] >= self.cfg.match_iou:
                matches[self._tracks[r].face_id] = raw[c]
                used.add(c)
        return matches, [f for i, f in enumerate(raw) if i not in used]

    def _redetect(self, rgb: np.ndarray, seen: list[RawFace]) -> dict[int, RawFace]:
        """Look for each lost face in a region twice its last box; a face found there that
        overlaps its last box (and no face already seen) takes its id back."""
        found: dict[int, RawFace] = {}
        lost = [tr for tr in self._tracks
                if all(box_overlap(box(tr.raw.landmarks), box(f.landmarks))[0] < self.cfg.match_iou
                       for f in seen)]
        for tr in lost:
            b = box(tr.raw.landmarks)
            cands = self._search_around(rgb, b)
            best = max(cands, key=lambda f: box_overlap(box(f.landmarks), b)[0], default=None)
            if best is None or box_overlap(box(best.landmarks), b)[0] < self.cfg.match_iou:
                continue
            if any(box_overlap(box(best.landmarks), box(f.landmarks))[1] > 0.5 for f in seen):
                continue
            found[tr.face_id] = best
            seen = seen + [best]
        return found

    def _rescan(self, rgb: np.ndarray, seen: list[RawFace]) -> list[RawFace]:
        """Faces the multi-scale still detector finds that no track covers (small faces MediaPipe's
        video graph never picks up; re-detection keeps them afterwards)."""
        room = self.cfg.max_faces - len(seen)
        if room <= 0:
            return []
        found = detect_all_faces(self._roi_landmarker(), rgb, self.cfg.multiscale or MultiScaleConfig())
        new = [f for f in found
               if all(box_overlap(box(f.landmarks), box(s.landmarks))[1] <= 0.5 for s in seen)
               and all(box_overlap(box(f.landmarks), box(tr.raw.landmarks))[0] < self.cfg.match_iou
                       for tr in self._tracks)]
        return _largest(new, room)

    def _confirmed(self, rgb: np.ndarray, face: RawFace) -> bool:
        """Whether an image-mode detection in a region twice the face's box finds it again."""
        b = box(face.landmarks)
        return any(box_overlap(box(f.landmarks), b)[0] >= self.cfg.match_iou
                   for f in self._search_around(rgb, b))

    def _search_around(self, rgb: np.ndarray, b: np.ndarray) -> list[RawFace]:
        """Image-mode detection in a square twice the size of box b (x0, y0, x1, y1), same centre."""
        side = 2.0 * max(b[2] - b[0], b[3] - b[1], 8.0)
        cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        return detect_in_roi(self._roi_landmarker(), rgb, cx - side / 2, cy - side / 2, side, 256)

    def _roi_landmarker(self) -> FaceLandmarker:
        if self._roi_lm is None:
            self._roi_lm = FaceLandmarker(self.cfg.landmarker("image"))
        return self._roi_lm


def _largest(faces: list[RawFace], n: int) -> list[RawFace]:
    """The n faces with the largest landmark boxes, largest first."""
    return sorted(faces, key=face_area, reverse=True)[:n]


def _to_face(face_id: int, f: RawFace, landmarks: np.ndarray) -> Face:
    return Face(face_id=face_id, landmarks=np.asarray(landmarks, np.float32), depth=f.depth,
                blendshapes=f.blendshapes, pose=f.pose, presence=1.0)
