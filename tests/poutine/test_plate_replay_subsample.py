"""A model's full plate replayed against a guide's subsampled plate takes the guide's
minibatch and scale (Pyro's semantics; examples/lda.py subsamples in the guide only)."""

import math

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine

DATA = torch.arange(10.0)


def model():
    with ppl.plate("data", 10) as idx:  # no subsample_size: the guide decides
        ppl.sample("x", dist.Normal(0.0, 1.0), obs=DATA[idx])
        return idx


def guide():
    with ppl.plate("data", 10, subsample_size=3) as idx:
        return idx


def test_model_plate_takes_the_guides_minibatch_and_scale():
    ppl.set_rng_seed(0)
    guide_trace = poutine.trace(guide).get_trace()
    model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace()
    idx = guide_trace.nodes["_RETURN"]["value"]
    assert torch.equal(model_trace.nodes["_RETURN"]["value"], idx)
    site = model_trace.nodes["x"]
    assert site["value"].shape == (3,)
    assert [(f.size, f.full_size) for f in site["cond_indep_stack"]] == [(3, 10)]
    assert site["scale"] == pytest.approx(10 / 3)
    exact = (10 / 3) * dist.Normal(0.0, 1.0).log_prob(DATA[idx]).sum()
    assert model_trace.log_prob_sum().item() == pytest.approx(exact.item(), rel=1e-6)


def test_without_replay_the_full_plate_is_unscaled():
    trace = poutine.trace(model).get_trace()
    assert trace.nodes["x"]["value"].shape == (10,)
    assert trace.nodes["x"]["scale"] == 1.0
    assert not math.isnan(trace.log_prob_sum().item())
