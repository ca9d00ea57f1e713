"""Importance sampling, TracePosterior, EmpiricalMarginal and the PSIS diagnostic."""

import math

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.infer import SVI, EmpiricalMarginal, Importance, Trace_ELBO, TracePredictive
from ppl.infer.abstract_infer import Marginals, TracePosterior
from ppl.infer.importance import psis_diagnostic, vectorized_importance_weights
from ppl.ops.stats import waic
from ppl.optim import Adam

# conjugate model: z ~ N(0, s0^2), x_i | z ~ N(z, s^2)
S0, S = 1.5, 1.0
DATA = torch.tensor([0.8, 1.4, 0.3])


def model(data=DATA):
    z = ppl.sample("z", dist.Normal(0.0, S0))
    with ppl.plate("data", len(data)):
        ppl.sample("x", dist.Normal(z, S), obs=data)
    return z


def exact_posterior(data=DATA):
    precision = 1 / S0**2 + len(data) / S**2
    mean = data.sum() / S**2 / precision
    return float(mean), 1 / precision


def exact_log_evidence(data=DATA):
    n = len(data)
    cov = S**2 * torch.eye(n) + S0**2 * torch.ones(n, n)
    return float(dist.MultivariateNormal(torch.zeros(n), cov).log_prob(data))


def posterior_guide(data=DATA):
    mean, var = exact_posterior(data)
    ppl.sample("z", dist.Normal(mean, var**0.5))


@pytest.fixture(scope="module")
def prior_posterior():
    """Importance sampling from the prior, shared by the tests that only read it."""
    ppl.set_rng_seed(1)
    return Importance(model, num_samples=1500).run()


def test_log_normalizer_matches_closed_form_evidence_within_mc_error(prior_posterior):
    post = prior_posterior
    log_w = torch.stack(post.log_weights)
    w = (log_w - log_w.max()).exp()
    # delta method: se(log mean w) = sd(w) / (mean(w) sqrt(N))
    se = float(w.std() / w.mean()) / math.sqrt(len(w))
    assert abs(float(post.get_log_normalizer()) - exact_log_evidence()) < 4 * se


def test_exact_proposal_gives_constant_weights_full_ess_and_exact_evidence():
    post = Importance(model, posterior_guide, num_samples=50).run()
    assert float(post.get_ESS()) == pytest.approx(50.0, rel=1e-5)
    assert float(post.get_log_normalizer()) == pytest.approx(exact_log_evidence(), abs=1e-4)
    weights = post.get_normalized_weights()
    assert torch.allclose(weights, torch.full((50,), 1 / 50), atol=1e-6)


def test_empirical_marginal_matches_conjugate_posterior(prior_posterior):
    post = prior_posterior
    marginal = EmpiricalMarginal(post, "z")
    mean, var = exact_posterior()
    ess = float(post.get_ESS())
    assert abs(float(marginal.mean) - mean) < 4 * math.sqrt(var / ess)
    # a Gaussian sample variance has relative standard error sqrt(2 / n)
    assert float(marginal.variance) == pytest.approx(var, rel=4 * math.sqrt(2 / ess))
    # _RETURN is the default site; Marginals holds one marginal per site
    assert torch.equal(EmpiricalMarginal(post).enumerate_support(), marginal.enumerate_support())
    assert set(Marginals(post, ["z"]).empirical) == {"z"}


# --- the idea of Pyro's inclined-plane example -------------------------------------
G, LENGTH, ANGLE = 9.81, 2.0, math.radians(30.0)


def slide_time(mu):
    """Time a block takes to slide LENGTH down the plane with friction coefficient mu."""
    accel = G * (math.sin(ANGLE) - mu * math.cos(ANGLE))
    return (2 * LENGTH / accel) ** 0.5


def plane_model(times):
    mu = ppl.sample("mu", dist.Uniform(0.0, 0.4))
    with ppl.plate("runs", len(times)):
        ppl.sample("t", dist.Normal(slide_time(mu), 0.02), obs=times)
    return mu


def test_inclined_plane_recovers_the_friction_coefficient():
    true_mu = 0.15
    times = slide_time(torch.tensor(true_mu)) + 0.02 * torch.randn(20)
    post = Importance(plane_model, num_samples=1000).run(times)
    marginal = EmpiricalMarginal(post, "mu")
    # the exact posterior mean, by quadrature on a fine grid
    grid = torch.linspace(0.0, 0.4, 20001)[1:-1]
    log_lik = dist.Normal(slide_time(grid).unsqueeze(-1), 0.02).log_prob(times).sum(-1)
    exact_w = (log_lik - log_lik.max()).exp()
    exact_mean = float((grid * exact_w).sum() / exact_w.sum())
    exact_sd = float(((grid - exact_mean) ** 2 * exact_w).sum() / exact_w.sum()) ** 0.5
    ess = float(post.get_ESS())
    assert abs(float(marginal.mean) - exact_mean) < 4 * exact_sd / math.sqrt(ess)
    assert abs(exact_mean - true_mu) < 4 * exact_sd


def test_trace_posterior_draws_information_criterion_and_errors():
    post = Importance(model, posterior_guide, num_samples=20)
    with pytest.raises(ValueError, match="run"):
        post()
    post.run()
    drawn = post()
    assert "x" not in drawn.nodes and "z" in drawn.nodes
    ic = post.information_criterion(pointwise=True)
    ll = torch.stack([tr.nodes["x"]["fn"].log_prob(DATA) for tr in post.exec_traces])
    expected, p_waic = waic(ll, torch.stack(post.log_weights), pointwise=True)
    assert torch.allclose(ic["waic"], expected) and torch.allclose(ic["p_waic"], p_waic)
    with pytest.raises(TypeError, match="TracePosterior"):
        EmpiricalMarginal(object(), "z")
    with pytest.raises(ValueError, match="num_samples"):
        Importance(model, num_samples=0)


def test_run_blocks_enclosing_trace():
    with poutine.trace() as tr:
        Importance(model, num_samples=3).run()
    assert len(tr.trace.nodes) == 0


def test_chains_become_a_batch_dim():
    class TwoChains(TracePosterior):
        def _traces(self):
            for i in range(6):
                yield poutine.trace(model).get_trace(), 0.0, i % 2

    post = TwoChains(num_chains=2).run()
    marginal = EmpiricalMarginal(post, "z")
    assert marginal.batch_shape == (2,) and marginal.sample_size == 6
    assert Marginals(post, "z").support(flatten=True)["z"].shape == (6,)


def test_trace_predictive_replays_posterior_latents():
    post = Importance(model, posterior_guide, num_samples=30).run()
    with pytest.warns(FutureWarning):
        predictive = TracePredictive(model, post, num_samples=10)
    predictive.run()
    latents = {float(tr.nodes["z"]["value"]) for tr in post.exec_traces}
    for tr in predictive.exec_traces:
        assert float(tr.nodes["z"]["value"]) in latents


def test_vectorized_weights_match_sequential_scores():
    log_w, model_tr, guide_tr = vectorized_importance_weights(
        model, posterior_guide, num_samples=7, max_plate_nesting=1
    )
    assert log_w.shape == (7,)
    z = guide_tr.nodes["z"]["value"].reshape(-1)
    mean, var = exact_posterior()
    expected = (
        dist.Normal(0.0, S0).log_prob(z)
        + dist.Normal(z.unsqueeze(-1), S).log_prob(DATA).sum(-1)
        - dist.Normal(mean, var**0.5).log_prob(z)
    )
    assert torch.allclose(log_w, expected, atol=1e-5)
    # for the exact posterior the weights are all the log evidence
    assert torch.allclose(log_w, torch.full((7,), exact_log_evidence()), atol=1e-4)
    with pytest.raises(ValueError, match="max_plate_nesting"):
        vectorized_importance_weights(model, posterior_guide, num_samples=2)


def test_psis_diagnostic_separates_good_and_poor_guides():
    mean, var = exact_posterior()

    def wide_guide(data=DATA):
        ppl.sample("z", dist.Normal(mean, 1.2 * var**0.5))

    def narrow_guide(data=DATA):
        ppl.sample("z", dist.Normal(mean, 0.3 * var**0.5))

    good = psis_diagnostic(model, wide_guide, num_particles=2000, max_plate_nesting=1)
    poor = psis_diagnostic(model, narrow_guide, num_particles=2000, max_plate_nesting=1)
    assert good < 0.5 < 0.7 < poor
    with pytest.raises(ValueError, match="multiple"):
        psis_diagnostic(model, wide_guide, num_particles=10, max_simultaneous_particles=3)


def test_svi_trace_posterior_mode_returns_a_trace_posterior():
    def guide(data=DATA):
        loc = ppl.param("loc", torch.tensor(0.0))
        ppl.sample("z", dist.Normal(loc, 0.5))

    svi = SVI(model, guide, Adam({"lr": 0.05}), Trace_ELBO(), num_samples=5, num_steps=3)
    post = svi.run()
    assert isinstance(post, TracePosterior) and len(post.exec_traces) == 5
    assert svi.step_count == 3
