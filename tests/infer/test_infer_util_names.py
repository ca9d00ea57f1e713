"""Pyro-named helpers of ppl.infer.util: numbers-or-tensors, plate stacks, MultiFrameTensor."""

import math

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.infer import util
from ppl.poutine.runtime import CondIndepStackFrame, Message


def test_number_or_tensor_helpers():
    assert util.torch_item(torch.tensor(1.5)) == 1.5 and util.torch_item(2) == 2
    assert util.torch_exp(1.0) == math.e
    assert util.torch_exp(torch.tensor([0.0, 1.0])).tolist() == pytest.approx([1.0, math.e])
    assert util.torch_sum(torch.ones(2, 3), [-1, -2, -5]).item() == 6.0
    assert util.torch_sum(torch.ones(2, 3), [-4]).shape == (2, 3)
    with pytest.raises(ValueError, match="negative"):
        util.torch_sum(torch.ones(2), [0])
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    util.torch_backward((w**2).sum())
    assert w.grad.tolist() == [2.0, 4.0]
    util.torch_backward(torch.tensor(3.0))  # no graph: no-op
    util.zero_grads([w, torch.zeros(1)])
    assert w.grad.tolist() == [0.0, 0.0]
    assert util.is_identically_zero(0) and util.is_identically_zero(torch.tensor(0))
    assert not util.is_identically_zero(torch.tensor(0.0))
    assert not util.is_identically_zero(torch.tensor([0]))


def test_check_fully_reparametrized():
    def guide():
        ppl.sample("z", dist.Normal(0.0, 1.0))
        ppl.sample("c", dist.Bernoulli(0.5))

    tr = poutine.trace(guide).get_trace()
    util.check_fully_reparametrized(tr.nodes["z"])
    with pytest.raises(NotImplementedError, match="'c'"):
        util.check_fully_reparametrized(tr.nodes["c"])


def model():
    with ppl.plate("i", 3, dim=-1):
        ppl.sample("a", dist.Normal(0.0, 1.0))
        with ppl.plate("j", 2, dim=-2):
            ppl.sample("b", dist.Normal(0.0, 1.0))
    ppl.sample("c", dist.Normal(0.0, 1.0))
    with ppl.plate("k", 10, subsample_size=4, dim=-3):
        ppl.sample("d", dist.Normal(0.0, 1.0))


def test_plate_stacks_and_dependent_dims():
    tr = poutine.trace(model).get_trace()
    stacks = util.get_plate_stacks(tr)
    assert set(stacks) == {"a", "b", "c", "d"}  # the subsample site "k" is left out
    assert [f.name for f in stacks["b"]] == ["i", "j"] or [f.name for f in stacks["b"]] == [
        "j",
        "i",
    ]
    assert stacks["c"] == []
    nodes = tr.nodes
    assert util.get_dependent_plate_dims([nodes["a"], nodes["b"]]) == [-2]
    assert util.get_dependent_plate_dims([nodes["a"], nodes["b"], nodes["c"]]) == [-2, -1]
    assert util.get_dependent_plate_dims([nodes["a"]]) == []
    assert util.site_is_subsample(nodes["k"])


def test_multi_frame_tensor():
    i = CondIndepStackFrame("i", -1, 3)
    j = CondIndepStackFrame("j", -2, 2)
    seq = CondIndepStackFrame("s", None, 1)
    a = torch.arange(3.0)
    b = torch.arange(6.0).reshape(2, 3)
    mft = util.MultiFrameTensor(((i,), a), ((i, j, seq), b))
    mft.add(((), torch.tensor(10.0)), ((i,), a))
    assert set(mft) == {frozenset({i}), frozenset({i, j}), frozenset()}
    assert torch.equal(mft[frozenset({i})], 2 * a)
    assert mft.sum_to(()).item() == pytest.approx(2 * 3 + 15 + 10)
    assert mft.sum_to((i,)).tolist() == [13.0, 17.0, 21.0]  # 2a + b.sum(-2) + 10
    assert torch.equal(mft.sum_to((i, j)), 2 * a + b + 10)
    assert util.MultiFrameTensor().sum_to((i,)) == 0.0
    with pytest.raises(ValueError, match="plate 'j'"):
        util.MultiFrameTensor(((j,), torch.ones(3)))


def test_plate_log_prob_sum_needs_packed():
    lp = torch.arange(6.0).reshape(2, 3)
    lp._pyro_dims = "ab"
    site = Message(type="sample", name="x", fn=None)
    site["packed"] = {"log_prob": lp}
    tr = poutine.Trace()
    tr.add_message(site)
    assert util.plate_log_prob_sum(tr, "b").tolist() == [3.0, 5.0, 7.0]
    bare = poutine.trace(lambda: ppl.sample("y", dist.Normal(0.0, 1.0))).get_trace()
    with pytest.raises(ValueError, match="'y'"):
        util.plate_log_prob_sum(bare, "a")


def test_validation_names_are_ppl_settings():
    assert util.enable_validation is ppl.settings.enable_validation
    was = util.is_validation_enabled()
    with util.validation_enabled(not was):
        assert util.is_validation_enabled() is (not was)
    assert util.is_validation_enabled() is was


def test_same_as_pyro_multi_frame_tensor():
    pyro_util = pytest.importorskip("pyro.infer.util")
    from pyro.poutine.indep_messenger import CondIndepStackFrame as PyroFrame

    torch.manual_seed(0)
    x, y = torch.randn(2, 3), torch.randn(3)
    i, j = CondIndepStackFrame("i", -1, 3), CondIndepStackFrame("j", -2, 2)
    pi, pj = PyroFrame("i", -1, 3, 0, 3), PyroFrame("j", -2, 2, 0, 2)
    ours = util.MultiFrameTensor(((i, j), x), ((i,), y))
    theirs = pyro_util.MultiFrameTensor(((pi, pj), x), ((pi,), y))
    for mine, pyros in [((), ()), ((i,), (pi,)), ((j,), (pj,)), ((i, j), (pi, pj))]:
        assert torch.allclose(torch.as_tensor(ours.sum_to(mine)), theirs.sum_to(pyros))
