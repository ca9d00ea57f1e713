"""Conjugate pairs: collapsed likelihoods and exact posteriors (``ppl.contrib.conjugate``)."""

import math

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.contrib.conjugate.infer import (
    BetaBinomialPair,
    GammaPoissonPair,
    collapse_conjugate,
    posterior_replay,
    uncollapse_conjugate,
)

TOTAL = torch.tensor(20.0)


def coin(heads, total=TOTAL):
    pair = BetaBinomialPair()
    p = ppl.sample("p", pair.latent(torch.tensor(1.0), torch.tensor(1.0)))
    ppl.sample("k", pair.conditional(probs=p, total_count=total), obs=heads)


def counts(data):
    with ppl.plate("dim", data.shape[1]):
        a = ppl.sample("a", dist.HalfCauchy(1.0))
        pair = GammaPoissonPair()
        rate = ppl.sample("rate", pair.latent(a, torch.tensor(2.0)))
        with ppl.plate("data", data.shape[0]):
            ppl.sample("obs", pair.conditional(rate), obs=data)


def test_collapse_hides_latent_and_scores_compound():
    heads = torch.tensor(12.0)
    tr = poutine.trace(collapse_conjugate(coin)).get_trace(heads)
    assert "p" not in tr.nodes
    fn = tr.nodes["k"]["fn"]
    assert isinstance(fn, dist.BetaBinomial)
    # a uniform prior makes every head count equally likely: 1 / 21
    assert math.isclose(float(tr.log_prob_sum()), -math.log(21.0), rel_tol=1e-5)


def test_latent_keeps_tags_through_plate_expansion():
    data = torch.ones(5, 3)
    tr = poutine.trace(collapse_conjugate(counts)).get_trace(data)
    compound = tr.nodes["obs"]["fn"]
    assert isinstance(compound, dist.GammaPoisson)
    assert compound.batch_shape == (5, 3)
    latent = compound.parent._latent
    assert latent.site_name == "rate" and latent.batch_shape == (3,) and latent.collapsible


def test_coin_posterior_is_beta_13_9():
    # seed example: uniform prior, 12 heads of 20 -> Beta(13, 9)
    n = 800
    draws = posterior_replay(coin, {}, torch.tensor(12.0), num_samples=n)["p"]
    a, b = 13.0, 9.0
    mean = a / (a + b)
    std = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    assert draws.shape == (n,)
    assert abs(float(draws.mean()) - mean) < 4 * std / math.sqrt(n)
    # the std of the sample std is about std / sqrt(2 n) for a near-normal posterior
    assert abs(float(draws.std()) - std) < 4 * std / math.sqrt(2 * n)


def test_gamma_poisson_posterior_parameters_exact():
    data = torch.tensor([[1.0, 4.0], [3.0, 6.0], [2.0, 5.0]])
    pair = GammaPoissonPair()
    pair.latent(torch.tensor([1.5, 2.5]), torch.tensor([2.0, 2.0]))
    pair.conditional(torch.ones(2))
    post = pair.posterior(data)
    assert torch.equal(post.concentration, torch.tensor([7.5, 17.5]))
    assert torch.equal(post.rate, torch.tensor([5.0, 5.0]))


def test_beta_binomial_posterior_uses_total_count_per_observation():
    pair = BetaBinomialPair()
    pair.latent(torch.ones(2), torch.ones(2))
    pair.conditional(probs=torch.full((2,), 0.5), total_count=torch.tensor([10.0, 4.0]))
    post = pair.posterior(torch.tensor([[3.0, 1.0], [5.0, 2.0]]))  # two observations
    assert torch.equal(post.concentration1, torch.tensor([9.0, 4.0]))
    assert torch.equal(post.concentration0, torch.tensor([13.0, 6.0]))


def test_posterior_replay_uses_given_draws_of_other_sites():
    data = torch.tensor([[1.0, 4.0], [3.0, 6.0]])
    samples = {"a": torch.tensor([[1.0, 2.0], [3.0, 4.0]])}
    out = posterior_replay(counts, samples, data)
    assert torch.equal(out["a"], samples["a"])
    assert out["rate"].shape == (2, 2) and (out["rate"] > 0).all()
    assert torch.equal(out["obs"], data.expand(2, 2, 2))


def test_posterior_replay_needs_num_samples_without_draws():
    with pytest.raises(ValueError, match="num_samples"):
        posterior_replay(coin, {}, torch.tensor(3.0))


def test_uncollapse_without_conjugate_site_is_an_error():
    empty = poutine.trace(lambda: None).get_trace()
    with pytest.raises(ValueError, match="collapsible latent site 'p'"):
        uncollapse_conjugate(coin, trace=empty)(torch.tensor(3.0))


def test_pair_methods_need_both_halves():
    pair = BetaBinomialPair()
    pair.latent(1.0, 1.0)
    with pytest.raises(ValueError, match="missing \\['conditional'\\]"):
        pair.compound()
