"""Measure the AU estimator on real data (developer tool): ``python -m research.aus.measure DATA OUT``.

- London pairs (DATA/faces/london): fraction of people whose estimated AU12, AU6, AU25 is higher
  on the smiling photo than on the neutral one (ties count as failures), for the estimator with
  3-D pose normalisation, with 2-D only, and for the first blendshape-only mapping.
- single_face.mp4 (DATA/video): AU12, AU6, AU25 per frame, plotted to OUT/aus_single_face.png.
Prints a Markdown summary.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from reenact.aus.estimator import AUEstimator, EstimatorConfig
from reenact.aus.geometry import FEATURE_NAMES
from research.devdata import shared_data_root
from reenact.aus.names import au_index
from reenact.tracking.landmarker import blendshape_index

SHOWN = ("AU12", "AU06", "AU25")


def _blendshape_only(face) -> np.ndarray:
    """The first estimator version: mean of the matching blendshapes x 5."""
    bs = face.blendshapes
    pick = {"AU12": ("mouthSmileLeft", "mouthSmileRight"),
            "AU06": ("cheekSquintLeft", "cheekSquintRight"), "AU25": ("jawOpen",)}
    return np.array([5 * np.mean([bs[blendshape_index(b)] for b in pick[a]]) for a in SHOWN])


def london_pairs(root: Path) -> dict:
    from reenact.aus.report import read_image
    from reenact.tracking.tracker import FaceTracker, TrackerConfig

    ests = {"3-D pose (default)": AUEstimator(),
            "3-D pose, hard clip at 0": AUEstimator(EstimatorConfig(floor_softness=0.0)),
            "2-D only": AUEstimator(EstimatorConfig(use_depth=False))}
    idx = [au_index(a) for a in SHOWN]
    rows = {k: ([], []) for k in [*ests, "blendshapes only (v1)"]}
    parted = []
    ids = sorted(p.stem[:3] for p in (root / "neutral").glob("*_03.jpg"))
    with FaceTracker(TrackerConfig(mode="image", max_faces=1)) as tracker:
        for pid in ids:
            faces = [tracker.track(read_image(root / k / f"{pid}_{n}.jpg")).faces
                     for k, n in (("neutral", "03"), ("smiling", "08"))]
            if not all(faces):
                continue
            n, s = faces[0][0], faces[1][0]
            for name, est in ests.items():
                rows[name][0].append(est.estimate(n)[idx])
                rows[name][1].append(est.estimate(s)[idx])
            rows["blendshapes only (v1)"][0].append(_blendshape_only(n))
            rows["blendshapes only (v1)"][1].append(_blendshape_only(s))
            gap = ests["3-D pose (default)"].features(s)[FEATURE_NAMES.index("lip_gap")]
            parted.append(gap > 0.02)
    parted = np.array(parted)
    out = {"pairs": len(parted), "lips_parted": int(parted.sum()), "methods": {}}
    for name, (neu, smi) in rows.items():
        neu, smi = np.array(neu), np.array(smi)
        higher = smi > neu
        out["methods"][name] = {
            "higher": {a: float(higher[:, j].mean()) for j, a in enumerate(SHOWN)},
            "AU25_higher_lips_parted": float(higher[parted, 2].mean()),
            "median_neutral": {a: float(np.median(neu[:, j])) for j, a in enumerate(SHOWN)},
            "median_smiling": {a: float(np.median(smi[:, j])) for j, a in enumerate(SHOWN)}}
    return out


def video_series(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    from reenact.media.source import VideoSource
    from reenact.tracking.tracker import FaceTracker, TrackerConfig

    est = AUEstimator()
    times, aus, n = [], [], 0
    with VideoSource(path) as src, FaceTracker(TrackerConfig(mode="video", max_faces=1)) as tr:
        for frame in src:
            n += 1
            faces = tr.track(frame.image, int(round(frame.time * 1000))).faces
            if faces:
                times.append(frame.time)
                aus.append(est.estimate(faces[0]))
    return np.array(times), np.array(aus), n


def plot_series(times: np.ndarray, aus: np.ndarray, out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=110)
    for a, style in zip(SHOWN + ("AU45",), ("-", "--", ":", "-.")):
        ax.plot(times, aus[:, au_index(a)], style, label=a, lw=1.8)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("estimated intensity (0-5)")
    ax.set_ylim(-0.1, 5.1)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", ncol=4, fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


def main(data: Path, out_dir: Path) -> None:
    res = london_pairs(data / "faces" / "london")
    print(f"London pairs: {res['pairs']} people, smiling lips parted (lip gap > 0.02 IOD) in "
          f"{res['lips_parted']}\n")
    print("| method | AU12 higher | AU6 higher | AU25 higher | AU25 higher, lips parted |")
    print("| --- | --- | --- | --- | --- |")
    for name, m in res["methods"].items():
        h = m["higher"]
        print(f"| {name} | {h['AU12']:.1%} | {h['AU06']:.1%} | {h['AU25']:.1%} | "
              f"{m['AU25_higher_lips_parted']:.1%} |")
    m = res["methods"]["3-D pose (default)"]
    print("\nmedians neutral -> smiling (default): " + ", ".join(
        f"{a} {m['median_neutral'][a]:.2f} -> {m['median_smiling'][a]:.2f}" for a in SHOWN))
    times, aus, n = video_series(data / "video" / "single_face.mp4")
    png = out_dir / "aus_single_face.png"
    plot_series(times, aus, png, f"single_face.mp4: face in {len(times)}/{n} frames")
    a12 = aus[:, au_index("AU12")]
    k = max(1, len(a12) // 5)
    print(f"\nsingle_face.mp4: face in {len(times)}/{n} frames; AU12 first fifth mean "
          f"{a12[:k].mean():.2f}, last fifth mean {a12[-k:].mean():.2f}; max {a12.max():.2f} "
          f"-> {png}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else shared_data_root(),
         Path(sys.argv[2]) if len(sys.argv) > 2 else Path("docs/img"))
