"""GANimation's losses (IJCV 2019, section 4), as small functions plus one object holding weights.

Notation: I real crop (N,3,S,S) in [-1,1]; y_r its AUs, y_g the target AUs (model scale 0-1);
G(I|y) -> (C, A); D(I) -> (realism scores, AU estimate).

Critic:     E[D(fake)] - E[D(real)] + lambda_gp * GP + lambda_au * ||D_y(I) - y_r||^2
Generator:  -E[D(fake)] + lambda_au * ||D_y(fake) - y_g||^2 + lambda_cycle * |G(G(I|y_g)|y_r) - I|_1
            + sum over both masks (fake and cycle) of lambda_attention * mean(A) + lambda_tv * TV(A)
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


def au_regression(pred: torch.Tensor, target: torch.Tensor, divide_by_batch: bool = False) -> torch.Tensor:
    """MSE over the batch and the 17 AUs; ``divide_by_batch`` adds the authors' extra 1/N."""
    loss = F.mse_loss(pred, target)
    return loss / pred.shape[0] if divide_by_batch else loss


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

    def attention(self, a: torch.Tensor) -> torch.Tensor:
        return self.w.attention * a.mean() + self.w.tv * total_variation(a, self.w.tv_reduction)

    def critic_loss(self, generator, critic, real: torch.Tensor, real_aus: torch.Tensor,
                    target_aus: torch.Tensor, alpha: torch.Tensor):
        with torch.no_grad():
            color, att = generator(real, target_aus)
            fake = blend(real, color, att)
        real_scores, real_au_pred = critic(real)
        fake_scores, _ = critic(fake)
        adv = wasserstein_critic(real_scores, fake_scores)
        au = au_regression(real_au_pred, real_aus, self.w.au_divide_by_batch)
        gp = gradient_penalty(lambda x: critic(x)[0], real, fake, alpha)
        loss = adv + self.w.gp * gp + self.w.au * au
        stats = {"d/loss": loss.item(), "d/wasserstein": -adv.item(), "d/gp": gp.item(),
                 "d/au_mse_real": au.item()}
        return loss, stats

    def generator_loss(self, generator, critic, real: torch.Tensor, real_aus: torch.Tensor,
                       target_aus: torch.Tensor):
        color, att = generator(real, target_aus)
        fake = blend(real, color, att)
        fake_scores, fake_au_pred = critic(fake)
        adv = wasserstein_generator(fake_scores)
        au = au_regression(fake_au_pred, target_aus, self.w.au_divide_by_batch)
        rec_color, rec_att = generator(fake, real_aus)
        rec = blend(fake, rec_color, rec_att)
        cyc = cycle_l1(rec, real)
        att_loss = self.attention(att) + self.attention(rec_att)
        loss = adv + self.w.au * au + self.w.cycle * cyc + att_loss
        stats = {"g/loss": loss.item(), "g/adversarial": adv.item(), "g/au_mse_fake": au.item(),
                 "g/cycle_l1": cyc.item(), "g/attention_loss": att_loss.item(),
                 "g/attention_mean": att.mean().item()}
        return loss, stats
