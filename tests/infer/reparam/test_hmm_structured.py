"""LinearHMMReparam (a LinearHMM site becomes a GaussianHMM given auxiliaries) and
StructuredReparam (the exact change of variables to an AutoStructured guide's noise)."""

from __future__ import annotations

import math

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.infer.autoguide import AutoStructured
from ppl.infer.reparam import (
    LinearHMMReparam,
    StructuredReparam,
    StudentTReparam,
    SymmetricStableReparam,
)


@pytest.fixture(autouse=True)
def _seed() -> None:
    ppl.clear_param_store()
    torch.manual_seed(0)


def _student_hmm(T: int = 4) -> dist.LinearHMM:
    init = dist.Normal(torch.zeros(2, dtype=torch.float64), 1.0).to_event(1)
    trans_mat = torch.tensor([[0.9, 0.1], [0.0, 0.8]], dtype=torch.float64)
    trans = dist.Normal(torch.zeros(2, dtype=torch.float64), 0.5).to_event(1)
    obs_mat = torch.tensor([[1.0], [0.5]], dtype=torch.float64).expand(T, 2, 1)
    obs = dist.StudentT(3.0, torch.zeros(T, 1, dtype=torch.float64), 0.7).to_event(1)
    return dist.LinearHMM(init, trans_mat, trans, obs_mat, obs)


def test_linear_hmm_reparam_observed_density_is_the_conditional_gaussian_hmm() -> None:
    hmm = _student_hmm()
    data = torch.randn(4, 1, dtype=torch.float64)

    def model() -> None:
        ppl.sample("x", hmm, obs=data)

    rep = poutine.reparam(model, {"x": LinearHMMReparam(obs=StudentTReparam())})
    tr = poutine.trace(rep).get_trace()
    assert tr.stochastic_nodes == ["x_obs_gamma"]
    site = tr.nodes["x"]
    assert isinstance(site["fn"], dist.GaussianHMM) and site["is_observed"]
    gamma = tr.nodes["x_obs_gamma"]["value"]
    assert gamma.shape == (4, 1)
    # given gamma, the observation noise is Normal(0, 0.7 / sqrt(gamma)): build it by hand
    noise = dist.Normal(torch.zeros(4, 1, dtype=torch.float64), 0.7 * gamma.rsqrt()).to_event(1)
    expected = dist.GaussianHMM(
        hmm.initial_dist,
        hmm.transition_matrix,
        hmm.transition_dist,
        hmm.observation_matrix,
        noise,
    ).log_prob(data)
    assert torch.allclose(site["fn"].log_prob(data), expected)
    assert torch.allclose(site["fn"].log_prob(data), tr.nodes["x"]["fn"].log_prob(site["value"]))


def test_linear_hmm_reparam_keeps_the_law_of_samples() -> None:
    """Marginally over the auxiliaries, the reparameterized site has the LinearHMM's law."""
    stable = dist.Stable(1.8, 0.0, torch.full((3, 1), 0.5)).to_event(1)
    init = dist.Normal(torch.zeros(1), 1.0).to_event(1)
    hmm = dist.LinearHMM(init, torch.full((1, 1), 0.6), stable, torch.ones(3, 1, 1), stable)
    n = 40000
    expected = hmm.sample((n,)).reshape(n, 3)
    rep = LinearHMMReparam(trans=SymmetricStableReparam(), obs=SymmetricStableReparam())
    with ppl.plate("n", n):
        with poutine.reparam(config={"x": rep}):
            actual = ppl.sample("x", hmm).reshape(n, 3)
    # stable tails: compare robust statistics (median, interquartile range)
    q = torch.tensor([0.25, 0.5, 0.75])
    eq, aq = expected.quantile(q, dim=0), actual.quantile(q, dim=0)
    iqr = eq[2] - eq[0]
    assert ((aq - eq).abs() < 0.05 * iqr).all()


def test_linear_hmm_reparam_lognormal_and_independent_and_errors() -> None:
    T = 3
    init = dist.Normal(torch.zeros(2, 1), 1.0).to_event(1)  # batch (2,): two series
    trans = dist.Normal(torch.zeros(2, T, 1), 0.3).to_event(1)
    obs = dist.LogNormal(torch.zeros(2, T, 1), 0.2).to_event(1)
    mat = torch.full((2, T, 1, 1), 0.5)
    indep = dist.IndependentHMM(dist.LinearHMM(init, mat, trans, mat, obs))
    data = torch.rand(T, 2) + 0.5

    def model() -> None:
        ppl.sample("x", indep, obs=data)

    tr = poutine.trace(poutine.reparam(model, {"x": LinearHMMReparam()})).get_trace()
    fn = tr.nodes["x"]["fn"]
    assert isinstance(fn, dist.IndependentHMM)
    assert isinstance(fn.base_dist, dist.TransformedDistribution)
    # LogNormal observations: log p(x) = GaussianHMM(log x) - sum log x, per series
    normal_obs = dist.Normal(torch.zeros(2, T, 1), 0.2).to_event(1)
    gauss = dist.GaussianHMM(init, mat, trans, mat, normal_obs)
    expected = (gauss.log_prob(data.log().T.unsqueeze(-1)) - data.log().sum(0)).sum()
    assert torch.allclose(fn.log_prob(data), expected, atol=1e-5)

    homogeneous = dist.LinearHMM(
        dist.Normal(torch.zeros(1), 1.0).to_event(1),
        torch.ones(1, 1),
        dist.Normal(torch.zeros(1), 1.0).to_event(1),
        torch.ones(1, 1),
        dist.Normal(torch.zeros(1), 1.0).to_event(1),
    )
    with pytest.raises(ValueError, match="at site 'z': LinearHMMReparam needs the LinearHMM's"):
        with poutine.reparam(config={"z": LinearHMMReparam()}):
            ppl.sample("z", homogeneous, obs=torch.zeros(3, 1))
    with pytest.raises(TypeError, match="at site 'w'"):
        with poutine.reparam(config={"w": LinearHMMReparam()}):
            ppl.sample("w", dist.Normal(0.0, 1.0))
    with pytest.raises(TypeError, match="obs must be a Reparam"):
        LinearHMMReparam(obs="studentt")  # type: ignore[arg-type]


def _funnel(dim: int = 3) -> None:
    y = ppl.sample("y", dist.Normal(0.0, 3.0))
    with ppl.plate("D", dim):
        ppl.sample("x", dist.Normal(0.0, torch.exp(y / 2)))
    ppl.sample("obs", dist.Normal(y, 1.0), obs=torch.tensor(0.5))


def _model_log_joint(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return (
        dist.Normal(0.0, 3.0).log_prob(y)
        + dist.Normal(0.0, torch.exp(y / 2)).log_prob(x).sum()
        + dist.Normal(y, 1.0).log_prob(torch.tensor(0.5))
    )


def test_structured_reparam_is_the_exact_change_of_variables() -> None:
    guide = AutoStructured(
        _funnel, conditionals={"y": "normal", "x": "mvn"}, dependencies={"x": {"y": "linear"}}
    ).setup()
    with torch.no_grad():  # a guide that is not the posterior: the identity must hold anyway
        for _, p in guide.named_parameters():
            p.add_(0.3 * torch.randn_like(p))
    rep = StructuredReparam(guide)
    model = rep.reparam(_funnel)
    u = {"y_aux": torch.tensor([0.4]), "x_aux": torch.tensor([0.3, -1.2, 0.8])}

    def flat_map(noise: torch.Tensor) -> torch.Tensor:
        out = rep.transform_samples({"y_aux": noise[:1], "x_aux": noise[1:]})
        return torch.cat([out["y"].reshape(1), out["x"].reshape(3)])

    noise = torch.cat([u["y_aux"], u["x_aux"]])
    xs = flat_map(noise)
    _, logdet = torch.linalg.slogdet(torch.autograd.functional.jacobian(flat_map, noise))
    tr = poutine.trace(poutine.condition(model, u)).get_trace()
    free = poutine.trace(model).get_trace()
    assert [n for n in free.stochastic_nodes if n != "D"] == ["y_aux", "x_aux"]
    assert tr.nodes["obs"]["fn"].__class__ is dist.Normal  # the likelihood is untouched
    expected = _model_log_joint(xs[0], xs[1:]) + logdet
    assert torch.allclose(tr.log_prob_sum(), expected, atol=1e-5)
    assert torch.allclose(tr.nodes["x"]["value"], xs[1:])


def test_structured_reparam_errors() -> None:
    with pytest.raises(TypeError, match="expected an AutoStructured guide"):
        StructuredReparam(object())  # type: ignore[arg-type]
    guide = AutoStructured(_funnel, conditionals="normal").setup()
    rep = StructuredReparam(guide)
    with pytest.raises(NotImplementedError, match="at site 'obs'"):
        with poutine.reparam(config={"obs": rep}):
            _funnel()
    assert math.isfinite(float(poutine.trace(rep.reparam(_funnel)).get_trace().log_prob_sum()))
