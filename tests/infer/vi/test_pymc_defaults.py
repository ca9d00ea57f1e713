"""fit/ADVI use PyMC's defaults: adagrad_window, one MC sample, PyMC's mean-field start."""

import math

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.infer.vi import ADVI, MAP, FullRankADVI, fit
from ppl.optim import AdagradWindow, Adam


def model(data):
    mu = ppl.sample("mu", dist.Normal(2.0, 10.0))
    sigma = ppl.sample("sigma", dist.LogNormal(0.5, 1.0))
    with ppl.plate("data", len(data)):
        ppl.sample("obs", dist.Normal(mu, sigma), obs=data)


DATA = torch.tensor([1.0, 2.0, 4.0])


def test_advi_defaults_are_pymcs():
    advi = ADVI(model, DATA, random_seed=0)
    assert isinstance(advi.optimizer, AdagradWindow)
    assert advi.optimizer.optim_args == {"lr": 1e-3, "eps": 0.1, "n_win": 10}
    assert advi.svi.objective.num_particles == 1
    store = ppl.get_param_store()
    # the mean at the model's initial point (the prior mean), rho = 0: sd = softplus(0)
    assert float(store["AutoNormal.locs.mu"]) == pytest.approx(2.0)
    assert float(store["AutoNormal.locs.sigma"]) == pytest.approx(math.log(math.exp(0.5 + 0.5)))
    for name in ("AutoNormal.scales.mu", "AutoNormal.scales.sigma"):
        assert float(store[name]) == pytest.approx(math.log(2.0))
        assert float(store.get_state()["params"][name]) == pytest.approx(0.0, abs=1e-6)


def test_fullrank_starts_at_the_initial_point_with_identity_cholesky():
    advi = FullRankADVI(model, DATA, random_seed=0)
    assert isinstance(advi.optimizer, AdagradWindow)
    posterior = advi.guide.get_posterior()
    assert torch.allclose(posterior.loc, torch.tensor([2.0, 1.0]), atol=1e-6)
    assert torch.allclose(posterior.covariance_matrix, torch.eye(2), atol=1e-6)


def test_user_choices_override_the_defaults():
    advi = ADVI(model, DATA, optimizer=Adam({"lr": 0.1}), guide_kwargs={"init_scale": 0.2})
    assert not isinstance(advi.optimizer, AdagradWindow)
    assert float(ppl.get_param_store()["AutoNormal.scales.mu"]) == pytest.approx(0.2)
    assert not isinstance(MAP(model, DATA).optimizer, AdagradWindow)  # other methods keep Adam


def test_obj_n_mc_is_the_number_of_particles():
    approx = fit(model, DATA, num_steps=3, obj_n_mc=7, progress_bar=False, random_seed=0)
    assert approx.inference.svi.objective.num_particles == 7
    with pytest.raises(ValueError, match="obj_n_mc"):
        fit(model, DATA, num_steps=3, obj_n_mc=2, inf_kwargs={"num_particles": 3})


def test_adagrad_window_fit_moves_slowly_but_surely():
    # lr 1e-3 over a window of 10 squared gradients: each step moves a coordinate by at
    # most lr / sqrt(1 + 0.1 / g^2) < 1e-3, so 400 steps move the mean less than 0.4
    approx = fit(model, DATA, num_steps=400, progress_bar=False, random_seed=0)
    moved = abs(float(ppl.get_param_store()["AutoNormal.locs.mu"]) - 2.0)
    assert 0.0 < moved < 0.4
    assert math.isfinite(approx.hist[-1])
