"""AutoStructured: names, shapes, exact density on a conjugate model, SVI accuracy."""

from __future__ import annotations

import math

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.infer import SVI, Trace_ELBO
from ppl.infer.autoguide import AutoStructured
from ppl.optim import ClippedAdam

Y1, Y2 = 1.5, -0.5


def conjugate_model() -> None:
    # a ~ N(0, 1); b | a ~ N(a/2, 1); y1 ~ N(a + b, 0.5); y2 ~ N(b, 1)
    a = ppl.sample("a", dist.Normal(torch.tensor(0.0, dtype=torch.float64), 1.0))
    b = ppl.sample("b", dist.Normal(0.5 * a, 1.0))
    ppl.sample("y1", dist.Normal(a + b, 0.5), obs=torch.tensor(Y1, dtype=torch.float64))
    ppl.sample("y2", dist.Normal(b, 1.0), obs=torch.tensor(Y2, dtype=torch.float64))


def exact_posterior() -> tuple[torch.Tensor, torch.Tensor, float]:
    """Posterior mean, covariance of (a, b) and log evidence, in closed form."""
    d = torch.float64
    # prior: z = L e with L = [[1, 0], [0.5, 1]]
    lower = torch.tensor([[1.0, 0.0], [0.5, 1.0]], dtype=d)
    prior_cov = lower @ lower.T
    h = torch.tensor([[1.0, 1.0], [0.0, 1.0]], dtype=d)
    noise = torch.diag(torch.tensor([0.25, 1.0], dtype=d))
    y = torch.tensor([Y1, Y2], dtype=d)
    precision = torch.linalg.inv(prior_cov) + h.T @ torch.linalg.inv(noise) @ h
    cov = torch.linalg.inv(precision)
    mean = cov @ h.T @ torch.linalg.inv(noise) @ y
    marginal = dist.MultivariateNormal(torch.zeros(2, dtype=d), h @ prior_cov @ h.T + noise)
    return mean, cov, float(marginal.log_prob(y))


def _guide() -> AutoStructured:
    return AutoStructured(
        conjugate_model,
        conditionals={"a": "mvn", "b": "normal"},
        dependencies={"b": {"a": "linear"}},
    ).setup()


def test_parameter_names_follow_pyro() -> None:
    ppl.clear_param_store()
    guide = _guide()
    guide()
    assert sorted(ppl.get_param_store()) == [
        "AutoStructured.deps.b.a$$$weight",
        "AutoStructured.locs.a",
        "AutoStructured.locs.b",
        "AutoStructured.scale_trils.a",
        "AutoStructured.scales.a",
        "AutoStructured.scales.b",
    ]
    assert guide.deps.b.a.weight.shape == (1, 1)
    assert float(guide.scales.a) == pytest.approx(0.1)


def test_inferred_dependencies_follow_posterior_structure() -> None:
    def model() -> None:
        x = ppl.sample("x", dist.Normal(0.0, 1.0))
        y = ppl.sample("y", dist.Normal(0.0, 1.0))
        z = ppl.sample("z", dist.Normal(x, 1.0))
        w = ppl.sample("w", dist.Normal(0.0, 1.0))  # independent of everything
        ppl.sample("obs", dist.Normal(z + y, 1.0), obs=torch.tensor(0.0))
        del w

    ppl.clear_param_store()
    guide = AutoStructured(model).setup()
    # x-z (prior edge), y-z (shared observation); nothing for w; oriented by order
    assert guide.dependencies == {"z": {"x": "linear", "y": "linear"}}
    assert guide._sorted_sites == ["w", "x", "y", "z"]


def test_exact_parameters_give_zero_variance_elbo() -> None:
    # With the guide set to the exact posterior, log p(y, z) - log q(z) = log p(y)
    # for every draw: the ELBO is the log evidence with no Monte Carlo error.
    ppl.clear_param_store()
    mean, cov, log_evidence = exact_posterior()
    guide = _guide()
    store = ppl.get_param_store()
    sd_a = cov[0, 0].sqrt()
    w = cov[0, 1] / cov[0, 0]  # regression of b's noise on a's noise
    sd_b = (cov[1, 1] - w * cov[0, 1]).sqrt()
    with torch.no_grad():
        store["AutoStructured.locs.a"] = mean[:1].clone()
        store["AutoStructured.locs.b"] = mean[1:].clone()
        store["AutoStructured.scales.a"] = sd_a.reshape(1).clone()
        store["AutoStructured.scale_trils.a"] = torch.ones(1, 1, dtype=torch.float64)
        store["AutoStructured.scales.b"] = sd_b.reshape(1).clone()
        guide.deps.b.a.weight.copy_(w.reshape(1, 1))
    ppl.set_rng_seed(0)
    for _ in range(5):
        loss = Trace_ELBO().loss(conjugate_model, guide)
        assert loss == pytest.approx(-log_evidence, abs=1e-10)
    cov_guide = guide.covariance()
    assert float(cov_guide[("a", "b")]) == pytest.approx(float(cov[0, 1]), abs=1e-12)
    assert float(cov_guide[("b", "b")]) == pytest.approx(float(cov[1, 1]), abs=1e-12)
    q = guide.quantiles([0.5, 0.975])
    assert float(q["b"][1]) == pytest.approx(float(mean[1] + 1.959963984540054 * cov[1, 1].sqrt()))


@pytest.mark.slow
def test_svi_reaches_exact_posterior() -> None:
    # mvn(a) + normal(b) + linear b <- a spans every 2-D Gaussian, so the ELBO's
    # optimum is the exact posterior; a decaying learning rate removes Adam's noise
    ppl.set_rng_seed(1)
    ppl.clear_param_store()
    mean, cov, _ = exact_posterior()
    guide = _guide()
    optim = ClippedAdam({"lr": 0.05, "lrd": 0.996})
    svi = SVI(conjugate_model, guide, optim, Trace_ELBO(num_particles=16, vectorize_particles=True))
    for _ in range(1000):
        svi.step()
    med = guide.median()
    # at the final lr (~1e-3) the stationary error is ~0.01 on each location
    assert float(med["a"]) == pytest.approx(float(mean[0]), abs=0.03)
    assert float(med["b"]) == pytest.approx(float(mean[1]), abs=0.03)
    c = guide.covariance()
    got = torch.tensor([[c[("a", "a")], c[("a", "b")]], [c[("b", "a")], c[("b", "b")]]])
    assert torch.allclose(got.double(), cov, atol=0.02)


def test_density_with_constrained_sites_and_delta() -> None:
    # log q(s) = Normal(loc=0, 0.1) density of log(s), minus log(s) (the Jacobian)
    def model() -> None:
        s = ppl.sample("s", dist.LogNormal(0.0, 1.0))
        with ppl.plate("p", 3):
            ppl.sample("x", dist.Normal(0.0, s))

    ppl.clear_param_store()
    guide = AutoStructured(model, conditionals={"s": "normal", "x": "delta"}).setup()
    tr = poutine.trace(guide).get_trace()
    tr.compute_log_prob()
    s = tr.nodes["s"]["value"]
    expected = dist.Normal(0.0, 0.1).log_prob(s.log()) - s.log()
    got = tr.nodes["s_aux"]["log_prob"] + tr.nodes["s"]["log_prob"]  # noise + Delta
    assert float(got) == pytest.approx(float(expected), abs=1e-5)
    assert tr.nodes["x"]["value"].shape == (3,)
    assert float(tr.nodes["x"]["log_prob"].sum()) == 0.0
    assert tr.nodes["s_aux"]["infer"]["is_auxiliary"]
    assert guide.dependencies == {"x": {"s": "linear"}}
    assert torch.equal(guide.median()["x"], torch.zeros(3))
    assert guide.quantiles([0.2, 0.8])["x"].shape == (2, 3)


def test_callable_conditional_and_dependency() -> None:
    def model() -> None:
        u = ppl.sample("u", dist.Normal(torch.zeros(2), 1.0).to_event(1))
        ppl.sample("v", dist.Normal(u.sum(), 1.0))

    def noise_u() -> torch.Tensor:
        scale = ppl.param("noise_scale", torch.ones(2), constraint=dist.constraints.positive)
        return ppl.sample("u_noise", dist.Normal(0.0, scale).to_event(1))

    def dep_v_u(aux_u: torch.Tensor) -> torch.Tensor:
        return aux_u.sum(-1, keepdim=True) * 2.0

    ppl.clear_param_store()
    guide = AutoStructured(
        model, conditionals={"u": noise_u, "v": "delta"}, dependencies={"v": {"u": dep_v_u}}
    ).setup()
    tr = poutine.trace(guide).get_trace()
    u, v = tr.nodes["u"]["value"], tr.nodes["v"]["value"]
    assert tr.nodes["u_noise"]["infer"]["is_auxiliary"]
    assert float(v) == pytest.approx(2.0 * float(u.sum()))
    with pytest.raises(NotImplementedError, match="'u' has a callable conditional"):
        guide.quantiles([0.5])


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="unsupported conditional 'laplace' for 'x'"):
        AutoStructured(conjugate_model, conditionals={"x": "laplace"})
    with pytest.raises(ValueError, match="'a' depends on itself"):
        AutoStructured(
            conjugate_model, conditionals={"a": "mvn"}, dependencies={"a": {"a": "linear"}}
        )
    ppl.clear_param_store()
    guide = AutoStructured(
        conjugate_model, dependencies={"a": {"b": "linear"}, "b": {"a": "linear"}}
    )
    with pytest.raises(ValueError, match="cycle"):
        guide.setup()
    with pytest.raises(ValueError, match="init_scale"):
        AutoStructured(conjugate_model, init_scale=-1.0)


def test_vectorized_particles_shapes() -> None:
    ppl.clear_param_store()
    guide = _guide()
    loss = Trace_ELBO(num_particles=4, vectorize_particles=True).loss(conjugate_model, guide)
    assert math.isfinite(loss)
