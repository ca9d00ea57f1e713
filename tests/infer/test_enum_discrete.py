"""infer_discrete: MAP against brute-force argmax, sampling against exact posteriors."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.infer import config_enumerate, infer_discrete
from ppl.infer.discrete import TraceEnumSample_ELBO

TRANS = torch.tensor([[0.8, 0.2], [0.3, 0.7]])


@config_enumerate
def hmm(obs):
    x = 0
    xs = []
    for t in ppl.markov(range(len(obs))):
        x = ppl.sample(f"x_{t}", dist.Categorical(TRANS[x]))
        ppl.sample(f"y_{t}", dist.Normal(2.0 * x.float(), 1.0), obs=obs[t])
        xs.append(x)
    return xs


def as_ints(values):
    return tuple(int(v) for v in values)


def hmm_log_joint(xs, obs):
    lp = 0.0
    prev = 0
    for t, x in enumerate(xs):
        lp += float(TRANS[prev, x].log() + dist.Normal(2.0 * x, 1.0).log_prob(obs[t]))
        prev = x
    return lp


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_map_equals_brute_force_argmax_on_hmm(seed):
    torch.manual_seed(seed)
    obs = 2.0 * torch.randint(0, 2, (5,)).float() + 0.8 * torch.randn(5)
    best = max(itertools.product(range(2), repeat=5), key=lambda xs: hmm_log_joint(xs, obs))
    assert as_ints(infer_discrete(hmm, first_available_dim=-1, temperature=0)(obs)) == best


def test_sampling_matches_exact_posterior_on_hmm():
    torch.manual_seed(0)
    obs = torch.tensor([0.1, 2.0, 0.9])
    post = {xs: hmm_log_joint(xs, obs) for xs in itertools.product(range(2), repeat=3)}
    norm = torch.logsumexp(torch.tensor(list(post.values())), 0)
    sampler = infer_discrete(hmm, first_available_dim=-1, temperature=1)
    n = 600
    counts = Counter(as_ints(sampler(obs)) for _ in range(n))
    for xs, lp in post.items():
        p = math.exp(lp - float(norm))
        assert counts[xs] / n == pytest.approx(p, abs=4 * (p * (1 - p) / n) ** 0.5 + 1e-3)


def test_map_in_plate_with_global_latent():
    data = torch.tensor([0.1, 4.8, 5.3, -0.4])
    scales = torch.tensor([0.5, 3.0])

    @config_enumerate
    def model(data):
        s = ppl.sample("s", dist.Bernoulli(0.5))
        locs = torch.tensor([0.0, 5.0])
        with ppl.plate("data", len(data)):
            z = ppl.sample("z", dist.Categorical(torch.tensor([0.5, 0.5])))
            ppl.sample("x", dist.Normal(locs[z], scales[s.long()]), obs=data)
        return s, z

    def log_joint(s, zs):
        locs = torch.tensor([0.0, 5.0])
        lp = dist.Normal(locs[torch.tensor(zs)], scales[s]).log_prob(data).sum()
        return float(lp)

    best = max(
        ((s, list(zs)) for s in range(2) for zs in itertools.product(range(2), repeat=4)),
        key=lambda sz: log_joint(*sz),
    )
    s, z = infer_discrete(model, first_available_dim=-2, temperature=0)(data)
    assert (int(s), z.tolist()) == best


def test_decorator_form_and_errors():
    @infer_discrete(first_available_dim=-1, temperature=0)
    @config_enumerate
    def model():
        z = ppl.sample("z", dist.Categorical(torch.tensor([0.1, 0.2, 0.7])))
        return z

    assert int(model()) == 2
    with pytest.raises(ValueError, match="first_available_dim"):
        infer_discrete(model, first_available_dim=0)
    with pytest.raises(ValueError, match="temperature"):
        infer_discrete(hmm, first_available_dim=-1, temperature=2)(torch.zeros(2))


def test_trace_enum_sample_elbo_samples_after_loss():
    obs = torch.tensor([0.0, 2.1, 1.9])
    elbo = TraceEnumSample_ELBO(max_plate_nesting=0)
    elbo.loss(hmm, lambda obs: None, obs)
    torch.manual_seed(0)
    xs = as_ints(elbo.sample_saved())
    assert len(xs) == 3 and set(xs) <= {0, 1}
