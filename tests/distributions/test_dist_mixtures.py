"""MixtureGeneral and MixtureSameFamily: log_prob by hand, moments, rsample gradients."""

import math

import pytest
import torch

import ppl.distributions as dist
from ppl.distributions import constraints


def normal_pdf(x, mu, sigma):
    return math.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


def laplace_pdf(x, mu, b):
    return math.exp(-abs(x - mu) / b) / (2 * b)


def seed_guide_mixture(b, sig1):
    """The mixture of seed 002's ``guide_multimodal``."""
    return dist.MixtureGeneral(
        dist.Categorical(torch.tensor([0.5, 0.5])),
        [dist.Normal(loc=b, scale=sig1), dist.Normal(loc=-b, scale=sig1)],
    )


def test_mixture_general_log_prob_by_hand():
    mix = seed_guide_mixture(torch.tensor(1.0), torch.tensor(0.5))
    for x in [0.0, 0.7, -2.0]:
        expected = math.log(0.5 * normal_pdf(x, 1.0, 0.5) + 0.5 * normal_pdf(x, -1.0, 0.5))
        assert mix.log_prob(torch.tensor(x)).item() == pytest.approx(expected, rel=1e-6)


def test_mixture_general_of_different_families():
    mix = dist.MixtureGeneral(
        dist.Categorical(torch.tensor([0.3, 0.7])),
        [dist.Normal(0.0, 1.0), dist.Laplace(1.0, 2.0)],
    )
    xs = torch.tensor([-1.0, 0.5, 3.0])
    expected = [math.log(0.3 * normal_pdf(x, 0, 1) + 0.7 * laplace_pdf(x, 1, 2)) for x in xs]
    assert mix.log_prob(xs).tolist() == pytest.approx(expected, rel=1e-6)
    assert mix.mean.item() == pytest.approx(0.7)
    # Var = E[Var] + Var[E]: 0.3*1 + 0.7*8 + (0.3*0.49 + 0.7*0.09)
    assert mix.variance.item() == pytest.approx(0.3 + 5.6 + 0.3 * 0.49 + 0.7 * 0.09)
    cdf = 0.3 * 0.5 + 0.7 * 0.5 * math.exp(-0.5)
    assert mix.cdf(torch.tensor(0.0)).item() == pytest.approx(cdf, rel=1e-6)


def test_mixture_general_sampling_moments():
    torch.manual_seed(1)
    mix = dist.MixtureGeneral(
        dist.Categorical(torch.tensor([0.25, 0.75])),
        [dist.Normal(-2.0, 0.5), dist.Gamma(3.0, 2.0)],
        support=constraints.real,
    )
    n = 40_000
    x = mix.sample((n,))
    assert x.shape == (n,) and not x.requires_grad
    mean, var = mix.mean.item(), mix.variance.item()
    assert mean == pytest.approx(0.25 * -2.0 + 0.75 * 1.5)
    assert abs(x.mean().item() - mean) < 5 * math.sqrt(var / n)
    assert abs(x.var().item() - var) < 0.05 * var
    # fraction of draws from the negative component matches its weight
    frac = (x < -0.5).float().mean().item()
    assert abs(frac - 0.25) < 5 * math.sqrt(0.25 * 0.75 / n) + 0.002


def test_mixture_general_batch_event_shapes_and_expand():
    comps = [
        dist.MultivariateNormal(torch.zeros(3, 2), torch.eye(2)),
        dist.Normal(torch.ones(2), 1.0).to_event(1),
    ]
    mix = dist.MixtureGeneral(dist.Categorical(torch.ones(3, 2)), comps)
    assert (mix.batch_shape, mix.event_shape) == ((3,), (2,))
    x = mix.sample((5,))
    assert x.shape == (5, 3, 2)
    lp = mix.log_prob(x)
    assert lp.shape == (5, 3)
    v = torch.tensor([0.5, -0.5])
    one = math.log(normal_pdf(0.5, 0, 1) * normal_pdf(-0.5, 0, 1))
    two = math.log(normal_pdf(0.5, 1, 1) * normal_pdf(-0.5, 1, 1))
    expected = math.log(0.5 * math.exp(one) + 0.5 * math.exp(two))
    assert mix.log_prob(v).tolist() == pytest.approx([expected] * 3, rel=1e-6)
    e = mix.expand((4, 3))
    assert type(e) is dist.MixtureGeneral and e.sample().shape == (4, 3, 2)
    assert e.log_prob(v).shape == (4, 3)
    assert mix.expand_by((16,)).batch_shape == (16, 3)
    assert mix.to_event(1).log_prob(v).item() == pytest.approx(3 * expected, rel=1e-6)


def test_mixture_general_expanded_components_draw_independently():
    torch.manual_seed(0)
    mix = dist.MixtureGeneral(
        dist.Categorical(torch.tensor([0.5, 0.5])),
        [dist.Normal(0.0, 1.0), dist.Normal(0.0, 2.0)],
    ).expand((2000,))
    x = mix.sample()
    assert x.unique().numel() == 2000
    assert abs(x.var().item() - 2.5) < 0.25


def test_mixture_general_rsample_gradient():
    torch.manual_seed(2)
    b = torch.tensor(1.5, requires_grad=True)
    s = torch.tensor(0.8, requires_grad=True)
    mix = dist.MixtureGeneral(
        dist.Categorical(torch.tensor([0.3, 0.7])),
        [dist.Normal(b, s), dist.Normal(-b, s)],
    )
    assert mix.has_rsample
    n = 50_000
    x = mix.rsample((n,))
    # E[x] = 0.3 b - 0.7 b  => d/db = -0.4 ; E[x^2] = b^2 + s^2 => d/ds = 2 s
    gb, gs = torch.autograd.grad(x.mean(), [b, s], retain_graph=True)
    assert abs(gb.item() + 0.4) < 5 * math.sqrt(0.21 / n)
    assert abs(gs.item()) < 0.02
    gb2, gs2 = torch.autograd.grad((x**2).mean(), [b, s])
    assert gb2.item() == pytest.approx(2 * 1.5, rel=0.03)
    assert gs2.item() == pytest.approx(2 * 0.8, rel=0.03)
    # mixture.__call__ uses rsample, as the seed's guide relies on
    assert mix().requires_grad


def test_mixture_general_trainable_weights_use_score_function():
    w = torch.tensor(0.3, requires_grad=True)
    mix = dist.MixtureGeneral(
        dist.Categorical(torch.stack([w, 1 - w])), [dist.Normal(0.0, 1.0), dist.Normal(3.0, 1.0)]
    )
    assert not mix.has_rsample
    x = mix()
    assert not x.requires_grad
    with pytest.raises(NotImplementedError, match="mixing weights require grad"):
        mix.rsample()
    # the log-density still carries the weights' gradient
    (g,) = torch.autograd.grad(mix.log_prob(torch.tensor(0.0)), [w])
    p0, p1 = normal_pdf(0, 0, 1), normal_pdf(0, 3, 1)
    assert g.item() == pytest.approx((p0 - p1) / (0.3 * p0 + 0.7 * p1), rel=1e-5)


def test_mixture_general_rsample_needs_reparameterized_components():
    mix = dist.MixtureGeneral(
        dist.Categorical(torch.tensor([0.5, 0.5])),
        [dist.Normal(0.0, 1.0), dist.Poisson(2.0)],
        support=constraints.real,
    )
    assert not mix.has_rsample
    with pytest.raises(NotImplementedError, match=r"component_distributions\[1\] \(Poisson\)"):
        mix.rsample()


@pytest.mark.parametrize(
    "make, error, match",
    [
        (
            lambda: dist.MixtureGeneral(dist.Normal(0.0, 1.0), [dist.Normal(0.0, 1.0)]),
            TypeError,
            "mixing_distribution must be a Categorical",
        ),
        (
            lambda: dist.MixtureGeneral(dist.Categorical(torch.ones(2)), dist.Normal(0.0, 1.0)),
            TypeError,
            "use MixtureSameFamily",
        ),
        (
            lambda: dist.MixtureGeneral(
                dist.Categorical(torch.ones(2)), [dist.Normal(0.0, 1.0), 3]
            ),
            TypeError,
            r"component_distributions\[1\] must be a distribution",
        ),
        (
            lambda: dist.MixtureGeneral(
                dist.Categorical(torch.ones(3)), [dist.Normal(0.0, 1.0)] * 2
            ),
            ValueError,
            "has 3 categories but 2 component",
        ),
        (
            lambda: dist.MixtureGeneral(
                dist.Categorical(torch.ones(2)),
                [dist.Normal(0.0, 1.0), dist.Normal(torch.zeros(2), 1.0).to_event(1)],
            ),
            ValueError,
            r"event_shape=\(2,\) but component 0 has \(\)",
        ),
        (
            lambda: dist.MixtureGeneral(
                dist.Categorical(torch.ones(2)), [dist.Normal(0.0, 1.0), dist.HalfNormal(1.0)]
            ),
            ValueError,
            "component supports differ.*pass support=",
        ),
        (
            lambda: dist.MixtureGeneral(
                dist.Categorical(torch.ones(2)), [dist.Normal(0.0, 1.0)] * 2, support="real"
            ),
            TypeError,
            "support must be a Constraint",
        ),
        (
            lambda: dist.MixtureGeneral(
                dist.Categorical(torch.ones(2)),
                [dist.Normal(torch.zeros(3), 1.0), dist.Normal(torch.zeros(4), 1.0)],
            ),
            ValueError,
            r"batch shapes .* \(\), \(3,\), \(4,\) do not broadcast",
        ),
    ],
)
def test_mixture_general_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_mixture_general_equal_interval_supports_and_validation():
    mix = dist.MixtureGeneral(
        dist.Categorical(torch.ones(2)),
        [dist.Uniform(0.0, 1.0), dist.Uniform(0.0, 1.0)],
        validate_args=True,
    )
    assert mix.log_prob(torch.tensor(0.5)).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="to be within the support"):
        mix.log_prob(torch.tensor(2.0))


def test_mixture_same_family_log_prob_by_hand_and_moments():
    torch.manual_seed(3)
    w = torch.tensor([0.2, 0.8])
    mix = dist.MixtureSameFamily(dist.Categorical(w), dist.Normal(torch.tensor([-1.0, 2.0]), 0.5))
    assert type(mix) is dist.MixtureSameFamily and mix.batch_shape == ()
    x = 0.3
    expected = math.log(0.2 * normal_pdf(x, -1, 0.5) + 0.8 * normal_pdf(x, 2, 0.5))
    assert mix.log_prob(torch.tensor(x)).item() == pytest.approx(expected, rel=1e-6)
    n = 40_000
    draws = mix.sample((n,))
    mean, var = 0.2 * -1 + 0.8 * 2, 0.25 + 0.2 * 0.8 * 9
    assert abs(draws.mean().item() - mean) < 5 * math.sqrt(var / n)
    assert abs(draws.var().item() - var) < 0.05 * var
    e = mix.expand((3,))
    assert type(e) is dist.MixtureSameFamily and e.sample().shape == (3,)
    assert mix.expand_by((2,)).to_event(1).log_prob(torch.zeros(2)).shape == ()


def test_seed_guide_mixture_runs_in_a_vectorized_particle_plate():
    torch.manual_seed(4)
    b = torch.tensor(1.0, requires_grad=True)
    sig1 = torch.tensor(1.0, requires_grad=True)
    theta = torch.tensor(0.2, requires_grad=True)
    u1 = seed_guide_mixture(b, sig1).expand_by((16,))()
    u2 = dist.Normal(0.0, sig1)((16,))
    x = dist.Delta(torch.cos(theta) * u1 - torch.sin(theta) * u2)()
    assert x.shape == (16,)
    loss = (x**2).mean()
    loss.backward()
    assert b.grad is not None and torch.isfinite(b.grad) and b.grad.item() != 0.0
    assert theta.grad is not None and torch.isfinite(theta.grad)
