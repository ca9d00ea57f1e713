"""poutine.equalize: later matching sites take the first one's value (closed-form log densities)."""

import math

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine


def model():
    x = ppl.sample("x", dist.Normal(0.0, 1.0))
    y = ppl.sample("y", dist.Normal(5.0, 3.0))
    z = ppl.sample("other", dist.Normal(0.0, 1.0))
    return x, y, z


def normal_lp(v, loc, scale):
    return -0.5 * ((v - loc) / scale) ** 2 - math.log(scale) - 0.5 * math.log(2 * math.pi)


@pytest.mark.parametrize("keep_dist", [False, True])
def test_equalize_samples(keep_dist):
    torch.manual_seed(0)
    tr = poutine.trace(poutine.equalize(model, ["x", "y"], keep_dist=keep_dist)).get_trace()
    x, y, z = tr.nodes["_RETURN"]["value"]
    assert torch.equal(x, y) and not torch.equal(x, z)
    assert tr.nodes["y"]["is_observed"] and not tr.nodes["x"]["is_observed"]
    v = float(x)
    expected = normal_lp(v, 0.0, 1.0) + normal_lp(float(z), 0.0, 1.0)
    if keep_dist:
        expected += normal_lp(v, 5.0, 3.0)
    assert float(tr.log_prob_sum()) == pytest.approx(expected, rel=1e-5)


def test_equalize_regex_params_and_reentry():
    def params():
        a = ppl.param("a_shift", torch.tensor(1.0))
        b = ppl.param("b_shift", torch.tensor(2.0))
        c = ppl.param("c", torch.tensor(3.0))
        return a, b, c

    ppl.clear_param_store()
    eq = poutine.equalize(params, ".+_shift", "param")
    assert [float(t) for t in eq()] == [1.0, 1.0, 3.0]
    ppl.clear_param_store()
    assert [float(t) for t in eq()] == [1.0, 1.0, 3.0]  # a fresh first value per run
    ppl.clear_param_store()
    assert [float(t) for t in poutine.equalize(params, "shift", "param")()] == [1.0, 2.0, 3.0]


def test_same_as_pyro():
    pyro = pytest.importorskip("pyro")

    def pyro_model():
        x = pyro.sample("x", pyro.distributions.Normal(0.0, 1.0))
        return x, pyro.sample("y", pyro.distributions.Normal(5.0, 3.0))

    torch.manual_seed(1)
    theirs = pyro.poutine.trace(pyro.poutine.equalize(pyro_model, ["x", "y"], keep_dist=True))
    t = theirs.get_trace()
    torch.manual_seed(1)
    ours = poutine.trace(poutine.equalize(model, ["x", "y"], keep_dist=True)).get_trace()
    assert torch.equal(ours.nodes["x"]["value"], t.nodes["x"]["value"])
    ours_lp = ours.nodes["x"]["fn"].log_prob(ours.nodes["y"]["value"])
    assert torch.allclose(ours_lp, t.nodes["x"]["fn"].log_prob(t.nodes["y"]["value"]))
