"""Fit the AU rig by regression on real faces: ``python -m research.rig.fit``.

Each training row is one face against the same person's neutral face: London smiling vs neutral
photos, and video frames vs the clip's most neutral frame. Landmarks go into the reference crop
(the canonical template frame, 256 px, margin 0.2), AUs come from reenact.aus (re-run on cached
tracking at every fit, so a better estimator only needs this command again: about a minute).

Per landmark, the displacement is regressed on the AU changes of the AUs allowed to move it (each
AU's region around its hand-designed handles: locality), with a ridge pulling each coefficient
toward the hand-designed prior: where the data carries an AU it wins, where it does not the prior
stays. The result is mirrored left-right and averaged (faces are near-symmetric; halves the noise).
The held-out London people (every 5th id) are excluded from everything here.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from research.devdata import CHECKOUT_ASSETS
from reenact.atomic import write_text_atomic
from reenact.aus.names import AU_NAMES, au_index
from research.rig.magnitudes import TARGETS, au_movements, shortfall
from research.rig.data import CollectConfig, collect, heldout_london_ids
from reenact.models.rig import regions as R
from reenact.models.rig.model import BLINK, RigModel
from reenact.models.rig.priors import prior_fields
from reenact.tracking.align import AlignConfig, crop_from_frame, inter_ocular, template_points, transform_points

ASSET = CHECKOUT_ASSETS / "rig_v1.npz"
REPORT = CHECKOUT_ASSETS / "rig_v1.json"
EXCLUDED_VIDEOS = ("video/face_noface.mov",)   # the same clip as single_face.mp4


@dataclass(frozen=True)
class FitConfig:
    ref: AlignConfig = AlignConfig(size=256, margin=0.2)
    ridge: float = 40.0              # pull toward the prior, in (AU units)^2 x sample weight
    # AUs with less support than this are led by their prior: ridge x prior_led_factor. Their few
    # rows come from the crying clip, where AUs co-occur (AU17 with AU15 and an open mouth: the
    # fit turned "lower lip up" into "lower lip down"), so the regression cannot separate them.
    data_led_support: float = 200.0
    prior_led_factor: float = 10.0
    max_floor_gain: float = 2.0      # most a field is scaled up to reach its FACS amplitude
    video_weight: float = 0.25       # video frames are many and correlated; a London pair weighs 1
    max_pose_deg: float = 10.0       # video frames turned further than this from the neutral: skipped
    min_support: float = 20.0        # weighted sum of squared AU change for "supported by data"


def estimate_all(s: dict) -> np.ndarray:
    """AUs (M, 17) of every cached face with the current built-in estimator."""
    from reenact.aus.estimator import AUEstimator
    from reenact.tracking.types import Face

    est = AUEstimator()
    return np.stack([est.estimate(Face(0, l, d, b, p)) for l, d, b, p in
                     zip(s["landmarks"], s["depth"], s["blendshapes"], s["pose"])]).astype(np.float64)


def to_reference(landmarks: np.ndarray, ref: AlignConfig) -> np.ndarray:
    """(M, 478, 2) frame px -> reference crop px."""
    return np.stack([transform_points(crop_from_frame(l, ref), l) for l in landmarks]).astype(np.float64)


def _rotation_deg(p: np.ndarray, q: np.ndarray) -> float:
    a = p[:3, :3] / np.linalg.norm(p[:3, :3], axis=0)
    b = q[:3, :3] / np.linalg.norm(q[:3, :3], axis=0)
    c = np.clip((np.trace(a.T @ b) - 1.0) / 2.0, -1.0, 1.0)
    return float(np.degrees(np.arccos(c)))


def build_pairs(s: dict, aus: np.ndarray, pts: np.ndarray, cfg: FitConfig,
                persons: set[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows (dA (R, 17), dX (R, 478, 2), weight (R,)) for the given persons."""
    da, dx, w = [], [], []
    for person in sorted(persons):
        idx = np.flatnonzero(s["person"] == person)
        if person.startswith("london/"):
            kinds = dict(zip(s["kind"][idx], idx))
            if "neutral" not in kinds or "smiling" not in kinds:
                continue
            n0, rows, wt = kinds["neutral"], [kinds["smiling"]], 1.0
        else:
            score = np.delete(aus[idx], BLINK, axis=1).sum(1) + 10.0 * (aus[idx, BLINK] > 2.5)
            n0 = idx[np.argmin(score)]
            rows = [i for i in idx if i != n0
                    and _rotation_deg(s["pose"][i], s["pose"][n0]) <= cfg.max_pose_deg]
            wt = cfg.video_weight
        for i in rows:
            da.append(aus[i] - aus[n0])
            dx.append(pts[i] - pts[n0])
            w.append(wt)
    return np.asarray(da), np.asarray(dx), np.asarray(w)


def mirror_index(template: np.ndarray) -> np.ndarray:
    """For each point, the index of its left-right mirror. Nearest neighbour of the flipped
    template, except on the lip and lid curves: there the closed mouth and eyes put upper and
    lower points on top of each other, so the curves are mirrored by their order instead."""
    mid = template[[1, 4, 5, 6, 168, 152]].mean(0)[0]
    flipped = template.copy()
    flipped[:, 0] = 2 * mid - flipped[:, 0]
    d = ((flipped[:, None] - template[None]) ** 2).sum(-1)
    mirror = d.argmin(1)
    pairs = [(c, c) for c in (R.LIP_OUTER_UPPER, R.LIP_OUTER_LOWER, R.LIP_INNER_UPPER, R.LIP_INNER_LOWER)]
    pairs += [(R.EYE_L_UPPER, R.EYE_R_UPPER), (R.EYE_L_LOWER, R.EYE_R_LOWER)]
    for a, b in pairs:
        for i, p in enumerate(a):
            q = b[len(b) - 1 - i]
            mirror[p], mirror[q] = q, p
    return mirror


def solve(da, dx, w, prior, region, cfg: FitConfig, ridge: np.ndarray | None = None) -> np.ndarray:
    """Ridge toward the prior, per point, over the AUs allowed to move it; ``ridge`` (17,) per AU
    (default ``cfg.ridge`` for all). Returns (17, 478, 2)."""
    ridge = np.full(prior.shape[0], cfg.ridge) if ridge is None else np.asarray(ridge, np.float64)
    out = prior.copy()
    for p in range(prior.shape[1]):
        sel = np.flatnonzero(region[:, p])
        sel = sel[sel != BLINK]
        if len(sel) == 0 or len(da) == 0:
            continue
        x = da[:, sel]
        lhs = (x * w[:, None]).T @ x + np.diag(ridge[sel])
        rhs = (x * w[:, None]).T @ dx[:, p] + ridge[sel, None] * prior[sel, p]
        out[sel, p] = np.linalg.solve(lhs, rhs)
    return out


def symmetrise(weights: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    m = weights[:, mirror].copy()
    m[..., 0] *= -1.0
    return 0.5 * (weights + m)


def magnitude_floor(weights: np.ndarray, max_gain: float) -> dict[str, float]:
    """Scale up (in place) each AU whose named FACS movement at AU = 5 falls short of its target
    amplitude (research/rig/magnitudes.py): a landmark measure, not the AU estimator that scores
    the rig. Gains in [1, max_gain]; returns them."""
    gains = {}
    for name, ratio in shortfall(weights).items():
        gains[name] = float(np.clip(1.0 / ratio, 1.0, max_gain)) if ratio > 0 else 1.0
        weights[au_index(name)] *= gains[name]
    return gains


def residual_iod(da, dx, w, weights, iod) -> float:
    """Weighted RMS landmark error (IOD units) of predicting dx from da."""
    if len(da) == 0:
        return float("nan")
    pred = np.einsum("ra,apk->rpk", da, weights)
    err = np.sqrt(((pred - dx) ** 2).sum(-1).mean(1))
    return float(np.sqrt((w * err ** 2).sum() / w.sum()) / iod)


def fit(cfg: FitConfig = FitConfig(), collect_cfg: CollectConfig = CollectConfig()) -> tuple[RigModel, dict]:
    s = collect(collect_cfg)
    aus = estimate_all(s)
    pts = to_reference(s["landmarks"], cfg.ref)
    template = template_points(cfg.ref).astype(np.float64)
    iod = inter_ocular(template)
    held = {f"london/{i}" for i in heldout_london_ids(collect_cfg.data_root, collect_cfg.holdout_every)}
    persons = set(s["person"]) - held - set(EXCLUDED_VIDEOS)
    da, dx, w = build_pairs(s, aus, pts, cfg, persons)
    hda, hdx, hw = build_pairs(s, aus, pts, cfg, held)
    prior, region = prior_fields(template, iod)
    support = (w[:, None] * da ** 2).sum(0)
    ridge = np.where(support >= cfg.data_led_support, cfg.ridge, cfg.ridge * cfg.prior_led_factor)
    weights = symmetrise(solve(da, dx, w, prior, region, cfg, ridge), mirror_index(template))
    floor_gains = magnitude_floor(weights, cfg.max_floor_gain)
    report = {
        "rows": int(len(da)), "london_pairs": int((w == 1.0).sum()), "video_frames": int((w < 1.0).sum()),
        "heldout_london": sorted(i.split("/")[1] for i in held),
        "support": {n: round(float(v), 1) for n, v in zip(AU_NAMES, support)},
        "data_supported": [n for n, v in zip(AU_NAMES, support) if v >= cfg.min_support and n != "AU45"],
        "rms_iod": {
            "train_zero": residual_iod(da, dx, w, np.zeros_like(weights), iod),
            "train_prior": residual_iod(da, dx, w, prior, iod),
            "train_fit": residual_iod(da, dx, w, weights, iod),
            "heldout_zero": residual_iod(hda, hdx, hw, np.zeros_like(weights), iod),
            "heldout_prior": residual_iod(hda, hdx, hw, prior, iod),
            "heldout_fit": residual_iod(hda, hdx, hw, weights, iod),
        },
        "ridge": cfg.ridge, "video_weight": cfg.video_weight,
        "prior_led": [n for n, v in zip(AU_NAMES, support) if v < cfg.data_led_support and n != "AU45"],
        "prior_led_ridge": cfg.ridge * cfg.prior_led_factor,
        "magnitude_floor_gains": floor_gains,
        "movements_at_5_iod": {a: {k: round(v, 4) for k, v in m.items() if k in TARGETS[a]}
                               for a, m in au_movements(weights).items()},
    }
    return RigModel(weights.astype(np.float32), cfg.ref.size, cfg.ref.margin, meta=report), report


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ASSET)
    ap.add_argument("--refresh", action="store_true", help="re-run MediaPipe over the data")
    ap.add_argument("--ridge", type=float, default=FitConfig.ridge)
    ap.add_argument("--estimator-gains", action="store_true",
                    help="also scale the hand-designed AUs until the built-in AU estimator reads "
                         "them (research.rig.calibrate; off: that estimator scores the rig)")
    args = ap.parse_args(argv)
    if args.refresh:
        collect(refresh=True)
    model, report = fit(FitConfig(ridge=args.ridge))
    if args.estimator_gains:
        from research.rig.calibrate import calibrate

        report["calibration_gains"] = calibrate(model)
        model.meta = report
    model.save(args.out)
    write_text_atomic(REPORT if args.out == ASSET else args.out.with_suffix(".json"),
                      json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
