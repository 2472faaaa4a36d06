"""GANimation's losses (IJCV 2019, section 4), as small functions plus one object holding weights.

Notation: I real crop (N,3,S,S) in [-1,1]; y_r its AUs, y_g the target AUs (model scale 0-1);
G(I|y) -> (C, A); D(I) -> (realism scores, AU estimate).

Critic:     E[D(fake)] - E[D(real)] + lambda_gp * GP + lambda_au * ||D_y(I) - y_r||^2
Generator:  -E[D(fake)] + lambda_au * ||D_y(fake) - y_g||^2 + lambda_cycle * |G(G(I|y_g)|y_r) - I|_1
            + sum over both masks (fake and cycle) of lambda_attention * mean(A) + lambda_tv * TV(A)

Several processes: each holds a ``share`` of the global batch (its samples / the global batch) and
returns its part of the global batch's loss, so that the gradients *summed* over processes are those
of one process holding the whole batch. Terms averaged over samples are scaled by the share; a
summed TV is already a part of the global sum; the authors' extra 1/N of the AU term divides by the
global batch. So no weight depends on the number of processes, even for uneven shards.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from reenact.models.protocol import blend


def wasserstein_critic(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The critic minimises E[D(fake)] - E[D(real)] (patch scores averaged)."""
    return fake_scores.mean() - real_scores.mean()


def wasserstein_generator(fake_scores: torch.Tensor) -> torch.Tensor:
    return -fake_scores.mean()


def gradient_penalty(critic_scores: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): mean over samples of (||grad_x sum D(x)||_2 - 1)^2 at
    x = alpha * real + (1 - alpha) * fake. alpha: (N, 1, 1, 1) in [0, 1]. Differentiable in the
    critic's parameters (create_graph)."""
    x = (alpha * real.detach() + (1.0 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic_scores(x)
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    norm = grad.flatten(1).norm(2, dim=1)
    return ((norm - 1.0) ** 2).mean()


def au_regression(pred: torch.Tensor, target: torch.Tensor, divide_by_batch: bool = False,
                  batch: int | None = None) -> torch.Tensor:
    """MSE over the batch and the 17 AUs; ``divide_by_batch`` adds the authors' extra 1/N, with N
    the global ``batch`` (default: this batch's size)."""
    loss = F.mse_loss(pred, target)
    return loss / (batch or pred.shape[0]) if divide_by_batch else loss


def total_variation(a: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
    """Anisotropic TV: |a[..., i, j+1] - a[..., i, j]| + |a[..., i+1, j] - a[..., i, j]|, summed
    (the authors) or averaged per difference."""
    dx = (a[..., :, 1:] - a[..., :, :-1]).abs()
    dy = (a[..., 1:, :] - a[..., :-1, :]).abs()
    if reduction == "sum":
        return dx.sum() + dy.sum()
    return dx.mean() + dy.mean()


def cycle_l1(reconstruction: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    return (reconstruction - real).abs().mean()


@dataclass(frozen=True)
class LossWeights:
    gp: float = 10.0
    au: float = 160.0
    au_divide_by_batch: bool = False
    cycle: float = 10.0
    attention: float = 0.1
    tv: float = 1e-5
    tv_reduction: str = "sum"


class GANimationLoss:
    """Both players' objectives. ``critic`` and ``generator`` are callables of the networks
    (plain modules or wrapped ones); every method returns (loss, stats dict of floats)."""

    def __init__(self, weights: LossWeights):
        self.w = weights

    def attention(self, a: torch.Tensor, share: float = 1.0) -> torch.Tensor:
        tv = total_variation(a, self.w.tv_reduction)
        # A summed TV is this process's part of the global sum as it stands; a mean is scaled.
        tv_share = 1.0 if self.w.tv_reduction == "sum" else share
        return self.w.attention * share * a.mean() + self.w.tv * tv_share * tv

    def _au(self, pred: torch.Tensor, target: torch.Tensor, share: float) -> torch.Tensor:
        return au_regression(pred, target, self.w.au_divide_by_batch, round(pred.shape[0] / share))

    def critic_fake(self, generator, real: torch.Tensor, target_aus: torch.Tensor) -> torch.Tensor:
        """The generator's edit of ``real`` towards ``target_aus``, without gradients."""
        with torch.no_grad():
            color, att = generator(real, target_aus)
            return blend(real, color, att)

    def critic_terms(self, critic, real: torch.Tensor, fake: torch.Tensor, real_aus: torch.Tensor,
                     share: float = 1.0):
        """The critic's Wasserstein and AU terms (the authors' first critic step)."""
        real_scores, real_au_pred = critic(real)
        fake_scores, _ = critic(fake)
        adv = wasserstein_critic(real_scores, fake_scores)
        au = self._au(real_au_pred, real_aus, share)
        loss = share * adv + self.w.au * share * au
        return loss, {"d/wasserstein": -adv.item(), "d/au_mse_real": au.item()}

    def critic_penalty(self, critic, real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor,
                       share: float = 1.0):
        """The weighted gradient penalty (the authors' second critic step)."""
        gp = gradient_penalty(lambda x: critic(x)[0], real, fake, alpha)
        return self.w.gp * share * gp, {"d/gp": gp.item()}

    def critic_loss(self, generator, critic, real: torch.Tensor, real_aus: torch.Tensor,
                    target_aus: torch.Tensor, alpha: torch.Tensor, share: float = 1.0):
        """Both critic parts summed (one step). The ``d/loss`` stat is scaled back to a whole batch."""
        fake = self.critic_fake(generator, real, target_aus)
        terms, stats = self.critic_terms(critic, real, fake, real_aus, share)
        penalty, gp_stats = self.critic_penalty(critic, real, fake, alpha, share)
        loss = terms + penalty
        return loss, {"d/loss": loss.item() / share, **stats, **gp_stats}

    def generator_loss(self, generator, critic, real: torch.Tensor, real_aus: torch.Tensor,
                       target_aus: torch.Tensor, share: float = 1.0):
        color, att = generator(real, target_aus)
        fake = blend(real, color, att)
        fake_scores, fake_au_pred = critic(fake)
        adv = wasserstein_generator(fake_scores)
        au = self._au(fake_au_pred, target_aus, share)
        rec_color, rec_att = generator(fake, real_aus)
        rec = blend(fake, rec_color, rec_att)
        cyc = cycle_l1(rec, real)
        att_loss = self.attention(att, share) + self.attention(rec_att, share)
        loss = share * (adv + self.w.au * au + self.w.cycle * cyc) + att_loss
        stats = {"g/loss": loss.item() / share, "g/adversarial": adv.item(), "g/au_mse_fake": au.item(),
                 "g/cycle_l1": cyc.item(), "g/attention_loss": att_loss.item() / share,
                 "g/attention_mean": att.mean().item()}
        return loss, stats
