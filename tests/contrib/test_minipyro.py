"""ppl.contrib.minipyro (Pyro's one-file teaching PPL) and ppl.generic (pyroapi)."""

import math
import warnings

import pytest
import torch
from torch.distributions import Categorical, Normal, constraints

from ppl.contrib import minipyro


@pytest.fixture(autouse=True)
def _fresh_store():
    minipyro.get_param_store().clear()
    yield
    minipyro.get_param_store().clear()
    assert not minipyro.HANDLER_STACK


def normal_model(data):
    loc = minipyro.sample("loc", Normal(0.0, 1.0))
    with minipyro.plate("data", len(data)):
        minipyro.sample("obs", Normal(loc, 1.0), obs=data)


def normal_guide(data):
    loc = minipyro.param("loc_q", torch.tensor(0.0))
    scale = minipyro.param("scale_q", torch.tensor(1.0), constraint=constraints.positive)
    return minipyro.sample("loc", Normal(loc, scale))


def test_svi_reaches_the_conjugate_posterior():
    torch.manual_seed(0)
    data = torch.randn(50) + 2.0
    svi = minipyro.SVI(
        normal_model, normal_guide, minipyro.Adam({"lr": 0.02}), minipyro.Trace_ELBO()
    )
    for _ in range(1500):
        svi.step(data)
    svi.optim = minipyro.Adam({"lr": 0.002})  # a small step to settle, then average
    means, scales = [], []
    for _ in range(800):
        svi.step(data)
        means.append(float(minipyro.param("loc_q")))
        scales.append(float(minipyro.param("scale_q")))
    # prior N(0, 1), unit noise: posterior N(sum x / (n + 1), 1 / (n + 1))
    exact_mean, exact_sd = float(data.sum()) / 51, 1 / math.sqrt(51)
    assert abs(sum(means[400:]) / 400 - exact_mean) < 0.02
    assert abs(sum(scales[400:]) / 400 - exact_sd) < 0.02


def test_elbo_is_log_q_minus_log_p_at_the_guide_draw():
    data = torch.tensor([0.5, -1.0])
    torch.manual_seed(3)
    loss = minipyro.elbo(normal_model, normal_guide, data)
    torch.manual_seed(3)
    z = normal_guide(data)  # the same draw
    log_p = Normal(0.0, 1.0).log_prob(z) + Normal(z, 1.0).log_prob(data).sum()
    log_q = Normal(0.0, 1.0).log_prob(z)
    assert float(loss) == pytest.approx(float(log_q - log_p), rel=1e-6)


def test_jit_elbo_equals_the_eager_elbo_under_the_same_seed():
    data = torch.tensor([0.3, 1.2, -0.4])
    jit_elbo = minipyro.JitTrace_ELBO(ignore_jit_warnings=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.trace is deprecated
        jit_elbo(normal_model, normal_guide, data)  # traces
        for seed in (0, 1, 2):
            torch.manual_seed(seed)
            eager = minipyro.elbo(normal_model, normal_guide, data)
            torch.manual_seed(seed)
            traced = jit_elbo(normal_model, normal_guide, data)
            assert float(traced) == pytest.approx(float(eager), rel=1e-6)
    # gradients reach the stored leaves through the traced graph
    traced.backward()
    leaf = minipyro.PARAM_STORE["loc_q"][0]
    assert leaf.grad is not None and torch.isfinite(leaf.grad)


def test_plates_expand_batch_dims_and_allocate_free_dims():
    with minipyro.trace() as tr:
        with minipyro.plate("outer", 3):
            with minipyro.plate("inner", 2):
                minipyro.sample("x", Normal(0.0, 1.0))
        with minipyro.plate("fixed", 4, dim=-2):
            minipyro.sample("y", Normal(torch.zeros(5), 1.0))
    assert tr.trace["x"]["value"].shape == (2, 3)
    assert tr.trace["y"]["value"].shape == (4, 5)
    assert list(minipyro.plate("p", 3)) == [0, 1, 2]
    with pytest.raises(ValueError, match="from the right"):
        minipyro.plate("bad", 2, dim=0)


def test_replay_block_and_param_only_trace():
    guide_trace = minipyro.trace(normal_guide).get_trace(torch.zeros(2))
    model_trace = minipyro.trace(minipyro.replay(normal_model, guide_trace)).get_trace(
        torch.zeros(2)
    )
    assert torch.equal(model_trace["loc"]["value"], guide_trace["loc"]["value"])
    assert model_trace["obs"]["is_observed"] and not model_trace["loc"]["is_observed"]
    with minipyro.trace() as outer:
        minipyro.block(normal_guide, hide_fn=lambda msg: msg["type"] == "param")(torch.zeros(2))
    assert list(outer) == ["loc"]
    with minipyro.trace(param_only=True) as params:
        normal_guide(torch.zeros(2))
    assert list(params) == ["loc_q", "scale_q"]


def test_param_stores_an_unconstrained_leaf():
    value = minipyro.param("s", torch.tensor([0.5, 2.0]), constraint=constraints.positive)
    leaf, constraint = minipyro.PARAM_STORE["s"]
    assert constraint is constraints.positive
    assert torch.allclose(leaf, torch.tensor([0.5, 2.0]).log())
    assert value.unconstrained() is leaf and leaf.requires_grad
    assert torch.allclose(minipyro.param("s"), torch.tensor([0.5, 2.0]))  # no init needed now
    simplex = minipyro.param("q", torch.tensor([1.0, 3.0]), constraint=constraints.simplex)
    assert torch.allclose(simplex, torch.tensor([0.25, 0.75]))  # positive init, normalised
    with pytest.raises(KeyError, match="'missing'"):
        minipyro.param("missing")


def test_seed_handler_reproduces_and_restores_the_rng():
    def draw():
        return minipyro.sample("c", Categorical(torch.ones(10) / 10), sample_shape=(20,))

    before = torch.get_rng_state()
    first = minipyro.seed(draw, rng_seed=7)()
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(minipyro.seed(draw, rng_seed=7)(), first)


def test_generic_backends_run_on_ppl():
    pytest.importorskip("pyroapi")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from ppl.generic import infer, pyro, pyro_backend

    import ppl

    with pyro_backend("ppl_minipyro"):
        assert infer.SVI is minipyro.SVI
        pyro.get_param_store().clear()
        assert float(pyro.param("w", torch.tensor(2.0))) == 2.0
    with pyro_backend("ppl"):
        assert infer.SVI is ppl.infer.SVI
        assert pyro.sample is ppl.sample
