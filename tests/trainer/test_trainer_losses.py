import math

import pytest
import torch

from reenact.trainer.losses import (au_regression, cycle_l1, gradient_penalty, total_variation,
                                    wasserstein_critic)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_gradient_penalty_of_a_linear_critic():
    # D(x) = <w, x> has gradient w everywhere: penalty = (||w|| - 1)^2 whatever alpha is.
    w = torch.zeros(3, 4, 4)
    w[0, 0, 0], w[1, 2, 3] = 2.0, math.sqrt(5.0)  # ||w|| = 3
    critic = lambda x: (x * w).flatten(1).sum(1)
    real, fake = torch.rand(5, 3, 4, 4), torch.rand(5, 3, 4, 4)
    gp = gradient_penalty(critic, real, fake, torch.rand(5, 1, 1, 1))
    assert gp.item() == pytest.approx(4.0, rel=1e-6)


def test_gradient_penalty_of_a_quadratic_critic_by_hand():
    # D(x) = 0.5 ||x||^2: gradient = x at the interpolate; one pixel per sample keeps it checkable.
    critic = lambda x: 0.5 * (x ** 2).flatten(1).sum(1)
    real = torch.tensor([3.0, 0.0]).view(2, 1, 1, 1)
    fake = torch.tensor([1.0, 4.0]).view(2, 1, 1, 1)
    alpha = torch.tensor([0.5, 0.25]).view(2, 1, 1, 1)
    # interpolates: 0.5*3 + 0.5*1 = 2 ; 0.25*0 + 0.75*4 = 3  -> norms 2, 3
    expected = ((2 - 1) ** 2 + (3 - 1) ** 2) / 2
    assert gradient_penalty(critic, real, fake, alpha).item() == pytest.approx(expected)


def test_gradient_penalty_reaches_critic_parameters():
    w = torch.full((1, 2, 2), 0.1, requires_grad=True)
    critic = lambda x: (x * w).flatten(1).sum(1)
    gp = gradient_penalty(critic, torch.rand(3, 1, 2, 2), torch.rand(3, 1, 2, 2), torch.rand(3, 1, 1, 1))
    gp.backward()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||, with ||w|| = 0.2
    torch.testing.assert_close(w.grad, torch.full_like(w, 2 * (0.2 - 1) * 0.1 / 0.2))


def test_total_variation_by_hand():
    a = torch.tensor([[0.0, 1.0, 1.0], [0.0, 0.0, 0.5]]).view(1, 1, 2, 3)
    # horizontal |1-0| + |1-1| + |0-0| + |0.5-0| = 1.5; vertical |0-0| + |0-1| + |0.5-1| = 1.5
    assert total_variation(a, "sum").item() == pytest.approx(3.0)
    assert total_variation(a, "mean").item() == pytest.approx(1.5 / 4 + 1.5 / 3)


def test_au_regression_and_other_terms():
    pred, target = torch.full((4, 17), 0.5), torch.zeros(4, 17)
    assert au_regression(pred, target).item() == pytest.approx(0.25)
    assert au_regression(pred, target, divide_by_batch=True).item() == pytest.approx(0.25 / 4)
    assert cycle_l1(torch.ones(2, 3, 2, 2), torch.zeros(2, 3, 2, 2)).item() == 1.0
    assert wasserstein_critic(torch.tensor([2.0, 4.0]), torch.tensor([1.0])).item() == -2.0


# --- Process-count independence -----------------------------------------------------------------
# Several processes each hold a share of the global batch and their gradients are summed: that must
# equal one process holding the whole batch, for every weighting (summed or mean TV, the authors'
# extra 1/N on the AU term), also for uneven shards (5 = 3 + 2).
def _nets():
    from reenact.models.networks import CRITIC_CONFIGS, GENERATOR_CONFIGS, Critic, Generator

    torch.manual_seed(3)
    return Generator(GENERATOR_CONFIGS["tiny"]), Critic(CRITIC_CONFIGS["tiny"])


def _batch(n=5):
    g = torch.Generator().manual_seed(7)
    return (torch.rand(n, 3, 64, 64, generator=g) * 2 - 1, torch.rand(n, 17, generator=g),
            torch.rand(n, 17, generator=g), torch.rand(n, 1, 1, 1, generator=g))


def _grads(module):
    return {name: p.grad.clone() if p.grad is not None else torch.zeros_like(p)
            for name, p in module.named_parameters()}


def _summed_over_shards(loss_of, module, shards):
    """Gradients of ``loss_of(rows, share)`` summed over shards, as the trainer's all-reduce does."""
    total = {}
    for rows in shards:
        module.zero_grad(set_to_none=True)
        loss_of(rows, len(rows) / sum(map(len, shards))).backward()
        for k, v in _grads(module).items():
            total[k] = total.get(k, 0) + v
    return total


@pytest.mark.parametrize("tv_reduction, divide_by_batch", [("sum", True), ("mean", False)])
def test_sharded_losses_give_the_whole_batch_gradients(tv_reduction, divide_by_batch):
    from reenact.trainer.losses import GANimationLoss, LossWeights

    G, D = _nets()
    real, real_aus, target_aus, alpha = _batch()
    # Weights raised so the terms that depended on the number of processes dominate the gradients.
    loss = GANimationLoss(LossWeights(au=4000.0, au_divide_by_batch=divide_by_batch, tv=1e-2,
                                      tv_reduction=tv_reduction))
    whole = [list(range(5))]
    shards = [[0, 2, 4], [1, 3]]  # uneven, as batch 5 over 2 processes

    def critic(rows, share):
        return loss.critic_loss(G, D, real[rows], real_aus[rows], target_aus[rows], alpha[rows], share)[0]

    def generator(rows, share):
        return loss.generator_loss(G, D, real[rows], real_aus[rows], target_aus[rows], share)[0]

    for fn, module in ((critic, D), (generator, G)):
        expected = _summed_over_shards(fn, module, whole)
        got = _summed_over_shards(fn, module, shards)
        for name, g in expected.items():
            # float sums in another order: compared with the tensor's scale
            error = (got[name] - g).abs().max().item()
            assert error <= 1e-4 * g.abs().max().item() + 1e-9, (name, error, g.abs().max().item())
