"""Evaluate the rig on the held-out London people: ``python -m research.rig.evaluate``.

For every held-out neutral face and every preset: edit with the engine's still path
(reenact.eval.editing.edit_face: kernel crop -> rig -> feathered paste), re-track the output image
from scratch, estimate its AUs, and compare with the input's. Also: zero-edit PSNR of the face
region, identity distance (ACD, dlib) where dlib is installed, the rig's time per face, and a strip
image (input | presets...) of a few faces.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from reenact.media.image import write_image
from reenact.aus.names import AU_NAMES, au_index
from reenact.aus.presets import Preset, load_preset
from research.rig.data import DATA_ROOT, analysed_neutrals, analysed_pairs, heldout_london_ids
from reenact.models.rig.appearance import AppearanceModel
from reenact.models.rig.generator import RigConfig, RigGenerator
from reenact.models.rig.model import RigModel

PRESETS = ("smile", "big_smile", "surprise", "sadness", "brows_up", "blink", "mouth_open")
STRIP = ("smile", "surprise", "sadness", "blink", "mouth_open")
# The acceptance smile the rig is measured on: AU12 3-4, AU6 2-3, AU25 about 1.
REFERENCE_SMILE = Preset("reference_smile", {au_index("AU12"): 3.5, au_index("AU06"): 2.5,
                                             au_index("AU25"): 1.0, au_index("AU15"): 0.0})


def face_psnr(a: np.ndarray, b: np.ndarray, landmarks: np.ndarray) -> float:
    """PSNR (dB) over the convex hull of the face's landmarks; inf when identical."""
    from reenact.eval.metrics import face_mask, psnr

    return psnr(a, b, face_mask(landmarks, a.shape))


def _descriptor():
    try:
        from reenact.eval.identity import FaceDescriptor, dlib_box_from_landmarks
        return FaceDescriptor(), dlib_box_from_landmarks
    except (RuntimeError, ImportError):
        return None, None


def evaluate(generator: RigGenerator, ids: list[str], presets: dict[str, Preset],
             strip_path: Path | None, strip_faces: int = 4) -> dict:
    from reenact.eval.editing import StillAnalyser, edit_face

    desc, box_of = _descriptor()
    rows: dict[str, list] = {name: [] for name in presets}
    psnr, times, strips = [], [], []
    with StillAnalyser(max_faces=1) as analyser:
        for nnn, image, src in analysed_neutrals(ids, analyser, "held-out faces"):
            ref_desc = desc.describe(image, box_of(src.face.landmarks)) if desc else None
            zero = edit_face(generator, image, src.face, src.aus, src.aus)
            psnr.append(face_psnr(zero.image, image, src.face.landmarks))
            tiles = [zero.crop_in]
            for name, preset in presets.items():
                target = preset.apply(src.aus)
                t0 = time.perf_counter()
                ed = edit_face(generator, image, src.face, src.aus, target)
                times.append(time.perf_counter() - t0)
                out = analyser.matching(ed.image, src.face)
                row = {"id": nnn, "source": src.aus.tolist(), "target": target.tolist(),
                       "output": None if out is None else out.aus.tolist()}
                if desc is not None and out is not None:
                    row["acd"] = float(np.linalg.norm(desc.describe(ed.image, box_of(out.face.landmarks)) - ref_desc))
                rows[name].append(row)
                if name in STRIP:
                    tiles.append(ed.crop_out)
            if strip_path is not None and len(strips) < strip_faces:
                strips.append(np.concatenate(tiles, 1))
    if strip_path is not None and strips:
        write_image(np.concatenate(strips, 0), strip_path)
    return summarise(rows, presets, psnr, times)


def summarise(rows: dict, presets: dict[str, Preset], psnr: list, times: list) -> dict:
    out = {"faces": len(psnr), "zero_edit_psnr_min_db": float(min(psnr)) if psnr else None,
           "edit_ms_per_face_median": 1e3 * float(np.median(times)) if times else None, "presets": {}}
    for name, preset in presets.items():
        ok = [r for r in rows[name] if r["output"] is not None]
        src = np.array([r["source"] for r in ok])
        tgt = np.array([r["target"] for r in ok])
        est = np.array([r["output"] for r in ok])
        res = {"faces": len(ok), "lost": len(rows[name]) - len(ok), "own": {}}
        if not ok:
            out["presets"][name] = res
            continue
        own = sorted(preset.values)
        for i in own:
            want = np.sign(tgt[:, i] - src[:, i])
            moved = est[:, i] - src[:, i]
            asked = np.abs(tgt[:, i] - src[:, i]) >= 0.5
            res["own"][AU_NAMES[i]] = {
                "asked_mean": float((tgt[:, i] - src[:, i]).mean()), "moved_mean": float(moved.mean()),
                "right_direction": float(((moved * want) > 0.2)[asked].mean()) if asked.any() else None,
                "asked_faces": int(asked.sum())}
        others = [i for i in range(len(AU_NAMES)) if i not in own]
        res["others_mean_abs_change"] = float(np.abs(est[:, others] - src[:, others]).mean())
        res["others_worst"] = {AU_NAMES[i]: round(float((est[:, i] - src[:, i]).mean()), 2)
                               for i in others if abs((est[:, i] - src[:, i]).mean()) > 0.3}
        if "AU12" in [AU_NAMES[i] for i in own] and preset.values.get(au_index("AU12"), 0) > 1:
            d12 = est[:, au_index("AU12")] - src[:, au_index("AU12")]
            res["au12_rise_mean"] = float(d12.mean())
            res["au12_rise_ge1_fraction"] = float((d12 >= 1.0).mean())
        acd = [r["acd"] for r in ok if "acd" in r]
        if acd:
            res["acd_mean"] = float(np.mean(acd))
        out["presets"][name] = res
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rig", type=Path, default=None, help="rig .npz (default: the embedded one)")
    ap.add_argument("--out", type=Path, default=Path("build/rig/eval.json"))
    ap.add_argument("--strip", type=Path, default=Path("build/rig/strips.png"))
    ap.add_argument("--no-mouth", action="store_true", help="switch the mouth-interior fill off")
    ap.add_argument("--appearance", action="store_true", help="switch the appearance model on")
    ap.add_argument("--appearance-file", type=Path, default=None,
                    help="appearance .npz (default: the embedded one)")
    ap.add_argument("--appearance-strips", type=Path, default=None,
                    help="only write input | geometry | + appearance | real smile strips here")
    ap.add_argument("--presets", default=",".join(PRESETS))
    ap.add_argument("--limit", type=int, default=0, help="only the first N held-out faces")
    ap.add_argument("--video", type=Path, nargs="*",
                    default=[DATA_ROOT / "video" / "single_face.mp4",
                             DATA_ROOT / "video" / "WolfgangLanger_Pexels.mp4"],
                    help="clips for the flicker check (none: skip)")
    args = ap.parse_args(argv)
    if args.appearance_strips is not None:
        ids = heldout_london_ids()
        appearance_strips(ids[:args.limit] if args.limit else ids, args.appearance_strips,
                          appearance=args.appearance_file)
        print(f"wrote {args.appearance_strips}")
        return
    cfg = replace(RigConfig(), mouth_fill=not args.no_mouth, appearance=args.appearance)
    gen = RigGenerator(RigModel.load(args.rig), cfg,
                       appearance=AppearanceModel.load(args.appearance_file) if args.appearance else None)
    presets = {"reference_smile": REFERENCE_SMILE}
    presets.update({n: load_preset(n) for n in args.presets.split(",") if n})
    ids = heldout_london_ids()
    ids = ids[:args.limit] if args.limit else ids
    res = evaluate(gen, ids, presets, args.strip)
    res["heldout_ids"] = ids
    res["flicker"] = [video_flicker(gen, clip, load_preset(p))
                      for clip in args.video if clip.is_file() for p in ("smile", "surprise")]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))



def video_flicker(generator: RigGenerator, path: Path, preset: Preset, max_frames: int = 120) -> dict:
    """Face-region frame-to-frame change (mean absolute difference, 0-255) of a clip and of its
    edit with ``preset``, each frame edited independently (no temporal smoothing of AUs)."""
    from reenact.aus.estimator import AUEstimator
    from reenact.eval.editing import edit_face
    from reenact.eval.metrics import face_mask
    from reenact.media.decode import decode_frames
    from reenact.tracking.landmarker import FaceLandmarker, LandmarkerConfig
    from reenact.tracking.types import Face

    est = AUEstimator()
    prev_in = prev_out = prev_mask = None
    d_in, d_out = [], []
    with FaceLandmarker(LandmarkerConfig(mode="video", max_faces=1)) as lm:
        for i, frame in enumerate(decode_frames(path, limit=max_frames)):
            image = frame.image
            faces = lm.detect(image, int(i * 1000 / 30))
            if not faces:
                prev_in = prev_out = None
                continue
            raw = faces[0]
            face = Face(0, raw.landmarks, raw.depth, raw.blendshapes, raw.pose)
            own = est.estimate(face)
            out = edit_face(generator, image, face, own, preset.apply(own)).image
            mask = face_mask(raw.landmarks, image.shape)
            if prev_in is not None:
                sel = (mask > 0) & prev_mask
                d_in.append(float(np.abs(image.astype(np.int16) - prev_in)[sel].mean()))
                d_out.append(float(np.abs(out.astype(np.int16) - prev_out)[sel].mean()))
            prev_in, prev_out, prev_mask = image.astype(np.int16), out.astype(np.int16), mask > 0
    return {"clip": path.name, "frames": len(d_in) + 1, "input_change": float(np.mean(d_in)),
            "output_change": float(np.mean(d_out)),
            "ratio": float(np.mean(d_out) / max(np.mean(d_in), 1e-9))}


def appearance_strips(ids: list[str], path: Path, preset: Preset = REFERENCE_SMILE,
                      appearance: Path | None = None) -> None:
    """Side-by-side strips, one row per held-out face: input | rig geometry only | rig +
    appearance | the same person's real smile (all aligned crops), written to ``path``. (Cost:
    benchmarks/rig_speed.py; timings here would include the paste and the loaded machine.)"""
    from reenact.eval.editing import StillAnalyser, edit_face
    from reenact.tracking.align import crop_from_frame, warp_to_crop

    geo = RigGenerator(RigModel.load(), RigConfig())
    app = RigGenerator(geo.model, RigConfig(appearance=True),
                       appearance=AppearanceModel.load(appearance))
    rows = []
    with StillAnalyser(max_faces=1) as analyser:
        for _, neutral, smiling, src, real in analysed_pairs(ids, analyser, "appearance strips"):
            target = preset.apply(src.aus)
            a = edit_face(geo, neutral, src.face, src.aus, target)
            b = edit_face(app, neutral, src.face, src.aus, target)
            real_crop = warp_to_crop(smiling, crop_from_frame(real.face.landmarks, geo.align), geo.image_size)
            # The face itself (the crop's border is background), enlarged so shading shows.
            tiles = [x[48:216, 44:212] for x in (a.crop_in, a.crop_out, b.crop_out, real_crop)]
            rows.append(cv2.resize(np.concatenate(tiles, 1), None, fx=1.25, fy=1.25,
                                   interpolation=cv2.INTER_CUBIC))
    write_image(np.concatenate(rows, 0), path)


if __name__ == "__main__":
    main()
