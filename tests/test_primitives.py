"""Primitives: sample (obs, obs_mask, infer, sample_shape), param, factor, deterministic,
validation errors, and Pyro compatibility of the top-level names."""

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.distributions import constraints


def test_sample_shape_and_infer():
    with poutine.trace() as tm:
        x = ppl.sample("x", dist.Normal(0.0, 1.0), sample_shape=(4,), infer={"is_auxiliary": True})
    assert x.shape == (4,)
    assert tm.trace.nodes["x"]["infer"] == {"is_auxiliary": True}


def test_obs_mask_splits_sites():
    obs = torch.tensor([1.0, float("nan"), 3.0])
    mask = torch.tensor([True, False, True])
    with poutine.trace() as tm, ppl.plate("n", 3):
        x = ppl.sample("x", dist.Normal(0.0, 1.0), obs=torch.nan_to_num(obs), obs_mask=mask)
    tr = tm.trace
    assert tr.nodes["x_observed"]["is_observed"] and "x_unobserved" in tr.stochastic_nodes
    assert x[0] == 1.0 and x[2] == 3.0 and torch.isfinite(x[1])
    lp_obs = dist.Normal(0.0, 1.0).log_prob(torch.tensor([1.0, 3.0])).sum()
    lp_unobs = dist.Normal(0.0, 1.0).log_prob(x[1])
    assert torch.allclose(tr.log_prob_sum(), lp_obs + lp_unobs)


def test_factor_adds_log_density():
    def m():
        ppl.sample("x", dist.Normal(0.0, 1.0), obs=torch.tensor(0.0))
        ppl.factor("f", torch.tensor(-2.0))

    tr = poutine.trace(m).get_trace()
    assert torch.allclose(tr.log_prob_sum(), dist.Normal(0.0, 1.0).log_prob(torch.tensor(0.0)) - 2)
    assert tr.nodes["f"]["infer"]["is_auxiliary"]


def test_deterministic_records_value_without_density():
    def m():
        a = ppl.sample("a", dist.Normal(0.0, 1.0))
        return ppl.deterministic("b", 2 * a)

    tr = poutine.trace(m).get_trace()
    assert torch.allclose(tr.nodes["b"]["value"], 2 * tr.nodes["a"]["value"])
    tr.compute_log_prob()
    assert float(tr.nodes["b"]["log_prob"]) == 0.0
    assert float(ppl.deterministic("c", torch.tensor(1.0))) == 1.0


def test_param_returns_constrained_value_with_gradient():
    s = ppl.param("s", torch.tensor(2.0), constraint=constraints.positive)
    assert torch.allclose(s, torch.tensor(2.0))
    s.backward()
    ((name, leaf),) = list(ppl.get_param_store().named_parameters())
    assert name == "s" and torch.allclose(leaf.grad, torch.tensor(2.0))  # d exp(u)/du = exp(u)


def test_param_goes_through_handlers():
    with poutine.trace() as tm:
        ppl.param("w", torch.tensor(1.0))
    assert tm.trace.param_nodes == ["w"]


def test_sample_needs_a_distribution():
    with pytest.raises(TypeError, match="at site 'x': expected a distribution"):
        ppl.sample("x", 3.0)


def test_validation_names_site_for_bad_observation():
    def m():
        ppl.sample("y", dist.Bernoulli(0.5), obs=torch.tensor(2.0))

    with pytest.raises(ValueError, match="at site 'y': observed value is outside the support"):
        ppl.poutine.trace(m).get_trace()
    with ppl.validation_enabled(False):
        ppl.poutine.trace(m).get_trace()  # no check when validation is off


def test_validation_names_site_for_bad_argument():
    def m():
        ppl.sample("z", dist.Normal(0.0, torch.tensor(-1.0)))

    with pytest.raises(ValueError, match="at site 'z': argument 'scale' of Normal must satisfy"):
        poutine.trace(m).get_trace()


def test_obs_mask_needs_bool_tensor_and_obs():
    with pytest.raises(TypeError, match="bool tensor"):
        ppl.sample("x", dist.Normal(0.0, 1.0), obs=torch.zeros(2), obs_mask=torch.ones(2))
    with pytest.raises(ValueError, match="needs obs"):
        ppl.sample("x", dist.Normal(0.0, 1.0), obs_mask=torch.ones(2, dtype=torch.bool))


def test_set_rng_seed_reproduces():
    ppl.set_rng_seed(11)
    a = ppl.sample("a", dist.Normal(0.0, 1.0))
    ppl.set_rng_seed(11)
    assert ppl.sample("a", dist.Normal(0.0, 1.0)) == a


def test_pyro_style_script_runs_unchanged():
    import ppl as pyro
    import ppl.distributions as pdist

    def model(data):
        f = pyro.sample("latent_fairness", pdist.Beta(10.0, 10.0))
        with pyro.plate("data", len(data)):
            pyro.sample("obs", pdist.Bernoulli(f), obs=data)

    pyro.clear_param_store()
    pyro.enable_validation(True)
    data = torch.tensor([1.0, 0.0, 1.0])
    tr = pyro.poutine.trace(model).get_trace(data)
    assert tr.nodes["obs"]["fn"].batch_shape == (3,)


def test_obs_mask_over_event_dims_is_refused():
    data = torch.zeros(3, 2)
    bad_mask = torch.tensor([[True, False], [True, True], [False, True]])
    mvn = dist.MultivariateNormal(torch.zeros(2), torch.eye(2))
    with pytest.raises(ValueError, match=r"site 'y'.*Invalid obs_mask shape \(3, 2\).*\(3,\)"):
        with ppl.plate("rows", 3):
            ppl.sample("y", mvn, obs=data, obs_mask=bad_mask)
    tr = ppl.poutine.trace(
        lambda: ppl.sample("y", mvn.expand([3]), obs=data, obs_mask=bad_mask[:, 0])
    ).get_trace()
    assert tr.nodes["y_observed"]["mask"].tolist() == [True, True, False]


def test_scalar_obs_on_an_event_site_broadcasts_as_in_pyro():
    fn = dist.Normal(torch.zeros(3), 1.0).to_event(1)
    tr = ppl.poutine.trace(lambda: ppl.sample("y", fn, obs=torch.tensor(1.0))).get_trace()
    tr.compute_log_prob()
    expected = 3 * dist.Normal(0.0, 1.0).log_prob(torch.tensor(1.0))
    assert torch.allclose(tr.nodes["y"]["log_prob"], expected)
    with pytest.raises(ValueError, match="outside the support"):
        beta = dist.Beta(torch.ones(3), 1.0).to_event(1)
        ppl.poutine.trace(lambda: ppl.sample("y", beta, obs=torch.tensor(2.0))).get_trace()
