"""PyroParams and plain nn.Parameters: shared with the ParamStore, handlers, updates."""

import pytest
import torch
from torch import nn

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.distributions import constraints
from ppl.nn import PyroModule, PyroParam, PyroSample, clear


class Scale(PyroModule):
    def __init__(self):
        super().__init__()
        self.loc = nn.Parameter(torch.tensor([0.5, -0.5]))
        self.scale = PyroParam(torch.tensor([2.0, 3.0]), constraint=constraints.positive)

    def forward(self):
        return self.loc, self.scale


def test_param_store_shares_the_modules_leaves():
    m = Scale()
    assert len(ppl.get_param_store()) == 0  # nothing before the first call
    loc, scale = m()
    store = ppl.get_param_store()
    leaves = dict(store.named_parameters())
    assert leaves["loc"] is m.loc
    assert leaves["scale"] is m.scale_unconstrained
    assert torch.allclose(m.scale_unconstrained, torch.tensor([2.0, 3.0]).log())
    assert torch.allclose(store["scale"], torch.tensor([2.0, 3.0]))
    assert loc is m.loc
    # an in-place update of the store's leaf is what the module reads
    with torch.no_grad():
        leaves["scale"].fill_(0.0)
    assert torch.equal(m()[1].detach(), torch.ones(2))


def test_outside_a_call_reads_do_not_touch_the_store():
    m = Scale()
    with poutine.trace() as tr:
        value = m.scale
    assert torch.allclose(value, torch.tensor([2.0, 3.0]))
    assert len(tr.trace.nodes) == 0 and len(ppl.get_param_store()) == 0


def test_substitute_and_replay_reach_params():
    m = Scale()
    with poutine.substitute(data={"scale": torch.tensor([7.0, 8.0]), "loc": torch.zeros(2)}):
        loc, scale = m()
    assert torch.equal(scale, torch.tensor([7.0, 8.0])) and torch.equal(loc, torch.zeros(2))
    guide_trace = poutine.trace(m).get_trace()
    loc2, scale2 = poutine.replay(m, trace=guide_trace)()
    assert torch.equal(scale2.detach(), torch.tensor([2.0, 3.0]))


def test_gradients_flow_to_the_unconstrained_leaf():
    m = Scale()
    loc, scale = m()
    (loc.sum() + scale.sum()).backward()
    assert torch.equal(m.loc.grad, torch.ones(2))
    assert torch.allclose(m.scale_unconstrained.grad, torch.tensor([2.0, 3.0]))


def test_store_wins_after_load_and_across_instances(tmp_path):
    m = Scale()
    m()
    with torch.no_grad():
        m.loc.add_(1.0)
        m.scale_unconstrained.add_(1.0)
    path = tmp_path / "params.pt"
    ppl.get_param_store().save(path)
    ppl.clear_param_store()
    ppl.get_param_store().load(path)
    fresh = Scale()
    loc, scale = fresh()
    assert torch.allclose(loc, torch.tensor([1.5, 0.5]))
    assert torch.allclose(scale, torch.tensor([2.0, 3.0]) * torch.e)
    leaves = dict(ppl.get_param_store().named_parameters())
    assert leaves["scale"] is fresh.scale_unconstrained
    assert isinstance(fresh.scale_unconstrained, nn.Parameter)
    assert leaves["loc"] is fresh.loc
    # a second instance shares the stored values too (Pyro's global-store semantics)
    other = Scale()
    assert torch.equal(other()[0].detach(), loc.detach())


def test_assigning_a_tensor_updates_the_param_in_place():
    m = Scale()
    m()
    leaf = m.scale_unconstrained
    m.scale = torch.tensor([4.0, 5.0])
    assert m.scale_unconstrained is leaf
    assert torch.allclose(ppl.get_param_store()["scale"], torch.tensor([4.0, 5.0]))
    assert torch.allclose(m()[1], torch.tensor([4.0, 5.0]))


def test_reassigning_and_deleting_attributes():
    m = Scale()
    m()
    m.scale = PyroParam(torch.tensor(0.25), constraint=constraints.unit_interval)
    assert "scale" not in ppl.get_param_store()  # the old entry is gone
    assert torch.allclose(m()[1], torch.tensor(0.25))
    assert ppl.get_param_store()["scale"].shape == ()
    del m.scale
    assert not hasattr(m, "scale") and not hasattr(m, "scale_unconstrained")
    assert "scale" not in ppl.get_param_store() and "scale" not in m._pyro_params
    m.scale = PyroSample(dist.Normal(0.0, 1.0))
    tr = poutine.trace(m).get_trace()
    assert tr.nodes["scale"]["type"] == "sample"
    m.scale = torch.tensor(3.0)  # a plain tensor replaces the PyroSample
    assert "scale" not in m._pyro_samples and float(m.scale) == 3.0
    m.loc = nn.Parameter(torch.tensor([9.0, 9.0]))  # a new Parameter replaces the stored one
    assert "loc" not in ppl.get_param_store()
    assert torch.equal(m()[0].detach(), torch.tensor([9.0, 9.0]))


def test_lazy_callable_init_is_not_evaluated_when_stored():
    calls = []

    def init():
        calls.append(1)
        return torch.ones(3)

    class Lazy(PyroModule):
        @PyroParam
        def w(self):
            return init()

        def forward(self):
            return self.w

    Lazy()()
    assert len(calls) == 1
    assert torch.equal(Lazy()().detach(), torch.ones(3))
    assert len(calls) == 1  # the stored value was adopted; init not called again


def test_plain_submodule_is_registered_like_ppl_module():
    m = PyroModule()
    m.fc = nn.Linear(2, 1)
    m.forward = lambda x: m.fc(x)
    tr = poutine.trace(m).get_trace(torch.ones(1, 2))
    assert {n for n, s in tr.nodes.items() if s["type"] == "param"} == {"fc$$$weight", "fc$$$bias"}
    assert dict(ppl.get_param_store().named_parameters())["fc$$$weight"] is m.fc.weight


def test_frozen_parameters_stay_out_of_the_store():
    m = PyroModule()
    m.frozen = nn.Parameter(torch.ones(2), requires_grad=False)
    m.forward = lambda: m.frozen
    assert m() is m.frozen
    assert "frozen" not in ppl.get_param_store()
    assert not m.frozen.requires_grad


def test_to_dtype_keeps_module_and_store_in_sync():
    m = Scale()
    m()
    m.to(torch.float64)
    loc, scale = m()
    assert loc.dtype == scale.dtype == torch.float64
    leaves = dict(ppl.get_param_store().named_parameters())
    assert leaves["scale"] is m.scale_unconstrained and leaves["scale"].dtype == torch.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_to_cuda_keeps_module_and_store_in_sync():
    m = Scale()
    m()
    m.to("cuda")
    loc, scale = m()
    assert loc.device.type == scale.device.type == "cuda"
    assert dict(ppl.get_param_store().named_parameters())["loc"].device.type == "cuda"


def test_clear_removes_module_data_and_store_entries():
    m = Scale()
    m.fc = nn.Linear(2, 1)
    m.sub = PyroModule()
    m.sub.w = nn.Parameter(torch.zeros(1))
    m.subway = PyroModule()  # shares the prefix "sub" but must survive clearing "sub"
    m.subway.k = nn.Parameter(torch.zeros(1))
    m.forward = lambda: (m.loc, m.scale, m.fc.weight, m.sub.w, m.subway.k)
    m()
    assert set(ppl.get_param_store().keys()) == {
        "loc",
        "scale",
        "fc$$$weight",
        "fc$$$bias",
        "sub.w",
        "subway.k",
    }
    del m.sub
    assert set(ppl.get_param_store().keys()) == {
        "loc",
        "scale",
        "fc$$$weight",
        "fc$$$bias",
        "subway.k",
    }
    clear(m)
    assert set(ppl.get_param_store().keys()) == set()
    assert list(m.parameters()) == [] and not m._pyro_params


@pytest.mark.parametrize(
    "shape,constraint",
    [
        ((), constraints.real),
        ((3, 2), constraints.positive),
        ((4,), constraints.simplex),
        ((3, 3), constraints.lower_cholesky),
        ((2,), constraints.interval(-1.0, 2.0)),
    ],
)
def test_constrained_params_round_trip(shape, constraint):
    m = PyroModule()
    init = {
        constraints.real: torch.full(shape, 0.3),
        constraints.simplex: torch.full(shape, 1.0 / shape[-1] if shape else 1.0),
        constraints.lower_cholesky: torch.eye(3) * 2.0,
    }.get(constraint, torch.full(shape, 0.5))
    m.x = PyroParam(init, constraint)
    assert torch.allclose(m.x, init, atol=1e-6)
    m.forward = lambda: m.x
    out = m()
    assert torch.allclose(out, init, atol=1e-6) and bool(constraint.check(out).all())
    assert torch.allclose(ppl.get_param_store()["x"], init, atol=1e-6)
