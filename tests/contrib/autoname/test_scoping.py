"""scope / name_count: the exact names they produce, and their errors."""

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.contrib.autoname import name_count, scope


def sample_names(model, *args):
    return poutine.trace(model).get_trace(*args).stochastic_nodes


def leaf():
    return ppl.sample("z", dist.Normal(0.0, 1.0))


@pytest.mark.parametrize(
    "inner, expected",
    [
        (False, ["outer/a/z", "outer/a__1/z", "outer/a__2/z"]),
        (True, ["outer/a/z", "outer/a/z__1", "outer/a/z__2"]),
    ],
)
def test_counter_position(inner, expected):
    @name_count
    @scope(prefix="outer")
    def model():
        for _ in range(3):
            with scope(prefix="a", inner=inner):
                leaf()

    assert sample_names(model) == expected


def test_decorator_uses_function_name_and_recursion():
    @scope
    def countdown(n):
        ppl.sample("x", dist.Normal(0.0, 1.0))
        if n > 0:
            countdown(n - 1)

    assert sample_names(countdown, 2) == [
        "countdown/x",
        "countdown/countdown/x",
        "countdown/countdown/countdown/x",
    ]


def test_params_and_observations():
    # params keep their name; observed sites are renamed like latent ones
    @scope(prefix="m")
    def model2():
        loc = ppl.param("loc", torch.tensor(0.5))
        ppl.sample("y", dist.Normal(loc, 1.0), obs=torch.tensor(1.0))

    tr = poutine.trace(model2).get_trace()
    assert [n for n in tr.nodes if n not in ("_INPUT", "_RETURN")] == ["loc", "m/y"]
    assert tr.observation_nodes == ["m/y"]


def test_name_count_resets_between_runs():
    model = name_count(lambda: [leaf() for _ in range(2)])
    assert sample_names(model) == ["z", "z__1"]
    assert sample_names(model) == ["z", "z__1"]


def test_user_counted_name_is_bumped():
    @name_count
    def model():
        ppl.sample("x__1", dist.Normal(0.0, 1.0))
        ppl.sample("x__1", dist.Normal(0.0, 1.0))

    assert sample_names(model) == ["x__1", "x__2"]


def test_scope_without_prefix_raises():
    with pytest.raises(ValueError, match="no prefix"):
        with scope():
            pass


def test_scope_bad_types():
    with pytest.raises(TypeError, match="prefix must be a str"):
        scope(prefix=3)
    with pytest.raises(TypeError, match="wraps a callable"):
        scope(prefix="a")(3)
