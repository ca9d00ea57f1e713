"""Site names are attribute paths; the mixin factory and in-place conversion."""

import copy
import pickle

import pytest
import torch
from torch import nn

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.distributions import constraints
from ppl.nn import PyroModule, PyroModuleList, PyroParam, PyroSample, to_pyro_module_


class Model(PyroModule):
    def __init__(self):
        super().__init__()
        self.x = nn.Parameter(torch.tensor(0.0))
        self.y = PyroParam(torch.tensor(1.0), constraint=constraints.positive)
        self.m = nn.Linear(2, 1)
        self.p = PyroModule()
        self.p.v = nn.Parameter(torch.tensor(3.0))
        self.p.w = PyroParam(torch.tensor(4.0), constraint=constraints.positive)
        self.p.z = PyroSample(dist.Normal(0.0, 1.0))

    def forward(self):
        return self.x, self.y, self.m, self.p.v, self.p.w, self.p.z


def test_site_names_are_dotted_attribute_paths():
    model = Model()
    assert {n for n, _ in model.named_parameters()} == {
        "x",
        "y_unconstrained",
        "m.weight",
        "m.bias",
        "p.v",
        "p.w_unconstrained",
    }
    tr = poutine.trace(model).get_trace()
    params = [n for n, s in tr.nodes.items() if s["type"] == "param"]
    samples = [n for n, s in tr.nodes.items() if s["type"] == "sample"]
    assert params == ["x", "y", "m$$$weight", "m$$$bias", "p.v", "p.w"]
    assert samples == ["p.z"]
    assert set(ppl.get_param_store().keys()) == set(params)
    assert [n for n, _ in model.named_pyro_params()] == [
        "x",
        "y",
        "m.weight",
        "m.bias",
        "p.v",
        "p.w",
    ]


def test_root_name_prefixes_every_site():
    root = PyroModule("net")
    root.a = PyroModule()
    root.a.w = PyroParam(torch.ones(2))
    root.forward = lambda: root.a.w
    tr = poutine.trace(root).get_trace()
    assert "net.a.w" in tr.nodes
    assert root.a._pyro_name == "net.a"


def test_deep_nesting_and_reattaching_renames():
    root = PyroModule()
    root.enc = PyroModule()
    root.enc.layer = PyroModule[nn.Linear](2, 2)
    assert root.enc.layer._pyro_name == "enc.layer"
    assert root.enc.layer._pyro_context is root._pyro_context
    other = PyroModule()
    other.inner = root.enc
    assert other.inner.layer._pyro_name == "inner.layer"
    assert other.inner.layer._pyro_context is other._pyro_context


def test_mixin_factory_builds_cached_named_subclasses():
    assert PyroModule[nn.Module] is PyroModule
    assert PyroModule[PyroModule] is PyroModule
    lin = PyroModule[nn.Linear]
    assert lin is PyroModule[nn.Linear]
    assert lin.__name__ == "PyroLinear"
    assert PyroModule[lin] is lin
    assert issubclass(lin, nn.Linear) and issubclass(lin, PyroModule)
    conv = PyroModule[nn.Conv1d](1, 2, 3)
    assert isinstance(conv, PyroModule[nn.modules.conv._ConvNd])
    seq = PyroModule[nn.Sequential](PyroModule[nn.Linear](4, 3), PyroModule[nn.Sigmoid]())
    assert type(seq).__name__ == "PyroSequential"
    assert [m._pyro_name for m in seq] == ["0", "1"]
    assert PyroModule[nn.ModuleList] is PyroModuleList


def test_slicing_a_container_keeps_children_names():
    seq = PyroModule[nn.Sequential](*[PyroModule[nn.Linear](2, 2) for _ in range(3)])
    lst = PyroModuleList([PyroModule[nn.Linear](2, 2) for _ in range(3)])
    for container in (seq, lst):
        part = container[1:]
        assert not isinstance(part, PyroModule)
        assert [m._pyro_name for m in container] == ["0", "1", "2"]
        assert all(m._pyro_context is container._pyro_context for m in container)


def test_to_pyro_module_converts_in_place_and_names_children():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    x = torch.randn(5, 3)
    expected = net(x)
    to_pyro_module_(net)
    assert isinstance(net, PyroModule[nn.Sequential])
    assert isinstance(net[0], PyroModule[nn.Linear])
    assert [m._pyro_name for m in net] == ["0", "1", "2"]
    tr = poutine.trace(net).get_trace(x)
    assert [n for n, s in tr.nodes.items() if s["type"] == "param"] == [
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
    ]
    assert torch.allclose(tr.nodes["_RETURN"]["value"], expected)
    to_pyro_module_(net)  # idempotent
    assert type(net[0]) is PyroModule[nn.Linear]


def test_to_pyro_module_without_recursion_registers_plain_children_as_modules():
    net = nn.Sequential(nn.Linear(2, 1))
    to_pyro_module_(net, recurse=False)
    assert not isinstance(net[0], PyroModule)
    poutine.trace(net).get_trace(torch.ones(1, 2))
    assert set(ppl.get_param_store().keys()) == set()  # Sequential iterates _modules directly


def test_pickle_round_trip_of_mixin_and_decorated_classes():
    model = DecoratedModel(3)
    seq = PyroModule[nn.Sequential](PyroModule[nn.Linear](2, 1))
    for obj in (model, seq):
        clone = pickle.loads(pickle.dumps(obj))
        assert type(clone) is type(obj)
        assert {n for n, _ in clone.named_parameters()} == {n for n, _ in obj.named_parameters()}
    clone = pickle.loads(pickle.dumps(model))
    ppl.clear_param_store()
    assert torch.equal(clone.loc.detach(), model.loc.detach())
    tr = poutine.trace(clone).get_trace()
    assert tr.nodes["z"]["value"].shape == (3,)
    lin = pickle.loads(pickle.dumps(seq))[0]
    assert lin._pyro_name == "0"
    copied = copy.deepcopy(seq)
    assert type(copied[0]) is PyroModule[nn.Linear]
    assert copied[0]._pyro_context is copied._pyro_context is not seq._pyro_context


class DecoratedModel(PyroModule):
    def __init__(self, size):
        super().__init__()
        self.size = size

    @PyroParam
    def loc(self):
        return torch.arange(float(self.size))

    @PyroParam(constraint=constraints.positive, event_dim=1)
    def scale(self):
        return torch.ones(self.size)

    @PyroSample
    def z(self):
        return dist.Normal(self.loc, self.scale).to_event(1)

    def forward(self):
        return self.z


@pytest.mark.parametrize("size", [1, 3])
def test_decorators_declare_params_and_samples(size):
    model = DecoratedModel(size)
    for _ in range(2):
        tr = poutine.trace(model).get_trace()
        assert [n for n in tr.nodes if n not in ("_INPUT", "_RETURN")] == ["loc", "scale", "z"]
        assert [tr.nodes[n]["type"] for n in ("loc", "scale", "z")] == ["param", "param", "sample"]
        assert tr.nodes["scale"]["kwargs"]["event_dim"] == 1
        assert tr.nodes["z"]["value"].shape == (size,)
    assert torch.equal(ppl.param("loc").detach(), torch.arange(float(size)))
