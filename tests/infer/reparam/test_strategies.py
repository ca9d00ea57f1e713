"""AutoReparam / MinimalReparam: which reparameterizer each kind of site gets."""

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.distributions.transforms import ExpTransform
from ppl.infer.reparam import (
    AutoReparam,
    GumbelSoftmaxReparam,
    LatentStableReparam,
    LocScaleReparam,
    MinimalReparam,
    ProjectedNormalReparam,
    StableReparam,
    SymmetricStableReparam,
    TransformReparam,
)


def model():
    ppl.sample("normal", dist.Normal(0.0, 1.0))
    ppl.sample("gamma", dist.Gamma(2.0, 1.0))
    ppl.sample("lognormal", dist.TransformedDistribution(dist.Normal(0.0, 1.0), [ExpTransform()]))
    ppl.sample("relaxed", dist.RelaxedOneHotCategorical(torch.tensor(0.5), logits=torch.zeros(3)))
    ppl.sample("direction", dist.ProjectedNormal(torch.tensor([0.0, 1.0])))
    ppl.sample("stable", dist.Stable(torch.tensor(1.5), torch.tensor(0.5)))
    ppl.sample("sym_obs", dist.Stable(torch.tensor(1.5), torch.tensor(0.0)), obs=torch.tensor(0.1))
    ppl.sample("skew_obs", dist.Stable(torch.tensor(1.5), torch.tensor(0.5)), obs=torch.tensor(0.1))
    ppl.sample("normal_obs", dist.Normal(0.0, 1.0), obs=torch.tensor(0.1))


def kinds(config):
    return {k: (type(v).__name__ if v is not None else None) for k, v in config.items()}


def test_auto_reparam_choices():
    strategy = AutoReparam()
    strategy(model)()
    got = kinds(strategy.config)
    assert got["normal"] == LocScaleReparam.__name__
    assert got["gamma"] is None
    assert got["lognormal"] == TransformReparam.__name__
    assert got["lognormal_base"] == LocScaleReparam.__name__  # the new base site, in turn
    assert got["relaxed"] == GumbelSoftmaxReparam.__name__
    assert got["direction"] == ProjectedNormalReparam.__name__
    assert got["stable"] == LocScaleReparam.__name__  # Stable is a loc-scale family
    assert got["stable_decentered"] == LatentStableReparam.__name__
    assert got["sym_obs"] == SymmetricStableReparam.__name__
    assert got["skew_obs"] == StableReparam.__name__
    assert got["normal_obs"] is None
    assert "normal_decentered" in strategy.config and strategy.config["normal_decentered"] is None


def test_minimal_reparam_leaves_normal_sites_alone():
    strategy = MinimalReparam()
    poutine.reparam(model, strategy)()
    got = kinds(strategy.config)
    assert got["normal"] is None and got["lognormal"] is None and got["relaxed"] is None
    assert got["stable"] == LatentStableReparam.__name__
    assert got["direction"] == ProjectedNormalReparam.__name__


def test_config_is_reused_on_later_runs():
    strategy = AutoReparam(centered=0.0)
    rmodel = strategy(model)
    rmodel()
    first = dict(strategy.config)
    rmodel()
    assert all(strategy.config[k] is v for k, v in first.items())
    assert strategy.config["normal"].centered == 0.0


def test_bad_arguments_raise():
    with pytest.raises(TypeError, match="centered must be None or a float"):
        AutoReparam(centered=1)
    with pytest.raises(TypeError, match="called on a model or a sample site"):
        AutoReparam()(3)
