"""A Gaussian mixture written with ``named`` structures, trained by SVI (after Pyro's
examples/contrib/autoname/mixture.py): local latents passed to helper functions."""

import pytest
import torch
from torch.distributions import constraints

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.contrib.autoname import named
from ppl.infer import SVI, Trace_ELBO
from ppl.optim import Adam

DATA = torch.tensor([0.0, 1.0, 2.0, 20.0, 30.0, 40.0])


def local_model(latent, probs, locs, scales, obs):
    i = latent.id.sample_(dist.Categorical(probs))
    return latent.x.sample_(dist.Normal(locs[i], scales[i]), obs=obs)


def model(data, k):
    latent = named.Object("latent")
    latent.probs.param_(torch.ones(k) / k, constraint=constraints.simplex)
    latent.locs.param_(torch.zeros(k))
    latent.scales.param_(torch.ones(k), constraint=constraints.positive)
    latent.local = named.List()
    for x in data:
        local_model(latent.local.add(), latent.probs, latent.locs, latent.scales, obs=x)


def guide(data, k):
    latent = named.Object("latent")
    latent.local = named.List()
    for _ in data:
        local = latent.local.add()
        local.probs.param_(torch.ones(k) / k, constraint=constraints.simplex)
        local.id.sample_(dist.Categorical(local.probs))


def test_names_line_up():
    model_tr = poutine.trace(model).get_trace(DATA[:2], 2)
    guide_tr = poutine.trace(guide).get_trace(DATA[:2], 2)
    assert model_tr.stochastic_nodes == ["latent.local[0].id", "latent.local[1].id"]
    assert model_tr.observation_nodes == ["latent.local[0].x", "latent.local[1].x"]
    assert guide_tr.stochastic_nodes == model_tr.stochastic_nodes
    assert guide_tr.param_nodes == ["latent.local[0].probs", "latent.local[1].probs"]


@pytest.mark.slow
def test_svi_learns_the_two_clusters():
    svi = SVI(model, guide, Adam({"lr": 0.2}), Trace_ELBO())
    losses = [svi.step(DATA, 2) for _ in range(40)]
    assert all(torch.isfinite(torch.tensor(losses)))
    store = ppl.get_param_store()
    assert {"latent.probs", "latent.locs", "latent.scales"} <= set(store.keys())
    assert {f"latent.local[{i}].probs" for i in range(6)} <= set(store.keys())
    # the average loss drops as the locations move towards the data
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10
    assert store["latent.locs"].max().item() > 1.0
