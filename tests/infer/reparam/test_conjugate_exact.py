"""ConjugateReparam with an exact likelihood: the model's log density is the log evidence
(whatever value the untraced auxiliary draw takes); Beta.conjugate_update's identity."""

import math

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.infer.reparam import ConjugateReparam


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def test_beta_conjugate_update_identity():
    prior = dist.Beta(torch.tensor([2.0, 0.7]), torch.tensor([3.0, 1.5]))
    other = dist.Beta(torch.tensor([4.0, 2.0]), torch.tensor([1.5, 3.0]))
    updated, log_norm = prior.conjugate_update(other)
    p = torch.tensor([0.3, 0.8])
    assert torch.allclose(prior.log_prob(p) + other.log_prob(p), updated.log_prob(p) + log_norm)
    with pytest.raises(TypeError, match="expected a Beta likelihood"):
        prior.conjugate_update(dist.Normal(0.0, 1.0))


def test_conjugate_reparam_gives_the_exact_evidence_and_hides_the_auxiliary_draw():
    def model():
        p = ppl.sample("p", dist.Beta(2.0, 2.0))
        ppl.sample("x", dist.Binomial(10, p), obs=torch.tensor(7.0))

    # Beta(8, 4) is proportional to the Binomial likelihood of 7 of 10 in p
    reparam = poutine.reparam(model, {"p": ConjugateReparam(dist.Beta(8.0, 4.0))})
    expected = math.log(math.comb(10, 7)) + _log_beta(9.0, 5.0) - _log_beta(2.0, 2.0)
    for _ in range(3):
        tr = poutine.trace(reparam).get_trace()
        assert "p_updated" not in tr.nodes
        assert tr.nodes["p"]["is_observed"]
        assert float(tr.log_prob_sum()) == pytest.approx(expected, abs=1e-5)
