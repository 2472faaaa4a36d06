"""Tracking measurements on the development data (landmarks, presence, stills, jitter); not shipped.

    .venv/bin/python -m research.tracking all [--data DIR]   (from the checkout root)

landmarks: MediaPipe points vs the 189-point WebMorph .tem files (London neutral, Canada) for eye
    corners, mouth corners and nose, error / inter-ocular distance (IOD, from the .tem eye centres).
presence: frames with a face in single_face.mp4, face_noface.mov, noface_face.mov, no_face.mp4.
stills: faces found in the stills (full-image pass only vs with tiles).
jitter: frame-to-frame landmark motion (IOD units) on the stillest stretch of a video, raw vs smoothed.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from reenact.tracking.align import STABLE_POINTS, inter_ocular
from research.devdata import shared_data_root
from reenact.media.decode import decode_frames
from reenact.media.image import read_image
from reenact.tracking.smoothing import OneEuroConfig, OneEuroFilter
from reenact.tracking.tracker import FaceTracker, TrackerConfig

# .tem index -> MediaPipe index. Eye corners: image-left eye outer/inner (18, 22), image-right
# inner/outer (23, 27); mouth corners (87, 93; 99/103 are points on the lip line inside the corners);
# 55 is the lowest midline point of the nose (columella base) = MediaPipe's 2 (subnasale). The
# templates mark no nose tip (pronasale); MediaPipe's tip (1) is listed against 55 for reference.
# Found by plotting 002_03 with the point numbers and confirmed by the nearest .tem point to each
# MediaPipe point over 12 faces.
TEM_TO_MP = {"eye outer L": (18, 33), "eye inner L": (22, 133), "eye inner R": (23, 362),
             "eye outer R": (27, 263), "mouth L": (87, 61), "mouth R": (93, 291),
             "nose base": (55, 2), "nose base vs tip(1)": (55, 1)}


def read_tem(path: Path) -> np.ndarray:
    lines = path.read_text().split("\n")
    n = int(lines[0])
    return np.array([[float(v) for v in ln.split()[:2]] for ln in lines[1:1 + n]])


def landmarks(data: Path) -> dict:
    files = sorted((data / "faces/london/neutral").glob("*.tem")) + sorted((data / "faces/canada").glob("*.tem"))
    errs = {k: [] for k in TEM_TO_MP}
    missed = []
    with FaceTracker(TrackerConfig(mode="image", max_faces=1)) as tr:
        for tem in files:
            img = read_image(tem.with_suffix(".jpg"))
            res = tr.track(img)
            if not res.faces:
                missed.append(tem.name)
                continue
            ref, lm = read_tem(tem), res.faces[0].landmarks
            iod = np.linalg.norm(ref[[23, 27]].mean(0) - ref[[18, 22]].mean(0))
            for k, (t, m) in TEM_TO_MP.items():
                errs[k].append(np.linalg.norm(ref[t] - lm[m]) / iod)
    out = {k: (float(np.mean(v)), float(np.median(v)), float(np.percentile(v, 95))) for k, v in errs.items()}
    print(f"landmarks vs .tem: {len(files) - len(missed)}/{len(files)} faces found; missed {missed}")
    for k, (mean, med, p95) in out.items():
        print(f"  {k:22s} mean {mean:.3f}  median {med:.3f}  p95 {p95:.3f} IOD")
    core = [k for k in TEM_TO_MP if "tip" not in k]
    print(f"  mean over the 7 mapped points: {np.mean([np.mean(errs[k]) for k in core]):.3f} IOD")
    return out


def frames(path: Path):
    for f in decode_frames(path):
        yield f.image, int(round(f.time * 1000))


def presence(data: Path) -> None:
    for name in ("single_face.mp4", "face_noface.mov", "noface_face.mov", "no_face.mp4",
                 "WolfgangLanger_Pexels.mp4"):
        seen, ids, events = [], set(), []
        t0 = time.perf_counter()
        with FaceTracker(TrackerConfig(mode="video")) as tr:
            for i, (img, ts) in enumerate(frames(data / "video" / name)):
                r = tr.track(img, ts)
                seen.append(bool(r.faces))
                ids |= {f.face_id for f in r.faces}
                events += [(i, "enter", e) for e in r.entered] + [(i, "leave", e) for e in r.left]
        runs = _runs(seen)
        print(f"{name}: face in {sum(seen)}/{len(seen)} frames, face frames {runs}, ids {sorted(ids)}, "
              f"events {events} ({time.perf_counter() - t0:.1f} s)")


def _runs(flags: list[bool]) -> list[tuple[int, int]]:
    runs, start = [], None
    for i, f in enumerate(flags + [False]):
        if f and start is None:
            start = i
        if not f and start is not None:
            runs.append((start, i - 1))
            start = None
    return runs


def stills(data: Path) -> None:
    for name in ("multi_face.jpg", "single_face.jpg", "BWPictureHuman.jpg", "Image_with_alpha.png",
                 "free-mountain-vector-01.jpg"):
        img = np.asarray(Image.open(data / "stills" / name))  # raw mode on purpose: the tracker converts
        counts = []
        for ms in (False, True):
            cfg = TrackerConfig(mode="image", max_faces=10)
            if not ms:
                cfg = TrackerConfig(mode="image", max_faces=10, multiscale=None)
            with FaceTracker(cfg) as tr:
                t0 = time.perf_counter()
                n = len(tr.track(img).faces)
                counts.append(f"{n} faces ({time.perf_counter() - t0:.2f} s)")
        print(f"{name} {img.shape}: full image only {counts[0]}; with tiles {counts[1]}")


def jitter(data: Path, name: str, window: int) -> None:
    """Track once without smoothing, then apply the tracker's One-Euro filter (as the tracker does:
    per face, time in s, speed scaled by the IOD) with several settings. Jitter is measured on the
    ``window`` frames where the raw head moves least; lag as smoothed-vs-raw distance on all frames."""
    raw, ts = [], []
    with FaceTracker(TrackerConfig(mode="video", max_faces=1, smoothing=False)) as tr:
        for img, t in frames(data / "video" / name):
            r = tr.track(img, t)
            if r.faces:
                raw.append(r.faces[0].landmarks.astype(np.float64))
                ts.append(t / 1000.0)
    raw_a = np.array(raw)
    iod = np.array([inter_ocular(r) for r in raw_a])
    stable = list(STABLE_POINTS)
    # Head motion per frame: displacement of the mean of the stable points, in IOD.
    head = np.linalg.norm(np.diff(raw_a[:, stable].mean(1), axis=0), axis=1) / iod[1:]
    w = min(window, len(head))
    start = int(np.argmin(np.convolve(head, np.ones(w), "valid")))
    sl = slice(start, start + w + 1)

    def motion(a: np.ndarray) -> float:
        return float((np.linalg.norm(np.diff(a[sl], axis=0), axis=2) / iod[sl][1:, None]).mean())

    def accel(a: np.ndarray) -> float:
        return float((np.linalg.norm(np.diff(a[sl], n=2, axis=0), axis=2) / iod[sl][2:, None]).mean())

    print(f"jitter {name}: {len(raw)} frames with a face; stillest {w + 1} frames start at {start} "
          f"(head moves {head[start:start + w].mean():.4f} IOD/frame); all 478 points")
    print(f"  raw: frame-to-frame {motion(raw_a):.4f} IOD, second difference {accel(raw_a):.4f} IOD")
    default = TrackerConfig().filter
    for cfg in (default, OneEuroConfig(1.0, 1.0), OneEuroConfig(1.0, 5.0), OneEuroConfig(1.0, 20.0),
                OneEuroConfig(0.3, 50.0)):
        f = OneEuroFilter(cfg)
        sm = np.array([f.update(r, t, inter_ocular(r)) for r, t in zip(raw_a, ts)])
        lag = np.linalg.norm(sm - raw_a, axis=2).mean(1) / iod
        tag = " (default)" if cfg == default else ""
        print(f"  min_cutoff {cfg.min_cutoff} beta {cfg.beta}{tag}: frame-to-frame {motion(sm):.4f}, "
              f"second difference {accel(sm):.4f} ({accel(raw_a) / accel(sm):.2f}x less); "
              f"lag mean {lag.mean():.4f} p99 {np.percentile(lag, 99):.4f} max {lag.max():.4f} IOD")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["landmarks", "presence", "stills", "jitter", "all"])
    ap.add_argument("--data", type=Path, default=shared_data_root())
    ap.add_argument("--video", default="single_face.mp4")
    ap.add_argument("--window", type=int, default=30)
    args = ap.parse_args()
    if args.what in ("landmarks", "all"):
        landmarks(args.data)
    if args.what in ("presence", "all"):
        presence(args.data)
    if args.what in ("stills", "all"):
        stills(args.data)
    if args.what in ("jitter", "all"):
        jitter(args.data, args.video, args.window)


if __name__ == "__main__":
    main()
