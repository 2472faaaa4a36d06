"""The video engine: track -> own AUs -> target AUs -> crop -> generator -> paste, frame by frame.

``Engine.push(frame)`` takes frames in display order and returns the frames that are finished, in
the same order; ``flush()`` returns the rest at the end. Two things hold frames back:
- batching: faces from several frames go through the generator together (``batch`` faces a call);
- look-ahead (file mode): a frame leaves only when the next ``fade_frames`` frames have been
  tracked, so a face that is about to disappear can fade its edit out instead of popping.
``process(frame)`` is the one-in, one-out form for live use (no look-ahead: edits fade in only).

Frames without a selected face are returned untouched: their pixels are never converted, and
``Frame.edited`` stays False so a sink may encode the decoded picture as is. A frame that
arrives with ``want_mask`` set leaves with ``mask``: float32 (H, W), the weight with which edited
pixels replaced the frame's own (a preview's mask view), and ``occlusion`` (what covers the
faces, where ``EngineConfig.occlusion`` is on). Each frame also leaves with ``own_aus``
and ``presence`` (reenact.frame).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
import torch

from reenact.engine.compose import (crop_frame_faces, paste_frame_faces, paste_mask, run_generator,
                                    torch_threads)
from reenact.engine.occlusion import OcclusionTracker, cover_attention, occlusion_masks
from reenact.engine.selection import FaceSelector
from reenact.engine.stats import EngineStats
from reenact.frame import Frame
from reenact.kernels.paste import DEFAULT_FEATHER
from reenact.models.protocol import GeneratorOutput


@dataclass(frozen=True)
class EngineConfig:
    """strength: alpha in alpha * y_generated + (1 - alpha) * y_real; faces: "all", "largest" or
    an id; batch: faces per generator call; fade_frames: frames over which an edit fades in when a
    face appears and out before it disappears (0: no fades); lookahead: hold frames back so fades
    out are possible (file mode; live mode has no future to look at); feather: paste border ramp
    as a fraction of the crop; device: torch device for crops, generator and paste;
    kernel_threads: torch threads for crop and paste (None: leave the global setting);
    generator_threads: torch threads while the generator runs (None: as the backend set them; a
    file run picks them by core count, reenact.runtime.threads);
    occlusion: keep the edit off whatever covers a face (hands, hair, glasses), per face id over
    time (reenact.engine.occlusion); off by default: it misses
    a hand of the skin's colour and reads moustaches as cover, docs/notes/occlusion-measurements.md)."""

    strength: float = 1.0
    faces: str = "all"
    batch: int = 4
    fade_frames: int = 6
    lookahead: bool = True
    feather: float = DEFAULT_FEATHER
    device: str = "cpu"
    kernel_threads: int | None = 1
    generator_threads: int | None = None
    occlusion: bool = False


def _ramp(n: int, k: int) -> float:
    """Presence after n frames of a (k + 1)-frame smoothstep ramp (1 once n >= k + 1)."""
    t = min(1.0, n / (k + 1))
    return t * t * (3.0 - 2.0 * t)


class Engine:
    """Edits the faces of a frame stream (see the module doc).

    generator: a reenact.models.protocol.FaceGenerator; tracker: a FaceTracker (or anything with
    ``track(image, timestamp_ms) -> TrackResult``), or None to build one from ``tracker_cfg``;
    au_source: an AUSource (``targets(frame, own) -> {face_id: (17,)}``); estimator: anything
    with ``estimate(face) -> (17,)`` (None: the default AUEstimator).
    """

    def __init__(self, generator, tracker_cfg=None, au_source=None, estimator=None,
                 cfg: EngineConfig = EngineConfig(), *, tracker=None):
        if au_source is None:
            raise ValueError("the engine needs an AU source")
        self.generator = generator
        self.cfg = cfg
        self.align = generator.align
        self.au_source = au_source
        if estimator is None:
            from reenact.aus.estimator import AUEstimator
            estimator = AUEstimator()
        self.estimator = estimator
        self._own_tracker = tracker is None
        if tracker is None:
            from reenact.tracking.tracker import FaceTracker, TrackerConfig
            tracker = FaceTracker(tracker_cfg or TrackerConfig(mode="video"))
        self.tracker = tracker
        self.select = FaceSelector(cfg.faces)
        self.stats = EngineStats()
        self._age: dict[int, int] = {}         # face id -> consecutive frames seen so far
        # analysed, waiting for look-ahead; each with its faces' ages (frames seen) at that frame
        self._delay: deque[tuple[Frame, dict[int, int]]] = deque()
        self._ready: list[Frame] = []          # presence known, waiting for a generator batch
        self._first = True
        self.occlusion = OcclusionTracker() if cfg.occlusion else None

    # -- public ------------------------------------------------------------------------------
    def push(self, frame: Frame) -> list[Frame]:
        """Analyse one frame; return the frames that are finished (in order)."""
        self._delay.append((frame, self._analyse(frame)))
        horizon = self.cfg.fade_frames if self.cfg.lookahead else 0
        out: list[Frame] = []
        while len(self._delay) > horizon:
            out += self._advance(*self._delay.popleft(), at_end=False)
        return out

    def flush(self) -> list[Frame]:
        """Finish every frame still held (end of stream)."""
        out: list[Frame] = []
        while self._delay:
            out += self._advance(*self._delay.popleft(), at_end=True)
        out += self._generate()
        return out

    def process(self, frame: Frame) -> Frame:
        """One frame in, the same frame edited out (live use: no look-ahead, no cross-frame batch)."""
        self._set_presence(frame, self._analyse(frame), future=None)
        self._ready.append(frame)
        done = self._generate()
        return done[-1]

    def run(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        """Edit a whole stream; yields frames in order."""
        for frame in frames:
            yield from self.push(frame)
        yield from self.flush()

    def close(self) -> None:
        if self._own_tracker:  # a tracker we built is a FaceTracker, which has close()
            self.tracker.close()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- stages ------------------------------------------------------------------------------
    def _analyse(self, frame: Frame) -> dict[int, int]:
        """Track faces, pick the ones to edit, estimate their AUs, ask the AU source for targets.

        Returns face id -> frames that face has been seen so far, for the faces being edited."""
        self.stats.frames += 1
        ts = None if frame.time is None else int(round(frame.time * 1000))
        with self.stats.timed("track"):
            result = self.tracker.track(frame.image, ts)
        frame.faces = list(result.faces)
        selected = self.select(frame.faces)
        with self.stats.timed("aus"):
            own = {f.face_id: self.estimator.estimate(f) for f in selected}
            targets = self.au_source.targets(frame, own) if own else {}
        frame.targets = {k: np.asarray(v, np.float32) for k, v in targets.items() if k in own}
        frame.own_aus = own
        seen = {f.face_id for f in frame.faces}
        k = self.cfg.fade_frames
        # A face present from the very first frame did not appear: it needs no fade-in.
        self._age = {i: (k + 1 if self._first else self._age.get(i, 0) + 1) for i in seen}
        self._first = False
        self.stats.faces_seen |= seen
        return {i: self._age[i] for i in frame.targets}

    def _set_presence(self, frame: Frame, age: dict[int, int], future: list[Frame] | None) -> None:
        """presence = ramp(min(frames since the face appeared, frames until it leaves))."""
        k = self.cfg.fade_frames
        pres = {}
        for fid in frame.targets:
            n_in = age[fid]
            n_out = k + 1
            if future is not None:
                n_out = 1
                for f in future:
                    if n_out > k or fid not in {x.face_id for x in f.faces}:
                        break
                    n_out += 1
                else:  # seen in every frame we can look at: it is not leaving (or the clip ends)
                    n_out = k + 1
            pres[fid] = 1.0 if k == 0 else _ramp(min(n_in, n_out), k)
        frame.presence = pres
        for face in frame.faces:
            face.presence = pres.get(face.face_id, face.presence)

    def _advance(self, frame: Frame, age: dict[int, int], at_end: bool) -> list[Frame]:
        future = None if (at_end and not self._delay) else [f for f, _ in self._delay]
        self._set_presence(frame, age, future if self.cfg.lookahead else None)
        if not self._ready and not any(v > 0 for v in frame.presence.values()):
            return [frame]  # nothing to edit and nothing queued before it: out at once
        self._ready.append(frame)
        n_faces = sum(len(f.presence) for f in self._ready)
        return self._generate() if n_faces >= self.cfg.batch else []

    def _generate(self) -> list[Frame]:
        """Crop, generate and paste every face of the frames waiting in ``_ready``."""
        frames, self._ready = self._ready, []
        jobs = []  # (frame, tensor image, faces, crops)
        with self.stats.timed("crop"), torch_threads(self.cfg.kernel_threads):
            for fr in frames:
                faces = [f for f in fr.faces if fr.presence.get(f.face_id, 0.0) > 0]
                if not faces:
                    continue
                img = torch.from_numpy(fr.image).to(self.cfg.device)
                jobs.append((fr, img, faces, crop_frame_faces(img, faces, self.align)))
        if not jobs:
            return frames
        crops = torch.cat([j[3].crops for j in jobs])
        lms = torch.cat([j[3].landmarks for j in jobs])
        targets = np.stack([j[0].targets[f.face_id] for j in jobs for f in j[2]])
        sources = np.stack([j[0].own_aus[f.face_id] for j in jobs for f in j[2]])
        with self.stats.timed("generator"), torch_threads(self.cfg.generator_threads):
            out = run_generator(self.generator, crops, targets, sources, lms, self.cfg.batch)
        self.stats.generator_calls += -(-len(crops) // max(1, self.cfg.batch))
        occ = None
        if self.occlusion is not None:
            with self.stats.timed("occlusion"):
                ids = [f.face_id for j in jobs for f in j[2]]
                occ = occlusion_masks(crops, lms, ids, self.occlusion)
                out = GeneratorOutput(out.color, cover_attention(out.attention, occ))
                self.occlusion.forget({f.face_id for f in jobs[-1][0].faces})
        with self.stats.timed("paste"), torch_threads(self.cfg.kernel_threads):
            i = 0
            for fr, img, faces, fc in jobs:
                n = len(faces)
                weights = [self.cfg.strength * fr.presence[f.face_id] for f in faces]
                paste_frame_faces(img, out.color[i:i + n], out.attention[i:i + n],
                                  fc.crop_from_frame, np.asarray(weights), self.cfg.feather)
                if fr.want_mask:  # asked for by a preview's mask view
                    fr.mask = paste_mask(*fr.image.shape[:2], out.attention[i:i + n],
                                         fc.crop_from_frame, np.asarray(weights), self.cfg.feather)
                    if occ is not None:  # what covers the faces, in frame pixels
                        fr.occlusion = paste_mask(*fr.image.shape[:2], 1.0 - occ[i:i + n], fc.crop_from_frame,
                                                  np.ones(n), self.cfg.feather)
                if img.device.type != "cpu":
                    fr.image[...] = img.cpu().numpy()
                fr.edited = True
                self.stats.edited_frames += 1
                self.stats.face_frames += n
                i += n
        return frames
