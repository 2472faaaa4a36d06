"""The GANimation training loop: one function, read top to bottom.

Every step is one critic update (one or two Adam steps, ``critic_update``) on one global batch;
every ``n_critic``-th step also updates the generator. All randomness of a step (flips, target AUs,
their noise, the penalty's interpolation weights) is drawn for the whole global batch from a
generator seeded by (seed, step), each process keeping its samples' rows, and the batch order is a
pure function of (seed, epoch): a resumed run repeats an uninterrupted one exactly (bit for bit on
the CPU; CUDA kernels are not deterministic unless ``torch.use_deterministic_algorithms`` is on),
and a run does not depend on the number of processes beyond rounding.

Multi-process training (torchrun, or any launcher setting RANK / WORLD_SIZE / MASTER_ADDR):
data-parallel through torch.distributed; each process's loss is its share of the global batch's
loss and the gradients are summed by hand after each backward, as stylegan3 does.
(DistributedDataParallel is not used: its reducer does not support the gradient penalty's double
backward through the critic.) Each process uses the GPU named by LOCAL_RANK.
"""
from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from reenact.atomic import write_text_atomic
from reenact.aus.names import to_model
from reenact.errors import ReenactError
from reenact.models.checkpoint import read_checkpoint, save_checkpoint
from reenact.models.networks import Critic, Generator, generator_cost
from reenact.tracking.align import AlignConfig
from reenact.trainer.config import TrainConfig
from reenact.trainer.data import CropDataset, StepBatches, load_index
from reenact.trainer.losses import GANimationLoss, LossWeights
from reenact.media.image import write_image
from reenact.trainer.samples import sample_sheet

CHECKPOINT_DIR = "checkpoints"


@dataclass
class RunResult:
    run_dir: Path
    last_step: int
    history: list[dict] = field(default_factory=list)   # one stats dict per step run here
    generator: Generator | None = None
    critic: Critic | None = None


# ------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------
def _dist_setup(device: torch.device) -> tuple[int, int, bool]:
    """(rank, world, created_here). Initialises the process group from the environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, False
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), False
    if device.type == "cuda":
        # Before NCCL starts: otherwise every rank opens a context on GPU 0.
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), True


def _pick_device(device: str | None) -> torch.device:
    """The requested device; a bare "cuda" (or "auto" with a GPU) is this process's LOCAL_RANK GPU."""
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device and device != "auto":
        dev = torch.device(device)
        return torch.device("cuda", local_rank) if dev.type == "cuda" and dev.index is None else dev
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def _sum_grads(module: torch.nn.Module, world: int) -> None:
    """Sum gradients over processes in one flat all-reduce (each loss is already a batch share)."""
    if world <= 1:
        return
    params = [p for p in module.parameters() if p.grad is not None]
    flat = torch.cat([p.grad.flatten() for p in params])
    dist.all_reduce(flat)
    offset = 0
    for p in params:
        n = p.numel()
        p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
        offset += n


def _adam_step(opt: torch.optim.Optimizer, module: torch.nn.Module, loss: torch.Tensor,
               world: int, set_to_none: bool = True) -> None:
    """One optimiser step on ``loss`` (this process's share), gradients summed over processes.
    ``set_to_none=False`` zeroes the gradients instead, so parameters ``loss`` does not reach
    still take Adam's momentum step (as in the authors' PyTorch, whose zero_grad zeroed)."""
    opt.zero_grad(set_to_none=set_to_none)
    loss.backward()
    _sum_grads(module, world)
    opt.step()


def _broadcast_params(module: torch.nn.Module, world: int) -> None:
    if world > 1:
        for t in module.state_dict().values():
            dist.broadcast(t, src=0)


def _step_generator(seed: int, step: int) -> torch.Generator:
    state = np.random.SeedSequence([seed, step]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


@dataclass
class StepDraws:
    """A step's random draws for this process's rows of the global batch."""
    flip: torch.Tensor     # (n,) bool
    others: torch.Tensor   # (n,) dataset rows whose AUs become the targets
    noise: torch.Tensor    # (n, 17) added to the targets
    alpha: torch.Tensor    # (n, 1, 1, 1) the penalty's interpolation weights


def step_draws(cfg: TrainConfig, step: int, n_images: int, n_aus: int, rank: int = 0,
               world: int = 1) -> StepDraws:
    """Drawn for the whole global batch, then sliced like the batch (``StepBatches``), so every
    sample gets the same draws whatever the number of processes."""
    g, b = _step_generator(cfg.seed, step), cfg.batch
    flip = torch.rand(b, generator=g) < 0.5 if cfg.flip else torch.zeros(b, dtype=torch.bool)
    others = torch.randint(0, n_images, (b,), generator=g)
    noise = (torch.rand(b, n_aus, generator=g) * 2 - 1) * cfg.target_noise
    alpha = torch.rand(b, 1, 1, 1, generator=g)
    mine = slice(rank, None, world)
    return StepDraws(flip[mine], others[mine], noise[mine], alpha[mine])


def _lr_factor(total: int, decay: int):
    """Constant, then linear to 0 over the last ``decay`` steps."""
    def f(step: int) -> float:
        return 1.0 if decay <= 0 else max(0.0, min(1.0, (total - step) / decay))
    return f


def _set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr


def rng_state(device: torch.device) -> dict:
    """The global RNG states, with only this process's own GPU's (the loop draws from its own
    generators; the global ones are kept for anything a network or loader draws)."""
    np_state = np.random.get_state()
    state = {"torch": torch.get_rng_state(),
             "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
             "python": random.getstate()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(s: dict, device: torch.device) -> None:
    """Restore ``rng_state``'s. The CUDA state goes to this process's GPU only, and only when both
    sides have one: a checkpoint moves between machines with other numbers of GPUs, or none.
    Older checkpoints hold a list with every visible GPU's state; this GPU's entry is used."""
    torch.set_rng_state(s["torch"])
    cuda = s.get("cuda")
    if isinstance(cuda, (list, tuple)):
        cuda = cuda[device.index or 0] if device.type == "cuda" and len(cuda) > (device.index or 0) else None
    if cuda is not None and device.type == "cuda":
        torch.cuda.set_rng_state(cuda, device)
    kind, keys, *rest = s["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
    py = s["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))


def latest_checkpoint(run_dir: Path) -> Path | None:
    files = sorted((run_dir / CHECKPOINT_DIR).glob("step-*.pt"))
    return files[-1] if files else None


def load_run_config(run_dir: str | Path) -> TrainConfig:
    """The resolved config a run directory was started with (for --resume)."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise ReenactError(f"{run_dir} is not a run directory (no config.json); nothing to resume")
    return TrainConfig.from_dict(json.loads(path.read_text())["train"])


def _drop_stats_after(path: Path, step: int) -> None:
    """On resume: forget stats lines written after the checkpoint (they will be run again)."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                keep.append(line)
        except (json.JSONDecodeError, KeyError):
            pass  # a line cut short by the interruption
    write_text_atomic(path, "".join(f"{x}\n" for x in keep))


def _write_json(path: Path, obj: dict) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2))


# ------------------------------------------------------------------------------------------
# The loop
# ------------------------------------------------------------------------------------------
def train(data_dir: str | Path, run_dir: str | Path, cfg: TrainConfig, *, resume: bool = False,
          device: str | None = None, stop_after: int | None = None,
          progress: bool = True) -> RunResult:
    """Train GANimation on a crop folder; everything the run produces goes to ``run_dir``.

    stop_after: leave after this global step (an interruption, for tests and time-boxed runs);
    checkpoints and schedules still follow the full run's length."""
    from tqdm import tqdm

    run_dir = Path(run_dir)
    dev = _pick_device(device)
    rank, world, created_group = _dist_setup(dev)
    if cfg.batch < world:
        raise ReenactError(f"batch {cfg.batch} is smaller than the {world} processes sharing it")

    # --- Data: validate everything before any training -------------------------------------
    index = load_index(data_dir, cfg.split, cfg.image_size)
    try:
        preview = load_index(data_dir, "test", cfg.image_size)
    except ReenactError:
        preview = index
    dataset = CropDataset(index)
    all_aus = torch.from_numpy(index.aus)
    steps_per_epoch = len(index) // cfg.batch
    if steps_per_epoch == 0:
        raise ReenactError(f"{data_dir}: {len(index)} images, fewer than one batch of {cfg.batch}")
    total = cfg.steps if cfg.steps is not None else cfg.epochs * steps_per_epoch
    decay = round(total * cfg.decay_epochs / cfg.epochs) if cfg.epochs else 0

    # --- Networks, optimisers, schedules ---------------------------------------------------
    torch.manual_seed(cfg.seed)
    G = Generator(cfg.generator).to(dev)
    D = Critic(cfg.critic).to(dev)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas)
    lr_factor = _lr_factor(total, decay)  # the schedule: a pure function of the step
    loss_fn = GANimationLoss(LossWeights(cfg.lambda_gp, cfg.lambda_au, cfg.au_divide_by_batch,
                                         cfg.lambda_cycle, cfg.lambda_attention, cfg.lambda_tv,
                                         cfg.tv_reduction))

    # --- Resume or start a fresh run directory ---------------------------------------------
    start = 0
    ckpt_path = latest_checkpoint(run_dir)
    if resume:
        if ckpt_path is None:
            raise ReenactError(f"--resume: {run_dir / CHECKPOINT_DIR} holds no checkpoint")
        ckpt = read_checkpoint(ckpt_path, generator=cfg.generator, critic=cfg.critic)
        state = ckpt.train_state or {}
        if "step" not in state:
            raise ReenactError(f"{ckpt_path} has no trainer state; it cannot be resumed")
        G.load_state_dict(ckpt.generator)
        D.load_state_dict(ckpt.critic)
        opt_g.load_state_dict(state["optim_g"])
        opt_d.load_state_dict(state["optim_d"])
        set_rng_state(state["rng"], dev)
        start = int(state["step"])
    elif ckpt_path is not None:
        raise ReenactError(f"{run_dir} already holds checkpoints; pass --resume to continue it "
                           "or choose another --out")
    _broadcast_params(G, world)
    _broadcast_params(D, world)

    writer = None
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        _write_json(run_dir / "config.json", {
            "train": cfg.to_dict(), "data_dir": str(data_dir), "data": index.summary(),
            "world_size": world, "device": str(dev), "total_steps": total,
            "steps_per_epoch": steps_per_epoch,
            "generator_cost": vars(generator_cost(cfg.generator))})
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(str(run_dir / "tensorboard"), purge_step=start if resume else None)
    data_summary = index.summary()
    preview_crops = torch.stack([CropDataset(preview)[i][0] for i in range(min(4, len(preview)))])
    preview_crops = (preview_crops.float() / 127.5 - 1.0).to(dev)

    def checkpoint(step_done: int) -> None:
        if rank != 0:
            return
        state = {"step": step_done, "config": cfg.to_dict(),
                 "optim_g": opt_g.state_dict(), "optim_d": opt_d.state_dict(),
                 "lr_factor": lr_factor(step_done),
                 "rng": rng_state(dev)}
        save_checkpoint(run_dir / CHECKPOINT_DIR / f"step-{step_done:07d}.pt", G, D,
                        data_summary=data_summary, train_state=state,
                        align=index.align or AlignConfig(size=cfg.image_size))
        for old in sorted((run_dir / CHECKPOINT_DIR).glob("step-*.pt"))[:-cfg.keep_checkpoints]:
            old.unlink()

    def samples(step_done: int) -> None:
        if rank != 0:
            return
        sheet = sample_sheet(G, preview_crops)
        write_image(sheet, run_dir / "samples" / f"step-{step_done:07d}.png")
        writer.add_image("samples", sheet, step_done, dataformats="HWC")

    # --- Training ---------------------------------------------------------------------------
    stop = total if stop_after is None else min(total, stop_after)
    sampler = StepBatches(len(index), cfg.batch, seed=cfg.seed, start=start, stop=stop,
                          rank=rank, world=world)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, num_workers=cfg.workers,
                                         pin_memory=dev.type == "cuda")
    result = RunResult(run_dir, start)
    bar = tqdm(total=total, initial=start, disable=not progress or rank != 0, desc="train",
               dynamic_ncols=True)
    if rank == 0 and resume:
        _drop_stats_after(run_dir / "stats.jsonl", start)
    stats_file = open(run_dir / "stats.jsonl", "a") if rank == 0 else None
    t_last, g_stats = time.perf_counter(), {}
    try:
        for step, (imgs, real_aus_05) in zip(range(start, stop), loader):
            # Per-step randomness: flips, target AUs from other samples plus noise, GP weights.
            _set_lr(opt_d, cfg.lr_d * lr_factor(step))
            _set_lr(opt_g, cfg.lr_g * lr_factor(step))
            draws = step_draws(cfg, step, len(index), all_aus.shape[1], rank, world)
            share = imgs.shape[0] / cfg.batch  # this process's part of the global batch

            real = imgs.to(dev).float() / 127.5 - 1.0
            real = torch.where(draws.flip.to(dev)[:, None, None, None], real.flip(-1), real)
            real_aus = to_model(real_aus_05.to(dev))
            target_aus = to_model(all_aus[draws.others]).to(dev) + draws.noise.to(dev)
            alpha = draws.alpha.to(dev)

            # Critic update.
            if cfg.critic_update == "summed":
                d_loss, d_stats = loss_fn.critic_loss(G, D, real, real_aus, target_aus, alpha, share)
                _adam_step(opt_d, D, d_loss, world)
            else:  # the authors': Wasserstein + AU, then the penalty at the updated critic
                fake = loss_fn.critic_fake(G, real, target_aus)
                terms, d_stats = loss_fn.critic_terms(D, real, fake, real_aus, share)
                _adam_step(opt_d, D, terms, world)
                penalty, gp_stats = loss_fn.critic_penalty(D, real, fake, alpha, share)
                # The penalty does not reach the AU head; the authors' step still moved it.
                _adam_step(opt_d, D, penalty, world, set_to_none=False)
                d_stats = {"d/loss": (terms.item() + penalty.item()) / share, **d_stats, **gp_stats}

            # Generator step every n_critic critic steps; the critic is frozen meanwhile.
            if (step + 1) % cfg.n_critic == 0:
                D.requires_grad_(False)
                g_loss, g_stats = loss_fn.generator_loss(G, D, real, real_aus, target_aus, share)
                _adam_step(opt_g, G, g_loss, world)
                D.requires_grad_(True)

            done = step + 1

            # Bookkeeping: stats, progress, samples, checkpoints.
            now = time.perf_counter()
            stats = {"step": done, "epoch": step / steps_per_epoch, "lr": opt_d.param_groups[0]["lr"],
                     "sec_per_step": now - t_last, **d_stats, **g_stats}
            t_last = now
            result.history.append(stats)
            result.last_step = done
            if rank == 0:
                bar.update(1)
                bar.set_postfix({k.split("/")[-1]: f"{v:.3g}" for k, v in stats.items()
                                 if k in ("d/loss", "d/au_mse_real", "g/loss", "g/attention_mean")})
                if done % cfg.log_every == 0 or done == stop:
                    stats_file.write(json.dumps(stats) + "\n")
                    stats_file.flush()
                    for k, v in stats.items():
                        if "/" in k or k in ("lr", "sec_per_step"):
                            writer.add_scalar(k, v, done)
            if done % cfg.sample_every == 0 or done == total:
                samples(done)
            if done % cfg.checkpoint_every == 0 or done == total:
                checkpoint(done)

        # --- End: a final checkpoint and sample sheet where the periodic ones missed it -----
        if result.last_step == stop and stop != total:
            samples(stop)
            checkpoint(stop)
    finally:
        bar.close()
        if stats_file is not None:
            stats_file.close()
        if writer is not None:
            writer.close()
        if created_group:
            dist.destroy_process_group()
    result.generator, result.critic = G, D
    return result
