"""Measure the occlusion mask (reenact.engine.occlusion) through the real still path.

Synthetic occluders with known masks are laid on London faces and the faces are edited with
``big_smile`` (reenact.engine.still.edit_image, the rig), occlusion on and off:
- finger: a capsule across a mouth corner, filled with cheek skin cut from ANOTHER person's photo
  (shaded like a cylinder);
- bar: a dark grey bar across the mouth (a microphone, a pen);
- glasses: dark elliptical rims around both eyes and a bridge.
Figures: the change of the occluder's pixels (mean, max; grey levels, max over channels), the
uncovered face's change with occlusion on / off (the expression still shows), and on the clear
faces the mean change of the edit on / off (no false occlusion). Plus the mask's cost per face at
the generator's 256 px crop on one thread.

Held-out ids by default (measure only); ``--ids`` to look at tuning ids.
``python -m research.occlusion_measure [--ids 003 005] [--json out.json] [--pictures DIR]``
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from research.devdata import shared_data_root
from reenact.aus.sources import open_au_source
from reenact.engine.compose import crop_frame_faces
from reenact.engine.occlusion import estimate_occlusion
from reenact.engine.still import edit_image, track_image
from reenact.media.image import read_image, write_image
from reenact.models.load import load_generator
from reenact.tracking.align import AlignConfig

HELD_OUT = ("002 008 014 021 030 037 043 063 069 086 099 105 114 123 128 136 143").split()
DONORS = ("005", "011", "027", "041")   # skin for the fingers: tuning ids, never a measured face


def london(i: str) -> np.ndarray:
    return read_image(shared_data_root() / "faces" / "london" / "neutral" / f"{i}_03.jpg")


def face_width(lms: np.ndarray) -> float:
    return float(np.linalg.norm(lms[454] - lms[234]))


def skin_patch(donor: np.ndarray, lms: np.ndarray, side: int) -> np.ndarray:
    """A square of the donor's cheek (below the eye, beside the nose), resized to ``side``."""
    c = np.round((lms[50] + lms[205]) / 2).astype(int)
    r = max(6, int(face_width(lms) * 0.07))
    patch = donor[c[1] - r:c[1] + r, c[0] - r:c[0] + r]
    return cv2.resize(patch, (side, side), interpolation=cv2.INTER_LINEAR)


def finger(image: np.ndarray, lms: np.ndarray, donor: tuple[np.ndarray, np.ndarray]):
    """A finger-like capsule from below across the left mouth corner, donor skin, cylinder shading."""
    h, w = image.shape[:2]
    fw = face_width(lms)
    corner = lms[61]
    direction = np.array([0.35, -1.0]) / np.linalg.norm([0.35, -1.0])
    a, b = corner - direction * fw * 0.35, corner + direction * fw * 0.1
    width = max(4, int(fw * 0.11))
    alpha = np.zeros((h, w), np.float32)
    cv2.line(alpha, tuple(np.round(a).astype(int)), tuple(np.round(b).astype(int)), 1.0, width, cv2.LINE_AA)
    # Shading across the finger: distance from its axis.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    nrm = np.array([-direction[1], direction[0]])
    dist = np.abs((xx - a[0]) * nrm[0] + (yy - a[1]) * nrm[1]) / (width / 2)
    shade = np.clip(1.0 - 0.35 * dist ** 2, 0.55, 1.0)[..., None]
    side = max(h, w)
    tex = skin_patch(*donor, side=64)
    tex = cv2.resize(np.tile(tex, (side // 64 + 1, side // 64 + 1, 1)), None, fx=1, fy=1)[:h, :w]
    colour = np.clip(tex.astype(np.float32) * shade, 0, 255)
    return colour, alpha


def bar(image: np.ndarray, lms: np.ndarray):
    h, w = image.shape[:2]
    fw = face_width(lms)
    y = (lms[13, 1] + lms[14, 1]) / 2
    alpha = np.zeros((h, w), np.float32)
    x0, x1 = lms[61, 0] - fw * 0.08, lms[291, 0] + fw * 0.08
    cv2.rectangle(alpha, (int(x0), int(y - fw * 0.04)), (int(x1), int(y + fw * 0.04)), 1.0, -1)
    colour = np.full((h, w, 3), (70, 70, 74), np.float32)
    return colour, alpha


def glasses(image: np.ndarray, lms: np.ndarray):
    h, w = image.shape[:2]
    fw = face_width(lms)
    t = max(2, int(fw * 0.02))
    alpha = np.zeros((h, w), np.float32)
    centres = []
    for outer, inner in ((33, 133), (263, 362)):
        c = (lms[outer] + lms[inner]) / 2
        centres.append(c)
        axes = (int(fw * 0.17), int(fw * 0.11))
        cv2.ellipse(alpha, tuple(np.round(c).astype(int)), axes, 0, 0, 360, 1.0, t, cv2.LINE_AA)
    l, r = centres
    cv2.line(alpha, (int(l[0] + fw * 0.17), int(l[1])), (int(r[0] - fw * 0.17), int(r[1])), 1.0, t, cv2.LINE_AA)
    colour = np.full((h, w, 3), (25, 22, 20), np.float32)
    return colour, alpha


def lay(image: np.ndarray, colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None]
    return np.clip(image * (1 - a) + colour * a + 0.5, 0, 255).astype(np.uint8)


def face_hull(shape, lms: np.ndarray) -> np.ndarray:
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(m, [cv2.convexHull(np.round(lms).astype(np.int32))], 1)
    return m.astype(bool)


def change(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int32) - b.astype(np.int32)).max(-1)


def mask_cost_ms(image: np.ndarray, faces) -> tuple[float, float]:
    """Min and median ms of the mask alone for one face at the 256 px crop, one torch thread."""
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    fc = crop_frame_faces(torch.from_numpy(image.copy()), faces[:1], AlignConfig(size=256))
    rgb = ((fc.crops[0].permute(1, 2, 0) + 1) * 127.5).round().to(torch.uint8).numpy()
    lms = fc.landmarks[0].numpy()
    times = []
    for _ in range(60):
        t = time.perf_counter()
        estimate_occlusion(rgb, lms)
        times.append((time.perf_counter() - t) * 1000)
    torch.set_num_threads(prev)
    return float(np.min(times)), float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ids", nargs="*", default=list(HELD_OUT))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--pictures", type=Path, help="write input | off | on | mask per case here")
    args = ap.parse_args()
    gen = load_generator("rig")
    source = open_au_source("big_smile")
    donors = []
    for d in DONORS:
        img = london(d)
        donors.append((img, track_image(img)[0].landmarks))
    rows = {k: [] for k in ("finger", "bar", "glasses")}
    clear = []
    cost = []
    for n, i in enumerate(args.ids):
        image = london(i)
        faces = track_image(image)
        if not faces:
            print(f"{i}: no face")
            continue
        lms = faces[0].landmarks
        hull = face_hull(image.shape, lms)
        off = edit_image(image, source, gen, tracked=faces, occlusion=False)
        on = edit_image(image, source, gen, tracked=faces, occlusion=True)
        c_off, c_on = change(off.image, image)[hull].mean(), change(on.image, image)[hull].mean()
        clear.append((i, float(c_off), float(c_on)))
        cost.append(mask_cost_ms(image, faces))
        k = n % len(DONORS)
        donor = donors[(k + 1) % len(DONORS) if DONORS[k] == i else k]   # never the face's own skin
        for kind, make in (("finger", lambda im, lm: finger(im, lm, donor)),
                           ("bar", bar), ("glasses", glasses)):
            colour, alpha = make(image, lms)
            occluded = lay(image, colour, alpha)
            found = track_image(occluded) or faces    # the real path: track what is there
            res = {}
            for flag in (False, True):
                res[flag] = edit_image(occluded, source, gen, tracked=found, occlusion=flag)
            occ_px = alpha >= 0.5
            rest = hull & (alpha <= 0.01)
            ch_on, ch_off = change(res[True].image, occluded), change(res[False].image, occluded)
            row = dict(id=i, occ_mean_on=float(ch_on[occ_px].mean()), occ_max_on=int(ch_on[occ_px].max()),
                       occ_mean_off=float(ch_off[occ_px].mean()), occ_max_off=int(ch_off[occ_px].max()),
                       rest_on=float(ch_on[rest].mean()), rest_off=float(ch_off[rest].mean()))
            rows[kind].append(row)
            print(kind, row, flush=True)
            if args.pictures is not None:
                args.pictures.mkdir(parents=True, exist_ok=True)
                m = res[True].faces[0].occlusion if res[True].faces else None
                crop = res[True].faces[0] if res[True].faces else None
                if crop is not None:
                    mask = np.repeat((m * 255).astype(np.uint8)[..., None], 3, 2)
                    off_crop = res[False].faces[0].output
                    write_image(np.concatenate([crop.crop, off_crop, crop.output, mask], 1),
                                args.pictures / f"{i}_{kind}.png")
    summary = {}
    for kind, r in rows.items():
        if not r:
            continue
        summary[kind] = dict(
            occluder_mean_change_on=float(np.mean([x["occ_mean_on"] for x in r])),
            occluder_worst_face_mean_on=float(np.max([x["occ_mean_on"] for x in r])),
            occluder_max_change_on=int(np.max([x["occ_max_on"] for x in r])),
            occluder_mean_change_off=float(np.mean([x["occ_mean_off"] for x in r])),
            occluder_max_change_off=int(np.max([x["occ_max_off"] for x in r])),
            uncovered_change_ratio_on_off=float(np.mean([x["rest_on"] for x in r]) /
                                                max(1e-9, np.mean([x["rest_off"] for x in r]))))
    if clear:
        off_m, on_m = np.mean([c[1] for c in clear]), np.mean([c[2] for c in clear])
        summary["clear_faces"] = dict(mean_change_off=float(off_m), mean_change_on=float(on_m),
                                      drop_percent=float(100 * (1 - on_m / off_m)),
                                      worst_face_drop_percent=float(max(100 * (1 - c[2] / c[1]) for c in clear)))
    if cost:
        summary["mask_ms_per_face"] = dict(min=float(np.min([c[0] for c in cost])),
                                           median=float(np.median([c[1] for c in cost])))
    print(json.dumps(summary, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(dict(summary=summary, rows=rows, clear=clear), indent=2))


if __name__ == "__main__":
    main()
