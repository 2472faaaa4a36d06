"""Fit the rig's appearance model: ``python -m research.rig.appearance_fit``.

For each training London person (held-out ids excluded), the neutral and the smiling photo are
cropped into the reference crop and warped to the template's shape with the rig's own
piecewise-affine warp; the difference of their log-luminance, low-pass filtered (it should carry
shading, not the other person's pores) and reduced to R x R, is regressed per pixel on the AU
change (AUs from the built-in estimator) of the AUs the pairs carry (AU06, AU12, AU25), with an
intercept that absorbs session-wide exposure differences and is not shipped. The fields are
masked to the skin below the brows (the face oval, without the eyes' and the mouth's insides,
whose change is the rig's and the mouth painter's business), mirrored left-right and averaged.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from research.devdata import CHECKOUT_ASSETS
from reenact.aus.names import AU_NAMES, au_index
from reenact.models.rig import regions as R
from reenact.models.rig.appearance import AppearanceModel
from research.rig.data import CollectConfig, collect, heldout_london_ids, london_paths, read_rgb
from research.rig.fit import estimate_all
from reenact.models.rig.warp import apply_flow, backward_flow
from reenact.tracking.align import AlignConfig, crop_from_frame, template_points, transform_points, warp_to_crop

ASSET = CHECKOUT_ASSETS / "rig_appearance_v1.npz"
FIT_AUS = ("AU06", "AU12", "AU25")
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)


@dataclass(frozen=True)
class AppearanceFitConfig:
    ref: AlignConfig = AlignConfig(size=256, margin=0.2)
    resolution: int = 64           # stored field side (px)
    blur_px: float = 3.0           # low-pass before reduction, reference crop px (256 crop)
    ridge: float = 2.0             # in (AU units)^2, pairs weigh 1
    oval_shrink_px: float = 10.0   # keep off the face edge (hair, background, jaw shadow)
    hole_grow_px: float = 5.0      # grow the lips' hole
    eye_grow_px: float = 5.0       # grow the eyes' holes
    clip: float = 0.25             # |log ratio| per AU unit kept within this (a safety bound)


def skin_mask(template: np.ndarray, cfg: AppearanceFitConfig) -> np.ndarray:
    """Soft float32 (S, S) mask of the skin in the template shape: the face oval shrunk, minus the
    eyes' and the inner mouth's polygons grown; blurred so the fields fade out."""
    s = cfg.ref.size
    oval = np.zeros((s, s), np.uint8)
    cv2.fillPoly(oval, [np.round(template[list(FACE_OVAL)]).astype(np.int32)], 1)
    k = int(2 * cfg.oval_shrink_px + 1)
    oval = cv2.erode(oval, np.ones((k, k), np.uint8))
    eye_l = R.EYE_L_UPPER + tuple(reversed(R.EYE_L_LOWER[1:-1]))
    eye_r = R.EYE_R_UPPER + tuple(reversed(R.EYE_R_LOWER[1:-1]))
    lips = R.LIP_OUTER_UPPER + tuple(reversed(R.LIP_OUTER_LOWER[1:-1]))
    holes = np.zeros((s, s), np.uint8)
    for polys, grow in (((eye_l, eye_r), cfg.eye_grow_px), ((lips,), cfg.hole_grow_px)):
        hole = np.zeros((s, s), np.uint8)
        for poly in polys:
            cv2.fillPoly(hole, [np.round(template[list(poly)]).astype(np.int32)], 1)
        k = int(2 * grow + 1)
        holes |= cv2.dilate(hole, np.ones((k, k), np.uint8))
    m = (oval * (1 - holes)).astype(np.float32)
    # The fitted AUs (cheek raiser, lip corners, lips part) do not reach the forehead: what the
    # pairs show there (a brighter band along the brows, hair at the top) is left out. The fields
    # fade from the brows' lower edge (1) to their upper edge (0).
    top = template[list(R.BROW_L_UPPER + R.BROW_R_UPPER), 1].mean()
    bottom = template[list(R.BROW_L_LOWER + R.BROW_R_LOWER), 1].mean()
    ramp = np.clip((np.arange(s, dtype=np.float32) - top) / (bottom - top), 0.0, 1.0)
    m = m * ramp[:, None]
    return cv2.GaussianBlur(m, (0, 0), 4.0) * m      # soft inside, exactly 0 outside


def log_luminance_to_template(image: np.ndarray, landmarks: np.ndarray, template: np.ndarray,
                              cfg: AppearanceFitConfig) -> np.ndarray:
    """float32 (R, R): low-passed log-luminance of the face warped to the template's shape."""
    m = crop_from_frame(landmarks, cfg.ref)
    crop = warp_to_crop(image, m, cfg.ref.size).astype(np.float32) / 255.0
    pts = transform_points(m, landmarks)
    flow = backward_flow(pts, template, cfg.ref.size)          # output = template shape
    t = torch.from_numpy(crop).permute(2, 0, 1)[None]
    shaped = apply_flow(t, torch.from_numpy(flow)[None])[0].permute(1, 2, 0).numpy()
    y = shaped @ np.array([0.299, 0.587, 0.114], np.float32)
    logy = np.log(y + 0.02)
    logy = cv2.GaussianBlur(logy, (0, 0), cfg.blur_px)
    r = cfg.resolution
    return cv2.resize(logy, (r, r), interpolation=cv2.INTER_AREA)


def build_rows(ids: list[str], s: dict, aus: np.ndarray, template: np.ndarray,
               cfg: AppearanceFitConfig, root: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(dAU (P, 17), dlogY (P, R, R), ids) over the London pairs with both faces tracked."""
    da, dy, used = [], [], []
    for nnn in tqdm(ids, desc="appearance pairs"):
        idx = np.flatnonzero(s["person"] == f"london/{nnn}")
        kinds = dict(zip(s["kind"][idx], idx))
        if "neutral" not in kinds or "smiling" not in kinds:
            continue
        imgs = [read_rgb(p) for p in london_paths(root, nnn)]
        ly = [log_luminance_to_template(im, s["landmarks"][kinds[k]], template, cfg)
              for im, k in zip(imgs, ("neutral", "smiling"))]
        da.append(aus[kinds["smiling"]] - aus[kinds["neutral"]])
        dy.append(ly[1] - ly[0])
        used.append(nnn)
    return np.asarray(da), np.asarray(dy), used


def regress(da: np.ndarray, dy: np.ndarray, cols: list[int], ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel ridge with an unpenalised intercept: returns (fields (K, R, R), intercept (R, R))."""
    x = np.concatenate([da[:, cols], np.ones((len(da), 1))], 1)
    pen = np.diag([ridge] * len(cols) + [0.0])
    y = dy.reshape(len(dy), -1)
    coef = np.linalg.solve(x.T @ x + pen, x.T @ y)
    r = dy.shape[-1]
    return coef[:-1].reshape(len(cols), r, r), coef[-1].reshape(r, r)


def fit(cfg: AppearanceFitConfig = AppearanceFitConfig(),
        collect_cfg: CollectConfig = CollectConfig()) -> tuple[AppearanceModel, dict]:
    s = collect(collect_cfg)
    aus = estimate_all(s)
    template = template_points(cfg.ref).astype(np.float64)
    held = set(heldout_london_ids(collect_cfg.data_root, collect_cfg.holdout_every))
    train = sorted({p.split("/")[1] for p in s["person"] if p.startswith("london/")} - held)
    cols = [au_index(a) for a in FIT_AUS]
    da, dy, used = build_rows(train, s, aus, template, cfg, collect_cfg.data_root)
    mask = cv2.resize(skin_mask(template, cfg), (cfg.resolution,) * 2, interpolation=cv2.INTER_AREA)
    # Each pair's mean change over the skin is exposure (camera, light), not expression: removed.
    dy = dy - _skin_mean(dy, mask)
    fields, intercept = regress(da, dy, cols, cfg.ridge)
    fields = np.clip(fields, -cfg.clip, cfg.clip) * mask
    fields = 0.5 * (fields + fields[:, :, ::-1])     # the template is symmetric about the crop centre
    hda, hdy, hused = build_rows(sorted(held), s, aus, template, cfg, collect_cfg.data_root)
    report = {"pairs": len(used), "heldout_london": sorted(held), "aus": list(FIT_AUS),
              "resolution": cfg.resolution, "blur_px": cfg.blur_px, "ridge": cfg.ridge,
              "field_range": {a: [round(float(f.min()), 4), round(float(f.max()), 4)]
                              for a, f in zip(FIT_AUS, fields)},
              "intercept_abs_mean": round(float(np.abs(intercept * mask).mean()), 4),
              "heldout_rms": _heldout_rms(hda, hdy, fields, cols, mask)}
    model = AppearanceModel(fields.astype(np.float32), tuple(cols), template.astype(np.float32),
                            cfg.ref.size, cfg.ref.margin, meta=report)
    return model, report


def _skin_mean(dy: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per pair, the mask-weighted mean of (P, R, R) maps, shaped (P, 1, 1)."""
    return ((dy * mask).sum((1, 2)) / mask.sum())[:, None, None]


def _heldout_rms(da, dy, fields, cols, mask) -> dict:
    """RMS log-luminance error on the skin of the held-out pairs: predicting no change vs the
    fields (each pair's own mean exposure change removed first: it is not the model's business)."""
    w = mask > 0.05
    res, per_pair = {}, {}
    for name, pred in (("zero", np.zeros_like(dy)), ("fields", np.einsum("pk,khw->phw", da[:, cols], fields))):
        e = dy - _skin_mean(dy, mask) - pred
        res[name] = round(float(np.sqrt((e[:, w] ** 2).mean())), 5)
        per_pair[name] = np.sqrt((e[:, w] ** 2).mean(1))
    res["pairs_closer"] = f"{int((per_pair['fields'] < per_pair['zero']).sum())} of {len(dy)}"
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ASSET)
    ap.add_argument("--ridge", type=float, default=AppearanceFitConfig.ridge)
    ap.add_argument("--blur", type=float, default=AppearanceFitConfig.blur_px)
    ap.add_argument("--resolution", type=int, default=AppearanceFitConfig.resolution)
    ap.add_argument("--eye-grow", type=float, default=AppearanceFitConfig.eye_grow_px)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    model, report = fit(AppearanceFitConfig(ridge=args.ridge, blur_px=args.blur,
                                               resolution=args.resolution,
                                               eye_grow_px=args.eye_grow))
    model.save(args.out)
    print(json.dumps(report, indent=1))
    print("AUs:", [AU_NAMES[a] for a in model.aus])


if __name__ == "__main__":
    main()
