"""Train and measure the rig's learned refiner (research/refiner/model.py).

    python -m research.refiner.train prepare     # crops of the London pairs -> build/refiner/pairs.npz
    python -m research.refiner.train train --minutes 20
    python -m research.refiner.train evaluate    # held-out people, with vs without the refiner

Pairs: for each London person, the neutral photo is edited by the shipped rig (engine still path,
256 crop) to the AUs estimated on the same person's real smile; the real smile is cropped at the
same template (reenact.tracking.align) from its own landmarks. The refiner learns to move the rig's
output toward the real smile. The held-out ids (docs/rig.md) are cached too, for measuring only:
training never reads them.

Losses (paired; the paper's adversarial, AU-critic and cycle terms do not fit this CPU budget:
they measured 13 s per generator step here): L1 over the face region toward the real smile,
after matching the smile photo's exposure to the neutral one (per-channel gain over the face: the
two photos of a pair differ in exposure, which is not expression); an L1 on image gradients in the
same region (edges: folds, teeth); the paper's attention terms (mean of the used attention 1 - A,
total variation of A) so the refiner changes only what it needs.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

BUILD = Path("build/refiner")


# ------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------
def face_region(landmarks_crop: np.ndarray, size: int, grow_px: float = 6.0) -> np.ndarray:
    """float32 (S, S): the convex hull of the landmarks (crop px, (x, y), pixel centres at
    integers) grown by ``grow_px`` and softened: the region the paired losses look at."""
    from reenact.eval.metrics import face_mask

    m = face_mask(landmarks_crop, (size, size)).astype(np.uint8)
    k = int(2 * grow_px + 1)
    m = cv2.dilate(m, np.ones((k, k), np.uint8)).astype(np.float32)
    return cv2.GaussianBlur(m, (0, 0), grow_px / 2)


def match_exposure(target: np.ndarray, reference: np.ndarray, region: np.ndarray) -> np.ndarray:
    """``target`` (S, S, 3) uint8 scaled per channel so its region-weighted mean equals
    ``reference``'s: the two photos of a pair were taken with different exposures."""
    w = region[..., None]
    gain = (reference * w).sum((0, 1)) / np.maximum((target * w).sum((0, 1)), 1e-6)
    return np.clip(target.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def prepare(out: Path = BUILD / "pairs.npz") -> dict:
    """Cache every London pair's (input crop, rig output, rig region, real smile, face region,
    source and target AUs) at the rig's crop size (256), uint8 / float16."""
    from reenact.eval.editing import StillAnalyser, edit_face
    from reenact.models.load import load_generator
    from research.rig.data import analysed_pairs, heldout_london_ids, london_ids
    from reenact.tracking.align import crop_from_frame, transform_points, warp_to_crop

    rig = load_generator("rig")
    held = set(heldout_london_ids())
    keys = ("ids", "heldout", "crop", "rig", "region", "real", "face", "src_aus", "tgt_aus")
    rows: dict[str, list] = {k: [] for k in keys}
    with StillAnalyser(max_faces=1) as analyser:
        for nnn, neutral, smiling, src, real in analysed_pairs(london_ids(), analyser):
            ed = edit_face(rig, neutral, src.face, src.aus, real.aus)
            s = ed.size
            real_crop = warp_to_crop(smiling, crop_from_frame(real.face.landmarks, rig.align), s)
            face = face_region(transform_points(ed.crop_from_frame, src.face.landmarks), s)
            for k, v in (("ids", nnn), ("heldout", nnn in held), ("crop", ed.crop_in),
                         ("rig", ed.crop_out), ("region", (1.0 - ed.attention).astype(np.float16)),
                         ("real", match_exposure(real_crop, ed.crop_in, face)),
                         ("face", face.astype(np.float16)), ("src_aus", src.aus), ("tgt_aus", real.aus)):
                rows[k].append(v)
    data = {k: np.asarray(v) for k, v in rows.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp.npz")
    np.savez_compressed(tmp, **data)
    tmp.replace(out)
    return data


def to_tensors(data: dict, select: np.ndarray, size: int) -> dict[str, torch.Tensor]:
    """The selected pairs as float32 tensors at ``size``: images (N, 3, s, s) in [-1, 1],
    masks (N, 1, s, s), AUs (N, 17) on 0-5."""
    def img(a):
        t = torch.from_numpy(a[select]).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        return F.interpolate(t, size=(size, size), mode="area")

    def msk(a):
        t = torch.from_numpy(a[select].astype(np.float32))[:, None]
        return F.interpolate(t, size=(size, size), mode="area")

    return {"crop": img(data["crop"]), "rig": img(data["rig"]), "real": img(data["real"]),
            "region": msk(data["region"]), "face": msk(data["face"]),
            "aus": torch.from_numpy(data["tgt_aus"][select].astype(np.float32))}


# ------------------------------------------------------------------------------------------
# Losses and training
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RefinerTrainConfig:
    steps: int = 100000           # an upper bound; --minutes usually stops first
    minutes: float = 20.0
    batch: int = 8
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    w_l1: float = 10.0
    w_grad: float = 5.0
    w_attention: float = 0.1      # mean of the used attention (1 - A) inside the region
    w_tv: float = 1e-5            # total variation of A (sum, as the paper)
    flip: bool = True
    seed: int = 0
    log_every: int = 25


def masked_l1(a: torch.Tensor, b: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    return ((a - b).abs() * m).sum() / (m.sum() * a.shape[1]).clamp_min(1e-6)


def gradient_l1(a: torch.Tensor, b: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """L1 between the images' horizontal and vertical differences, inside ``m``."""
    dxa, dxb = a[..., :, 1:] - a[..., :, :-1], b[..., :, 1:] - b[..., :, :-1]
    dya, dyb = a[..., 1:, :] - a[..., :-1, :], b[..., 1:, :] - b[..., :-1, :]
    return masked_l1(dxa, dxb, m[..., :, 1:]) + masked_l1(dya, dyb, m[..., 1:, :])


def refiner_loss(net, batch: dict, cfg: RefinerTrainConfig) -> tuple[torch.Tensor, dict]:
    refined, _, att = net(batch["crop"], batch["rig"], batch["aus"], batch["region"])
    m = batch["face"]
    l1 = masked_l1(refined, batch["real"], m)
    grad = gradient_l1(refined, batch["real"], m)
    used = ((1.0 - att) * batch["region"]).mean()
    tv = (att[..., 1:, :] - att[..., :-1, :]).abs().sum() + (att[..., :, 1:] - att[..., :, :-1]).abs().sum()
    loss = cfg.w_l1 * l1 + cfg.w_grad * grad + cfg.w_attention * used + cfg.w_tv * tv
    return loss, {"loss": loss.item(), "l1": l1.item(), "grad": grad.item(), "used_attention": used.item()}


def _batch(t: dict, idx: torch.Tensor, flip: torch.Tensor) -> dict:
    b = {k: v[idx] for k, v in t.items()}
    for k in ("crop", "rig", "real", "region", "face"):
        b[k] = torch.where(flip[:, None, None, None], b[k].flip(-1), b[k])
    return b   # AUs are left-right symmetric: a flipped smile has the same AUs


def baseline_l1(t: dict) -> float:
    """The rig's own face-region L1 to the real smile (what the refiner starts from)."""
    return masked_l1(t["rig"], t["real"], t["face"]).item()


@torch.no_grad()
def eval_l1(net, t: dict) -> float:
    net.eval()
    refined, _, _ = net(t["crop"], t["rig"], t["aus"], t["region"])
    net.train()
    return masked_l1(refined, t["real"], t["face"]).item()


def train(net, t: dict, cfg: RefinerTrainConfig, monitor: dict | None = None,
          log: Path | None = None) -> list[dict]:
    """Adam on the paired losses until ``cfg.steps`` or ``cfg.minutes``; returns the log rows.
    ``monitor`` (held-out tensors) is only measured, never trained on or selected by."""
    g = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=cfg.betas)
    n = len(t["aus"])
    rows, t0 = [], time.time()
    net.train()
    for step in tqdm(range(1, cfg.steps + 1), desc="refiner"):
        idx = torch.randint(0, n, (min(cfg.batch, n),), generator=g)
        flip = (torch.rand(len(idx), generator=g) < 0.5) & cfg.flip
        loss, stats = refiner_loss(net, _batch(t, idx, flip), cfg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        done = (time.time() - t0) / 60 >= cfg.minutes or step == cfg.steps
        if step % cfg.log_every == 0 or done:
            stats.update(step=step, minutes=round((time.time() - t0) / 60, 2))
            if monitor is not None and (step % (cfg.log_every * 8) == 0 or done):
                stats["heldout_l1"] = eval_l1(net, monitor)
                stats["train_l1_all"] = eval_l1(net, t)
            rows.append(stats)
            if log is not None:
                with log.open("a") as f:
                    f.write(json.dumps(stats) + "\n")
        if done:
            break
    net.eval()
    return rows


def cmd_train(args) -> None:
    from research.refiner.model import RefinerConfig, RefinerNet, save_refiner

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    with np.load(args.pairs) as z:
        data = {k: z[k] for k in z.files}
    net = RefinerNet(RefinerConfig(with_input=not args.rig_only))
    size = net.cfg.net.image_size
    tr = to_tensors(data, ~data["heldout"], size)
    ho = to_tensors(data, data["heldout"], size)
    cfg = RefinerTrainConfig(minutes=args.minutes, seed=args.seed, w_attention=args.w_attention)
    print(f"train pairs {len(tr['aus'])}, held-out pairs {len(ho['aus'])}; rig L1 train "
          f"{baseline_l1(tr):.4f} held-out {baseline_l1(ho):.4f}; "
          f"{sum(p.numel() for p in net.parameters())} parameters")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    log = args.out.with_suffix(".log.jsonl")
    log.unlink(missing_ok=True)
    rows = train(net, tr, cfg, monitor=ho, log=log)
    meta = {"train": asdict(cfg), "last": rows[-1], "rig_l1_train": baseline_l1(tr),
            "rig_l1_heldout": baseline_l1(ho), "train_pairs": int(len(tr["aus"]))}
    save_refiner(net, args.out, meta)
    print(json.dumps(meta, indent=1))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="the rig's learned refiner")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--out", type=Path, default=BUILD / "pairs.npz")
    p = sub.add_parser("train")
    p.add_argument("--pairs", type=Path, default=BUILD / "pairs.npz")
    p.add_argument("--out", type=Path, default=BUILD / "refiner.pt")
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rig-only", action="store_true", help="input = rig output + AU maps only")
    p.add_argument("--w-attention", type=float, default=RefinerTrainConfig.w_attention,
                   help="weight of the used-attention penalty (higher: the refiner changes less)")
    p = sub.add_parser("evaluate")
    p.add_argument("--refiner", type=Path, default=BUILD / "refiner.pt")
    p.add_argument("--out", type=Path, default=BUILD / "eval.json")
    p.add_argument("--strips", type=Path, default=Path("docs/img/refiner_strips.png"))
    p.add_argument("--limit", type=int, default=0)
    args = ap.parse_args(argv)
    if args.cmd == "prepare":
        d = prepare(args.out)
        print(f"{len(d['ids'])} pairs ({int(d['heldout'].sum())} held out) -> {args.out}")
    elif args.cmd == "train":
        cmd_train(args)
    else:
        from research.refiner.evaluate import evaluate
        evaluate(args.refiner, args.out, args.strips, args.limit)


if __name__ == "__main__":
    main()
