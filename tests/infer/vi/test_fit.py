"""fit / ADVI / FullRankADVI / MAP / Laplace / SVGDInference: hist, refine, callbacks, moments."""

import math

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.infer.callbacks import CheckParametersConvergence, Tracker
from ppl.infer.vi import ADVI, MAP, FullRankADVI, Laplace, SVGDInference, fit, register_method
from ppl.optim import SGD, Adam

DATA = torch.tensor([0.8, 1.2, 1.0, 1.4, 0.6])


def normal_model(data):
    mu = ppl.sample("mu", dist.Normal(0.0, 10.0))
    with ppl.plate("data", len(data)):
        ppl.sample("obs", dist.Normal(mu, 1.0), obs=data)


# Conjugate posterior of mu: precision 1/100 + 5, mean sum(data) / (5 + 1/100).
POST_SD = 1.0 / math.sqrt(5.0 + 0.01)
POST_MEAN = float(DATA.sum()) / (5.0 + 0.01)


def mixture():
    comps = [dist.Normal(0.3, 0.1), dist.Normal(0.5, 0.1)]
    ppl.sample("x", dist.MixtureGeneral(dist.Categorical(torch.tensor([0.2, 0.8])), comps))


@pytest.mark.parametrize("method", ["advi", "fullrank_advi"])
def test_gaussian_methods_recover_the_conjugate_posterior(method):
    approx = fit(
        normal_model,
        DATA,
        method=method,
        num_steps=1500,
        progress_bar=False,
        random_seed=0,
        optimizer=Adam({"lr": 0.02}),
    )
    assert len(approx.hist) == 1500
    # real-valued site: mean/std are the guide's loc and marginal scale, exactly
    assert abs(float(approx.mean["mu"]) - POST_MEAN) < 0.05
    assert abs(float(approx.std["mu"]) - POST_SD) < 0.06
    draws = approx.sample(4000)["mu"]
    assert draws.shape == (4000,)
    assert abs(float(draws.mean()) - float(approx.mean["mu"])) < 0.03


def test_map_and_laplace():
    m = fit(
        normal_model,
        DATA,
        method="map",
        n=800,
        progress_bar=False,
        random_seed=0,
        optimizer=Adam({"lr": 0.05}),
    )
    assert abs(float(m.mean["mu"]) - POST_MEAN) < 0.01
    assert float(m.std["mu"]) == 0.0
    lap = fit(
        normal_model,
        DATA,
        method="laplace",
        n=800,
        progress_bar=False,
        random_seed=0,
        optimizer=Adam({"lr": 0.05}),
    )
    # the Laplace approximation of a Gaussian posterior is exact
    assert abs(float(lap.mean["mu"]) - POST_MEAN) < 0.01
    assert abs(float(lap.std["mu"]) - POST_SD) < 1e-3
    assert type(lap.guide).__name__ == "AutoMultivariateNormal"


def test_constrained_site_moments_are_estimated_by_sampling():
    def model():
        ppl.sample("s", dist.LogNormal(0.0, 0.5))

    advi = ADVI(model, optimizer=Adam({"lr": 0.01}), random_seed=0)
    assert advi.approx.hist == []  # the approximation exists before fitting
    approx = advi.fit(2000, progress_bar=False)
    # LogNormal(0, .5): mean exp(.125) = 1.133, std 1.133 * sqrt(exp(.25) - 1) = 0.604
    assert abs(float(approx.mean["s"]) - 1.133) < 0.1
    assert abs(float(approx.std["s"]) - 0.604) < 0.1


def test_svgd_fit_finds_both_modes():
    approx = fit(
        mixture,
        method="svgd",
        num_steps=150,
        inf_kwargs={"n_particles": 100},
        progress_bar=False,
        random_seed=0,
    )
    # see tests/infer/test_svgd.py for the tolerance argument (100 particles)
    assert abs(float(approx.mean["x"]) - 0.46) < 0.015
    assert abs(float(approx.std["x"]) - 0.128) < 0.012
    assert approx.sample(7)["x"].shape == (7,)
    x2 = approx.sample_node(lambda s: s["x"] ** 2, size=2000)
    # E[x^2] = var + mean^2 = 0.0164 + 0.2116 = 0.228
    assert abs(float(x2.mean()) - 0.228) < 0.02
    assert len(approx.hist) == 150 and all(math.isfinite(v) for v in approx.hist)


def test_hist_accumulates_over_fit_and_refine_and_tracker_lengths():
    advi = ADVI(normal_model, DATA, random_seed=0)
    tracker = Tracker(mean=lambda: advi.approx.mean["mu"], std=lambda a: a.std["mu"])
    advi.fit(120, callbacks=[tracker], progress_bar=False)
    assert len(tracker["mean"]) == len(tracker["std"]) == 120
    approx = advi.refine(80, progress_bar=False)
    assert approx is advi.approx
    assert len(advi.hist) == len(approx.hist) == 200
    approx.refine(30, progress_bar=False)
    assert len(approx.hist) == 230
    assert len(tracker["mean"]) == 120  # the tracker only ran during the first fit


def test_convergence_callback_stops_early(capsys):
    conv = CheckParametersConvergence(every=50, tolerance=0.05, diff="absolute")
    approx = fit(
        normal_model,
        DATA,
        num_steps=5000,
        callbacks=[conv],
        progress_bar=False,
        random_seed=0,
        optimizer=Adam({"lr": 0.01}),
    )
    steps = len(approx.hist)
    assert steps < 5000 and steps % 50 == 0
    out = capsys.readouterr().out
    assert f"Convergence achieved at {steps}" in out
    assert f"Interrupted at step {steps}" in out


def test_user_callback_stop_and_message(capsys):
    def stop_after_10(approx, losses, step):
        if step % 10 == 0:
            raise StopIteration("I was slow, sorry")

    approx = fit(normal_model, DATA, callbacks=[stop_after_10], progress_bar=False)
    assert len(approx.hist) == 10
    out = capsys.readouterr().out
    assert "I was slow, sorry" in out and "Interrupted at step 10 [0%]" in out


def test_fit_with_new_optimizer_and_model_kwargs():
    def model(data, scale=1.0):
        mu = ppl.sample("mu", dist.Normal(0.0, 10.0))
        with ppl.plate("data", len(data)):
            ppl.sample("obs", dist.Normal(mu, scale), obs=data)

    inference = FullRankADVI(model, DATA, scale=2.0, random_seed=0)
    inference.fit(50, progress_bar=False, optimizer=SGD({"lr": 1e-3}))
    assert inference.svi.optim is inference.optimizer
    approx = fit(
        model, DATA, method="map", num_steps=5, progress_bar=False, model_kwargs={"scale": 2.0}
    )
    assert len(approx.hist) == 5


def test_fresh_fits_do_not_reuse_old_parameters():
    fit(
        normal_model,
        DATA,
        method="map",
        num_steps=300,
        progress_bar=False,
        optimizer=Adam({"lr": 0.05}),
    )
    again = MAP(normal_model, DATA)
    assert float(again.approx.mean["mu"]) != pytest.approx(POST_MEAN, abs=0.05)
    kept = MAP(normal_model, DATA, fresh=False)
    assert float(kept.approx.params["AutoDelta.mu"]) == float(again.approx.params["AutoDelta.mu"])


def test_object_api_has_approx_before_fit():
    svgd = SVGDInference(mixture, num_particles=10, random_seed=0)
    assert svgd.approx.mean["x"].shape == ()
    assert svgd.approx.params["svgd_particles"].shape == (10, 1)
    lap = Laplace(normal_model, DATA)
    assert "mu" in lap.approx.sample(3)


def test_register_method():
    register_method("advi_again", ADVI)
    approx = fit(normal_model, DATA, method="advi_again", num_steps=3, progress_bar=False)
    assert len(approx.hist) == 3


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"method": "nuts"}, ValueError, "unknown method 'nuts'"),
        ({"num_steps": 10, "n": 10}, ValueError, "num_steps or its alias n"),
        ({"num_steps": 0}, ValueError, "must be >= 1"),
        ({"num_steps": 2.5}, TypeError, "must be an int"),
        ({"callbacks": lambda a, losses, s: None}, TypeError, "wrap it in a list"),
        ({"callbacks": [3]}, TypeError, "every callback must be callable"),
        ({"optimizer": Adam({}), "obj_optimizer": Adam({})}, ValueError, "obj_optimizer"),
        (
            {"inf_kwargs": {"n_particles": 5, "num_particles": 5}, "method": "svgd"},
            ValueError,
            "both n_particles and num_particles",
        ),
        ({"model_kwargs": {"data": DATA}, "data": DATA}, ValueError, "given both directly"),
    ],
)
def test_fit_errors(kwargs, err, match):
    kwargs = kwargs if "model_kwargs" in kwargs else {"data": DATA, **kwargs}
    with pytest.raises(err, match=match):
        fit(normal_model, progress_bar=False, **kwargs)


def test_model_must_be_callable():
    with pytest.raises(TypeError, match="model must be callable"):
        ADVI("model")
