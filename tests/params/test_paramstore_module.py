"""``ppl.param`` through the handler stack, and ``ppl.module`` (nn.Module registration)."""

import pytest
import torch
from torch.distributions import constraints

import ppl
from ppl import poutine
from ppl.primitives import module

pytestmark = pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")


def test_param_returns_constrained_value_differentiable_wrt_store_leaf():
    value = ppl.param("s", torch.tensor(2.0), constraint=constraints.positive)
    leaf = dict(ppl.get_param_store().named_parameters())["s"]
    value.backward()
    assert float(leaf.grad) == pytest.approx(2.0)


def test_trace_sees_param_sites():
    def guide():
        return ppl.param("loc", torch.tensor([1.0, 2.0])) + ppl.param(
            "scale", lambda: torch.ones(2), constraint=constraints.positive
        )

    tr = poutine.trace(guide).get_trace()
    assert [n for n, s in tr.nodes.items() if s["type"] == "param"] == ["loc", "scale"]
    assert torch.equal(tr.nodes["loc"]["value"].detach(), torch.tensor([1.0, 2.0]))
    assert ppl.get_param_store().param_name(tr.nodes["loc"]["value"]) == "loc"


def test_substitute_replaces_param_value_without_touching_store():
    ppl.param("a", torch.tensor(1.0))
    with poutine.substitute(data={"a": torch.tensor(5.0)}):
        assert float(ppl.param("a")) == 5.0
    assert float(ppl.get_param_store()["a"]) == 1.0


def test_module_registers_prefixed_parameters_sharing_the_objects():
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    assert module("net", net) is net
    store = ppl.get_param_store()
    assert sorted(store) == ["net$$$0.bias", "net$$$0.weight", "net$$$1.bias", "net$$$1.weight"]
    assert dict(store.named_parameters())["net$$$0.weight"] is net[0].weight
    assert store.param_name(net[1].bias) == "net$$$1.bias"


def test_optimising_store_leaves_trains_the_module():
    net = module("net", torch.nn.Linear(1, 1))
    optim = torch.optim.SGD([p for _, p in ppl.get_param_store().named_parameters()], lr=0.2)
    x = torch.tensor([[1.0], [2.0]])
    for _ in range(1000):
        optim.zero_grad()
        ((net(x) - 3 * x) ** 2).mean().backward()
        optim.step()
    assert float(net.weight) == pytest.approx(3.0, abs=1e-2)


def test_update_module_params_installs_loaded_values(tmp_path):
    net = module("net", torch.nn.Linear(2, 1))
    with torch.no_grad():
        net.weight.fill_(0.25)
        net.bias.fill_(-1.0)
    ppl.get_param_store().save(tmp_path / "p.pt")
    ppl.clear_param_store()

    fresh = torch.nn.Linear(2, 1)
    ppl.get_param_store().load(tmp_path / "p.pt")
    module("net", fresh)  # without the flag, the module keeps its own values
    assert not torch.equal(fresh.weight.detach(), torch.full((1, 2), 0.25))

    module("net", fresh, update_module_params=True)
    assert torch.equal(fresh.weight.detach(), torch.full((1, 2), 0.25))
    assert float(fresh.bias) == -1.0
    assert isinstance(fresh.weight, torch.nn.Parameter)
    # Store and module share one leaf again, so training the store trains the module.
    assert dict(ppl.get_param_store().named_parameters())["net$$$weight"] is fresh.weight
    assert [n for n, _ in fresh.named_parameters()] == ["weight", "bias"]


def test_update_module_params_reaches_nested_submodules(tmp_path):
    net = module("net", torch.nn.Sequential(torch.nn.Linear(1, 1, bias=False)))
    with torch.no_grad():
        net[0].weight.fill_(4.0)
    ppl.get_param_store().save(tmp_path / "p.pt")
    ppl.clear_param_store()
    ppl.get_param_store().load(tmp_path / "p.pt")
    fresh = module("net", torch.nn.Sequential(torch.nn.Linear(1, 1, bias=False)), True)
    assert float(fresh[0].weight) == 4.0


def test_frozen_parameters_are_skipped_with_a_warning_in_training_mode():
    net = torch.nn.Linear(2, 1)
    net.bias.requires_grad_(False)
    with pytest.warns(UserWarning, match=r"'bias' has requires_grad=False.*train\(False\)"):
        module("net", net)
    assert list(ppl.get_param_store()) == ["net$$$weight"]
    ppl.clear_param_store()
    module("net", net.train(False))  # silent in eval mode
    assert list(ppl.get_param_store()) == ["net$$$weight"]


def test_module_bad_input():
    with pytest.raises(ValueError, match=r"name 'a\$\$\$b' contains '\$\$\$'"):
        module("a$$$b", torch.nn.Linear(1, 1))
    with pytest.raises(TypeError, match=r"got the class Linear; pass an instance"):
        module("net", torch.nn.Linear)
    with pytest.raises(TypeError, match="expected a torch.nn.Module, got int"):
        module("net", 3)
    with pytest.raises(TypeError, match="name must be a str"):
        module(3, torch.nn.Linear(1, 1))
