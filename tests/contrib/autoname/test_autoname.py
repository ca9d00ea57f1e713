"""autoname / sample: names from distributions, scopes, loops and plates."""

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.contrib.autoname import autoname, sample
from ppl.contrib.autoname.autoname import genname


def sample_names(model, *args):
    tr = poutine.trace(model).get_trace(*args)
    return [n for n, s in tr.iter_stochastic_nodes() if not s.infer.get("is_subsample")]


@autoname
def coin():
    return sample(dist.Bernoulli(0.5))


def test_nested_and_repeated_scopes():
    @autoname(name="model")
    def model():
        coin()
        coin()
        sample("x", dist.Normal(0.0, 1.0))
        sample("x", dist.Normal(0.0, 1.0))
        sample(dist.Normal(0.0, 1.0), name="y")
        return sample(dist.Normal(0.0, 1.0))

    assert sample_names(model) == [
        "model/coin/Bernoulli",
        "model/coin__1/Bernoulli",
        "model/x",
        "model/x1",
        "model/y",
        "model/Normal",
    ]


def test_loops_and_sequential_plates():
    @autoname(name="model")
    def model():
        for _ in autoname(ppl.plate("data", 2)):
            for _ in autoname(range(2), name="t"):
                coin()

    assert sample_names(model) == [
        "model/data/t/coin/Bernoulli",
        "model/data/t__1/coin/Bernoulli",
        "model/data__1/t/coin/Bernoulli",
        "model/data__1/t__1/coin/Bernoulli",
    ]


def test_recursion_reenters_one_handler():
    @autoname
    def geometric(n):
        x = sample("x", dist.Bernoulli(1.0))
        return x + geometric(n - 1) if n > 0 else x

    assert sample_names(geometric, 2) == [
        "geometric/x",
        "geometric/geometric/x",
        "geometric/geometric/geometric/x",
    ]
    assert poutine.trace(geometric).get_trace(2).nodes["_RETURN"]["value"].item() == 3.0


def test_state_is_clean_after_an_error():
    @autoname(name="bad")
    def bad():
        sample("x", dist.Normal(0.0, 1.0))
        raise KeyError("boom")

    with pytest.raises(KeyError):
        bad()
    assert genname("x") == "x"
    assert sample_names(coin) == ["coin/Bernoulli"]


def test_errors():
    with pytest.raises(ValueError, match="has no name"):
        with autoname():
            pass
    with pytest.raises(TypeError, match="site name or a distribution"):
        sample(3, dist.Normal(0.0, 1.0))
    with pytest.raises(ValueError, match="callable or an iterable"):
        autoname(name="x")(torch.tensor(1.0).item())
