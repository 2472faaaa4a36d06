"""Build the rig's wrinkle asset: ``python research/wrinkle_exemplars.py [--data ../shared/data]``.

Writes reenact/assets/rig_wrinkles_v1.npz (read at run time by reenact/models/rig/wrinkles.py):

1. **Smile exemplars** (expression ratio images, after the idea of Liu, Shan & Zhang, SIGGRAPH
   2001). For each London person NOT in the held-out list, the neutral (NNN_03) and the smiling
   (NNN_08) photo are tracked (MediaPipe mesh), cropped into the reference crop and warped onto the
   template's shape with the rig's own piecewise-affine warp; the log of their luminance ratio is
   high-passed (the rig's mean shading field already carries the broad change), clipped (a mole or
   a strand of hair that moved is not a fold), lightly smoothed (pores and JPEG noise are the
   exemplar's identity, not the expression), masked to the skin, and divided by the pair's smile
   amount (mean AU06/AU12 change): a ratio per smile unit. A diverse subset (skin tone, face shape,
   age) is kept, with each exemplar's descriptors for the run-time choice.
2. **Anatomical priors** for AUs the data has no exemplars of, drawn as log-luminance ratios per
   AU unit on the template, where FACS puts the folds: AU4 vertical glabellar lines between the
   brows, AU1 (medial) and AU2 (lateral) horizontal forehead furrows, AU9 transverse lines on the
   nose root and oblique ones on its sides, AU15 short lines down from the lip corners, AU17
   chin-boss dimpling and a deeper mentolabial sulcus.

Data: Face Research Lab London Set (DeBruine & Jones 2017, CC-BY 4.0,
doi:10.6084/m9.figshare.5047666.v5). The held-out ids below are never read.
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import cv2
import numpy as np
import torch

from reenact.atomic import atomic_path
from reenact.aus.estimator import AUEstimator
from reenact.aus.names import au_index
from reenact.media.image import read_image
from reenact.models.rig import regions as R
from reenact.models.rig.warp import apply_flow, backward_flow
from reenact.models.rig.wrinkles import SMILE_AUS, face_descriptors
from reenact.tracking.align import AlignConfig, crop_from_frame, template_points, transform_points, warp_to_crop
from reenact.tracking.landmarker import FaceLandmarker, LandmarkerConfig
from reenact.tracking.types import Face

REPO = Path(__file__).resolve().parents[1]
ASSET = REPO / "reenact" / "assets" / "rig_wrinkles_v1.npz"
HELD_OUT = ("002 008 014 021 030 037 043 063 069 086 099 105 114 123 128 136 143").split()
REF = AlignConfig(size=256, margin=0.2)
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
HIGHPASS_SIGMA = 6.0     # px (256 crop): broader change is the mean field's
SMOOTH_SIGMA = 1.0       # px: removes pores and JPEG noise, keeps a 2 px crease
CLIP = 0.12              # |log ratio| of one exemplar at its own smile
PER_UNIT_CLIP = 0.08     # |log ratio| per smile unit
QUANT = 127.0


def log_luma_in_template(image, landmarks, template):
    """float32 (S, S) log luminance of the face warped onto the template's shape (ref crop)."""
    m = crop_from_frame(landmarks, REF)
    crop = warp_to_crop(image, m, REF.size).astype(np.float32) / 255.0
    pts = transform_points(m, landmarks)
    flow = backward_flow(pts, template, REF.size)
    t = torch.from_numpy(crop).permute(2, 0, 1)[None]
    shaped = apply_flow(t, torch.from_numpy(flow)[None])[0].permute(1, 2, 0).numpy()
    y = shaped @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.log(y + 0.02), crop, pts


def skin_mask(template):
    """Soft (S, S) mask of the skin where smile folds live: the face oval shrunk, without the eyes
    (grown a little: the crow's feet start at the outer corner), the lips, the brows and the nostrils."""
    s = REF.size
    oval = np.zeros((s, s), np.uint8)
    cv2.fillPoly(oval, [np.round(template[list(FACE_OVAL)]).astype(np.int32)], 1)
    oval = cv2.erode(oval, np.ones((13, 13), np.uint8))
    holes = np.zeros((s, s), np.uint8)
    eyes = (R.EYE_L_UPPER + tuple(reversed(R.EYE_L_LOWER[1:-1])),
            R.EYE_R_UPPER + tuple(reversed(R.EYE_R_LOWER[1:-1])))
    lips = (R.LIP_OUTER_UPPER + tuple(reversed(R.LIP_OUTER_LOWER[1:-1])),)
    brows = (R.BROW_L_UPPER + tuple(reversed(R.BROW_L_LOWER)), R.BROW_R_UPPER + tuple(reversed(R.BROW_R_LOWER)))
    # The nose wings rise in a smile: where the warp registers them imperfectly the ratio shows an
    # edge (a dark/light pair), not a fold.
    nostrils = (tuple(R.NOSE_WING) + (98, 64, 240, 75, 79, 2, 309, 305, 460, 294, 327),)
    for polys, grow in ((eyes, 4), (lips, 6), (brows, 5), (nostrils, 3)):
        hole = np.zeros((s, s), np.uint8)
        for poly in polys:
            pts = np.round(template[list(poly)]).astype(np.int32)
            cv2.fillPoly(hole, [cv2.convexHull(pts) if polys is nostrils else pts], 1)
        holes |= cv2.dilate(hole, np.ones((2 * grow + 1,) * 2, np.uint8))
    # Above the brows a smile has no folds (what pairs show there is hair and light).
    top = template[list(R.BROW_L_LOWER + R.BROW_R_LOWER), 1].mean()
    ramp = np.clip((np.arange(s, dtype=np.float32) - top) / 8.0, 0.0, 1.0)
    m = (oval * (1 - holes)).astype(np.float32) * ramp[:, None]
    return cv2.GaussianBlur(m, (0, 0), 2.0) * m


def smile_ratio(ly_neutral, ly_smiling, mask):
    """High-passed, clipped, smoothed, masked log ratio of one pair."""
    d = ly_smiling - ly_neutral
    d = d - cv2.GaussianBlur(d, (0, 0), HIGHPASS_SIGMA)
    d = np.clip(d, -CLIP, CLIP)
    d = cv2.GaussianBlur(d, (0, 0), SMOOTH_SIGMA)
    return d * mask


# -- anatomical priors -------------------------------------------------------------------------
def crease(shape, p0, p1, width, bend=0.0, shoulder=0.35):
    """Log-ratio profile (per unit depth) of a fold along p0 -> p1 (a quadratic arc bulging by
    ``bend`` px to the left of the direction): dark in the crease, slightly lit on its shoulders,
    tapered at the ends, exactly 0 beyond 3 widths."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    t_samples = np.linspace(0, 1, 64)
    d = p1 - p0
    normal = np.array([d[1], -d[0]]) / (np.linalg.norm(d) + 1e-9)
    curve = p0 + t_samples[:, None] * d + (4 * bend * t_samples * (1 - t_samples))[:, None] * normal
    dist2 = np.full((h, w), np.inf)
    tpar = np.zeros((h, w))
    for t, c in zip(t_samples, curve):
        dd = (xs - c[0]) ** 2 + (ys - c[1]) ** 2
        closer = dd < dist2
        dist2[closer], tpar[closer] = dd[closer], t
    r2 = dist2 / width ** 2
    profile = -(1.0 - shoulder * r2) * np.exp(-0.5 * r2)
    taper = np.sin(np.pi * np.clip(tpar, 0, 1)) ** 0.7
    out = profile * taper
    out[r2 > 9.0] = 0.0
    return out


def dimpling(shape, centre, radii, seed=17):
    """Chin-boss 'orange peel': band-limited fixed noise (deterministic) in a soft ellipse, mostly
    dark pits, exactly 0 outside the ellipse."""
    h, w = shape
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 1.1)
    noise = noise / (noise.std() + 1e-9)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    e = ((xs - centre[0]) / radii[0]) ** 2 + ((ys - centre[1]) / radii[1]) ** 2
    env = np.clip(1.0 - e, 0.0, 1.0) ** 1.5
    return (np.clip(noise, -1.5, 1.5) - 0.2) * env


def priors(tpl):
    """{AU name: (S, S) log ratio per AU unit} on the template (ref crop px)."""
    shape = (REF.size, REF.size)
    p = lambda i: tpl[i]                                      # noqa: E731
    mid_x = 0.5 * (p(55)[0] + p(285)[0])
    brow_gap = p(285)[0] - p(55)[0]
    brow_low = 0.5 * (p(55)[1] + p(285)[1])
    brow_top = 0.5 * (p(107)[1] + p(336)[1])
    forehead_top = p(10)[1]
    out = {}
    # AU4: two vertical glabellar lines ("11"), between the inner brow heads, a little apart at the top.
    g = np.zeros(shape)
    for side in (-1, 1):
        x0 = mid_x + side * 0.25 * brow_gap
        g += crease(shape, (x0, brow_low + 3), (x0 + side * 1.5, brow_top - 0.5 * (brow_top - forehead_top) * 0.6),
                    1.3, bend=side * 1.0)
    out["AU04"] = 0.055 * g
    # AU1 / AU2: horizontal furrows over the forehead, arched with the brows; AU1 medial, AU2 lateral.
    span = brow_top - forehead_top
    ys_lines = [brow_top - span * f for f in (0.25, 0.55, 0.85)]
    half = 0.5 * (p(300)[0] - p(70)[0])
    med, lat = np.zeros(shape), np.zeros(shape)
    xs = np.arange(REF.size)[None, :]
    for k, y in enumerate(ys_lines):
        line = crease(shape, (mid_x - 1.05 * half, y + 4), (mid_x + 1.05 * half, y + 4), 1.4, bend=5.0 + k)
        wx_med = np.exp(-0.5 * ((xs - mid_x) / (0.45 * half)) ** 2)
        wx_lat = np.exp(-0.5 * ((np.abs(xs - mid_x) - 0.75 * half) / (0.3 * half)) ** 2)
        med += line * wx_med
        lat += line * wx_lat
    out["AU01"] = 0.04 * med
    out["AU02"] = 0.04 * lat
    # AU9: transverse lines on the nose root, oblique "bunny lines" down its sides.
    n = np.zeros(shape)
    root, bridge = p(168), p(6)
    nose_w = abs(p(193)[0] - p(417)[0])
    for f in (0.25, 0.75):
        c = root + f * (bridge - root)
        n += crease(shape, (c[0] - 0.35 * nose_w, c[1] - 1), (c[0] + 0.35 * nose_w, c[1] - 1), 1.2,
                    bend=1.5, shoulder=0.2)
    for side, (a, b) in ((-1, (p(193), p(196))), (1, (p(417), p(419)))):
        n += crease(shape, a + (side * 2.0, 4.0), b + (side * 4.0, 2.0), 1.2, shoulder=0.2)
    out["AU09"] = 0.045 * n
    # AU15: short lines from the lip corners down and out (the depressor anguli oris pulls there).
    c = np.zeros(shape)
    for side, corner in ((-1, p(61)), (1, p(291))):
        c += crease(shape, corner + (side * 2.0, 3.0), corner + (side * 5.0, 15.0), 1.3, shoulder=0.2)
    out["AU15"] = 0.03 * c
    # AU17: chin boss dimpling, and the mentolabial sulcus below the lower lip deepens.
    chin_c = 0.5 * (p(18) + p(152)) + (0.0, 2.0)
    chin_rx = 0.42 * abs(p(291)[0] - p(61)[0])
    chin_ry = 0.38 * abs(p(152)[1] - p(18)[1])
    sulcus_y = p(18)[1] + 1.0
    half_m = 0.45 * abs(p(291)[0] - p(61)[0])
    out["AU17"] = (0.012 * dimpling(shape, chin_c, (chin_rx, chin_ry))
                   + 0.05 * crease(shape, (mid_x - half_m, sulcus_y - 2), (mid_x + half_m, sulcus_y - 2), 1.8, bend=-2.0))
    return {k: v.astype(np.float32) for k, v in out.items()}


# -- the library -------------------------------------------------------------------------------
def london_info(root: Path) -> dict:
    with open(root / "faces/london/info.csv") as f:
        return {r["face_id"]: r for r in csv.DictReader(f)}


def collect_pairs(root: Path, template, mask):
    """Per training id: (id, ratio per smile unit, smile amount, descriptors)."""
    est = AUEstimator()
    ids = sorted({p.stem[:3] for p in (root / "faces/london/neutral").glob("*_03.jpg")}
                 & {p.stem[:3] for p in (root / "faces/london/smiling").glob("*_08.jpg")})
    ids = [i for i in ids if i not in HELD_OUT]
    smile_cols = [au_index(a) for a in SMILE_AUS]
    rows = []
    with FaceLandmarker(LandmarkerConfig(mode="image", max_faces=1)) as lm:
        for nnn in ids:
            paths = (root / f"faces/london/neutral/{nnn}_03.jpg", root / f"faces/london/smiling/{nnn}_08.jpg")
            imgs = [read_image(p, FileNotFoundError) for p in paths]
            faces = [lm.detect(im) for im in imgs]
            if not all(faces):
                continue
            aus = [est.estimate(Face(0, f[0].landmarks, f[0].depth, f[0].blendshapes, f[0].pose)) for f in faces]
            amount = float(np.mean((aus[1] - aus[0])[smile_cols]))
            (ly_n, crop_n, pts_n), (ly_s, _, _) = (log_luma_in_template(im, f[0].landmarks, template)
                                                   for im, f in zip(imgs, faces))
            ratio = smile_ratio(ly_n, ly_s, mask)
            desc = face_descriptors(torch.from_numpy(crop_n * 2 - 1).permute(2, 0, 1)[None], pts_n[None])[0]
            rows.append((nnn, ratio, amount, desc))
    return rows


def _age(info, nnn, unknown=np.nan):
    try:
        return float(info[nnn]["face_age"])
    except (KeyError, ValueError):          # "NA" in info.csv
        return unknown


def pick_diverse(rows, info, count):
    """The ``count`` clearest smiles that span the descriptors: of the pairs whose smile amount is
    at least the median, farthest-point sampling on the standardised descriptors (+ age)."""
    amounts = np.array([r[2] for r in rows])
    # Fine-scale energy left in the ratio is the exemplar's stubble, pores and noise: the noisiest
    # tenth is not used (not more: older faces have more texture, and they are needed).
    noise = np.array([np.abs(r[1] - cv2.GaussianBlur(r[1], (0, 0), 2.0)).mean() for r in rows])
    keep = [i for i in range(len(rows))
            if amounts[i] >= np.median(amounts) and noise[i] <= np.quantile(noise, 0.9)]
    feats = np.array([np.append(rows[i][3], _age(info, rows[i][0])) for i in keep])
    feats[:, -1] = np.where(np.isnan(feats[:, -1]), np.nanmedian(feats[:, -1]), feats[:, -1])
    feats = (feats - feats.mean(0)) / (feats.std(0) + 1e-9)
    chosen = [int(np.argmax(amounts[keep]))]
    dist = np.linalg.norm(feats - feats[chosen[0]], axis=1)
    while len(chosen) < min(count, len(keep)):
        i = int(np.argmax(dist))
        chosen.append(i)
        dist = np.minimum(dist, np.linalg.norm(feats - feats[i], axis=1))
    return [rows[keep[i]] for i in chosen]


def build(root: Path, count: int, out: Path) -> dict:
    template = template_points(REF).astype(np.float64)
    mask = skin_mask(template)
    cache = REPO / "build" / "wrinkle_pairs.npz"
    if cache.exists():
        with np.load(cache) as z:
            rows = list(zip(z["ids"], z["ratios"], z["amounts"], z["descs"]))
    else:
        rows = collect_pairs(root, template, mask)
        cache.parent.mkdir(exist_ok=True)
        np.savez(cache, ids=[r[0] for r in rows], ratios=np.stack([r[1] for r in rows]),
                 amounts=[r[2] for r in rows], descs=np.stack([r[3] for r in rows]))
    info = london_info(root)
    lib = pick_diverse(rows, info, count)
    fields = []
    for nnn, ratio, amount, _ in lib:
        per_unit = np.clip(ratio / max(amount, 0.75), -PER_UNIT_CLIP, PER_UNIT_CLIP)
        fields.append(per_unit)          # not mirrored: a real face's folds are its own
    fields = np.stack(fields)
    pri = priors(template)
    support = (np.abs(fields).max(0) > 0) | (np.abs(np.stack(list(pri.values()))).max(0) > 0)
    ys, xs = np.nonzero(support)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    ex_scale = PER_UNIT_CLIP / QUANT
    pr_max = max(float(np.abs(v).max()) for v in pri.values())
    pr_scale = pr_max / QUANT
    desc = np.stack([r[3] for r in lib]).astype(np.float32)
    meta = {"box": [int(x0), int(y0), int(x1), int(y1)], "ref_size": REF.size, "ref_margin": REF.margin,
            "exemplar_scale": ex_scale, "prior_scale": pr_scale, "prior_aus": list(pri),
            "smile_aus": list(SMILE_AUS), "exemplar_ids": [r[0] for r in lib],
            "exemplar_amounts": [round(r[2], 3) for r in lib],
            "exemplar_info": [{k: info[r[0]][k] for k in ("face_age", "face_gender", "face_eth")} for r in lib],
            "pairs_seen": len(rows), "held_out_excluded": list(HELD_OUT),
            "highpass_sigma": HIGHPASS_SIGMA, "smooth_sigma": SMOOTH_SIGMA, "clip": CLIP,
            "source": "Face Research Lab London Set, DeBruine & Jones 2017, CC-BY 4.0, "
                      "doi:10.6084/m9.figshare.5047666.v5"}
    q = lambda a, sc: np.clip(np.round(a[:, y0:y1, x0:x1] / sc), -127, 127).astype(np.int8)  # noqa: E731
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, exemplars=q(fields, ex_scale),
                            priors=q(np.stack(list(pri.values())), pr_scale),
                            descriptors=desc, template=template.astype(np.float32),
                            meta=np.array(json.dumps(meta)))
    ages = np.array([_age(info, r[0]) for r in rows])
    texture = np.array([r[3][-1] for r in rows])
    known = ~np.isnan(ages)
    meta["texture_age_corr"] = round(float(np.corrcoef(ages[known], texture[known])[0, 1]), 3)
    meta["bytes"] = out.stat().st_size
    return meta


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--out", type=Path, default=ASSET)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    print(json.dumps(build(args.data, args.count, args.out), indent=1))


if __name__ == "__main__":
    main()
