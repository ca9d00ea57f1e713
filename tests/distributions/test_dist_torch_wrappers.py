"""Every torch distribution is re-exported as a subclass carrying the mixin."""

import math

import pytest
import torch

import ppl.distributions as dist
from ppl.distributions import TorchDistributionMixin

TORCH_NAMES = sorted(
    name
    for name in torch.distributions.__all__
    if isinstance(getattr(torch.distributions, name), type)
    and issubclass(getattr(torch.distributions, name), torch.distributions.Distribution)
    and name not in ("Distribution", "ExponentialFamily")
)


def test_every_torch_distribution_is_wrapped_under_its_name():
    assert len(TORCH_NAMES) >= 40
    for name in TORCH_NAMES:
        cls = getattr(dist, name)
        assert issubclass(cls, getattr(torch.distributions, name)), name
        assert issubclass(cls, TorchDistributionMixin), name
        assert name in dist.__all__


def _cases():
    p3 = torch.tensor([0.2, 0.3, 0.5])
    cov = torch.tensor([[2.0, 0.5], [0.5, 1.0]])
    return {
        "Bernoulli": lambda: dist.Bernoulli(torch.tensor([0.3, 0.6])),
        "Beta": lambda: dist.Beta(torch.tensor([2.0, 3.0]), 1.5),
        "Binomial": lambda: dist.Binomial(10, torch.tensor([0.3, 0.6])),
        "Categorical": lambda: dist.Categorical(p3.expand(2, 3)),
        "Cauchy": lambda: dist.Cauchy(torch.zeros(2), 1.0),
        "Chi2": lambda: dist.Chi2(torch.tensor([2.0, 3.0])),
        "Dirichlet": lambda: dist.Dirichlet(torch.ones(2, 3)),
        "Exponential": lambda: dist.Exponential(torch.tensor([1.0, 2.0])),
        "Gamma": lambda: dist.Gamma(torch.tensor([2.0, 3.0]), 1.0),
        "Geometric": lambda: dist.Geometric(torch.tensor([0.3, 0.6])),
        "Gumbel": lambda: dist.Gumbel(torch.zeros(2), 1.0),
        "HalfCauchy": lambda: dist.HalfCauchy(torch.ones(2)),
        "HalfNormal": lambda: dist.HalfNormal(torch.ones(2)),
        "Laplace": lambda: dist.Laplace(torch.zeros(2), 1.0),
        "LogNormal": lambda: dist.LogNormal(torch.zeros(2), 1.0),
        "LowRankMultivariateNormal": lambda: dist.LowRankMultivariateNormal(
            torch.zeros(2, 3), torch.ones(2, 3, 1), torch.ones(2, 3)
        ),
        "MixtureSameFamily": lambda: dist.MixtureSameFamily(
            dist.Categorical(torch.ones(2, 3)), dist.Normal(torch.zeros(2, 3), 1.0)
        ),
        "Multinomial": lambda: dist.Multinomial(5, p3.expand(2, 3)),
        "MultivariateNormal": lambda: dist.MultivariateNormal(torch.zeros(2, 2), cov),
        "NegativeBinomial": lambda: dist.NegativeBinomial(3.0, torch.tensor([0.3, 0.6])),
        "Normal": lambda: dist.Normal(torch.zeros(2), 1.0),
        "OneHotCategorical": lambda: dist.OneHotCategorical(p3.expand(2, 3)),
        "Poisson": lambda: dist.Poisson(torch.tensor([1.0, 4.0])),
        "RelaxedBernoulli": lambda: dist.RelaxedBernoulli(
            torch.tensor(0.5), torch.tensor([0.3, 0.6])
        ),
        "StudentT": lambda: dist.StudentT(3.0, torch.zeros(2), 1.0),
        "TransformedDistribution": lambda: dist.TransformedDistribution(
            dist.Normal(torch.zeros(2), 1.0), [dist.transforms.ExpTransform()]
        ),
        "Uniform": lambda: dist.Uniform(torch.zeros(2), 2.0),
        "VonMises": lambda: dist.VonMises(torch.zeros(2), 1.0),
        "Weibull": lambda: dist.Weibull(torch.ones(2), 2.0),
    }


CASES = _cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_wrapped_distribution_conveniences(name):
    torch.manual_seed(0)
    d = CASES[name]()
    assert type(d).__name__ == name and isinstance(d, TorchDistributionMixin)
    assert d.batch_shape == (2,)
    e = d.expand((4, 2))
    assert type(e) is type(d)
    x = e.sample((3,))
    assert x.shape == e.shape((3,)) == (3, 4, 2) + d.event_shape
    lp = e.log_prob(x)
    assert lp.shape == (3, 4, 2) and torch.isfinite(lp).all()
    # to_event(1) sums the batch dim into the event
    ind = d.to_event(1)
    assert torch.allclose(ind.log_prob(x[0, 0]), d.log_prob(x[0, 0]).sum())
    # masking zeroes exactly the masked entries
    m = d.mask(torch.tensor([True, False])).log_prob(x[0, 0])
    assert m[1].item() == 0.0 and m[0].item() == pytest.approx(d.log_prob(x[0, 0])[0].item())
    assert d.expand_by((5,)).batch_shape == (5, 2)


def test_kl_divergence_dispatches_on_torch_types():
    p = dist.Normal(torch.tensor(0.0), 1.0)
    q = dist.Normal(torch.tensor(1.0), 2.0)
    expected = math.log(2.0) + (1.0 + 1.0) / (2 * 4.0) - 0.5
    assert dist.kl_divergence(p, q).item() == pytest.approx(expected, rel=1e-6)
    kl = dist.kl_divergence(p.expand((3,)).to_event(1), q.expand((3,)).to_event(1))
    assert kl.item() == pytest.approx(3 * expected, rel=1e-6)


def test_torch_validation_still_works():
    with pytest.raises(ValueError, match="Expected parameter scale"):
        dist.Normal(0.0, -1.0, validate_args=True)
    d = dist.Beta(2.0, 2.0, validate_args=True)
    with pytest.raises(ValueError, match="to be within the support"):
        d.log_prob(torch.tensor(1.5))
    old = torch.distributions.Distribution._validate_args
    try:
        torch.distributions.Distribution.set_default_validate_args(True)
        with pytest.raises(ValueError, match="Expected parameter scale"):
            dist.Normal(0.0, -1.0)
    finally:
        torch.distributions.Distribution.set_default_validate_args(old)
