"""Init strategies, their registry and the InitMessenger."""

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.distributions import constraints
from ppl.infer.autoguide import AutoDiagonalNormal, AutoNormal
from ppl.infer.autoguide import initialization as init
from ppl.poutine import Message


def _site(fn, name="x"):
    """A latent site, as an init strategy sees it."""
    return Message(type="sample", name=name, fn=fn)


@pytest.mark.parametrize(
    "strategy, fn, expected",
    [
        (init.init_to_feasible, dist.LogNormal(0.0, 1.0), 1.0),
        (init.init_to_feasible, dist.Beta(2.0, 2.0), 0.5),
        (init.init_to_feasible, dist.ImproperUniform(constraints.real, (), ()), 0.0),
        (init.init_to_mean, dist.Gamma(3.0, 2.0), 1.5),
        (init.init_to_mean, dist.ImproperUniform(constraints.positive, (), ()), 1.0),
        (init.init_to_median(num_samples=401), dist.Normal(4.0, 0.01), 4.0),
        (init.init_to_median, dist.ImproperUniform(constraints.real, (), ()), 0.0),
        (init.init_to_value(values={"x": 2.5}), dist.Normal(0.0, 1.0), 2.5),
    ],
)
def test_strategy_values(strategy, fn, expected):
    value = strategy(_site(fn))
    assert value.shape == fn.batch_shape + fn.event_shape
    assert float(value) == pytest.approx(expected, abs=2e-3)


def test_uniform_and_sample_stay_in_support():
    fn = dist.Beta(torch.full((50,), 2.0), 2.0)
    for strategy in (init.init_to_uniform(radius=1.0), init.init_to_sample):
        value = strategy(_site(fn))
        assert value.shape == (50,)
        assert bool(((value > 0) & (value < 1)).all())
    # radius 1 in logit space: sigmoid(+-1) bounds
    value = init.init_to_uniform(_site(fn), radius=1.0)
    assert float(value.min()) > 0.2689 - 1e-4 and float(value.max()) < 0.7311 + 1e-4


def test_median_of_simplex_falls_back_to_a_point_in_support():
    fn = dist.Dirichlet(torch.ones(4))
    value = init.init_to_median(_site(fn))
    assert float(value.sum()) == pytest.approx(1.0, abs=1e-6)


def test_value_fallback_and_broadcast():
    fn = dist.Normal(torch.zeros(3), 1.0)
    strategy = init.init_to_value(values={"x": 1.0}, fallback=None)
    assert strategy(_site(fn)).tolist() == [1.0, 1.0, 1.0]
    assert init.init_to_value(
        _site(fn, "y"), values={}, fallback=init.init_to_feasible
    ).tolist() == [
        0.0,
        0.0,
        0.0,
    ]


def test_value_keeps_site_dtype():
    fn = dist.Normal(torch.zeros(2, dtype=torch.float64), 1.0)
    assert init.init_to_value(_site(fn), values={"x": [1, 2]}).dtype == torch.float64


def test_registry_resolves_names_and_rejects_unknown():
    assert init.get_init_strategy("median") is init.init_to_median
    assert {"feasible", "mean", "median", "sample", "uniform", "value"} <= set(
        init.registered_init_strategies()
    )
    with pytest.raises(ValueError, match="'nope' is not a registered init strategy"):
        init.get_init_strategy("nope")
    with pytest.raises(TypeError, match="init_loc_fn must be a strategy name or a callable"):
        init.get_init_strategy(3)
    with pytest.raises(ValueError, match="'median' is already registered"):
        init.register("median", init.init_to_median)
    with pytest.raises(TypeError, match="name must be a str"):
        init.register(1, init.init_to_median)
    with pytest.raises(TypeError, match="must be callable"):
        init.register("not_callable_strategy", 3)


def test_register_new_strategy_used_by_a_guide():
    name = "test_ones_strategy"
    if name not in init.registered_init_strategies():

        @init.register(name)
        def init_to_one(site=None):
            if site is None:
                return init_to_one
            fn = site["fn"]
            return torch.ones(fn.batch_shape + fn.event_shape)

    guide = AutoNormal(lambda: ppl.sample("x", dist.Normal(0.0, 1.0)), init_loc_fn=name)
    assert float(guide.setup().median()["x"]) == 1.0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda s: init.init_to_value(s, values={"x": torch.zeros(5)}), "does not broadcast"),
        (lambda s: init.init_to_value(s, values={"x": -1.0}), "outside the support"),
        (lambda s: init.init_to_value(s, values={}, fallback=None), "no value for site 'x'"),
        (lambda s: init.init_to_median(s, num_samples=0), "num_samples must be a positive int"),
        (lambda s: init.init_to_uniform(s, radius=-1.0), "radius must be a positive number"),
    ],
)
def test_strategy_errors(call, match):
    site = _site(dist.LogNormal(torch.zeros(2), 1.0))
    with pytest.raises(ValueError, match=match):
        call(site)


def test_init_to_mean_without_fallback_raises():
    site = _site(dist.ImproperUniform(constraints.real, (), ()))
    with pytest.raises(ValueError, match="has no finite mean"):
        init.init_to_mean(site, fallback=None)


def test_init_messenger_sets_latents_and_checks_shape():
    def model():
        with ppl.plate("n", 4):
            a = ppl.sample("a", dist.LogNormal(0.0, 1.0))
        b = ppl.sample("b", dist.Normal(0.0, 1.0), obs=torch.tensor(3.0))
        return a, b

    with init.InitMessenger(init.init_to_feasible):
        a, b = model()
    assert a.tolist() == [1.0] * 4 and float(b) == 3.0

    with pytest.raises(ValueError, match="at site 'a': the init strategy returned shape"):
        with init.InitMessenger(lambda site: torch.zeros(2)):
            model()
    with pytest.raises(TypeError, match="at site 'a': the init strategy returned a float"):
        with init.InitMessenger(lambda site: 0.0):
            model()


def _sphere_model():
    x = ppl.sample("x", dist.Normal(0.0, 1.0).expand([2]).to_event(1))
    ppl.sample("y", dist.ProjectedNormal(x))


@pytest.mark.parametrize("auto_class", [AutoNormal, AutoDiagonalNormal])
def test_spherical_latent_names_the_reparameterizer(auto_class):
    ppl.clear_param_store()
    with pytest.raises(ValueError, match=r"site 'y'.*\{'y': ProjectedNormalReparam\(\)\}"):
        auto_class(_sphere_model)()


def test_init_to_feasible_on_the_sphere_is_a_unit_vector():
    site = {"fn": dist.ProjectedNormal(torch.zeros(3)), "name": "y", "type": "sample"}
    value = init.init_to_feasible(Message(**site))
    assert value.shape == (3,)
    assert torch.allclose(value.norm(), torch.tensor(1.0))
