"""Predictive: the three uses of seed 002, parallel vs sequential, return_sites, errors."""

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.distributions import constraints
from ppl.infer.predictive import Predictive

PARAMS = {"alpha_q": torch.tensor(12.0), "beta_q": torch.tensor(8.0)}


def model(data):
    f = ppl.sample("latent_fairness", dist.Uniform(0.0, 1.0))
    with ppl.plate("N", data.shape[0] if data is not None else 10):
        ppl.sample("obs", dist.Bernoulli(f), obs=data)


def guide(data):
    a = ppl.param("alpha_q", torch.tensor(10.0), constraint=constraints.positive)
    b = ppl.param("beta_q", torch.tensor(10.0), constraint=constraints.positive)
    f = ppl.sample("latent_fairness", dist.Beta(a, b))
    ppl.deterministic("odds", f / (1 - f))


@pytest.mark.parametrize("parallel", [False, True])
def test_guide_only_samples_in_parameter_space(parallel):
    out = Predictive(guide, params=PARAMS, num_samples=4000, parallel=parallel)(data=None)
    f = out["latent_fairness"]
    assert f.shape == (4000,) and out["odds"].shape == (4000,)
    assert torch.allclose(out["odds"], f / (1 - f))
    assert float(f.mean()) == pytest.approx(0.6, abs=0.01)
    assert float(f.var()) == pytest.approx(12 * 8 / (20**2 * 21), rel=0.1)
    assert len(ppl.get_param_store()) == 0  # params= does not touch the store


@pytest.mark.parametrize("parallel", [False, True])
def test_model_with_guide_gives_mock_observations(parallel):
    out = Predictive(model, guide=guide, params=PARAMS, num_samples=1000, parallel=parallel)(
        data=None
    )
    assert out["obs"].shape == (1000, 10)
    assert out["latent_fairness"].shape == (1000, 1)  # padded to the model's plate "N"
    assert out["odds"].shape == (1000,)  # the guide's deterministic site (no plates)
    assert float(out["obs"].mean()) == pytest.approx(0.6, abs=0.03)


@pytest.mark.parametrize("parallel", [False, True])
def test_model_with_posterior_samples(parallel):
    samples = {"latent_fairness": torch.full((500,), 0.25)}
    out = Predictive(model, samples, parallel=parallel)(data=None)
    assert set(out) == {"obs"}
    assert out["obs"].shape == (500, 10)
    assert float(out["obs"].mean()) == pytest.approx(0.25, abs=0.03)


def test_return_sites_and_return_value():
    def m():
        z = ppl.sample("z", dist.Normal(0.0, 1.0))
        ppl.sample("w", dist.Normal(z, 1.0))
        return z * 3

    out = Predictive(m, num_samples=7, return_sites=["w", "_RETURN"])()
    assert set(out) == {"w", "_RETURN"}
    assert out["_RETURN"].shape == (7,)


def test_batch_ndims_two():
    samples = {"latent_fairness": torch.rand(3, 4)}
    out = Predictive(model, samples, batch_ndims=2)(data=None)
    assert out["obs"].shape == (3, 4, 10)


def test_parallel_with_plates_and_events():
    def m():
        loc = ppl.sample("loc", dist.Normal(torch.zeros(2), 1.0).to_event(1))
        with ppl.plate("n", 5):
            ppl.sample("x", dist.Normal(loc, 1.0).to_event(1))

    seq = Predictive(m, num_samples=6)()
    par = Predictive(m, num_samples=6, parallel=True)()
    assert seq["loc"].shape == par["loc"].shape == (6, 1, 2)  # Pyro's padding
    assert seq["x"].shape == par["x"].shape == (6, 5, 2)
    vec = Predictive(m, num_samples=6).get_vectorized_trace()
    assert vec.nodes["x"]["value"].shape == (6, 5, 2)


@pytest.mark.parametrize("parallel", [False, True])
def test_padding_lines_sites_up_on_plate_dims(parallel):
    def m():
        z = ppl.sample("z", dist.Normal(0.0, 1.0))
        with ppl.plate("b", 2, dim=-2), ppl.plate("a", 3):
            ppl.sample("x", dist.Normal(z, 1e-3))

    out = Predictive(m, num_samples=4, parallel=parallel)()
    assert out["z"].shape == (4, 1, 1) and out["x"].shape == (4, 2, 3)
    # the padding broadcasts: each x sits within 1e-3 * 6 sd of its own draw's z
    assert float((out["x"] - out["z"]).abs().max()) < 6e-3
    flat = Predictive(m, num_samples=4, parallel=parallel, pad_to_plate_nesting=False)()
    assert flat["z"].shape == (4,) and flat["x"].shape == (4, 2, 3)


def test_num_samples_mismatch_warns():
    samples = {"latent_fairness": torch.rand(5)}
    with pytest.warns(UserWarning, match="using 5"):
        pred = Predictive(model, samples, num_samples=9)
    assert pred.num_samples == 5


def test_errors():
    with pytest.raises(ValueError, match="num_samples is required"):
        Predictive(model)
    with pytest.raises(ValueError, match="either posterior_samples or guide"):
        Predictive(model, {"latent_fairness": torch.rand(3)}, guide=guide)
    with pytest.raises(ValueError, match="batch_ndims must be an int >= 1"):
        Predictive(model, num_samples=3, batch_ndims=0)
    with pytest.raises(ValueError, match="num_samples must be an int >= 1"):
        Predictive(model, num_samples=0)
    with pytest.raises(TypeError, match=r"posterior_samples\['f'\] must be a tensor"):
        Predictive(model, {"f": [1.0]})
    with pytest.raises(TypeError, match="params must be a dict"):
        Predictive(model, num_samples=2, params=[1])
    with pytest.raises(ValueError, match="disagree on their batch shape"):
        Predictive(model, {"a": torch.rand(3), "b": torch.rand(4)})
    with pytest.raises(ValueError, match="fewer than batch_ndims"):
        Predictive(model, {"a": torch.tensor(1.0)})
    with pytest.raises(TypeError, match="model must be callable"):
        Predictive(3, num_samples=2)
    with pytest.raises(TypeError, match="guide must be callable"):
        Predictive(model, guide=3, num_samples=2)
