"""The per-stage pipeline part of benchmarks/fps.py: file mode, live mode, and the baseline.

The loop runs the stages of the engine one after another on the calling thread, so each stage's
cost is its own (decode, track, AU, crop, generator, blend, encode, per frame); the end-to-end fps
of that serial loop is a lower bound for the engine, whose decode and encode run on their own
threads. Targets are the face's own AUs plus a smile (AU6 +1.5, AU12 +2.5), so every frame is
really edited.

Runs (each on the first --frames frames of the clip, one face):
  default     the default model (load_generator("rig"), torch backend), video-mode tracking
  gan-<cfg>   the GAN configs with the backend ``auto`` picks, batch 1 and batched across frames
  baseline    the original GANimation inference path: paper generator in eager torch on one thread,
              one frame at a time, face detection on every frame (image mode, no tracking, no
              smoothing), the crop and paste-back done with OpenCV on the full frame as the
              authors' demo did
Live mode: the clip's frames are delivered at their frame rate by a capture thread that keeps only
the newest frame (a camera), stamped with ``capture_time``; latency = output ready - capture time.
"""
from __future__ import annotations

import statistics
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np
import torch

from reenact.aus.estimator import AUEstimator
from reenact.aus.names import AU_NAMES
from reenact.kernels import crop_faces, paste_faces, paste_weight
from reenact.media.decode import decode_frames
from reenact.tracking.align import crop_from_frame, transform_points
from reenact.tracking.tracker import FaceTracker, TrackerConfig

STAGES = ("decode", "track", "au", "crop", "generator", "blend", "encode")
SMILE = {"AU06": 1.5, "AU12": 2.5}


def _smile(own: np.ndarray) -> np.ndarray:
    t = own.copy()
    for name, d in SMILE.items():
        t[AU_NAMES.index(name)] += d
    return np.clip(t, 0.0, 5.0).astype(np.float32)


@dataclass
class RunSpec:
    name: str
    generator: object
    tracker: TrackerConfig
    batch: int = 1          # frames per generator call (file mode)
    threads: int = 2
    opencv_io: bool = False  # baseline: OpenCV crop/paste on the full frame
    torch_threads: int | None = None  # torch's pool for crop/paste (None: ``threads``)


class _Encoder:
    """libx264 to a throwaway file with the sink's defaults (reenact.media.sink.SinkConfig)."""

    def __init__(self, path: Path, width: int, height: int, rate):
        from reenact.media.sink import SinkConfig

        cfg = SinkConfig()
        self.out = av.open(str(path), "w")
        self.stream = self.out.add_stream(cfg.codec, rate=rate)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, cfg.pix_fmt
        self.stream.options = {"crf": str(cfg.crf), "preset": cfg.preset}

    def write(self, image: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        for p in self.stream.encode(frame):
            self.out.mux(p)

    def close(self) -> None:
        for p in self.stream.encode(None):
            self.out.mux(p)
        self.out.close()


def _decoded(clip: Path, frames: int):
    """(rgb, timestamp_ms) of the first ``frames`` frames, timing the decode itself."""
    it = decode_frames(clip, limit=frames)
    while True:
        t = time.perf_counter()
        f = next(it, None)
        if f is None:
            return
        dt = time.perf_counter() - t
        yield f.image, int(round(f.time * 1000)), dt


class Stages:
    """The per-frame stages after decode, shared by file and live mode."""

    def __init__(self, spec: RunSpec):
        self.spec = spec
        self.gen = spec.generator
        self.align = self.gen.align
        self.tracker = FaceTracker(spec.tracker)
        self.estimator = AUEstimator()

    def close(self) -> None:
        self.tracker.close()

    def front(self, img: np.ndarray, ts_ms: int, t: dict) -> dict | None:
        """track, AU, crop -> the face record (None when no face)."""
        t0 = time.perf_counter()
        res = self.tracker.track(img, None if self.spec.tracker.mode == "image" else ts_ms)
        t1 = time.perf_counter()
        t["track"] += t1 - t0
        if not res.faces:
            return None
        faces = res.faces
        own = np.stack([self.estimator.estimate(f) for f in faces])
        targets = np.stack([_smile(o) for o in own])
        t2 = time.perf_counter()
        t["au"] += t2 - t1
        mats = np.stack([crop_from_frame(f.landmarks, self.align) for f in faces])
        size = self.align.size
        if self.spec.opencv_io:
            from reenact.tracking.align import warp_to_crop

            crops_np = np.stack([warp_to_crop(img.astype(np.float32), m, size) for m in mats])
            crops = torch.from_numpy(crops_np).permute(0, 3, 1, 2).div(127.5).sub(1.0).contiguous()
        else:
            crops = crop_faces(torch.from_numpy(img), mats, size)
        lms = torch.from_numpy(np.stack([transform_points(m, f.landmarks) for m, f in zip(mats, faces)]))
        t["crop"] += time.perf_counter() - t2
        return {"mats": mats, "crops": crops, "landmarks": lms, "own": torch.from_numpy(own),
                "targets": torch.from_numpy(targets)}

    def generate(self, recs: list[dict], t: dict) -> list:
        """One generator call for the faces of several frames; returns per-frame outputs."""
        t0 = time.perf_counter()
        cat = {k: torch.cat([r[k] for r in recs]) for k in ("crops", "landmarks", "own", "targets")}
        kw = {"landmarks": cat["landmarks"], "source_aus": cat["own"]}
        with torch.inference_mode():
            out = self.gen(cat["crops"], cat["targets"], **kw)
        t["generator"] += time.perf_counter() - t0
        res, i = [], 0
        for r in recs:
            n = len(r["crops"])
            res.append((out.color[i:i + n], out.attention[i:i + n]))
            i += n
        return res

    def blend(self, img: np.ndarray, rec: dict, color, attention, t: dict) -> np.ndarray:
        t0 = time.perf_counter()
        if self.spec.opencv_io:
            img = _opencv_paste(img, rec["crops"], color, attention, rec["mats"])
        else:
            paste_faces(torch.from_numpy(img), color, rec["mats"], paste_weight(attention))
        t["blend"] += time.perf_counter() - t0
        return img


def _opencv_paste(img, crops, color, attention, mats) -> np.ndarray:
    """The authors' demo path: blend in the crop, warp the whole crop back over a full-frame copy."""
    import cv2

    out = img.copy()
    h, w = img.shape[:2]
    for k in range(len(mats)):
        edited = (attention[k] * crops[k] + (1 - attention[k]) * color[k]).permute(1, 2, 0)
        edited = ((edited.numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)
        inv = cv2.invertAffineTransform(mats[k])
        warped = cv2.warpAffine(edited, inv, (w, h))
        inside = cv2.warpAffine(np.full(edited.shape[:2], 255, np.uint8), inv, (w, h)) > 127
        out[inside] = warped[inside]
    return out


def run_file(spec: RunSpec, clip: Path, frames: int, tmp: Path) -> dict:
    """File mode: every frame, in order; per-stage ms/frame and end-to-end fps of the serial loop."""
    torch.set_num_threads(spec.torch_threads or spec.threads)
    t = defaultdict(float)
    st = Stages(spec)
    enc = None
    n_frames = n_faces = 0
    pending: list[tuple[np.ndarray, dict | None]] = []

    def flush():
        recs = [r for _, r in pending if r is not None]
        outs = iter(st.generate(recs, t)) if recs else iter(())
        for img, rec in pending:
            if rec is not None:
                c, a = next(outs)
                img = st.blend(img, rec, c, a, t)
            t0 = time.perf_counter()
            enc.write(img)
            t["encode"] += time.perf_counter() - t0
        pending.clear()

    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        for img, ts, dt in _decoded(clip, frames):
            t["decode"] += dt
            if enc is None:
                t0 = time.perf_counter()
                enc = _Encoder(tmp / f"{spec.name}.mp4", img.shape[1], img.shape[0], 24)
                t["encode"] += time.perf_counter() - t0
            rec = st.front(img, ts, t)
            n_frames += 1
            n_faces += 0 if rec is None else len(rec["crops"])
            pending.append((img, rec))
            if len(pending) >= spec.batch:
                flush()
        flush()
        t0 = time.perf_counter()
        enc.close()
        t["encode"] += time.perf_counter() - t0
    finally:
        st.close()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {"name": spec.name, "mode": "file", "frames": n_frames, "faces": n_faces,
            "cpu_ms_per_frame": 1e3 * cpu / max(1, n_frames),
            "batch": spec.batch, "threads": spec.threads, "torch_threads": spec.torch_threads or spec.threads,
            "tracker": spec.tracker.mode,
            "generator": spec.generator.describe(),
            "stage_ms": {s: 1e3 * t[s] / max(1, n_frames) for s in STAGES},
            "sum_stage_ms": 1e3 * sum(t[s] for s in STAGES) / max(1, n_frames),
            "wall_s": wall, "fps": n_frames / wall}


# ------------------------------------------------------------------------------------------
# Through the engine (reenact.engine): its own threads for decode/encode, its stage timings
# ------------------------------------------------------------------------------------------
ENGINE_STAGES = {"decode": "decode", "track": "track", "au": "aus", "crop": "crop",
                 "generator": "generator", "blend": "paste", "encode": "encode"}


def cut_clip(clip: Path, frames: int, tmp: Path) -> Path:
    """The first ``frames`` frames of ``clip`` as their own file (near-lossless x264), so the
    engine's file mode runs on exactly the frames the other runs see."""
    out = tmp / f"clip-{frames}.mp4"
    if out.is_file():
        return out
    enc = None
    for img, _, _ in _decoded(clip, frames):
        if enc is None:
            enc = _Encoder(out, img.shape[1], img.shape[0], 24)
            enc.stream.options = {"crf": "10", "preset": "ultrafast"}
        enc.write(img)
    enc.close()
    return out


def run_engine_file(name: str, generator, clip: Path, frames: int, tmp: Path, *, batch: int = 4,
                    threads: int = 1, library_threads: bool = False) -> dict:
    """reenact.engine.video.edit_video on the cut clip: end-to-end fps and the engine's stage times.
    The generator runs on ``threads`` torch threads; the decoder and encoder get the engine's
    budget for this machine (reenact.runtime.threads), or with ``library_threads`` the pools
    FFmpeg and x264 pick themselves (what the engine did before it had a budget)."""
    from dataclasses import replace

    from reenact.aus.sources import open_au_source
    from reenact.engine.pipeline import EngineConfig
    from reenact.engine.video import edit_video
    from reenact.runtime.threads import ThreadBudget

    torch.set_num_threads(threads)
    budget = ThreadBudget(generator=threads) if library_threads else \
        replace(ThreadBudget.for_cores(), generator=threads)
    cut = cut_clip(clip, frames, tmp)
    src = open_au_source("smile")
    cpu_start = time.process_time()
    stats = edit_video(cut, tmp / "engine-out.mp4", generator, src, threads=budget,
                       engine_cfg=EngineConfig(batch=batch), progress=False, log=lambda _m: None)
    cpu = time.process_time() - cpu_start
    d = stats.as_dict()
    ms = d["ms_per_frame"]
    stage_ms = {ours: ms.get(theirs, float("nan")) for ours, theirs in ENGINE_STAGES.items()}
    return {"name": name, "mode": "file (engine)", "frames": d["frames"], "faces": d["face_frames"],
            "batch": batch, "threads": threads, "generator": generator.describe(),
            "thread_budget": asdict(budget), "cpu_ms_per_frame": 1e3 * cpu / max(1, d["frames"]),
            "stage_ms": stage_ms, "sum_stage_ms": sum(stage_ms.values()), "wall_s": d["wall_s"],
            "fps": d["frames"] / d["wall_s"], "engine_stats": d}


def run_engine_live(name: str, generator, clip: Path, frames: int, *, threads: int = 1,
                    rate: float = 24000 / 1001) -> dict:
    """Engine.process on frames a camera thread delivers at ``rate`` (newest only), each stamped
    with capture_time; latency = processed - capture_time."""
    from fractions import Fraction

    from reenact.aus.sources import open_au_source
    from reenact.engine.pipeline import Engine, EngineConfig
    from reenact.frame import Frame

    torch.set_num_threads(threads)
    imgs = [(img, ts) for img, ts, _ in _decoded(clip, frames)]
    slot: dict = {}
    lock = threading.Lock()
    done = threading.Event()

    def camera():
        t0 = time.perf_counter()
        for i, (img, ts) in enumerate(imgs):
            wait = t0 + i / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            f = Frame(image=img.copy(), pts=ts, time_base=Fraction(1, 1000), index=i,
                      capture_time=time.perf_counter())
            with lock:
                slot["frame"] = f
        done.set()

    lat = []
    cfg = EngineConfig(batch=1, lookahead=False)
    with Engine(generator, TrackerConfig(mode="video", fps=rate), open_au_source("smile"), None, cfg) as eng:
        cam = threading.Thread(target=camera, daemon=True)
        cam.start()
        last = -1
        while True:
            with lock:
                f = slot.get("frame")
            if f is None or f.index == last:
                if done.is_set():
                    break
                time.sleep(0.001)
                continue
            last = f.index
            eng.process(f)
            lat.append(time.perf_counter() - f.capture_time)
        cam.join()
        engine_stats = eng.stats.as_dict()
    lat_ms = sorted(1e3 * x for x in lat)
    return {"name": name, "mode": "live (engine)", "frames_delivered": len(imgs),
            "frames_processed": len(lat), "dropped": len(imgs) - len(lat), "rate": rate,
            "latency_ms_median": statistics.median(lat_ms) if lat_ms else None,
            "latency_ms_p95": lat_ms[int(0.95 * (len(lat_ms) - 1))] if lat_ms else None,
            "latency_ms_max": lat_ms[-1] if lat_ms else None,
            "output_fps": len(lat) / (len(imgs) / rate), "engine_stats": engine_stats}


# ------------------------------------------------------------------------------------------
# The section fps.py runs
# ------------------------------------------------------------------------------------------
def run(args, out: dict) -> dict:
    import tempfile

    import benchlib as bl
    from reenact.models.load import load_generator
    from reenact.runtime import make_backend

    frames, clip, threads = args.frames, args.clip, args.threads
    tmp = Path(tempfile.mkdtemp(prefix="reenact-fps-"))
    video = TrackerConfig(mode="video")
    runs, live = [], []
    def record(r):
        print(f" {r['fps']:6.1f} fps  " + " ".join(f"{k} {v:.1f}" for k, v in r["stage_ms"].items()),
              flush=True)
        runs.append(r)
        return r

    def serial(spec):
        print(f"  serial {spec.name:34s}", end="", flush=True)
        return record(run_file(spec, clip, frames, tmp))

    def through_engine(name, gen, batch, th, library_threads=False):
        print(f"  engine {name:34s}", end="", flush=True)
        return record(run_engine_file(name, gen, clip, frames, tmp, batch=batch, threads=th,
                                      library_threads=library_threads))

    # The default model at 1 thread and at --threads: on a small machine the tracker, decoder
    # and encoder threads compete with torch's intra-op pool (see docs/speed.md).
    for th in sorted({1, threads}):
        default = make_backend("torch", load_generator("rig"), threads=th)
        through_engine(f"default (rig, torch) t{th}", default, 4, th)
        # The same with the decoder's and encoder's own thread pools (the engine before its
        # thread budget): what the budget buys, side by side.
        through_engine(f"default (rig, torch) t{th} codec pools", default, 4, th, library_threads=True)
        serial(RunSpec(f"default (rig, torch) t{th}", default, video, threads=th))
    for cfg in [c for c in args.configs.split(",") if c]:
        for batch in (1, 4):
            gen = make_backend("auto", bl.make_gan(cfg), batch=batch, threads=threads)
            name = f"gan-{cfg} ({gen.name}) b{batch} t{threads}"
            # The compiled backends have their own thread pools; torch (crop/paste) gets one.
            tt = 1 if gen.name != "torch" else threads
            through_engine(name, gen, batch, tt)
    base_gen = bl.make_gan("paper")
    baseline = serial(RunSpec("baseline (GANimation path)", base_gen,
                              TrackerConfig(mode="image", smoothing=False, multiscale=None),
                              threads=1, opencv_io=True))
    lt = getattr(args, "live_threads", 1)
    live_gens = [(f"default (rig, torch) t{lt}", make_backend("torch", load_generator("rig"), threads=lt), lt)]
    light = [c for c in args.configs.split(",") if c and c != "paper"]
    if light:
        g = make_backend("auto", bl.make_gan(light[0]), batch=1, threads=threads)
        live_gens.append((f"gan-{light[0]} ({g.name}) t{threads}", g, 1 if g.name != "torch" else threads))
    for name, gen, th in live_gens:
        print(f"  live   {name:34s}", end="", flush=True)
        r = run_engine_live(name, gen, clip, frames, threads=th)
        print(f" median {r['latency_ms_median']:.0f} ms, p95 {r['latency_ms_p95']:.0f} ms, "
              f"{r['dropped']} of {r['frames_delivered']} frames dropped", flush=True)
        live.append(r)
    for r in runs:
        r["x_baseline"] = r["fps"] / baseline["fps"]
    return {"file": runs, "live": live, "baseline_fps": baseline["fps"], "clip": str(clip),
            "frames": frames, "engine": True}


def report(pl: dict) -> str:
    import benchlib as bl

    rows = []
    for r in pl["file"]:
        row = {"name": r["name"], "mode": r["mode"], "fps": r["fps"], "x": r["x_baseline"], **r["stage_ms"],
               "sum": r["sum_stage_ms"], "cpu": r.get("cpu_ms_per_frame")}
        rows.append(row)
    cols = [("name", "file mode", "{}"), ("mode", "path", "{}")] + [(s, f"{s} ms", "{:.1f}") for s in STAGES] + \
        [("sum", "sum ms", "{:.1f}"), ("cpu", "CPU ms", "{:.1f}"), ("fps", "fps", "{:.1f}"),
         ("x", "x baseline", "{:.1f}")]
    text = f"file mode, {pl['frames']} frames of {Path(pl['clip']).name} (ms per frame)\n"
    text += bl.table(rows, cols)
    live_cols = [("name", "live mode", "{}"), ("latency_ms_median", "latency median ms", "{:.0f}"),
                 ("latency_ms_p95", "p95 ms", "{:.0f}"), ("latency_ms_max", "max ms", "{:.0f}"),
                 ("output_fps", "output fps", "{:.1f}"), ("dropped", "dropped", "{}"),
                 ("frames_delivered", "delivered", "{}")]
    text += "\n\n" + bl.table(pl["live"], live_cols)
    return text
