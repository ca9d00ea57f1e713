"""DCTAdam and AdagradRMSProp: hand-computed updates, frequency steps, subsampled blocks."""

import math

import pytest
import torch

import ppl
import ppl.optim as optim
from ppl.ops.dct import dct, idct, next_fast_len
from ppl.optim.adagrad_rmsprop import AdagradRMSProp
from ppl.optim.dct_adam import DCTAdam


def adam_direction(grads, betas=(0.9, 0.999), eps=1e-8):
    m = v = 0.0
    n = len(grads)
    for g in grads:
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
    return m / (v.sqrt() + eps), math.sqrt(1 - betas[1] ** n) / (1 - betas[0] ** n)


def test_without_dct_dim_it_is_clipped_adam_with_lr_decay():
    w = torch.zeros(3, requires_grad=True)
    ref = torch.zeros(3, requires_grad=True)
    opt = DCTAdam([w], lr=0.1, clip_norm=1.0, lrd=0.5)
    clipped = optim.clipped_adam.ClippedAdam([ref], lr=0.1, clip_norm=1.0, lrd=0.5)
    for g in ([5.0, -0.2, 0.3], [0.1, 2.0, -4.0]):
        w.grad, ref.grad = torch.tensor(g), torch.tensor(g)
        opt.step()
        clipped.step()
    assert torch.allclose(w, ref)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.25)


def test_dct_dim_steps_in_time_and_frequency():
    # one step by hand: the gradient is augmented with its DCT (padded 7 -> 8), Adam's
    # direction is taken per coordinate and mapped back by the inverse DCT
    g = torch.randn(2, 7, dtype=torch.float64)
    w = torch.zeros(2, 7, dtype=torch.float64, requires_grad=True)
    w._pyro_dct_dim = -1
    opt = DCTAdam([w], lr=0.3, clip_norm=100.0)
    w.grad = g.clone()
    opt.step()
    assert next_fast_len(7) == 8
    augmented = torch.cat([g, dct(torch.nn.functional.pad(g, (0, 1)))], -1)
    direction, scale = adam_direction([augmented])
    step = direction[:, :7] + idct(direction[:, 7:])[:, :7]
    assert torch.allclose(w.detach(), -0.3 * scale * step)
    assert opt.state[w]["exp_avg"].shape == (2, 15)


def test_subsample_aware_updates_only_the_block_with_per_element_steps():
    w = torch.zeros(4, 3, requires_grad=True)
    w._pyro_subsample = {-2: torch.tensor([0, 2])}
    opt = DCTAdam([w], lr=1.0, subsample_aware=True)
    w.grad = torch.ones(4, 3)
    opt.step()
    changed = (w != 0).any(-1)
    assert changed.tolist() == [True, False, True, False]
    assert torch.allclose(w[0], torch.full((3,), -1.0))  # first Adam step moves by lr
    w._pyro_subsample = {-2: torch.tensor([1, 2])}
    w.grad = torch.ones(4, 3)
    opt.step()
    steps = opt.state[w]["step"][:, 0]
    assert steps.tolist() == [1.0, 1.0, 2.0, 0.0]
    assert torch.allclose(w[1], torch.full((3,), -1.0))  # row 1's first step, bias-corrected


def test_subsample_aware_with_a_plate_and_the_pyro_call_style():
    def model():
        with ppl.plate("rows", 6, subsample_size=2, dim=-1):  # param dim -1 - event_dim
            ppl.param("loc", torch.ones(6, 3), event_dim=1)

    opt = optim.DCTAdam({"lr": 0.5, "subsample_aware": True})
    model()
    leaf = dict(ppl.get_param_store().named_parameters())["loc"]
    rows = leaf._pyro_subsample[-2]
    leaf.sum().backward()
    opt([leaf])
    moved = (leaf != 1.0).any(-1).nonzero().flatten()
    assert sorted(moved.tolist()) == sorted(rows.tolist())


def test_dct_adam_errors():
    with pytest.raises(ValueError, match="lr must be >= 0"):
        DCTAdam([torch.zeros(1, requires_grad=True)], lr=-1.0)
    w = torch.zeros(3, requires_grad=True)
    w._pyro_dct_dim = 0
    w.grad = torch.ones(3)
    with pytest.raises(ValueError, match="negative dim"):
        DCTAdam([w]).step()
    w._pyro_dct_dim = -1
    w._pyro_subsample = {-1: torch.tensor([0])}
    with pytest.raises(ValueError, match="both _pyro_dct_dim and a subsampled plate"):
        DCTAdam([w], subsample_aware=True).step()


def test_adagrad_rmsprop_matches_its_recursion():
    w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = AdagradRMSProp([w], eta=0.5, delta=0.01, t=0.2)
    x, s = torch.zeros(2, dtype=torch.float64), None
    for k, g in enumerate(([1.0, -2.0], [0.5, 3.0], [-1.0, 0.0]), 1):
        g = torch.tensor(g, dtype=torch.float64)
        s = g * g if s is None else 0.2 * g * g + 0.8 * s
        x = x - 0.5 * k ** (-0.5 + 0.01) * g / (1.0 + s.sqrt())
        w.grad = g.clone()
        opt.step()
    assert torch.allclose(w.detach(), x)
    assert isinstance(optim.AdagradRMSProp({"eta": 1.0}), optim.PPLOptimizer)
    with pytest.raises(ValueError, match="t must lie in"):
        AdagradRMSProp([w], t=0.0)
