"""Fit the estimator's small calibration (reenact/assets/au_calibration.json and au_template3d.npy).

Run by a developer, not at run time: ``python -m research.aus.fit /path/to/shared/data``. It tracks the
London (neutral + smiling, 82 people) and Canada (40 neutral) photographs with the image-mode
landmarker and fits:

1. ``au_template3d.npy``: the mean neutral 3-D mesh (generalised Procrustes on the stable points of
   122 neutral faces), eye centres 1 unit apart: the canonical frame of ``reenact.aus.geometry``.
2. ``au_calibration.json``: for each AU a ``base`` and a few terms. A term reads one geometric
   feature or the mean of some blendshapes, subtracts its median over the 122 neutral faces and
   multiplies by a gain. ``base`` is the median that OpenFace 2.x gives on a resting face
   (shared/data/aus/openface_sequence.csv), so a neutral face reads like OpenFace's neutral levels.
   Gains come from one of three sources, recorded per term in the JSON:
   - "pairs": fitted so that the median London smiling photo reaches a target on OpenFace's scale
     (AU12 2.5, AU6 2.0, AU25 2.0 on the smiles whose lips part);
   - "blendshape": MediaPipe's score is 0-1 with 1 the extreme, so the gain is 5;
   - "range": a hand-set guess: the feature change (inter-ocular units) that reads 5.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from research.devdata import CHECKOUT_ASSETS, shared_data_root
from reenact.aus.geometry import FEATURE_NAMES, canonical_points, features, similarity_nd
from reenact.tracking.align import STABLE_POINTS

# OpenFace 2.x medians over openface_sequence.csv (a resting face); AUs not listed read 0 there.
OPENFACE_NEUTRAL = {"AU01": 0.37, "AU02": 0.52, "AU04": 0.61, "AU23": 0.22, "AU26": 0.04,
                    "AU45": 0.21}
PAIR_TARGETS = {"AU12": 2.5, "AU06": 2.0, "AU25": 2.0}

# AU -> terms (kind, source, weight, gain_rule). kind "geo": a feature of reenact.aus.geometry;
# "bs": the mean of blendshapes. gain_rule: ("pairs",), ("blendshape",) or ("range", delta).
BS = "bs"
GEO = "geo"
SPEC: dict[str, list[tuple]] = {
    "AU01": [(BS, ("browInnerUp",), 0.5, ("blendshape",)), (GEO, "brow_inner", 0.5, ("range", 0.25))],
    "AU02": [(BS, ("browOuterUpLeft", "browOuterUpRight"), 0.5, ("blendshape",)),
             (GEO, "brow_outer", 0.5, ("range", 0.25))],
    "AU04": [(BS, ("browDownLeft", "browDownRight"), 0.5, ("blendshape",)),
             (GEO, ("brow_lower", "cheek_up"), 0.5, ("range", 0.15))],
    "AU05": [(BS, ("eyeWideLeft", "eyeWideRight"), 0.5, ("blendshape",)),
             (GEO, "eye_open", 0.5, ("range", 0.15))],
    "AU06": [(GEO, "cheek_up", 1.0, ("pairs",))],
    "AU07": [(BS, ("eyeSquintLeft", "eyeSquintRight"), 0.5, ("blendshape",)),
             (GEO, "lower_lid", 0.5, ("range", 0.06))],
    # The alar creases rise in every smile too (cheeks push them): AU9 reads only the rise beyond
    # what the cheeks explain, nose_up - k * cheek_up, with k fitted on the London pairs (AU4
    # likewise: squinting in a smile pulls the brows down a little).
    "AU09": [(GEO, ("nose_up", "cheek_up"), 1.0, ("range", 0.10))],
    "AU10": [(BS, ("mouthUpperUpLeft", "mouthUpperUpRight"), 0.5, ("blendshape",)),
             (GEO, "lip_up", 0.5, ("range", 0.12))],
    "AU12": [(BS, ("mouthSmileLeft", "mouthSmileRight"), 0.5, ("pairs",)),
             (GEO, "corner_raise", 0.5, ("pairs",))],
    "AU14": [(BS, ("mouthDimpleLeft", "mouthDimpleRight"), 1.0, ("blendshape",))],
    "AU15": [(GEO, "corner_drop", 1.0, ("mirror", "AU12", "corner_raise"))],
    "AU17": [(BS, ("mouthShrugLower",), 0.5, ("blendshape",)), (GEO, "chin_up", 0.5, ("range", 0.12))],
    "AU20": [(BS, ("mouthStretchLeft", "mouthStretchRight"), 1.0, ("blendshape",))],
    "AU23": [(BS, ("mouthPressLeft", "mouthPressRight"), 0.5, ("blendshape",)),
             (GEO, "lip_thin", 0.5, ("range", 0.17))],
    "AU25": [(GEO, "lip_gap", 1.0, ("pairs",))],
    "AU26": [(BS, ("jawOpen",), 0.5, ("blendshape",)), (GEO, "jaw_drop", 0.5, ("range", 0.6))],
    "AU45": [(BS, ("eyeBlinkLeft", "eyeBlinkRight"), 0.5, ("blendshape",)),
             (GEO, "eye_closed", 0.5, ("range", 0.27))],
}


def track_folder(paths: list[Path]) -> list[np.ndarray]:
    """(478, 3) meshes (x, y, depth in pixels) + (52,) blendshapes for the first face of each image."""
    from reenact.media.image import read_image
    from reenact.tracking.landmarker import FaceLandmarker, LandmarkerConfig

    out = []
    with FaceLandmarker(LandmarkerConfig(mode="image", max_faces=1)) as lm:
        for p in paths:
            faces = lm.detect(read_image(p))
            out.append(None if not faces else
                       (np.c_[faces[0].landmarks, faces[0].depth], faces[0].blendshapes))
    return out


def _normalise(mesh: np.ndarray) -> np.ndarray:
    """Eye-centre midpoint to the origin, eye line along +x with y kept image-down, eyes 1 apart."""
    eye_r, eye_l = mesh[[33, 133]].mean(0), mesh[[263, 362]].mean(0)
    v = eye_l - eye_r
    x = v / np.linalg.norm(v)
    y = np.array([0.0, 1.0, 0.0]) - x * x[1]
    y /= np.linalg.norm(y)
    rot = np.stack([x, y, np.cross(x, y)])
    return (mesh - (eye_r + eye_l) / 2) @ rot.T / np.linalg.norm(v)


def build_template(meshes: list[np.ndarray], iterations: int = 6) -> np.ndarray:
    """Generalised Procrustes mean of (478, 3) meshes on the stable points, normalised."""
    idx = list(STABLE_POINTS)
    ref = _normalise(meshes[0])
    for _ in range(iterations):
        aligned = []
        for m in meshes:
            s, r, t = similarity_nd(m[idx], ref[idx])
            aligned.append(m @ (s * r).T + t)
        ref = _normalise(np.mean(aligned, 0))
    return ref.astype(np.float32)


def _term_values(kind, source, feats, shapes, bs_names, k: float = 0.0) -> np.ndarray:
    if kind == GEO and isinstance(source, tuple):
        return feats[:, FEATURE_NAMES.index(source[0])] - k * feats[:, FEATURE_NAMES.index(source[1])]
    if kind == GEO:
        return feats[:, FEATURE_NAMES.index(source)]
    return shapes[:, [bs_names.index(b) for b in source]].mean(1)


def fit(neutral, pairs_neutral, pairs_smiling, template) -> dict:
    """neutral / pairs_*: lists of (mesh (478, 3), blendshapes (52,)). Returns the calibration dict."""
    from reenact.tracking.landmarker import BLENDSHAPE_NAMES as names

    def table(items):
        feats = np.array([features(canonical_points(m[:, :2], m[:, 2], template)) for m, _ in items])
        return feats, np.array([b for _, b in items])

    nf, nb = table(neutral)
    pf, _ = table(pairs_neutral)
    sf, sb = table(pairs_smiling)
    lip_parted = sf[:, FEATURE_NAMES.index("lip_gap")] > 0.02
    aus: dict = {}
    for au, terms in SPEC.items():
        base = OPENFACE_NEUTRAL.get(au, 0.0)
        out_terms = []
        for kind, source, weight, rule in terms:
            k = 0.0
            if kind == GEO and isinstance(source, tuple):
                # Least-squares slope (through 0) of the smile changes of the two features.
                da = (sf - pf)[:, FEATURE_NAMES.index(source[0])]
                db = (sf - pf)[:, FEATURE_NAMES.index(source[1])]
                k = float(np.sum(da * db) / np.sum(db * db))
            neutral_med = float(np.median(_term_values(kind, source, nf, nb, names, k)))
            if rule[0] == "pairs":
                smile = _term_values(kind, source, sf, sb, names, k)
                if au == "AU25":
                    smile = smile[lip_parted]
                gain = (PAIR_TARGETS[au] - base) / float(np.median(smile) - neutral_med)
                how = f"pairs: median London smile -> {PAIR_TARGETS[au]}"
            elif rule[0] == "blendshape":
                gain, how = 5.0, "blendshape: score 1 -> 5"
            elif rule[0] == "mirror":
                src = next(t for t in aus[rule[1]]["terms"] if t.get("feature") == rule[2])
                gain, how = src["gain"], f"mirror of {rule[1]} {rule[2]}"
            else:
                gain, how = 5.0 / rule[1], f"range: +{rule[1]} inter-ocular -> 5 (hand-set)"
            term = ({"feature": source[0], "minus": source[1], "k": round(k, 4)}
                    if kind == GEO and isinstance(source, tuple) else
                    {"feature": source} if kind == GEO else {"blendshapes": list(source)})
            term.update({"weight": weight, "gain": round(gain, 4), "neutral": round(neutral_med, 5),
                         "how": how})
            out_terms.append(term)
        aus[au] = {"base": base, "terms": out_terms}
    return {"version": 1, "template": "au_template3d.npy",
            "neutral_faces": len(neutral), "aus": aus}


def _dump(calib: dict) -> str:
    """JSON with one AU term per line, so a diff of a refit reads well."""
    lines = [f'{{"version": {calib["version"]}, "template": "{calib["template"]}", '
             f'"neutral_faces": {calib["neutral_faces"]}, "aus": {{']
    for k, (au, entry) in enumerate(calib["aus"].items()):
        terms = ",\n    ".join(json.dumps(t) for t in entry["terms"])
        end = "," if k < len(calib["aus"]) - 1 else ""
        lines.append(f' "{au}": {{"base": {entry["base"]}, "terms": [\n    {terms}]}}{end}')
    return "\n".join(lines) + "\n}}\n"


def main(data: Path) -> None:
    london = data / "faces" / "london"
    ids = sorted(p.stem[:3] for p in (london / "neutral").glob("*_03.jpg"))
    neutral_l = track_folder([london / "neutral" / f"{i}_03.jpg" for i in ids])
    smiling_l = track_folder([london / "smiling" / f"{i}_08.jpg" for i in ids])
    canada = track_folder(sorted((data / "faces" / "canada").glob("*.jpg")))
    pairs = [(n, s) for n, s in zip(neutral_l, smiling_l) if n is not None and s is not None]
    neutral = [x for x in neutral_l + canada if x is not None]
    template = build_template([m for m, _ in neutral])
    calib = fit(neutral, [n for n, _ in pairs], [s for _, s in pairs], template)
    assets = CHECKOUT_ASSETS
    np.save(assets / "au_template3d.npy", template)
    (assets / "au_calibration.json").write_text(_dump(calib))
    print(f"fitted on {len(neutral)} neutral faces and {len(pairs)} London pairs -> {assets}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else shared_data_root())
