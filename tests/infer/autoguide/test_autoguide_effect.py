"""Effect-based autoguides (AutoNormal/HierarchicalNormal/RegressiveMessenger) and
AutoDiscreteParallel: parameters, posteriors at init, traces, ELBO values."""

import math

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.infer import SVI, Trace_ELBO, TraceEnum_ELBO
from ppl.infer.autoguide import (
    AutoDiscreteParallel,
    AutoHierarchicalNormalMessenger,
    AutoNormalMessenger,
    AutoRegressiveMessenger,
)

DATA = torch.tensor([0.5, 1.5, 2.0, 1.0])


def model(data):
    mu = ppl.sample("mu", dist.Normal(0.0, 10.0))
    with ppl.plate("data", len(data)):
        ppl.sample("obs", dist.Normal(mu, 1.0), obs=data)


def hier_model():
    mu = ppl.sample("mu", dist.Normal(0.0, 1.0))
    ppl.sample("x", dist.Normal(mu, 1.0))


@pytest.mark.parametrize(
    "cls", [AutoNormalMessenger, AutoHierarchicalNormalMessenger, AutoRegressiveMessenger]
)
def test_guide_trace_holds_latents_and_model_trace_priors(cls):
    guide = cls(model)
    tr = poutine.trace(guide).get_trace(DATA)
    samples = [n for n, s in tr.nodes.items() if s["type"] == "sample"]
    assert samples == ["mu", "data"]  # the observed site stays the model's own
    model_trace, guide_trace = guide.get_traces()
    assert list(guide_trace.stochastic_nodes) == ["mu"]
    assert model_trace.nodes["mu"]["fn"].scale.item() == 10.0  # the prior
    assert "obs" in model_trace.nodes and model_trace.nodes["obs"]["is_observed"]
    assert isinstance(guide, torch.nn.Module)
    assert all(name.startswith(("locs.", "scales.", "weights.")) for name in ppl.get_param_store())


def test_normal_messenger_init_is_prior_mean_with_init_scale():
    guide = AutoNormalMessenger(model, init_scale=0.2)
    guide(DATA)
    store = ppl.get_param_store()
    assert sorted(store) == ["locs.mu", "scales.mu"]
    assert store["locs.mu"].item() == 0.0 and store["scales.mu"].item() == pytest.approx(0.2)
    assert sorted(name for name, _ in guide.named_parameters()) == [
        "locs.mu_unconstrained",
        "scales.mu_unconstrained",
    ]
    # the guide site's density is Normal(loc, scale) at its value
    _, guide_trace = guide.get_traces()
    site = guide_trace.nodes["mu"]
    expected = dist.Normal(0.0, 0.2).log_prob(site["value"])
    assert torch.allclose(site["fn"].log_prob(site["value"]), expected)


def test_hierarchical_messenger_mean_follows_the_parent():
    guide = AutoHierarchicalNormalMessenger(hier_model)
    assert guide.median()["x"].item() == pytest.approx(0.0)
    store = ppl.get_param_store()
    names = ["locs.mu", "locs.x", "scales.mu", "scales.x", "weights.mu", "weights.x"]
    assert sorted(store) == names
    store["locs.mu"] = torch.tensor(2.0)  # mu's median moves to 2 ...
    median = guide.median()
    assert median["mu"].item() == pytest.approx(2.0)
    assert median["x"].item() == pytest.approx(2.0)  # ... and x's (loc 0 + weight 1 * 2)


def test_regressive_messenger_starts_as_a_shrunk_prior():
    # posterior = 0.9 * 4 + 0.1 * z with z ~ N(4, 1): N(4, 0.1)
    guide = AutoRegressiveMessenger(lambda: ppl.sample("z", dist.Normal(4.0, 1.0)))
    torch.manual_seed(0)
    draws = torch.stack([guide()["z"].detach() for _ in range(2000)])
    assert ppl.get_param_store()["locs.z"].item() == pytest.approx(3.6)
    # standard errors: 0.1 / sqrt(2000) ~ 0.0022 for the mean, ~0.0016 for the sd
    assert draws.mean().item() == pytest.approx(4.0, abs=0.01)
    assert draws.std().item() == pytest.approx(0.1, abs=0.008)


def test_discrete_latent_is_a_clear_error():
    def discrete():
        ppl.sample("c", dist.Bernoulli(0.5))

    with pytest.raises(ValueError, match="latent site 'c' has the support Boolean"):
        AutoNormalMessenger(discrete)()


@pytest.mark.slow
def test_normal_messenger_fits_the_conjugate_posterior():
    # prior N(0, 10^2), 4 obs with sd 1: posterior precision 4.01, mean sum(x) / 4.01
    torch.manual_seed(0)
    guide = AutoNormalMessenger(model)
    svi = SVI(model, guide, ppl.optim.Adam({"lr": 0.05}), Trace_ELBO(num_particles=4))
    for _ in range(400):
        svi.step(DATA)
    store = ppl.get_param_store()
    post_sd = 1 / math.sqrt(4.01)
    assert store["locs.mu"].item() == pytest.approx(5.0 / 4.01, abs=0.1)
    assert store["scales.mu"].item() == pytest.approx(post_sd, rel=0.25)


# ---------------------------------------------------------------- AutoDiscreteParallel


def test_discrete_parallel_params_and_exact_enumerated_elbo():
    x = torch.tensor(0.3)

    def bern_model():
        z = ppl.sample("z", dist.Bernoulli(0.3))
        ppl.sample("x", dist.Normal(2.0 * z, 1.0), obs=x)

    guide = AutoDiscreteParallel(poutine.block(bern_model, expose=["z"]))
    loss = TraceEnum_ELBO(max_plate_nesting=0).loss(bern_model, guide)
    assert sorted(ppl.get_param_store()) == ["AutoDiscreteParallel.z_probs"]
    assert ppl.get_param_store()["AutoDiscreteParallel.z_probs"].item() == pytest.approx(0.3)
    # q = prior: ELBO = sum_z p(z) log p(x | z), computed exactly by enumeration
    lp = [dist.Normal(0.0, 1.0).log_prob(x), dist.Normal(2.0, 1.0).log_prob(x)]
    expected = -(0.7 * lp[0] + 0.3 * lp[1]).item()
    assert loss == pytest.approx(expected, abs=1e-5)


def test_discrete_parallel_in_plates_and_unsupported_family():
    def plated():
        with ppl.plate("data", 4):
            ppl.sample("c", dist.Categorical(torch.tensor([0.1, 0.2, 0.7])))

    guide = AutoDiscreteParallel(plated)
    assert guide()["c"].shape == (4,)
    assert ppl.get_param_store()["AutoDiscreteParallel.c_probs"].shape == (4, 3)

    def poisson():
        ppl.sample("n", dist.Poisson(3.0))

    with pytest.raises(NotImplementedError, match="latent site 'n' has a Poisson"):
        AutoDiscreteParallel(poisson)()
