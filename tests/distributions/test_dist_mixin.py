"""TorchDistributionMixin: to_event, expand, expand_by, mask, shape, __call__ (Pyro's rules)."""

import math

import pytest
import torch

import ppl.distributions as dist
from ppl.distributions import MaskedDistribution, TorchDistributionMixin

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def test_to_event_moves_batch_dims_and_merges_independents():
    d0 = dist.Normal(torch.zeros(2, 3, 4, 5), 1.0)
    d1 = d0.to_event(2)
    assert (d1.batch_shape, d1.event_shape) == ((2, 3), (4, 5))
    d2 = d1.to_event(1)
    assert (d2.batch_shape, d2.event_shape) == ((2,), (3, 4, 5))
    assert isinstance(d2, dist.Independent) and isinstance(d2.base_dist, dist.Normal)
    assert d2.reinterpreted_batch_ndims == 3
    d3 = d0.to_event()
    assert (d3.batch_shape, d3.event_shape) == ((), (2, 3, 4, 5))
    assert d3.event_dim == 4
    x = torch.zeros(2, 3, 4, 5)
    assert torch.allclose(d3.log_prob(x), torch.tensor(-120 * LOG_SQRT_2PI))
    assert d2.log_prob(x).shape == (2,)


def test_to_event_zero_returns_self_and_negative_undoes():
    d = dist.Normal(torch.zeros(2, 3), 1.0)
    assert d.to_event(0) is d
    ind = d.to_event(2)
    assert ind.to_event(0) is ind
    back = ind.to_event(-1)
    assert (back.batch_shape, back.event_shape) == ((2,), (3,))
    assert ind.to_event(-2) is d


@pytest.mark.parametrize(
    "make, n, error, match",
    [
        (lambda: dist.Normal(torch.zeros(3), 1.0), -1, ValueError, "cannot remove 1 event dims"),
        (lambda: dist.Normal(torch.zeros(3), 1.0), 2, ValueError, "has only 1 batch dims"),
        (
            lambda: dist.Normal(torch.zeros(2, 3), 1.0).to_event(1),
            -2,
            ValueError,
            "only 1 were added",
        ),
        (lambda: dist.Normal(0.0, 1.0), 1.5, TypeError, "expected an int"),
    ],
)
def test_to_event_errors(make, n, error, match):
    with pytest.raises(error, match=match):
        make().to_event(n)


def test_expand_returns_same_wrapped_class_and_scores_every_element():
    d = dist.Normal(torch.tensor([0.0, 1.0]), 2.0)
    e = d.expand((3, 2))
    assert type(e) is dist.Normal
    assert e.batch_shape == (3, 2)
    lp = e.log_prob(torch.ones(3, 2))
    expected = torch.tensor([-0.125, 0.0]) - math.log(2.0) - LOG_SQRT_2PI
    assert torch.allclose(lp, expected.expand(3, 2))
    ind = d.to_event(1).expand((4,))
    assert type(ind) is dist.Independent and type(ind.base_dist) is dist.Normal
    assert (ind.batch_shape, ind.event_shape) == ((4,), (2,))


def test_expand_by_prepends_and_draws_independently():
    d = dist.Normal(torch.zeros(3), 1.0).expand_by((1000, 2))
    assert d.batch_shape == (1000, 2, 3)
    x = d.sample()
    assert x.shape == (1000, 2, 3)
    # independent copies: the two rows are not equal, and each has unit variance
    assert not torch.equal(x[:, 0], x[:, 1])
    assert abs(x.var().item() - 1.0) < 0.1
    assert dist.Normal(0.0, 1.0).expand_by(()).batch_shape == ()


def test_shape_event_dim_and_call():
    d = dist.MultivariateNormal(torch.zeros(2, 3), torch.eye(3))
    assert d.shape() == (2, 3)
    assert d.shape((5,)) == (5, 2, 3)
    assert d.event_dim == 1
    assert d().shape == (2, 3)
    assert d((4,)).shape == (4, 2, 3)


def test_call_uses_rsample_when_reparameterized():
    loc = torch.tensor(1.0, requires_grad=True)
    x = dist.Normal(loc, 1.0)((10,))
    x.sum().backward()
    assert loc.grad.item() == pytest.approx(10.0)
    b = dist.Bernoulli(torch.tensor(0.5, requires_grad=True))()
    assert not b.requires_grad and not dist.Bernoulli(0.5).has_rsample


def test_call_rejects_bad_sample_shape():
    with pytest.raises(TypeError, match=r"Normal\(sample_shape\): expected a shape"):
        dist.Normal(0.0, 1.0)("five")


def test_mask_true_is_self_false_is_zero():
    d = dist.Normal(torch.zeros(3), 1.0)
    assert d.mask(True) is d
    m = d.mask(False)
    assert isinstance(m, MaskedDistribution)
    assert torch.equal(m.log_prob(torch.zeros(4, 3)), torch.zeros(4, 3))


def test_mask_zeroes_nan_log_prob():
    d = dist.Normal(torch.zeros(3), 1.0, validate_args=False)
    value = torch.tensor([0.0, float("nan"), 0.0])
    raw = d.log_prob(value)
    assert torch.isnan(raw[1])
    lp = d.mask(torch.tensor([True, False, True])).log_prob(value)
    assert torch.allclose(lp, torch.tensor([-LOG_SQRT_2PI, 0.0, -LOG_SQRT_2PI]))


def test_mask_gradient_with_finite_placeholder_and_false_mask():
    loc = torch.zeros(2, requires_grad=True)
    d = dist.Normal(loc, 1.0).mask(torch.tensor([True, False]))
    d.log_prob(torch.tensor([1.0, 5.0])).sum().backward()
    assert torch.equal(loc.grad, torch.tensor([1.0, 0.0]))
    # a Python False mask never evaluates the base, so even inf values give no nan
    scale = torch.tensor(1.0, requires_grad=True)
    lp = dist.Normal(0.0, scale, validate_args=False).mask(False).log_prob(torch.tensor(math.inf))
    assert lp.item() == 0.0 and not lp.requires_grad


def test_mask_broadcasts_batch_shape():
    d = dist.Normal(torch.zeros(3), 1.0).mask(torch.tensor([[True], [False]]))
    assert d.batch_shape == (2, 3)
    lp = d.log_prob(torch.zeros(2, 3))
    assert torch.allclose(lp[0], torch.full((3,), -LOG_SQRT_2PI))
    assert torch.equal(lp[1], torch.zeros(3))


def test_mask_errors():
    d = dist.Normal(torch.zeros(3), 1.0)
    with pytest.raises(ValueError, match=r"mask.shape vs batch_shape: shapes \(4,\), \(3,\)"):
        d.mask(torch.ones(4, dtype=torch.bool))
    with pytest.raises(TypeError, match="expected a bool or a bool tensor but got str"):
        d.mask("yes")


def test_mask_to_event_expand_compose():
    base = dist.Normal(torch.zeros(3, 2), 1.0)
    mask = torch.tensor([True, False, True])
    d = base.to_event(1).mask(mask).expand((4, 3))
    assert (d.batch_shape, d.event_shape) == ((4, 3), (2,))
    lp = d.log_prob(torch.zeros(4, 3, 2))
    expected = torch.tensor([-2 * LOG_SQRT_2PI, 0.0, -2 * LOG_SQRT_2PI]).expand(4, 3)
    assert torch.allclose(lp, expected)
    # mask first, then to_event: masked elements are dropped from the event sum
    d2 = base.mask(torch.tensor([[True, False]] * 3)).to_event(2)
    assert d2.log_prob(torch.zeros(3, 2)).item() == pytest.approx(-3 * LOG_SQRT_2PI)
    assert d2.has_rsample and d2.rsample().shape == (3, 2)


def test_masked_kl_is_masked():
    p = dist.Normal(torch.zeros(2), 1.0).mask(torch.tensor([True, False]))
    q = dist.Normal(torch.ones(2), 1.0).mask(True).mask(torch.tensor([True, True]))
    kl = dist.kl_divergence(p, q)
    assert torch.allclose(kl, torch.tensor([0.5, 0.0]))
    assert dist.kl_divergence(p, dist.Normal(torch.ones(2), 1.0).mask(False)) == 0.0


def test_score_parts_reparameterized_and_not():
    x = torch.tensor([0.0, 1.0])
    parts = dist.Normal(torch.zeros(2), 1.0).score_parts(x)
    assert parts.score_function == 0 and torch.equal(parts.entropy_term, parts.log_prob)
    b = dist.Bernoulli(torch.tensor([0.25, 0.5]))
    bp = b.score_parts(x)
    assert torch.allclose(bp.score_function, torch.log(torch.tensor([0.75, 0.5])))
    assert bp.entropy_term == 0
    masked = b.mask(torch.tensor([True, False])).score_parts(x).scale_and_mask(2.0)
    assert torch.allclose(masked.log_prob, torch.tensor([2 * math.log(0.75), 0.0]))


def test_independent_wraps_raw_torch_distributions():
    raw = torch.distributions.Normal(torch.zeros(2, 3), 1.0)
    d = dist.Independent(raw, 1)
    assert isinstance(d, TorchDistributionMixin)
    assert d.log_prob(torch.zeros(2, 3)).tolist() == pytest.approx([-3 * LOG_SQRT_2PI] * 2)
    assert d.to_event(1).event_shape == (2, 3)
    assert d.to_event(-1) is raw
    assert d.mask(torch.tensor([False, True])).log_prob(torch.zeros(2, 3))[0].item() == 0.0
    assert d.expand((5, 2)).batch_shape == (5, 2)


def test_has_rsample_follows_torch():
    assert dist.Normal(0.0, 1.0).has_rsample
    assert not dist.Poisson(1.0).has_rsample
    assert dist.Normal(0.0, 1.0).mask(torch.tensor([True])).has_rsample
    assert not dist.Poisson(torch.ones(2)).to_event(1).has_rsample
