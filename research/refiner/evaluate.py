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

import numpy as np

from reenact.aus.names import au_index
from reenact.eval import metrics as M
from reenact.media.image import write_image


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
                        r["psnr"] = M.psnr(ed.crop_out, real_crop, face > 0.5)
                        r["ssim"] = M.ssim(ed.crop_out, real_crop, face > 0.5)
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
        write_image(np.concatenate(tiles, 0), strips)
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
