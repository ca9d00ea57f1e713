"""``ppl.param(...).unconstrained()``: the weakref to the stored leaf, as in Pyro."""

import copy
import importlib.util
import io
import pickle

import pytest
import torch

import ppl
from ppl import poutine
from ppl.distributions import constraints

HAS_PYRO = importlib.util.find_spec("pyro") is not None


@pytest.fixture(autouse=True)
def _clear():
    ppl.clear_param_store()
    yield
    ppl.clear_param_store()


def test_constrained_value_returns_its_leaf():
    p = ppl.param("s", torch.tensor(2.0), constraint=constraints.positive)
    leaf = p.unconstrained()
    assert leaf is dict(ppl.get_param_store().named_parameters())["s"]
    assert leaf.is_leaf and leaf.requires_grad
    assert leaf.item() == pytest.approx(torch.tensor(2.0).log().item())
    # every read hands out the same leaf
    assert ppl.param("s").unconstrained() is leaf
    assert ppl.get_param_store().get_param("s").unconstrained() is leaf


def test_real_param_is_its_own_leaf():
    init = torch.tensor([1.0, -2.0])
    p = ppl.param("w", init)
    assert p is init and p.unconstrained() is p


def test_leaf_drives_a_torch_optimizer_and_in_place_edits():
    p = ppl.param("s", torch.tensor(1.0), constraint=constraints.positive)
    leaf = p.unconstrained()
    opt = torch.optim.SGD([leaf], lr=0.5)
    for _ in range(3):
        opt.zero_grad()
        loss = (ppl.param("s") - 3.0) ** 2
        loss.backward()
        opt.step()
    assert ppl.param("s").unconstrained() is leaf
    with torch.no_grad():
        leaf.fill_(0.0)  # exp(0) = 1
    assert ppl.param("s").item() == pytest.approx(1.0)


def test_trace_values_answer_unconstrained():
    def guide():
        ppl.param("a", torch.ones(2), constraint=constraints.positive)
        ppl.param("b", torch.zeros(2))

    tr = poutine.trace(guide).get_trace()
    leaves = [tr.nodes[n]["value"].unconstrained() for n in tr.param_nodes]
    named = dict(ppl.get_param_store().named_parameters())
    assert leaves[0] is named["a"] and leaves[1] is named["b"]


def test_plain_tensor_has_no_unconstrained():
    with pytest.raises(AttributeError, match="unconstrained"):
        torch.zeros(1).unconstrained()


def test_replace_param_accepts_a_read_value():
    p = ppl.param("s", torch.tensor(2.0), constraint=constraints.positive)
    with pytest.warns(DeprecationWarning):
        ppl.get_param_store().replace_param("s", torch.tensor(5.0), p)
    assert ppl.param("s").item() == pytest.approx(5.0)


def test_state_pickles_after_reads():
    ppl.param("w", torch.zeros(2))
    ppl.param("s", torch.ones(2), constraint=constraints.positive)
    state = ppl.get_param_store().get_state()
    buffer = io.BytesIO()
    torch.save(state["params"], buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    assert torch.equal(loaded["w"], torch.zeros(2))
    # a deep copy and a pickle of a read value work as well
    assert torch.equal(copy.deepcopy(ppl.param("s").detach()), torch.ones(2))
    assert torch.equal(pickle.loads(pickle.dumps(ppl.param("s").detach())), torch.ones(2))


@pytest.mark.skipif(not HAS_PYRO, reason="pyro-ppl not installed")
def test_same_leaf_value_as_pyro():
    import pyro
    import pyro.distributions.constraints as pc

    pyro.clear_param_store()
    theirs = pyro.param("s", torch.tensor([0.2, 0.7]), constraint=pc.unit_interval)
    ours = ppl.param("s", torch.tensor([0.2, 0.7]), constraint=constraints.unit_interval)
    assert torch.allclose(ours.unconstrained(), theirs.unconstrained())
    pyro.clear_param_store()
