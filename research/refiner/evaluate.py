"""Measure the rig with and without the learned refiner on the held-out London people.

For each held-out person (docs/rig.md), the neutral photo is edited through the engine's still
path (reenact.eval.editing.edit_face) by the shipped rig and by the rig + refiner, in two ways:
"paired" (target = the AUs estimated on the same person's real smile) and "reference_smile" (the
acceptance smile of research.rig.evaluate applied to the face's own AUs). Measured per edit: PSNR and SSIM of the
aligned face region vs the real smile (exposure-matched as in training; paired only), the AU
distance of the re-tracked output to the real smile's AUs, the AU12 rise, and the identity
distance (dlib ACD) to the input and to the real smile. Strips: input | rig | rig + refiner | real.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from reenact.aus.names import au_index


def ssim_region(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> float:
    """Mean SSIM (Gaussian window, sigma 1.5, on luma 0-255) over pixels where region > 0.5."""
    luma = np.array([0.299, 0.587, 0.114], np.float64)
    x, y = a.astype(np.float64) @ luma, b.astype(np.float64) @ luma
    blur = lambda t: cv2.GaussianBlur(t, (0, 0), 1.5)  # noqa: E731
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return float(s[region > 0.5].mean())


def psnr_region(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> float:
    d = (a.astype(np.float64) - b.astype(np.float64))[region > 0.5]
    mse = float((d ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def evaluate(refiner_path: Path, out: Path, strips: Path | None, limit: int = 0,
             strip_faces: int = 8) -> dict:
    from reenact.eval.editing import StillAnalyser, edit_face
    from reenact.models.load import load_generator
    from research.refiner.model import RefinedRigGenerator, load_refiner
    from research.rig.data import analysed_pairs, heldout_london_ids
    from research.rig.evaluate import REFERENCE_SMILE, _descriptor
    from reenact.tracking.align import crop_from_frame, transform_points, warp_to_crop
    from research.refiner.train import face_region, match_exposure

    rig = load_generator("rig")
    gens = {"rig": rig, "rig+refiner": RefinedRigGenerator(rig, load_refiner(refiner_path))}
    desc, box_of = _descriptor()
    ids = heldout_london_ids()
    ids = ids[:limit] if limit else ids
    rows: list[dict] = []
    tiles: list[np.ndarray] = []
    a12 = au_index("AU12")
    with StillAnalyser(max_faces=1) as analyser:
        for nnn, neutral, smiling, src, real in analysed_pairs(ids, analyser, "held-out faces"):
            d_in = desc.describe(neutral, box_of(src.face.landmarks)) if desc else None
            d_real = desc.describe(smiling, box_of(real.face.landmarks)) if desc else None
            zero = edit_face(gens["rig+refiner"], neutral, src.face, src.aus, src.aus)
            row = {"id": nnn, "zero_edit_identical": bool(np.array_equal(zero.image, neutral))}
            crops = {}
            for task, target in (("paired", real.aus), ("reference_smile", REFERENCE_SMILE.apply(src.aus))):
                for name, gen in gens.items():
                    ed = edit_face(gen, neutral, src.face, src.aus, target)
                    r: dict = {}
                    if task == "paired":
                        s = ed.size
                        real_crop = warp_to_crop(smiling, crop_from_frame(real.face.landmarks, rig.align), s)
                        face = face_region(transform_points(ed.crop_from_frame, src.face.landmarks), s)
                        real_crop = match_exposure(real_crop, ed.crop_in, face)
                        r["psnr"] = psnr_region(ed.crop_out, real_crop, face)
                        r["ssim"] = ssim_region(ed.crop_out, real_crop, face)
                        crops.update(input=ed.crop_in, real=real_crop)
                        crops[name] = ed.crop_out
                    o = analyser.matching(ed.image, src.face)
                    if o is not None:
                        r["au_dist_real"] = float(np.abs(o.aus - real.aus).mean())
                        r["au12_rise"] = float(o.aus[a12] - src.aus[a12])
                        if desc is not None:
                            d = desc.describe(ed.image, box_of(o.face.landmarks))
                            r["acd_input"] = float(np.linalg.norm(d - d_in))
                            r["acd_real"] = float(np.linalg.norm(d - d_real))
                    row[f"{task}/{name}"] = r
            if desc is not None:
                row["acd_real_vs_input"] = float(np.linalg.norm(d_real - d_in))
            rows.append(row)
            if len(tiles) < strip_faces:
                tiles.append(np.concatenate([crops[k][48:216, 44:212]
                                             for k in ("input", "rig", "rig+refiner", "real")], 1))
    summary = summarise(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    if strips is not None and tiles:
        strips.parent.mkdir(parents=True, exist_ok=True)
        tmp = strips.with_name(strips.stem + ".tmp" + strips.suffix)
        cv2.imwrite(str(tmp), cv2.cvtColor(np.concatenate(tiles, 0), cv2.COLOR_RGB2BGR))
        tmp.replace(strips)
    print(json.dumps(summary, indent=1))
    return summary


def summarise(rows: list[dict]) -> dict:
    """Mean of every metric per (task, generator), and how many faces the refiner improved."""
    out: dict = {"faces": len(rows), "zero_edit_identical": sum(r["zero_edit_identical"] for r in rows)}
    keys = sorted({k for r in rows for k in r if "/" in k})
    for k in keys:
        metrics = sorted({m for r in rows if k in r for m in r[k]})
        out[k] = {m: round(float(np.mean([r[k][m] for r in rows if m in r.get(k, {})])), 4) for m in metrics}
    for m, better in (("psnr", 1), ("ssim", 1), ("au_dist_real", -1), ("acd_real", -1)):
        pairs = [(r["paired/rig"][m], r["paired/rig+refiner"][m]) for r in rows
                 if m in r.get("paired/rig", {}) and m in r.get("paired/rig+refiner", {})]
        if pairs:
            out[f"paired/refiner_better_{m}"] = f"{sum((b - a) * better > 0 for a, b in pairs)}/{len(pairs)}"
    acd = [r["acd_real_vs_input"] for r in rows if "acd_real_vs_input" in r]
    if acd:
        out["acd_real_vs_input"] = round(float(np.mean(acd)), 4)
    return out
