"""Enumeration against exact answers: brute-force path sums, forward algorithm, TMC, Jit."""

from __future__ import annotations

import itertools
import math
import time

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.infer import (
    JitTraceEnum_ELBO,
    TraceEnum_ELBO,
    TraceTMC_ELBO,
    config_enumerate,
    infer_discrete,
)
from ppl.infer.importance import vectorized_importance_weights

TRANS = torch.tensor([[0.8, 0.15, 0.05], [0.1, 0.7, 0.2], [0.3, 0.3, 0.4]])
INIT = torch.tensor([0.5, 0.3, 0.2])
MEANS = torch.tensor([-2.0, 0.0, 3.0])


def hmm(data, shift=None):
    """A 3-state HMM with Gaussian emissions (optionally shifted by a global latent)."""
    loc = ppl.sample("shift", dist.Normal(0.0, 1.0)) if shift else 0.0
    x = None
    for t in ppl.markov(range(len(data))):
        probs = INIT if x is None else TRANS[x]
        x = ppl.sample(f"x_{t}", dist.Categorical(probs), infer={"enumerate": "parallel"})
        ppl.sample(f"y_{t}", dist.Normal(MEANS[x] + loc, 1.0), obs=data[t])


def brute_force_log_evidence(data, loc=0.0):
    """log sum over all K^T paths of p(path, data)."""
    terms = []
    for path in itertools.product(range(3), repeat=len(data)):
        lp = INIT[path[0]].log()
        for t, s in enumerate(path):
            if t:
                lp = lp + TRANS[path[t - 1], s].log()
            lp = lp + dist.Normal(MEANS[s] + loc, 1.0).log_prob(data[t])
        terms.append(lp)
    return torch.logsumexp(torch.stack(terms), 0)


def forward_log_evidence(data):
    """The forward algorithm in log space (linear in T)."""
    alpha = INIT.log() + dist.Normal(MEANS, 1.0).log_prob(data[0])
    for t in range(1, len(data)):
        alpha = torch.logsumexp(alpha[:, None] + TRANS.log(), 0)
        alpha = alpha + dist.Normal(MEANS, 1.0).log_prob(data[t])
    return torch.logsumexp(alpha, 0)


def test_hmm_loss_with_delta_guide_equals_brute_force_path_sum():
    data = torch.tensor([-1.5, 0.3, 2.9, 3.2, -0.4])
    value = torch.tensor(0.7)

    def guide(data, shift=None):
        ppl.sample("shift", dist.Delta(value))

    loss = TraceEnum_ELBO(max_plate_nesting=0).loss(hmm, guide, data, True)
    expected = -(dist.Normal(0.0, 1.0).log_prob(value) + brute_force_log_evidence(data, value))
    assert loss == pytest.approx(float(expected), abs=1e-4)


def test_hmm_loss_with_empty_guide_equals_brute_force_path_sum():
    data = torch.tensor([0.1, -2.2, 2.5, 0.0])
    loss = TraceEnum_ELBO(max_plate_nesting=0).loss(hmm, lambda data: None, data)
    assert loss == pytest.approx(-float(brute_force_log_evidence(data)), abs=1e-4)


def test_infer_discrete_map_equals_brute_force_argmax():
    data = torch.tensor([-2.1, -1.0, 0.4, 2.8, 3.1, 0.2])

    def model(data):
        states = []
        x = None
        for t in ppl.markov(range(len(data))):
            probs = INIT if x is None else TRANS[x]
            x = ppl.sample(f"x_{t}", dist.Categorical(probs), infer={"enumerate": "parallel"})
            ppl.sample(f"y_{t}", dist.Normal(MEANS[x], 1.0), obs=data[t])
            states.append(x)
        return states

    decoded = infer_discrete(model, first_available_dim=-1, temperature=0)(data)
    best, best_lp = None, -math.inf
    for path in itertools.product(range(3), repeat=len(data)):
        lp = float(INIT[path[0]].log())
        for t, s in enumerate(path):
            lp += float(TRANS[path[t - 1], s].log()) if t else 0.0
            lp += float(dist.Normal(MEANS[s], 1.0).log_prob(data[t]))
        if lp > best_lp:
            best, best_lp = path, lp
    assert [int(s) for s in decoded] == list(best)


def test_long_markov_chain_is_exact_and_linear_in_length():
    # T = 1000: the brute force is impossible, the forward algorithm is the exact answer;
    # markov recycles enumeration dims, so every factor stays K x K and time grows ~linearly
    torch.manual_seed(1)
    elbo = TraceEnum_ELBO(max_plate_nesting=0)

    def timed(T):
        data = torch.randn(T) * 2
        start = time.perf_counter()
        loss = elbo.loss(hmm, lambda data: None, data)
        return loss, time.perf_counter() - start, data

    loss, t_long, data = timed(1000)
    assert loss == pytest.approx(-float(forward_log_evidence(data)), rel=1e-4)
    model_trace, guide_trace = next(elbo._get_traces(hmm, lambda data: None, (data,), {}))
    sites = model_trace.nodes.values()
    dims = {s.infer["_enumerate_dim"] for s in sites if "_enumerate_dim" in s.infer}
    assert dims == {-1, -2}  # two dims recycled along the whole chain
    biggest = max(
        s["log_prob"].numel() for s in model_trace.nodes.values() if s.type == "sample"
    )
    assert biggest <= 9
    _, t_short, _ = timed(250)
    assert t_long < 12 * t_short + 0.5  # linear (4x) with generous slack for a busy machine


def test_jit_trace_enum_equals_eager():
    data = torch.tensor([0.1, -2.2, 2.5, 0.0, 1.0])
    eager = TraceEnum_ELBO(max_plate_nesting=0).loss(hmm, lambda data: None, data)
    jit = JitTraceEnum_ELBO(max_plate_nesting=0)
    values = [jit.loss(hmm, lambda data: None, data) for _ in range(3)]  # eager, trace, run
    assert values == pytest.approx([eager] * 3, abs=1e-5)


# -------------------------------------------------------------------------------- TMC
def test_tmc_exhaustive_equals_exact_enumeration_in_plates():
    data = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])

    @config_enumerate
    def model():
        z = ppl.sample("z", dist.Categorical(torch.tensor([0.3, 0.7])))
        with ppl.plate("rows", 2, dim=-2):
            w = ppl.sample("w", dist.Bernoulli(torch.tensor([0.2, 0.9])[z]))
            with ppl.plate("cols", 3, dim=-1):
                ppl.sample("x", dist.Bernoulli(0.1 + 0.8 * w), obs=data)

    tmc = TraceTMC_ELBO(max_plate_nesting=2).loss(model, lambda: None)
    exact = TraceEnum_ELBO(max_plate_nesting=2).loss(model, lambda: None)
    # by hand: p(data) = sum_z p(z) prod_rows sum_w p(w|z) prod_cols p(x|w)
    total = 0.0
    for z, pz in enumerate([0.3, 0.7]):
        prod = 1.0
        for r in range(2):
            row = 0.0
            for w in (0, 1):
                pw = [0.2, 0.9][z] if w else 1 - [0.2, 0.9][z]
                px = math.prod((0.1 + 0.8 * w) if x else 1 - (0.1 + 0.8 * w) for x in data[r])
                row += pw * px
            prod *= row
        total += pz * prod
    assert tmc == pytest.approx(-math.log(total), abs=1e-5)
    assert exact == pytest.approx(-math.log(total), abs=1e-5)


@pytest.mark.parametrize("strategy", ["diagonal", "mixture"])
def test_tmc_sampled_gaussian_chain_matches_closed_form_evidence(strategy):
    # x0 ~ N(0, 1), x1 ~ N(x0, 1), y ~ N(x1, 1): y ~ N(0, 3) exactly
    y = torch.tensor(1.3)

    def model():
        x0 = ppl.sample("x0", dist.Normal(0.0, 1.0))
        x1 = ppl.sample("x1", dist.Normal(x0, 1.0))
        ppl.sample("y", dist.Normal(x1, 1.0), obs=y)

    K = 400
    tmc_model = config_enumerate(model, default="parallel", num_samples=K, tmc=strategy)
    elbo = TraceTMC_ELBO(max_plate_nesting=0)
    estimates = torch.tensor([-elbo.loss(tmc_model, lambda: None) for _ in range(20)])
    evidence = dist.Normal(0.0, math.sqrt(3.0)).log_prob(y)
    # the estimate of p(y) is unbiased; in log space its bias is O(1/K), its spread ~1/sqrt(K)
    p_hat = estimates.exp()
    se = float(p_hat.std() / math.sqrt(len(p_hat)))
    assert abs(float(p_hat.mean()) - float(evidence.exp())) < 4 * se + 1e-3


# ----------------------------------------------------------------- importance weights
def test_vectorized_importance_weights_with_prior_guide():
    y = torch.tensor([0.5, -0.2, 1.1])

    def model():
        loc = ppl.sample("loc", dist.Normal(0.0, 2.0))
        with ppl.plate("data", 3):
            ppl.sample("y", dist.Normal(loc, 1.0), obs=y)

    def guide():
        ppl.sample("loc", dist.Normal(0.0, 2.0))

    n = 20000
    log_w, model_trace, _ = vectorized_importance_weights(
        model, guide, num_samples=n, max_plate_nesting=1
    )
    assert log_w.shape == (n,)
    loc = model_trace.nodes["loc"]["value"].reshape(-1)
    expected = dist.Normal(loc.unsqueeze(-1), 1.0).log_prob(y).sum(-1)
    assert torch.allclose(log_w, expected, atol=1e-5)  # prior guide: weight = likelihood
    # the mean weight estimates the evidence: y ~ N(0, I + 4 J)
    cov = torch.eye(3) + 4.0
    evidence = dist.MultivariateNormal(torch.zeros(3), cov).log_prob(y).exp()
    w = log_w.exp()
    assert abs(float(w.mean() - evidence)) < 4 * float(w.std()) / math.sqrt(n)


def test_vectorized_importance_weights_needs_max_plate_nesting():
    with pytest.raises(ValueError, match="pass max_plate_nesting="):
        vectorized_importance_weights(lambda: None, lambda: None, num_samples=3)


def test_sample_posterior_frequencies_match_exact_posterior():
    n = 4000
    x = torch.tensor(1.5)

    @config_enumerate
    def model():
        with ppl.plate("copies", n):
            z = ppl.sample("z", dist.Bernoulli(torch.tensor(0.3)))
            ppl.sample("x", dist.Normal(2.0 * z, 1.0), obs=x.expand(n))
        return z

    z = TraceEnum_ELBO(max_plate_nesting=1).sample_posterior(model, lambda: None)
    like1 = 0.3 * dist.Normal(2.0, 1.0).log_prob(x).exp()
    like0 = 0.7 * dist.Normal(0.0, 1.0).log_prob(x).exp()
    p1 = float(like1 / (like0 + like1))
    assert z.shape == (n,)
    assert abs(float(z.mean()) - p1) < 4 * math.sqrt(p1 * (1 - p1) / n)


def test_sample_posterior_rejects_several_particles():
    with pytest.raises(NotImplementedError, match="multiple particles"):
        TraceEnum_ELBO(num_particles=2).sample_posterior(lambda: None, lambda: None)
