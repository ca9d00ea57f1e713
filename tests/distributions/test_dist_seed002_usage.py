"""Seed 002's uses of MixtureGeneral, Delta, ImproperUniform and factor, through ppl.sample."""

import math

import torch

import ppl
import ppl.distributions as dist
from ppl.distributions import constraints


def guide_multimodal():
    sig1_q = ppl.param("sig1_q", torch.tensor(1.0), constraint=constraints.positive)
    sig2_q = ppl.param("sig2_q", torch.tensor(1.0), constraint=constraints.positive)
    b = ppl.param("b", torch.tensor(1.0), constraint=constraints.positive)
    theta = ppl.param(
        "theta", torch.tensor(0.0), constraint=constraints.interval(-math.pi / 2, math.pi / 2)
    )
    weighting = torch.tensor([0.5, 0.5])
    gauss_mix = dist.MixtureGeneral(
        dist.Categorical(weighting),
        [dist.Normal(loc=b, scale=sig1_q), dist.Normal(loc=-b, scale=sig1_q)],
    )
    u1 = ppl.sample("u1", gauss_mix, infer={"is_auxiliary": True})
    u2 = ppl.sample("u2", dist.Normal(0, sig2_q), infer={"is_auxiliary": True})
    c, s = torch.cos(theta), torch.sin(theta)
    ppl.sample("x", dist.Delta(c * u1 - s * u2))
    ppl.sample("y", dist.Delta(c * u2 + s * u1))


def model_forauto():
    x = ppl.sample("x", dist.ImproperUniform(constraints.real, (), ()))
    y = ppl.sample("y", dist.ImproperUniform(constraints.real, (), ()))
    ppl.factor("logfac", -0.5 * (x**2 + (y / 3.0) ** 2))


def test_seed_guide_and_model_score_and_differentiate_in_a_particle_plate():
    with ppl.plate("particles", 16, dim=-1):
        guide_tr = ppl.poutine.trace(guide_multimodal).get_trace()
        model_tr = ppl.poutine.trace(ppl.poutine.replay(model_forauto, trace=guide_tr)).get_trace()
    x = guide_tr.nodes["x"]["value"]
    y = guide_tr.nodes["y"]["value"]
    assert x.shape == y.shape == (16,)
    # the Delta sites score 0 at their own value; ImproperUniform scores 0 on the reals
    assert torch.equal(guide_tr.nodes["x"]["fn"].log_prob(x), torch.zeros(16))
    expected = (-0.5 * (x**2 + (y / 3.0) ** 2)).sum()
    assert torch.allclose(model_tr.log_prob_sum(), expected)
    elbo = model_tr.log_prob_sum() - guide_tr.log_prob_sum()
    elbo.backward()
    grads = {name: p.grad for name, p in ppl.get_param_store().named_parameters()}
    assert set(grads) == {"sig1_q", "sig2_q", "b", "theta"}
    assert all(g is not None and torch.isfinite(g) and g.item() != 0.0 for g in grads.values())
