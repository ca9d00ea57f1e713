"""A mixture whose local model and guide live in ``scope(prefix="local")`` (after Pyro's
examples/contrib/autoname/scoping_mixture.py), trained with an enumerated guide: the
loss is the exact closed-form negative ELBO."""

import pytest
import torch
from torch.distributions import constraints

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.contrib.autoname import scope
from ppl.infer import SVI, TraceEnum_ELBO, config_enumerate
from ppl.optim import Adam

DATA = torch.tensor([0.0, 1.0, 2.0, 20.0, 30.0, 40.0])
K = 2


@scope(prefix="local")
def local_model(weights, locs, scale, data):
    assignment = ppl.sample("assignment", dist.Categorical(weights).expand_by([len(data)]))
    return ppl.sample("obs", dist.Normal(locs[assignment], scale), obs=data)


def model(data):
    weights = ppl.param("weights", torch.ones(K) / K, constraint=constraints.simplex)
    locs = ppl.param("locs", torch.tensor([5.0, 15.0]))
    scale = ppl.param("scale", torch.tensor(4.0), constraint=constraints.positive)
    with ppl.plate("data", len(data)):
        return local_model(weights, locs, scale, data)


@scope(prefix="local")
def local_guide(probs):
    return ppl.sample("assignment", dist.Categorical(probs))


def guide(data):
    probs = ppl.param(
        "assignment_probs", torch.ones(len(data), K) / K, constraint=constraints.unit_interval
    )
    with ppl.plate("data", len(data)):
        return local_guide(probs)


def closed_form_loss():
    store = ppl.get_param_store()
    w, locs, scale = store["weights"], store["locs"], store["scale"]
    q = store["assignment_probs"]
    q = q / q.sum(-1, keepdim=True)
    log_joint = w.log() + dist.Normal(locs, scale).log_prob(DATA.unsqueeze(-1))  # (N, K)
    return -(q * (log_joint - q.log())).sum()


def test_scoped_names():
    tr = poutine.trace(model).get_trace(DATA)
    latent = [n for n, site in tr.iter_stochastic_nodes() if not site.infer.get("is_subsample")]
    assert latent == ["local/assignment"]
    assert tr.observation_nodes == ["local/obs"]
    assert tr.param_nodes == ["weights", "locs", "scale"]


def test_enumerated_loss_is_exact_and_decreases():
    elbo = TraceEnum_ELBO(max_plate_nesting=1)
    svi = SVI(model, config_enumerate(guide), Adam({"lr": 0.1}), elbo)
    model(DATA), guide(DATA)  # create the params
    expected = closed_form_loss().item()
    first = svi.step(DATA)  # the loss before the update
    assert first == pytest.approx(expected, rel=1e-5)
    for _ in range(20):
        svi.step(DATA)
    loss = elbo.loss(model, config_enumerate(guide), DATA)
    assert loss == pytest.approx(closed_form_loss().item(), rel=1e-5)
    assert loss < first
