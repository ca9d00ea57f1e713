"""WeighedPredictive, MHResampler, Resampler and CSIS on a conjugate Normal model."""

import math

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.infer import CSIS, MHResampler, Resampler, WeighedPredictive
from ppl.optim import Adam

S0, S = 1.0, 0.5
Y = torch.tensor(1.2)
POST_VAR = 1 / (1 / S0**2 + 1 / S**2)
POST_MEAN = POST_VAR * float(Y) / S**2
LOG_EVIDENCE = float(dist.Normal(0.0, (S0**2 + S**2) ** 0.5).log_prob(Y))


def model(y=None):
    z = ppl.sample("z", dist.Normal(0.0, S0))
    return ppl.sample("y", dist.Normal(z, S), obs=y)


def exact_guide(y=None):
    ppl.sample("z", dist.Normal(POST_MEAN, POST_VAR**0.5))


def prior_guide(y=None):
    ppl.sample("z", dist.Normal(0.0, S0))


conditioned = poutine.condition(model, data={"y": Y})


@pytest.mark.parametrize("parallel", [False, True])
def test_exact_guide_weights_are_the_log_evidence(parallel):
    predictive = WeighedPredictive(model, guide=exact_guide, num_samples=50, parallel=parallel)
    out = predictive(model_guide=conditioned)
    assert out.log_weights.shape == (50,) and out.samples["y"].shape == (50,)
    assert torch.allclose(out.log_weights, torch.full((50,), LOG_EVIDENCE), atol=1e-4)
    assert float(out.get_ESS()) == pytest.approx(50.0, rel=1e-5)
    assert float(out.get_log_normalizer()) == pytest.approx(LOG_EVIDENCE, abs=1e-4)


@pytest.mark.parametrize("parallel, num", [(False, 300), (True, 2000)])
def test_prior_guide_weights_give_the_posterior_within_mc_error(parallel, num):
    predictive = WeighedPredictive(model, guide=prior_guide, num_samples=num, parallel=parallel)
    out = predictive(model_guide=conditioned)
    z = out.samples["z"]
    w = out.get_normalized_weights()
    ess = float(out.get_ESS())
    weighted_mean = float((w * z).sum())
    assert abs(weighted_mean - POST_MEAN) < 4 * math.sqrt(POST_VAR / ess)
    # the weights are the likelihood of the observation
    assert torch.allclose(out.log_weights, dist.Normal(z, S).log_prob(Y), atol=1e-5)


def test_mh_resampler_turns_weighted_draws_into_posterior_draws():
    predictive = WeighedPredictive(model, guide=prior_guide, num_samples=2000, parallel=True)
    resampler = MHResampler(predictive)
    for _ in range(15):
        out = resampler(model_guide=conditioned)
    z = out.samples["z"]
    # 2000 chains, correlated by rejections: allow twice the iid standard error
    assert abs(float(z.mean()) - POST_MEAN) < 8 * math.sqrt(POST_VAR / 2000)
    assert float(z.var()) == pytest.approx(POST_VAR, rel=0.2)
    assert int(resampler.get_total_transition_count()) > 0
    with pytest.raises(ValueError, match="no samples were kept"):
        resampler.get_stored_samples()


def test_weighed_predictive_needs_a_guide():
    with pytest.raises(ValueError, match="needs a guide"):
        WeighedPredictive(model, posterior_samples={"z": torch.zeros(3)})()


def test_resampler_reweights_cached_draws_to_a_new_prior():
    def wide():
        ppl.sample("z", dist.Normal(0.0, 3.0))

    def simulator():
        z = ppl.sample("z", dist.Normal(0.0, 3.0))
        ppl.sample("x", dist.Normal(2 * z, 0.1))

    resampler = Resampler(wide, simulator, num_guide_samples=20000)
    draws = resampler.sample(lambda: ppl.sample("z", dist.Normal(1.0, 0.5)), 4000, stable=False)
    assert set(draws) == {"z", "x"}
    assert abs(float(draws["z"].mean()) - 1.0) < 0.06
    assert torch.allclose(draws["x"], 2 * draws["z"], atol=0.6)
    # stable resampling: the same knob setting picks the same particles
    near = lambda: ppl.sample("z", dist.Normal(1.0, 0.5))  # noqa: E731
    first = resampler.sample(near, 100)["z"]
    assert torch.equal(first, resampler.sample(near, 100)["z"])


def csis_model(observations=None):
    observations = {"y": 0.0} if observations is None else observations
    z = ppl.sample("z", dist.Normal(0.0, S0))
    ppl.sample("y", dist.Normal(z, S), obs=observations["y"])
    return z


def csis_guide(observations=None):
    observations = {"y": 0.0} if observations is None else observations
    w = ppl.param("w", torch.tensor(0.0))
    scale = ppl.param("scale", torch.tensor(1.0), constraint=dist.constraints.positive)
    ppl.sample("z", dist.Normal(w * observations["y"], scale))


@pytest.mark.slow
def test_csis_learns_the_amortized_posterior():
    csis = CSIS(
        csis_model,
        csis_guide,
        Adam({"lr": 0.1}),
        num_inference_samples=300,
        training_batch_size=10,
        validation_batch_size=50,
    )
    before = csis.validation_loss()
    assert csis.validation_loss() == before  # a fixed validation batch
    for _ in range(200):
        csis.step()
    assert csis.validation_loss() < before
    # the posterior mean is POST_VAR / S**2 * y and its sd POST_VAR ** 0.5
    assert float(ppl.param("w")) == pytest.approx(POST_VAR / S**2, abs=0.15)
    assert float(ppl.param("scale")) == pytest.approx(POST_VAR**0.5, abs=0.15)
    post = csis.run(observations={"y": Y})
    assert len(post.exec_traces) == 300
    assert float(post.get_ESS()) > 150  # a good proposal
