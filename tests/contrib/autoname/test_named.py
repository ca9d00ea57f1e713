"""named.Object / List / Dict: addresses, site names, write-once errors."""

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.contrib.autoname import named


def test_sites_named_by_address():
    def model():
        state = named.Object("state")
        loc = state.loc.param_(torch.tensor(0.0))
        state.xs = named.List()
        z = state.xs.add().z.sample_(dist.Normal(loc, 1.0))
        state.d = named.Dict()
        state.d["obs"].sample_(dist.Normal(z, 1.0), obs=torch.tensor(2.0))
        return state

    tr = poutine.trace(model).get_trace()
    assert tr.param_nodes == ["state.loc"]
    assert tr.stochastic_nodes == ["state.xs[0].z"]
    assert tr.observation_nodes == ["state.d['obs']"]
    state = tr.nodes["_RETURN"]["value"]
    # sampled values replace the placeholders
    assert state.xs[0].z is tr.nodes["state.xs[0].z"]["value"]
    assert torch.equal(state.d["obs"], torch.tensor(2.0))


def test_address_evaluates_back():
    state = named.Object("state")
    state.ys = named.List()
    state.ys.add().foo = 1
    state.zs = named.Dict()
    state.zs["k"].bar = 2
    for item in (state.ys, state.ys[0], state.zs, state.zs["k"]):
        assert eval(str(item)) is item
    assert state.ys[0].foo == 1 and state.zs["k"].bar == 2


def test_write_once():
    state = named.Object("state")
    state.x = 1
    with pytest.raises(ValueError, match="cannot overwrite state.x"):
        state.x = 2
    with pytest.raises(RuntimeError, match="write-once"):  # Pyro's exception type too
        state.x = 3
    z = state.z
    z.sample_(dist.Normal(0.0, 1.0))
    with pytest.raises(ValueError, match="only an unused placeholder"):
        z.sample_(dist.Normal(0.0, 1.0))
    with pytest.raises(ValueError, match="unnamed named.List"):
        named.List().add()
    with pytest.raises(ValueError, match="unnamed named.Dict"):
        named.Dict()["a"]
    with pytest.raises(TypeError, match="cannot store named.Object"):
        named.Dict("d")["a"] = named.Object("o")
    with pytest.raises(ValueError, match="cannot rename"):
        state.other = named.List("already")
    ppl.clear_param_store()
