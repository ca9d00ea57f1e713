"""LocScaleReparam: same prior and posterior as the centered model, exact Jacobian, init."""

import math

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.infer.reparam import LocScaleReparam

N = 40000


@pytest.mark.parametrize("centered", [0.0, 0.3, torch.tensor(0.7)])
def test_prior_moments_match_normal_normal(centered):
    # z | mu ~ N(mu, 0.5), mu ~ N(0, 1) per particle: z ~ N(0, 1.25) marginally
    def model():
        with ppl.plate("particles", N):
            mu = ppl.sample("mu", dist.Normal(0.0, 1.0))
            return ppl.sample("z", dist.Normal(mu, 0.5))

    z = poutine.reparam(model, {"z": LocScaleReparam(centered)})()
    var = 1.25
    assert abs(z.mean().item()) < 4 * math.sqrt(var / N)
    assert abs(z.var().item() - var) < 4 * var * math.sqrt(2 / N)


@pytest.mark.parametrize("centered", [0.0, 0.5])
def test_log_joint_differs_by_the_exact_jacobian(centered):
    # x = loc + scale**(1-c) * (x_dec - c*loc): log p_rep = log p(x) + (1 - c) log scale
    loc, scale = torch.tensor(0.7), torch.tensor(3.0)

    def model():
        return ppl.sample("x", dist.Normal(loc, scale))

    rep = poutine.trace(poutine.reparam(model, {"x": LocScaleReparam(centered)})).get_trace()
    x = rep.nodes["x"]["value"]
    orig = poutine.trace(poutine.condition(model, {"x": x})).get_trace()
    expected = orig.log_prob_sum() + (1 - centered) * scale.log()
    assert torch.allclose(rep.log_prob_sum(), expected, atol=1e-5)


def test_posterior_mean_matches_closed_form():
    # one datum y per particle (each particle its own model: mu and z in the plate);
    # prior importance sampling on both parameterizations estimates E[mu | y]
    y = torch.tensor(1.5)

    def model():
        with ppl.plate("particles", N):
            mu = ppl.sample("mu", dist.Normal(0.0, 1.0))
            z = ppl.sample("z", dist.Normal(mu, 0.5))
            ppl.sample("y", dist.Normal(z, 1.0), obs=y)

    exact = (y / 1.25) / (1 + 1 / 1.25)  # y | mu ~ N(mu, 1.25)
    for m in (model, poutine.reparam(model, {"z": LocScaleReparam(0.0)})):
        tr = poutine.trace(m).get_trace()
        tr.compute_log_prob()
        logw = tr.nodes["y"]["log_prob"]
        w = (logw - logw.logsumexp(0)).exp()
        mu = tr.nodes["mu"]["value"]
        estimate = (w * mu).sum()
        ess = 1 / (w**2).sum()
        se = ((w * (mu - estimate) ** 2).sum() / ess).sqrt()
        assert abs(estimate - exact) < 5 * se


def test_learnable_centering_is_a_unit_interval_param():
    def model():
        with ppl.plate("p", 3):
            return ppl.sample("x", dist.Normal(torch.zeros(3), 2.0))

    poutine.reparam(model, {"x": LocScaleReparam()})()
    centered = ppl.param("x_centered")
    assert centered.shape == ()
    assert centered.item() == pytest.approx(0.5)


def test_fully_centered_is_unchanged():
    tr = poutine.trace(
        poutine.reparam(lambda: ppl.sample("x", dist.Normal(0.0, 1.0)), {"x": LocScaleReparam(1.0)})
    ).get_trace()
    assert tr.stochastic_nodes == ["x"]


def test_shape_params_copied_for_student_t():
    r = LocScaleReparam(0.0)
    tr = poutine.trace(
        poutine.reparam(lambda: ppl.sample("x", dist.StudentT(5.0, 1.0, 2.0)), {"x": r})
    ).get_trace()
    assert r.shape_params == ("df",)
    assert tr.nodes["x_decentered"]["fn"].df.item() == 5.0


def test_invalid_arguments_raise():
    with pytest.raises(ValueError, match=r"centered must lie in \[0, 1\]"):
        LocScaleReparam(1.5)
    with pytest.raises(TypeError, match="centered must be a float"):
        LocScaleReparam("half")
    with pytest.raises(TypeError, match="shape_params must be a list"):
        LocScaleReparam(0.0, shape_params="df")
    with pytest.raises(TypeError, match=r"needs a distribution with \.loc and \.scale"):
        poutine.reparam(
            lambda: ppl.sample("x", dist.Gamma(2.0, 1.0)), {"x": LocScaleReparam(0.0)}
        )()
