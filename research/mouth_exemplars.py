"""Build the rig's mouth-interior exemplar library (reenact/assets/mouth_exemplars_v1.npz).

Development script, not part of the runtime: it reads the London set from ../shared/data, which
users do not have. Run from the repository root:

    .venv/bin/python research/mouth_exemplars.py            # writes the asset and a contact sheet

From every London smiling photo (NNN_08) of a person who is NOT held out, with the lips parted and
teeth showing, it cuts the mouth out in a canonical frame (inner mouth corners 78 and 308 at fixed
points, level), and keeps a dozen spread over skin tones. Per exemplar it records its inner-lip
landmarks in the patch, its cheek-skin and lip colour (sampled on the aligned 256 px crop exactly
as the runtime samples the target) and the colour of the dark inside of its mouth.

Source: Face Research Lab London Set, DeBruine & Jones 2017, CC-BY 4.0,
doi:10.6084/m9.figshare.5047666.v5 (attribution in reenact/assets/NOTICE.md).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from reenact.devdata import shared_data_root
from reenact.media.image import read_image
from reenact.models.rig import regions as R
from reenact.models.rig.exemplar_mouth import (PATCH_CORNERS, PATCH_SIZE, skin_and_lip_colour)
from reenact.tracking.align import AlignConfig, crop_from_frame, transform_points, warp_to_crop

# Never in the library, never used for tuning (docs/rig.md, "Held-out people").
HELD_OUT = {"002", "008", "014", "021", "030", "037", "043", "063", "069", "086", "099", "105",
            "114", "123", "128", "136", "143"}
INNER = list(R.LIP_INNER_UPPER) + list(R.LIP_INNER_LOWER)
RIG_ALIGN = AlignConfig(size=256, margin=0.2)
# Looked at on the contact sheet and left out: it would give everyone the same flaw.
REJECTED = {"103": "one discoloured front tooth"}


def canonical_from_frame(lm: np.ndarray) -> np.ndarray:
    """Similarity (2, 3) taking the inner mouth corners (78, 308) to PATCH_CORNERS."""
    a, b = lm[78].astype(np.float64), lm[308].astype(np.float64)
    (pa, pb) = np.asarray(PATCH_CORNERS, np.float64)
    v, w = b - a, pb - pa
    scale = np.linalg.norm(w) / np.linalg.norm(v)
    ang = np.arctan2(w[1], w[0]) - np.arctan2(v[1], v[0])
    rot = scale * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    return np.hstack([rot, (pa - rot @ a)[:, None]])


def describe(image: np.ndarray, lm: np.ndarray) -> dict | None:
    """The exemplar candidate of one smiling photo, or None when its lips are not parted."""
    m = canonical_from_frame(lm)
    pts = transform_points(m, lm[INNER])
    w, h = PATCH_SIZE
    if pts[:, 1].min() < 1 or pts[:, 1].max() > h - 2:
        return None                                  # mouth taller than the patch
    patch = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_AREA if m[0, 0] < 1 else cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
    up, lo = pts[:11], pts[11:]
    gap = (lo[3:8, 1] - up[3:8, 1]).mean() / (PATCH_CORNERS[1][0] - PATCH_CORNERS[0][0])
    if gap < 0.10:
        return None
    inside = np.zeros((h, w), np.uint8)
    poly = np.concatenate([up, lo[1:-1][::-1]])
    cv2.fillPoly(inside, [np.round(poly * 16).astype(np.int32)], 1, shift=4)
    inside = cv2.erode(inside, np.ones((3, 3), np.uint8)).astype(bool)
    pix = patch[inside].astype(np.float32) / 255.0
    if len(pix) < 80:
        return None
    crop_m = crop_from_frame(lm, RIG_ALIGN)
    crop = warp_to_crop(image, crop_m, 256).astype(np.float32) / 255.0
    skin, lip = skin_and_lip_colour(crop, transform_points(crop_m, lm))
    lum = pix.mean(1)
    order = np.argsort(lum)
    dark = pix[order[: max(len(pix) // 10, 5)]].mean(0)
    # Teeth: bright, unsaturated pixels inside the mouth, relative to the skin's brightness.
    sat = pix.max(1) - pix.min(1)
    teeth = float(((lum > 0.9 * skin.max()) & (sat < 0.25)).mean())
    return dict(patch=patch, inner=pts, skin=skin, lip=lip, dark=dark, gap=float(gap), teeth=teeth)


def candidates(root: Path) -> list[tuple[str, dict]]:
    from reenact.tracking.landmarker import FaceLandmarker, LandmarkerConfig

    out = []
    paths = sorted((root / "faces/london/smiling").glob("*_08.jpg"))
    with FaceLandmarker(LandmarkerConfig(mode="image", max_faces=1)) as det:
        for path in paths:
            nnn = path.stem[:3]
            if nnn in HELD_OUT:
                continue
            image = read_image(path, FileNotFoundError)
            faces = det.detect(image)
            if not faces:
                continue
            c = describe(image, faces[0].landmarks)
            if c is not None:
                out.append((nnn, c))
    return out


def select(cands: list[tuple[str, dict]], count: int) -> list[tuple[str, dict]]:
    """``count`` exemplars spread over skin brightness: the candidates with teeth showing are split
    into ``count`` bins by skin luminance and each bin gives its most teeth-showing mouth."""
    toothy = [c for c in cands if c[1]["teeth"] >= 0.3 and c[1]["gap"] >= 0.12
              and c[0] not in REJECTED]
    toothy.sort(key=lambda c: float(c[1]["skin"].mean()))
    bins = np.array_split(np.arange(len(toothy)), min(count, len(toothy)))
    return [toothy[max(b, key=lambda i: toothy[i][1]["teeth"])] for b in bins if len(b)]


def contact_sheet(chosen: list[tuple[str, dict]], path: Path) -> None:
    tiles = []
    for nnn, c in chosen:
        t = cv2.resize(c["patch"], None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST)
        cv2.polylines(t, [np.round(c["inner"] * 3).astype(np.int32)], False, (0, 255, 0), 1)
        cv2.putText(t, nnn, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 0), 1)
        tiles.append(t)
    rows = [np.hstack(tiles[i:i + 4] + [np.zeros_like(tiles[0])] * (4 - len(tiles[i:i + 4])))
            for i in range(0, len(tiles), 4)]
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=12)
    ap.add_argument("--out", type=Path, default=Path("reenact/assets/mouth_exemplars_v1.npz"))
    ap.add_argument("--sheet", type=Path, default=Path("build/mouth/exemplars.png"))
    args = ap.parse_args(argv)
    cands = candidates(shared_data_root())
    chosen = select(cands, args.count)
    assert not {n for n, _ in chosen} & HELD_OUT
    print(f"{len(cands)} parted-lip candidates, {len(chosen)} chosen:",
          " ".join(f"{n}(teeth {c['teeth']:.2f}, skin {c['skin'].mean():.2f})" for n, c in chosen))
    meta = dict(source="Face Research Lab London Set (DeBruine & Jones 2017), CC-BY 4.0, "
                       "doi:10.6084/m9.figshare.5047666.v5, smiling photos NNN_08",
                builder="research/mouth_exemplars.py", held_out_excluded=sorted(HELD_OUT),
                corners=PATCH_CORNERS, size=PATCH_SIZE)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "wb") as f:
        np.savez_compressed(
            f, patches=np.stack([c["patch"] for _, c in chosen]).astype(np.uint8),
            inner=np.stack([c["inner"] for _, c in chosen]).astype(np.float32),
            skin=np.stack([c["skin"] for _, c in chosen]).astype(np.float32),
            lip=np.stack([c["lip"] for _, c in chosen]).astype(np.float32),
            dark=np.stack([c["dark"] for _, c in chosen]).astype(np.float32),
            ids=np.array([n for n, _ in chosen]), meta=json.dumps(meta))
    args.sheet.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(chosen, args.sheet)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} kB), sheet {args.sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
