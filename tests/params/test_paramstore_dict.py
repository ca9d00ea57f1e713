"""ParamStoreDict, method by method (seed 003), plus the bad-input errors."""

import math

import pytest
import torch
from torch.distributions import biject_to, constraints

import ppl
from ppl.params.param_store import (
    ParamStoreDict,
    clear_param_store,
    get_param_store,
    module_from_param_with_module_name,
    normalize_param_name,
    param_transform,
    param_with_module_name,
    user_param_name,
)

pytestmark = pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")


@pytest.fixture
def store():
    return ParamStoreDict()


def test_setdefault_stores_unconstrained_leaf_and_returns_constrained(store):
    value = store.setdefault("s", torch.tensor([1.0, 4.0]), constraints.positive)
    assert torch.allclose(value, torch.tensor([1.0, 4.0]))
    leaf = dict(store.named_parameters())["s"]
    assert leaf.is_leaf and leaf.requires_grad
    assert torch.allclose(leaf, torch.tensor([0.0, math.log(4.0)]))


def test_constrained_value_is_differentiable_wrt_leaf(store):
    store.setdefault("s", torch.tensor(2.0), constraints.positive)
    store["s"].backward()  # d exp(u)/du = exp(u) = 2
    assert float(dict(store.named_parameters())["s"].grad) == pytest.approx(2.0)


def test_setdefault_ignores_init_for_existing_name(store):
    store.setdefault("a", torch.tensor(1.0))
    calls = []
    value = store.setdefault("a", lambda: calls.append(1) or torch.tensor(5.0))
    assert float(value) == 1.0 and calls == []


def test_callable_init_is_called_once_for_a_new_name(store):
    calls = []

    def init():
        calls.append(1)
        return torch.full((2,), 0.25)

    value = store.setdefault("p", init, constraints.unit_interval)
    assert torch.allclose(value, torch.full((2,), 0.25)) and calls == [1]


def test_number_and_list_inits_become_default_float_tensors(store):
    assert store.setdefault("n", 3).dtype == torch.get_default_dtype()
    assert torch.equal(store.setdefault("l", [1, 2]).detach(), torch.tensor([1.0, 2.0]))


def test_real_init_tensor_itself_becomes_the_stored_leaf(store):
    init = torch.zeros(3)
    assert store.setdefault("w", init) is init and init.requires_grad
    assert store.param_name(init) == "w"


def test_getitem_setitem_delitem(store):
    store.setdefault("s", torch.tensor(2.0), constraints.positive)
    old_leaf = dict(store.named_parameters())["s"]
    store["s"] = torch.tensor(3.0)  # keeps the positive constraint
    assert float(store["s"]) == pytest.approx(3.0)
    assert float(dict(store.named_parameters())["s"]) == pytest.approx(math.log(3.0))
    assert store.param_name(old_leaf) is None
    store["new"] = torch.tensor(-1.0)  # a new name is unconstrained
    assert store.get_state()["constraints"]["new"] is constraints.real
    del store["s"]
    assert "s" not in store and len(store) == 1
    with pytest.raises(KeyError, match=r"parameter 's' is not in the ParamStore.*known: new"):
        store["s"]
    with pytest.raises(KeyError, match="parameter 's' is not in the ParamStore"):
        del store["s"]


def test_dict_protocol(store):
    assert not store and len(store) == 0 and repr(store) == "ParamStoreDict()"
    store.setdefault("a", torch.tensor(1.0))
    store.setdefault("b", torch.tensor(2.0), constraints.positive)
    assert bool(store) and len(store) == 2
    assert list(store) == ["a", "b"] and list(store.keys()) == ["a", "b"]
    assert "a" in store and "c" not in store
    assert [float(v) for v in store.values()] == pytest.approx([1.0, 2.0])
    assert [(k, float(v)) for k, v in store.items()] == [("a", 1.0), ("b", pytest.approx(2.0))]
    assert repr(store) == "ParamStoreDict(2 params: a, b)"
    store.clear()
    assert len(store) == 0 and list(store.named_parameters()) == []


def test_get_all_param_names_is_deprecated_alias(store):
    store.setdefault("a", torch.tensor(1.0))
    with pytest.warns(DeprecationWarning, match="use .keys"):
        assert list(store.get_all_param_names()) == ["a"]


def test_replace_param(store):
    old = store.setdefault("s", torch.tensor(2.0), constraints.positive)
    with pytest.warns(DeprecationWarning, match="replace_param"):
        store.replace_param("s", torch.tensor(5.0), old)
    assert float(store["s"]) == pytest.approx(5.0)
    leaf = dict(store.named_parameters())["s"]
    with pytest.warns(DeprecationWarning):
        store.replace_param("s", torch.tensor(6.0), leaf)  # the leaf itself also works
    assert float(store["s"]) == pytest.approx(6.0)
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="not the current"):
        store.replace_param("s", torch.tensor(1.0), torch.tensor(99.0))
    with pytest.warns(DeprecationWarning), pytest.raises(KeyError, match="'zz' is not in"):
        store.replace_param("zz", torch.tensor(1.0), torch.tensor(1.0))


def test_get_param(store):
    with pytest.raises(KeyError, match="create it with ppl.param"):
        store.get_param("a")
    value = store.get_param("a", torch.tensor(0.5), constraints.unit_interval, event_dim=0)
    assert float(value) == 0.5
    assert float(store.get_param("a")) == 0.5


def test_match_uses_anchored_regex(store):
    for name in ("loc_1", "loc_2", "scale", "my_loc"):
        store.setdefault(name, torch.tensor(1.0))
    assert sorted(store.match("loc_")) == ["loc_1", "loc_2"]
    assert sorted(store.match(".*loc")) == ["loc_1", "loc_2", "my_loc"]
    assert store.match("nothing") == {}
    with pytest.raises(ValueError, match=r"'\(' is not a valid regular expression"):
        store.match("(")


def test_param_name_tracks_leaves_through_every_change(store):
    store.setdefault("a", torch.tensor(1.0), constraints.positive)
    leaf = dict(store.named_parameters())["a"]
    assert store.param_name(leaf) == "a"
    assert store.param_name(store["a"]) is None  # constrained values are not leaves
    assert store.param_name(torch.tensor(1.0)) is None
    state = store.get_state()
    store.clear()
    assert store.param_name(leaf) is None
    store.set_state(state)
    assert store.param_name(leaf) == "a"
    del store["a"]
    assert store.param_name(leaf) is None


def test_get_state_holds_unconstrained_leaves_and_constraint_objects(store):
    store.setdefault("s", torch.tensor(2.0), constraints.positive)
    state = store.get_state()
    assert set(state) == {"params", "constraints"}
    assert state["params"]["s"] is dict(store.named_parameters())["s"]
    assert float(state["params"]["s"]) == pytest.approx(math.log(2.0))
    assert state["constraints"]["s"] is constraints.positive
    state["params"].clear()  # a copy of the dicts, not the store's own
    assert "s" in store


def test_set_state_merges_and_overwrites(store):
    store.setdefault("keep", torch.tensor(1.0))
    store.setdefault("s", torch.tensor(1.0))
    store.set_state(
        {
            "params": {"s": torch.tensor(0.0), "t": torch.tensor([0.0, 0.0])},
            "constraints": {"s": constraints.positive, "t": constraints.real},
        }
    )
    assert sorted(store) == ["keep", "s", "t"]
    assert float(store["s"]) == pytest.approx(1.0)  # exp(0)
    assert all(p.requires_grad and p.is_leaf for _, p in store.named_parameters())


@pytest.mark.parametrize(
    "state,error,match",
    [
        ([], TypeError, "expected a dict with 'params' and 'constraints', got list"),
        ({"params": {}}, ValueError, r"expected keys \['constraints', 'params'\]"),
        ({"params": [], "constraints": {}}, TypeError, "must be dicts"),
        (
            {"params": {"a": torch.zeros(1)}, "constraints": {}},
            ValueError,
            r"name different parameters \(only in params: \['a'\]",
        ),
        ({"params": {"a": 1.0}, "constraints": {"a": constraints.real}}, TypeError, "is a float"),
        (
            {"params": {"a": torch.zeros(1)}, "constraints": {"a": "real"}},
            TypeError,
            "constraint must be a torch Constraint instance",
        ),
        (
            {"params": {"a": torch.zeros(1)}, "constraints": {"a": constraints.boolean}},
            ValueError,
            "has no transform",
        ),
        ({"params": {1: torch.zeros(1)}, "constraints": {1: constraints.real}}, TypeError, "str"),
    ],
)
def test_bad_set_state_leaves_store_unchanged(store, state, error, match):
    store.setdefault("x", torch.tensor(1.0))
    before = store.get_state()
    with pytest.raises(error, match=match):
        store.set_state(state)
    assert store.get_state()["params"] == before["params"]


def test_scope_round_trip_of_seed_003(store):
    """Two models with the same param names trained in two scopes, then evaluated in each."""
    store.setdefault("outside", torch.tensor(7.0))

    def train(target):
        store.setdefault("loc", torch.tensor(0.0))
        store.setdefault("scale", torch.tensor(1.0), constraints.positive)
        optim = torch.optim.SGD([p for _, p in store.named_parameters()], lr=0.2)
        for _ in range(200):
            optim.zero_grad()
            loss = (store["loc"] - target) ** 2 + (store["scale"] - 0.5) ** 2
            loss.backward()
            optim.step()

    with store.scope() as scope1:
        assert list(store) == []
        train(3.0)
    with store.scope() as scope2:
        assert list(store) == []
        train(-2.0)
    assert list(store) == ["outside"]  # the outer store is back
    with store.scope(scope1):
        assert float(store["loc"]) == pytest.approx(3.0, abs=1e-4)
        assert float(store["scale"]) == pytest.approx(0.5, abs=1e-4)
    with store.scope(scope2):
        assert float(store["loc"]) == pytest.approx(-2.0, abs=1e-4)
    assert sorted(scope1["params"]) == ["loc", "scale"]
    assert scope1["constraints"]["scale"] is constraints.positive


def test_scope_restores_outer_store_after_an_error(store):
    store.setdefault("outer", torch.tensor(1.0))
    with pytest.raises(RuntimeError, match="boom"), store.scope():
        store.setdefault("inner", torch.tensor(2.0))
        raise RuntimeError("boom")
    assert list(store) == ["outer"]


@pytest.mark.parametrize(
    "init,constraint,match",
    [
        (torch.tensor(-1.0), constraints.positive, r"'p'.*outside the support of GreaterThan"),
        (torch.tensor([0.5, -0.6]), constraints.simplex, r"'p'.*outside the support of Simplex"),
        (torch.tensor(2.0), constraints.interval(0.0, 1.0), r"'p'.*outside.*Interval"),
        (torch.tensor(float("nan")), constraints.real, r"'p'.*outside the support of Real"),
        (torch.tensor(0.0), constraints.nonnegative, r"'p'.*non-finite unconstrained value"),
        (torch.tensor(float("inf")), constraints.real, r"'p'.*non-finite"),
    ],
)
def test_init_outside_support_is_value_error_naming_param_and_constraint(
    store, init, constraint, match
):
    with pytest.raises(ValueError, match=match):
        store.setdefault("p", init, constraint)
    assert "p" not in store


def test_setitem_outside_support_keeps_old_value(store):
    store.setdefault("s", torch.tensor(2.0), constraints.positive)
    with pytest.raises(ValueError, match="outside the support"):
        store["s"] = torch.tensor(-3.0)
    assert float(store["s"]) == pytest.approx(2.0)


@pytest.mark.parametrize(
    "init,match",
    [
        (lambda: 3.0, "the init callable returned a float, expected a torch.Tensor"),
        (lambda: None, "returned a NoneType"),
        (torch.tensor([1, 2]), r"dtype torch.int64, but parameters must be floating point"),
        ("abc", "must be a tensor or a number, got str"),
        (None, "must be a tensor or a number, got NoneType"),
        ([[1.0], [2.0, 3.0]], "cannot be made a tensor"),
    ],
)
def test_bad_init_types_are_type_errors(store, init, match):
    with pytest.raises(TypeError, match=match):
        store.setdefault("p", init)
    assert "p" not in store


def test_bad_name_and_constraint_types(store):
    with pytest.raises(TypeError, match="parameter names must be str, got 3"):
        store.setdefault(3, torch.tensor(1.0))
    with pytest.raises(TypeError, match=r"'p': constraint must be a torch Constraint instance"):
        store.setdefault("p", torch.tensor(1.0), constraints.interval)
    with pytest.raises(ValueError, match=r"'p'.*Boolean.*has no transform"):
        store.setdefault("p", torch.tensor(1.0), constraints.boolean)


def test_simplex_uses_stick_breaking_bijection(store):
    value = store.setdefault("w", torch.tensor([0.2, 0.3, 0.5]), constraints.simplex)
    leaf = dict(store.named_parameters())["w"]
    assert leaf.shape == (2,)  # a bijection: one fewer free coordinate than softmax
    assert torch.allclose(value, torch.tensor([0.2, 0.3, 0.5]))
    assert type(param_transform(constraints.simplex)) is type(biject_to(constraints.simplex))


def test_matrix_constraints_fall_back_to_transform_to(store):
    chol = torch.tensor([[2.0, 0.0], [0.5, 1.0]])
    assert torch.allclose(store.setdefault("L", chol, constraints.lower_cholesky), chol)
    pd = torch.tensor([[2.0, 0.3], [0.3, 1.0]])
    assert torch.allclose(store.setdefault("S", pd, constraints.positive_definite), pd, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_and_device_follow_the_init(store, dtype):
    value = store.setdefault("s", torch.tensor([1.0, 2.0], dtype=dtype), constraints.positive)
    assert value.dtype == dtype
    assert dict(store.named_parameters())["s"].dtype == dtype


def test_meta_tensors_stay_on_meta(store):
    value = store.setdefault("m", torch.empty(4, 3, device="meta"), constraints.positive)
    assert value.device.type == "meta" and value.shape == (4, 3)
    assert dict(store.named_parameters())["m"].device.type == "meta"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_init_lives_on_cuda(store):
    value = store.setdefault("s", torch.ones(2, device="cuda"), constraints.positive)
    assert value.device.type == "cuda"


def test_module_name_helpers():
    full = param_with_module_name("net", "fc.weight")
    assert full == "net$$$fc.weight"
    assert module_from_param_with_module_name(full) == "net"
    assert user_param_name(full) == "fc.weight" and user_param_name("plain") == "plain"
    assert normalize_param_name(full) == "net.fc.weight"


def test_global_store_functions():
    assert get_param_store() is ppl.get_param_store()
    get_param_store().setdefault("g", torch.tensor(1.0))
    clear_param_store()
    assert len(get_param_store()) == 0


def test_param_to_name_maps_leaves_to_names_and_follows_clear():
    ppl.clear_param_store()
    store = ppl.get_param_store()
    ppl.param("a", torch.ones(2))
    ppl.param("s", torch.ones(1), constraint=ppl.distributions.constraints.positive)
    mapping = store._param_to_name
    assert sorted(mapping.values()) == ["a", "s"]
    leaves = dict(store.named_parameters())
    assert mapping[leaves["s"]] == "s"  # keyed by the unconstrained leaf itself
    ppl.clear_param_store()
    assert len(ppl.get_param_store()._param_to_name) == 0
