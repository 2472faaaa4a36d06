"""Video evaluation: edit a clip frame by frame and measure what video adds to stills.

- flicker: mean absolute frame-to-frame change inside the face, output vs input (ratio);
- flow-warped error: the same after removing the input's motion (Farneback flow), ratio;
- seam excess: gradient energy on the pasted crop's border vs just inside, relative to the input;
- AUs over time: the face's own AUs, the target and the AUs estimated on the output (re-tracked
  with a separate tracker, as a viewer would see it), plotted and summarised as AU distance;
- ACD on a sample of frames.

Frames are read with PyAV and edited by the video engine itself (reenact.engine.Engine in file
mode: tracking, smoothing, fades, batching), editing the largest face.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
from tqdm import tqdm

from reenact.aus.estimator import AUEstimator
from reenact.aus.names import NUM_AUS
from reenact.errors import ReenactError
from reenact.eval import metrics as M
from reenact.eval import plots
from reenact.eval.editing import Analysed, _box_iou
from reenact.eval.identity import acd
from reenact.eval.stats import acd_stats, stats
from reenact.frame import Frame
from reenact.media.image import write_image
from reenact.tracking.align import crop_from_frame, invert_affine
from reenact.tracking.tracker import FaceTracker, TrackerConfig

TIME_AUS = ("AU01", "AU04", "AU06", "AU12", "AU25", "AU45")
ACD_SAMPLES = 20


def read_frames(path: Path, limit: int | None) -> tuple[list[np.ndarray], np.ndarray]:
    """The first ``limit`` frames of a clip as uint8 RGB (decoded as the engine decodes them), and
    their times in seconds from the first frame."""
    from reenact.media.decode import decode_frames

    path = Path(path)
    if not path.is_file():
        raise ReenactError(f"{path}: no such video file")
    decoded = list(decode_frames(path, limit=limit or None))
    if len(decoded) < 2:
        raise ReenactError(f"{path}: needs at least two frames, has {len(decoded)}")
    t = np.asarray([f.time for f in decoded], np.float64)
    return [f.image for f in decoded], t - t[0]


def _au_source(spec: str | None, preset_specs: tuple[str, ...]):
    """The AU source for the video: ``spec`` (preset, timeline JSON, AU CSV, driver video; see
    reenact.aus.sources.open_au_source) or, without one, the first preset."""
    from reenact.aus.sources import open_au_source

    if spec is None:
        if not preset_specs:
            raise ReenactError("a video evaluation needs a target: give --presets or --video-targets")
        spec = preset_specs[0]
    try:
        return open_au_source(spec, progress=False)
    except ValueError as e:
        raise ReenactError(str(e)) from None


def _engine_frames(gen, cfg, frames: list[np.ndarray], times: np.ndarray, source) -> list[Frame]:
    """Run the video engine (reenact.engine.Engine, file mode) on copies of ``frames``."""
    from reenact.engine.pipeline import Engine, EngineConfig

    ecfg = EngineConfig(strength=cfg.edit.strength, faces="largest", feather=cfg.edit.feather,
                        device=cfg.edit.device)
    stream = (Frame(image=img.copy(), pts=int(round(t * 1000)), time_base=Fraction(1, 1000), index=i)
              for i, (img, t) in enumerate(zip(frames, times)))
    with Engine(gen, au_source=source, cfg=ecfg) as eng:
        return list(tqdm(eng.run(stream), total=len(frames), desc="engine", unit="frame", leave=False))


def evaluate_video(name: str, gen, cfg, ident, presets: list, out: Path, pictures: list[str]) -> dict:
    frames, times = read_frames(cfg.video, cfg.video_frames)
    edited = _engine_frames(gen, cfg, frames, times, _au_source(cfg.video_targets, cfg.presets))
    align = gen.align
    est = AUEstimator()
    n = len(frames)
    own = np.full((n, NUM_AUS), np.nan, np.float32)
    tgt, got = own.copy(), own.copy()
    masks, seams, acds, found = [], [], [], []
    acd_every = max(1, n // ACD_SAMPLES)
    with FaceTracker(TrackerConfig(mode="video")) as tr_out:
        for i, fr in enumerate(tqdm(edited, desc=f"{name}: video metrics", unit="frame", leave=False)):
            ts = int(round(times[i] * 1000))
            out_faces = tr_out.track(fr.image, ts).faces
            face = next((f for f in fr.faces if f.face_id in fr.targets), None)
            if face is None:
                masks.append(np.zeros(fr.image.shape[:2], bool))
                continue
            own[i], tgt[i] = fr.own_aus[face.face_id], fr.targets[face.face_id]
            masks.append(M.face_mask(face.landmarks, fr.image.shape))
            region = M.paste_region(invert_affine(crop_from_frame(face.landmarks, align)), align.size,
                                    fr.image.shape)
            try:
                seams.append(M.seam_energy(fr.image, region, reference=frames[i])["excess"])
            except ValueError:
                pass
            match = [f for f in out_faces if _box_iou(f.bbox, face.bbox) > 0.3]
            found.append(bool(match))
            if match:
                got[i] = est.estimate(match[0])
                if ident.fd is not None and i % acd_every == 0:
                    acds.append(_acd(ident, frames[i], fr.image, face, match[0]))
    outs = [fr.image for fr in edited]
    ok = ~np.isnan(got).any(1) & ~np.isnan(tgt).any(1)
    res = {"file": str(cfg.video), "frames": n, "frames_with_face": int((~np.isnan(own).any(1)).sum()),
           "targets": cfg.video_targets or (presets[0].name if presets else None),
           "flicker": _safe(M.flicker_ratio, outs, frames, masks),
           "flow_warped": _safe(M.flow_warped_error, outs, frames, masks),
           "seam_excess": stats(seams),
           "au_distance": M.au_distance(tgt[ok], got[ok], own[ok]).as_dict() if ok.any() else None,
           "acd": acd_stats(acds),
           "face_found_rate": float(np.mean(found)) if found else None}
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[-40:] + "_video"
    plots.au_over_time(times, {"input (own)": own, "target": tgt, "output (estimated)": got},
                       list(TIME_AUS), out / f"{stem}_aus.png", f"{Path(cfg.video).name}: {name}")
    pictures.append(f"{stem}_aus.png")
    picks = np.linspace(0, n - 1, 5).round().astype(int)
    grid = plots.labelled_grid([[frames[k] for k in picks], [outs[k] for k in picks]],
                               [f"{times[k]:.1f}s" for k in picks], ["input", "output"], tile=200,
                               aspect=frames[0].shape[1] / frames[0].shape[0])
    write_image(grid, out / f"{stem}_frames.png")
    pictures.append(f"{stem}_frames.png")
    return res


def _acd(ident, img, out_img, face, out_face) -> float:
    a = ident.describe(img, Analysed(face, None))
    b = ident.describe(out_img, Analysed(out_face, None))
    return acd(a, b)


def _safe(fn, *args):
    try:
        return fn(*args)
    except ValueError:  # e.g. no two consecutive frames with a face
        return None
