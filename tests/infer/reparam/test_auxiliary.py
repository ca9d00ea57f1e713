"""Auxiliary-variable reparameterizers keep the law of the site (moments / quantiles / density)."""

import math

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.infer.autoguide.initialization import InitMessenger, init_to_value
from ppl.infer.reparam import (
    GumbelSoftmaxReparam,
    LatentStableReparam,
    ProjectedNormalReparam,
    SplitReparam,
    StableReparam,
    StudentTReparam,
    SymmetricStableReparam,
)

N = 40000


def plated(fn, n=N):
    def model():
        with ppl.plate("n", n):
            return ppl.sample("x", fn)

    return model


def test_student_t_variance():
    df, scale = 6.0, 2.0
    x = poutine.reparam(plated(dist.StudentT(df, 1.0, scale)), {"x": StudentTReparam()})()
    var = scale**2 * df / (df - 2)
    assert abs(x.mean().item() - 1.0) < 4 * math.sqrt(var / N)
    # the sample variance of a t with 6 dof has a heavy-ish tail: a loose 6-sigma bound
    kurt = 3 + 6 / (df - 4)
    assert abs(x.var().item() - var) < 6 * var * math.sqrt((kurt - 1) / N)


def test_student_t_keeps_observations():
    obs = torch.tensor(0.3)
    tr = poutine.trace(
        poutine.reparam(
            lambda: ppl.sample("x", dist.StudentT(3.0, 0.0, 1.0), obs=obs), {"x": StudentTReparam()}
        )
    ).get_trace()
    assert tr.nodes["x"]["is_observed"] and tr.nodes["x"]["value"] is obs
    assert type(tr.nodes["x"]["fn"]).__name__ == "Normal"


def quantiles(x):
    return torch.quantile(x, torch.tensor([0.25, 0.5, 0.75]))


@pytest.mark.parametrize(
    "reparam, skew",
    [(LatentStableReparam(), 0.5), (SymmetricStableReparam(), 0.0), (StableReparam(), 0.5)],
)
def test_stable_quantiles_match_direct_sampling(reparam, skew):
    fn = dist.Stable(torch.tensor(1.6), torch.tensor(skew), torch.tensor(1.5), torch.tensor(0.5))
    direct = fn.sample((N,))
    model = plated(fn)
    if isinstance(reparam, LatentStableReparam):
        x = poutine.reparam(model, {"x": reparam})()
    else:  # a Normal given the noise: sample it
        tr = poutine.trace(poutine.reparam(model, {"x": reparam})).get_trace()
        x = tr.nodes["x"]["value"]
    # quartiles of a stable variate: standard error ~ 1 / (2 f(q) sqrt(N)), < 0.02 here
    assert torch.allclose(quantiles(x), quantiles(direct), atol=0.08)


def test_gumbel_softmax_matches_relaxed_one_hot_mean_and_inverts_init():
    fn = dist.RelaxedOneHotCategorical(torch.tensor(0.7), logits=torch.tensor([0.0, 1.0, -1.0]))
    x = poutine.reparam(plated(fn), {"x": GumbelSoftmaxReparam()})()
    direct = fn.sample((N,))
    assert torch.allclose(x.mean(0), direct.mean(0), atol=0.02)
    value = fn.sample()
    single = lambda: ppl.sample("x", fn)  # noqa: E731
    with InitMessenger(init_to_value(values={"x": value})):
        tr = poutine.trace(poutine.reparam(single, {"x": GumbelSoftmaxReparam()})).get_trace()
    assert torch.allclose(tr.nodes["x"]["value"], value)
    u = tr.nodes["x_uniform"]["value"]
    back = ((fn.logits - (-u.log()).log()) / fn.temperature).softmax(-1)
    assert torch.allclose(back, value, atol=1e-5)


def test_projected_normal_gives_unit_vectors_with_the_right_mean_direction():
    conc = torch.tensor([0.0, 0.0, 3.0])
    x = poutine.reparam(plated(dist.ProjectedNormal(conc)), {"x": ProjectedNormalReparam()})()
    assert torch.allclose(x.norm(dim=-1), torch.ones(N), atol=1e-5)
    direct = dist.ProjectedNormal(conc).sample((N,))
    assert torch.allclose(x.mean(0), direct.mean(0), atol=0.02)


def test_split_keeps_the_log_density():
    fn = dist.Normal(torch.arange(5.0), 2.0).to_event(1)
    x = fn.sample()
    with InitMessenger(init_to_value(values={"x": x})):
        tr = poutine.trace(
            poutine.reparam(lambda: ppl.sample("x", fn), {"x": SplitReparam([2, 3], -1)})
        ).get_trace()
    assert [tr.nodes[f"x_split_{i}"]["value"].shape for i in (0, 1)] == [(2,), (3,)]
    assert torch.allclose(tr.log_prob_sum(), fn.log_prob(x))


def test_observed_latent_only_reparams_raise():
    obs = torch.tensor([0.6, 0.8])
    with pytest.raises(NotImplementedError, match="does not support observed sites"):
        poutine.reparam(
            lambda: ppl.sample("x", dist.ProjectedNormal(torch.ones(2)), obs=obs),
            {"x": ProjectedNormalReparam()},
        )()
