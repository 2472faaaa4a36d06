"""One-off: aligned face crops + AU CSV from the London set (how tests/data/crops was made).

    .venv/bin/python tests/data/crops/make_crops.py /work/shared/data/faces/london OUT --size 64 --count 12

Crops use reenact.tracking.align (the one crop function); AUs come from reenact.aus.estimator
(blendshape-based first version at the time of writing), on OpenFace's 0-5 scale.
Writes OUT/imgs/*.png, OUT/aus.csv (file,AU01_r..AU45_r) and OUT/split.csv (file,split).
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from PIL import Image

from reenact.aus.estimator import estimate_aus
from reenact.aus.names import OPENFACE_COLUMNS
from reenact.tracking.align import AlignConfig, crop_from_frame, warp_to_crop
from reenact.tracking.landmarker import FaceLandmarker, LandmarkerConfig
from reenact.tracking.types import Face


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("london", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--count", type=int, default=12, help="people; each gives a neutral and a smiling crop")
    ap.add_argument("--test-every", type=int, default=4, help="every k-th person goes to the test split")
    args = ap.parse_args()
    cfg = AlignConfig(size=args.size)
    (args.out / "imgs").mkdir(parents=True, exist_ok=True)
    people = sorted(p.name[:3] for p in (args.london / "neutral").glob("*_03.jpg"))[: args.count]
    rows, splits = [], []
    with FaceLandmarker(LandmarkerConfig(mode="image", max_faces=1)) as lm:
        for k, pid in enumerate(people):
            for sub, suffix in (("neutral", "03"), ("smiling", "08")):
                src = args.london / sub / f"{pid}_{suffix}.jpg"
                if not src.exists():
                    continue
                image = np.asarray(Image.open(src).convert("RGB"))
                faces = lm.detect(image)
                if not faces:
                    print(f"no face in {src}, skipped")
                    continue
                f = faces[0]
                m = crop_from_frame(f.landmarks, cfg)
                crop = warp_to_crop(image, m, cfg.size)
                name = f"imgs/{pid}_{suffix}.png"
                Image.fromarray(crop).save(args.out / name)
                aus = estimate_aus(Face(0, f.landmarks, f.depth, f.blendshapes, f.pose))
                rows.append([name] + [f"{v:.3f}" for v in aus])
                splits.append([name, "test" if k % args.test_every == args.test_every - 1 else "train"])
    with open(args.out / "aus.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", *OPENFACE_COLUMNS])
        w.writerows(rows)
    with open(args.out / "split.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "split"])
        w.writerows(splits)
    print(f"{len(rows)} crops -> {args.out}")


if __name__ == "__main__":
    main()
