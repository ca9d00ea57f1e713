"""``to_inference_data``: MCMC draws in ArviZ's layout (skipped without ArviZ)."""

import sys

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.infer import MCMC, NUTS, Predictive, to_inference_data

DATA = torch.tensor([0.5, 1.5, 2.0])


def model(data=None):
    loc = ppl.sample("loc", dist.Normal(0.0, 1.0))
    with ppl.plate("data", 3):
        ppl.sample("obs", dist.Normal(loc, 1.0), obs=data)


def test_missing_arviz_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "arviz", None)
    with pytest.raises(ImportError, match="pip install arviz"):
        to_inference_data(prior={"loc": torch.zeros(3)})


def test_inference_data_groups_and_shapes():
    az = pytest.importorskip("arviz")
    mcmc = MCMC(NUTS(model), num_samples=6, warmup_steps=4, num_chains=2, disable_progbar=True)
    mcmc.run(DATA)
    prior = Predictive(model, num_samples=5)()
    idata = to_inference_data(mcmc, prior=prior)
    assert isinstance(idata, az.InferenceData)
    assert idata.posterior["loc"].shape == (2, 6)
    assert idata.log_likelihood["obs"].shape == (2, 6, 3)
    assert idata.prior["loc"].shape == (1, 5, 1)  # Predictive pads to max_plate_nesting
    assert idata.sample_stats["diverging"].shape == (2, 6)
    loc = mcmc.get_samples(group_by_chain=True)["loc"][1, 2]
    expected = dist.Normal(loc, 1.0).log_prob(DATA)
    assert torch.allclose(torch.as_tensor(idata.log_likelihood["obs"].values[1, 2]), expected)
    assert (idata.observed_data["obs"].values == DATA.numpy()).all()


def test_groups_handed_to_arviz_from_dict(monkeypatch):
    # a stand-in for ArviZ 0.x's from_dict, so the layout is checked without ArviZ
    import types

    fake = types.SimpleNamespace(__version__="0.17.0", from_dict=lambda **groups: groups)
    monkeypatch.setitem(sys.modules, "arviz", fake)
    mcmc = MCMC(NUTS(model), num_samples=4, warmup_steps=3, num_chains=2, disable_progbar=True)
    mcmc.run(DATA)
    groups = to_inference_data(mcmc, posterior_predictive={"obs": torch.zeros(7, 3)})
    assert groups["posterior"]["loc"].shape == (2, 4)
    assert groups["log_likelihood"]["obs"].shape == (2, 4, 3)
    assert groups["sample_stats"]["diverging"].shape == (2, 4)
    assert groups["posterior_predictive"]["obs"].shape == (1, 7, 3)
    assert (groups["observed_data"]["obs"] == DATA.numpy()).all()
    loc = mcmc.get_samples(group_by_chain=True)["loc"][0, 3]
    expected = dist.Normal(loc, 1.0).log_prob(DATA)
    assert torch.allclose(torch.as_tensor(groups["log_likelihood"]["obs"][0, 3]), expected)
    with pytest.raises(ValueError, match="at least one of"):
        to_inference_data()
