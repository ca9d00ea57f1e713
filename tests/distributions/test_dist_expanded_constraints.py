"""ExpandedDistribution (fallback expand), extra constraints and transforms, registries."""

import math

import pytest
import torch

import ppl.distributions as dist
from ppl.distributions import constraints, transforms
from ppl.distributions.util import constraints_equal


class CoinFlips(dist.TorchDistribution):
    """A tiny distribution without an ``expand`` of its own (Bernoulli(p) scaled to ±1)."""

    arg_constraints = {"p": constraints.unit_interval}
    support = constraints.real

    def __init__(self, p):
        self.p = p
        super().__init__(p.shape, torch.Size(), validate_args=False)

    def sample(self, sample_shape=()):
        shape = torch.Size(sample_shape) + self.batch_shape
        return torch.bernoulli(self.p.expand(shape)) * 2 - 1

    def log_prob(self, value):
        return torch.where(value > 0, self.p.log(), (1 - self.p).log())


def test_expand_falls_back_to_expanded_distribution():
    torch.manual_seed(0)
    d = CoinFlips(torch.tensor([[0.1], [0.9]]))  # batch (2, 1)
    e = d.expand((5, 2, 3))
    assert isinstance(e, dist.ExpandedDistribution) and e.batch_shape == (5, 2, 3)
    x = e.sample((1000,))
    assert x.shape == (1000, 5, 2, 3)
    # interstitial dim 2 (size 1 -> 3) and leading dim 0 get independent draws ...
    assert not torch.equal(x[..., 0], x[..., 1])
    assert not torch.equal(x[:, 0], x[:, 1])
    # ... and each row keeps its own probability
    assert abs((x[:, :, 0] > 0).float().mean().item() - 0.1) < 0.02
    assert abs((x[:, :, 1] > 0).float().mean().item() - 0.9) < 0.02
    lp = e.log_prob(torch.ones(5, 2, 3))
    assert lp.shape == (5, 2, 3)
    assert lp[0, 0, 0].item() == pytest.approx(math.log(0.1))
    assert d.expand_by((4,)).batch_shape == (4, 2, 1)
    assert e.expand((7, 5, 2, 3)).batch_shape == (7, 5, 2, 3)


def test_expanded_distribution_errors():
    d = CoinFlips(torch.tensor([0.5, 0.5]))
    with pytest.raises(ValueError, match=r"cannot expand CoinFlips with batch_shape=\(2,\)"):
        d.expand((3,))
    with pytest.raises(ValueError, match=r"cannot expand CoinFlips"):
        dist.ExpandedDistribution(d, ())


def test_expanded_distribution_rsample_and_moments():
    torch.manual_seed(0)
    loc = torch.tensor([1.0], requires_grad=True)
    e = dist.ExpandedDistribution(dist.Normal(loc, 2.0), (4000, 3))
    x = e.rsample()
    assert x.shape == (4000, 3)
    assert abs(x.mean().item() - 1.0) < 5 * 2 / math.sqrt(12000)
    assert abs(x.std().item() - 2.0) < 0.06
    x.sum().backward()
    assert loc.grad.item() == pytest.approx(12000.0)
    assert e.mean.shape == (4000, 3) and e.variance[0, 0].item() == 4.0


@pytest.mark.parametrize(
    "constraint, shape",
    [
        (constraints.softplus_positive, (4,)),
        (constraints.softplus_lower_cholesky, (2, 3, 3)),
        (constraints.ordered_vector, (2, 4)),
        (constraints.positive_ordered_vector, (4,)),
        (constraints.lower_cholesky, (3, 3)),
        (constraints.positive_definite, (3, 3)),
        (constraints.positive, (4,)),
        (constraints.interval(-math.pi / 2, math.pi / 2), (4,)),
    ],
)
def test_biject_to_round_trips(constraint, shape):
    torch.manual_seed(0)
    t = transforms.biject_to(constraint)
    y = t(torch.randn(shape))
    assert constraint.check(y).all()
    assert torch.allclose(t(t.inv(y)), y, atol=1e-5)
    assert constraints_equal(transforms.transform_to(constraint).codomain, t.codomain) or (
        constraint is constraints.positive_definite
    )


def test_extra_constraints_check_values():
    assert constraints.ordered_vector.check(
        torch.tensor([[1.0, 2.0, 3.0], [1.0, 1.0, 2.0]])
    ).tolist() == [True, False]
    assert constraints.positive_ordered_vector.check(torch.tensor([-1.0, 2.0])).item() is False
    assert constraints.softplus_positive.check(torch.tensor([0.5, -0.5])).tolist() == [True, False]
    assert isinstance(constraints.softplus_positive, type(constraints.positive))
    assert constraints.softplus_lower_cholesky.check(torch.eye(2)).item()
    assert not constraints.softplus_lower_cholesky.check(torch.ones(2, 2)).item()
    assert transforms.biject_to(constraints.softplus_positive)(torch.tensor(0.0)).item() == (
        pytest.approx(math.log(2.0))
    )


def test_ordered_transform_log_det_matches_autograd():
    x = torch.tensor([0.3, -0.2, 0.7])
    t = transforms.OrderedTransform()
    jac = torch.autograd.functional.jacobian(t, x)
    expected = torch.linalg.slogdet(jac).logabsdet
    assert t.log_abs_det_jacobian(x, t(x)).item() == pytest.approx(expected.item(), rel=1e-6)
    assert t(torch.tensor([1.0, 0.0, 0.0])).tolist() == [1.0, 2.0, 3.0]


def test_softplus_lower_cholesky_log_det_matches_autograd():
    x = torch.tensor([[0.3, 9.0], [-0.2, -1.1]])
    t = transforms.SoftplusLowerCholeskyTransform()
    idx = torch.tril_indices(2, 2)

    def on_tril(v):
        m = torch.zeros(2, 2).index_put((idx[0], idx[1]), v)
        return t(m)[idx[0], idx[1]]

    jac = torch.autograd.functional.jacobian(on_tril, x[idx[0], idx[1]])
    expected = torch.linalg.slogdet(jac).logabsdet
    assert t.log_abs_det_jacobian(x, t(x)).item() == pytest.approx(expected.item(), rel=1e-6)
    assert t(x)[0, 1].item() == 0.0  # the upper triangle is ignored


def test_constraints_equal():
    assert constraints_equal(constraints.interval(0.0, 1.0), constraints.interval(0.0, 1.0))
    assert not constraints_equal(constraints.interval(0.0, 1.0), constraints.interval(0.0, 2.0))
    assert constraints_equal(
        constraints.independent(constraints.real, 1), constraints.independent(constraints.real, 1)
    )
    assert not constraints_equal(constraints.positive, constraints.softplus_positive)
    a = constraints.greater_than(torch.zeros(2))
    assert constraints_equal(a, constraints.greater_than(torch.zeros(2)))
    assert not constraints_equal(a, constraints.greater_than(torch.ones(2)))


def test_reexports_are_torchs_objects():
    assert constraints.real is torch.distributions.constraints.real
    assert transforms.ExpTransform is torch.distributions.transforms.ExpTransform
    assert dist.biject_to is torch.distributions.biject_to
    for name in torch.distributions.constraints.__all__:
        assert getattr(constraints, name) is getattr(torch.distributions.constraints, name)
    for name in torch.distributions.transforms.__all__:
        assert getattr(transforms, name) is getattr(torch.distributions.transforms, name)


def test_value_shape_errors_name_the_method():
    with pytest.raises(ValueError, match=r"MaskedDistribution.log_prob: value batch shape"):
        dist.Normal(torch.zeros(3), 1.0).mask(False).log_prob(torch.zeros(4))
    with pytest.raises(ValueError, match=r"Unit.log_prob: value batch shape"):
        dist.Unit(torch.zeros(3)).log_prob(torch.zeros(4, 0))
    e = CoinFlips(torch.tensor([0.5])).expand((3,))
    with pytest.raises(ValueError, match=r"ExpandedDistribution.log_prob: value batch shape"):
        e.log_prob(torch.ones(4))
    with pytest.raises(ValueError, match=r"ExpandedDistribution.expand: cannot expand batch_shape"):
        e.expand((4,))


def test_masked_distribution_rejects_non_distribution():
    with pytest.raises(TypeError, match="base_dist must be a torch Distribution but got int"):
        dist.MaskedDistribution(3, True)


def test_mixture_cdf_needs_scalar_events():
    mix = dist.MixtureGeneral(
        dist.Categorical(torch.ones(2)), [dist.Normal(torch.zeros(2), 1.0).to_event(1)] * 2
    )
    with pytest.raises(NotImplementedError, match="only for scalar events"):
        mix.cdf(torch.zeros(2))


def test_expanded_distribution_expand_cannot_shrink_or_drop_dims():
    e = dist.ExpandedDistribution(dist.Normal(torch.zeros(1), 1.0), (2, 1))
    assert e.expand((5, 2, 3)).batch_shape == (5, 2, 3)
    for bad in [(4, 3), (2,), (3, 1)]:
        with pytest.raises(ValueError, match="cannot expand"):
            e.expand(bad)
