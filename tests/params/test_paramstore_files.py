"""ParamStoreDict.save/load and state_dict: round trips, devices, bad files, Pyro files."""

import importlib.util
import os
import subprocess
import sys

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.distributions import constraints, transform_to

from ppl.distributions import constraints as ppl_constraints
from ppl.params import constraint_codec
from ppl.params.param_store import ParamStoreDict, param_transform
from ppl.params.safe_file import (
    CorruptFileError,
    FileVersionError,
    ForeignFileError,
    UnsafeFileError,
    atomic_save,
)

pytestmark = pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")


class _PyroOnly(constraints.Constraint):
    """Stands for a class ppl does not know (e.g. Pyro's _Sphere)."""


def _filled_store():
    store = ParamStoreDict()
    store.setdefault("loc", torch.tensor([0.5, -1.0]))
    store.setdefault("scale", torch.tensor(2.0), constraints.positive)
    store.setdefault("w", torch.tensor([0.2, 0.3, 0.5]), constraints.simplex)
    store.setdefault("L", torch.tensor([[1.0, 0.0], [0.3, 2.0]]), constraints.lower_cholesky)
    store.setdefault("net$$$fc.weight", torch.ones(2, 2))
    return store


def _same(a, b):
    assert list(a) == list(b)
    for (name, ua), (_, ub) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(ua.detach().cpu(), ub.detach().cpu()), name
        assert ua.dtype == ub.dtype
        ca = constraint_codec.encode(a.get_state()["constraints"][name])
        assert ca == constraint_codec.encode(b.get_state()["constraints"][name])


def test_save_load_round_trip(tmp_path):
    store = _filled_store()
    store.save(tmp_path / "p.pt")
    other = ParamStoreDict()
    other.load(tmp_path / "p.pt")
    _same(store, other)
    assert torch.allclose(other["w"], torch.tensor([0.2, 0.3, 0.5]))
    assert all(p.is_leaf and p.requires_grad for _, p in other.named_parameters())
    assert other.get_state()["constraints"]["w"] is constraints.simplex


def test_load_merges_into_existing_store(tmp_path):
    _filled_store().save(tmp_path / "p.pt")
    store = ParamStoreDict()
    store.setdefault("other", torch.tensor(1.0))
    store.setdefault("scale", torch.tensor(9.0), constraints.positive)
    store.load(tmp_path / "p.pt")
    assert "other" in store and float(store["scale"]) == pytest.approx(2.0)


def test_state_dict_is_plain_data_and_loads_back():
    store = _filled_store()
    sd = store.state_dict()
    assert set(sd) == {"params", "constraints", "unconstrained_by"}
    assert sd["constraints"]["scale"] == {"name": "greater_than", "args": {"lower_bound": 0.0}}
    assert sd["unconstrained_by"]["w"] == "biject_to"
    assert not sd["params"]["scale"].requires_grad
    other = ParamStoreDict()
    other.load_state_dict(sd)
    _same(store, other)


class _OnlyTransformTo(constraints.Constraint):
    """A constraint torch knows only through transform_to (as Pyro's registries often do)."""

    def check(self, value):
        return value > 0


@transform_to.register(_OnlyTransformTo)
def _only_transform_to(constraint):
    return torch.distributions.transforms.ExpTransform()


def test_store_falls_back_to_transform_to_and_records_it():
    store = ParamStoreDict()
    store.setdefault("t", torch.tensor(2.0), _OnlyTransformTo())
    assert float(dict(store.named_parameters())["t"]) == pytest.approx(0.693147, abs=1e-6)
    constraint_codec.register("only_transform_to_test", _OnlyTransformTo)
    try:
        assert store.state_dict()["unconstrained_by"] == {"t": "transform_to"}
    finally:
        constraint_codec.unregister("only_transform_to_test")


def test_load_state_dict_converts_values_made_by_another_transform():
    """A simplex unconstrained by softmax (Pyro's transform_to) becomes stick-breaking."""
    logits = torch.tensor([0.1, -0.4, 1.2])
    sd = {
        "params": {"w": logits},
        "constraints": {"w": {"name": "simplex", "args": {}}},
        "unconstrained_by": {"w": "transform_to"},
    }
    store = ParamStoreDict()
    store.load_state_dict(sd)
    assert dict(store.named_parameters())["w"].shape == (2,)
    assert torch.allclose(store["w"], torch.softmax(logits, -1), atol=1e-6)


@pytest.mark.parametrize(
    "sd,match",
    [
        ([], r"expected a dict with 'params', 'constraints'.*got a list"),
        ({"params": [], "constraints": {}}, "must be dicts"),
        ({"params": {"a": torch.ones(1)}, "constraints": {}}, "name different parameters"),
        (
            {"params": {"a": 1.0}, "constraints": {"a": {"name": "real", "args": {}}}},
            "'a' is not a str-named tensor",
        ),
        (
            {"params": {"a": torch.ones(1)}, "constraints": {"a": {"name": "zz", "args": {}}}},
            "parameter 'a': unknown constraint 'zz'",
        ),
        (
            {
                "params": {"a": torch.ones(1)},
                "constraints": {"a": {"name": "real", "args": {}}},
                "unconstrained_by": {"a": "magic"},
            },
            "unknown unconstrained_by 'magic'",
        ),
    ],
)
def test_bad_state_dict_is_value_error_and_store_unchanged(sd, match):
    store = _filled_store()
    before = store.state_dict()
    with pytest.raises(ValueError, match=match):
        store.load_state_dict(sd)
    assert list(store) == list(before["params"])


def test_unregistered_constraint_save_names_the_parameter(tmp_path):
    class _Odd(constraints.Constraint):
        def check(self, value):
            return value == value

    @torch.distributions.biject_to.register(_Odd)
    def _(constraint):
        return torch.distributions.transforms.identity_transform

    store = _filled_store()
    store.save(tmp_path / "p.pt")
    store.setdefault("odd", torch.tensor(1.0), _Odd())
    with pytest.raises(TypeError, match=r"cannot save parameter 'odd'.*_Odd.*register"):
        store.save(tmp_path / "p.pt")
    other = ParamStoreDict()
    other.load(tmp_path / "p.pt")  # the previous file is intact
    assert "odd" not in other and len(other) == 5


# ---------------------------------------------------------------- every constraint


def _square(n):
    return lambda batch: batch + (n, n)


def _vector(n):
    return lambda batch: batch + (n,)


bounds = st.floats(-5.0, 5.0)
widths = st.floats(0.5, 10.0)

# name -> strategy of (constraint, function batch_shape -> unconstrained shape)
BUILDERS = {
    "real": st.just((constraints.real, _vector(3))),
    "greater_than": bounds.map(lambda b: (constraints.greater_than(b), _vector(2))),
    "greater_than_eq": bounds.map(lambda b: (constraints.greater_than_eq(b), _vector(2))),
    "less_than": bounds.map(lambda b: (constraints.less_than(b), _vector(2))),
    "interval": st.tuples(bounds, widths).map(
        lambda a: (constraints.interval(a[0], a[0] + a[1]), _vector(2))
    ),
    "half_open_interval": st.tuples(bounds, widths).map(
        lambda a: (constraints.half_open_interval(a[0], a[0] + a[1]), _vector(2))
    ),
    "simplex": st.integers(1, 4).map(lambda k: (constraints.simplex, _vector(k))),
    "lower_cholesky": st.integers(1, 3).map(lambda n: (constraints.lower_cholesky, _square(n))),
    "positive_definite": st.integers(1, 3).map(
        lambda n: (constraints.positive_definite, _square(n))
    ),
    "positive_semidefinite": st.integers(1, 3).map(
        lambda n: (constraints.positive_semidefinite, _square(n))
    ),
    "corr_cholesky": st.integers(1, 3).map(
        lambda n: (constraints.corr_cholesky, _vector(n * (n + 1) // 2))
    ),
    "independent": bounds.map(
        lambda b: (constraints.independent(constraints.greater_than(b), 1), _vector(3))
    ),
    "cat": st.just(
        (
            constraints.cat([constraints.real, constraints.positive], dim=-1, lengths=[1, 2]),
            _vector(3),
        )
    ),
    "stack": st.just(
        (constraints.stack([constraints.real, constraints.unit_interval], dim=-1), _vector(2))
    ),
    "softplus_positive": st.just((ppl_constraints.softplus_positive, _vector(2))),
    "softplus_lower_cholesky": st.integers(1, 3).map(
        lambda n: (ppl_constraints.softplus_lower_cholesky, _square(n))
    ),
    "unit_lower_cholesky": st.integers(1, 3).map(
        lambda n: (ppl_constraints.unit_lower_cholesky, _square(n))
    ),
    "ordered_vector": st.integers(1, 4).map(lambda k: (ppl_constraints.ordered_vector, _vector(k))),
    "positive_ordered_vector": st.integers(1, 4).map(
        lambda k: (ppl_constraints.positive_ordered_vector, _vector(k))
    ),
}


def test_round_trip_strategies_cover_every_registered_constraint():
    assert set(BUILDERS) == set(constraint_codec.registered_names())


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    case=st.sampled_from(sorted(BUILDERS)).flatmap(BUILDERS.__getitem__),
    batch=st.sampled_from([(), (2,)]),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    seed=st.integers(0, 2**16),
)
def test_save_load_round_trip_for_every_registered_constraint(tmp_path, case, batch, dtype, seed):
    constraint, shape_of = case
    gen = torch.Generator().manual_seed(seed)
    free = (torch.rand(shape_of(batch), generator=gen, dtype=dtype) * 4 - 2).to(dtype)
    with torch.no_grad():
        init = param_transform(constraint)(free)
    store = ParamStoreDict()
    value = store.setdefault("p", init, constraint)
    assert value.dtype == dtype and torch.allclose(value, init, atol=1e-4, rtol=1e-4)
    store.save(tmp_path / "p.pt")
    other = ParamStoreDict()
    other.load(tmp_path / "p.pt")
    _same(store, other)
    assert torch.equal(other["p"].detach(), store["p"].detach())


# ---------------------------------------------------------------- devices and dtypes


def test_float64_survives_save_and_load(tmp_path):
    store = ParamStoreDict()
    store.setdefault("s", torch.tensor([1e-300, 2.0], dtype=torch.float64), constraints.positive)
    store.save(tmp_path / "p.pt")
    other = ParamStoreDict()
    other.load(tmp_path / "p.pt")
    assert other["s"].dtype == torch.float64
    assert float(other["s"][0]) == pytest.approx(1e-300, rel=1e-12)


@pytest.mark.parametrize("map_location", ["meta", torch.device("meta"), {"cpu": "meta"}])
def test_map_location_places_every_tensor(tmp_path, map_location):
    store = _filled_store()
    store.setdefault("b", torch.tensor(0.5), constraints.interval(torch.tensor(0.0), 1.0))
    store.save(tmp_path / "p.pt")
    other = ParamStoreDict()
    other.load(tmp_path / "p.pt", map_location=map_location)
    assert {p.device.type for _, p in other.named_parameters()} == {"meta"}
    assert other.get_state()["constraints"]["b"].lower_bound.device.type == "meta"
    assert other["scale"].device.type == "meta"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_move_store_between_cpu_and_cuda(tmp_path):
    store = _filled_store()
    store.save(tmp_path / "cpu.pt")
    gpu = ParamStoreDict()
    gpu.load(tmp_path / "cpu.pt", map_location="cuda")
    assert {p.device.type for _, p in gpu.named_parameters()} == {"cuda"}
    assert gpu["w"].device.type == "cuda"
    gpu.save(tmp_path / "gpu.pt")
    back = ParamStoreDict()
    back.load(tmp_path / "gpu.pt", map_location="cpu")
    _same(store, back)


# ---------------------------------------------------------------- bad files


def _check_unchanged(store, before):
    assert list(store) == list(before)
    for name, leaf in store.named_parameters():
        assert leaf is before[name]


@pytest.mark.parametrize(
    "damage,error,match",
    [
        ("truncate", CorruptFileError, "truncated, damaged"),
        ("flip", CorruptFileError, "fails its CRC check"),
        ("empty", CorruptFileError, "the file is empty"),
        ("text", CorruptFileError, "not a file written by torch.save"),
        ("foreign", ForeignFileError, "torch file but not a ppl file"),
        ("kind", ForeignFileError, "kind 'ppl.optim', expected 'ppl.param_store'"),
        ("newer", FileVersionError, "version 2 but this ppl reads up to version 1"),
        ("payload", CorruptFileError, "its parameters are malformed"),
    ],
)
def test_bad_files_name_the_file_and_leave_store_unchanged(tmp_path, damage, error, match):
    path = tmp_path / "p.pt"
    _filled_store().save(path)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) * 2 // 3])
    elif damage == "flip":  # one byte inside the stored values of "loc"
        flipped = bytearray(data)
        flipped[data.index(torch.tensor([0.5, -1.0]).numpy().tobytes()) + 3] ^= 0xFF
        path.write_bytes(bytes(flipped))
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "text":
        path.write_text("not a checkpoint")
    elif damage == "foreign":
        torch.save({"model": torch.ones(2)}, path)
    elif damage == "kind":
        atomic_save({}, path, kind="ppl.optim")
    elif damage == "newer":
        atomic_save({}, path, kind="ppl.param_store", version=2)
    elif damage == "payload":
        atomic_save({"params": 3}, path, kind="ppl.param_store")
    store = ParamStoreDict()
    store.setdefault("keep", torch.tensor(1.0))
    before = dict(store.named_parameters())
    with pytest.raises(error, match=rf"cannot load '{tmp_path}/p.pt': .*{match}"):
        store.load(path)
    _check_unchanged(store, before)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.pt'?: no such file"):
        ParamStoreDict().load(tmp_path / "absent.pt")


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_malicious_file_is_refused_and_runs_nothing(tmp_path):
    target = tmp_path / "created_by_unpickling.txt"
    path = tmp_path / "evil.pt"
    torch.save({"params": {"a": _Evil(str(target))}, "constraints": {}}, path)
    store = ParamStoreDict()
    store.setdefault("keep", torch.tensor(1.0))
    with pytest.raises(UnsafeFileError, match=r"evil.pt.*not plain data.*never unpickles code"):
        store.load(path)
    assert not target.exists()
    assert list(store) == ["keep"]


def test_pyro_shaped_file_with_code_among_constraints_is_refused(tmp_path):
    target = tmp_path / "created.txt"
    path = tmp_path / "evil.pt"
    state = {"params": {"a": torch.ones(1)}, "constraints": {"a": _Evil(str(target))}}
    torch.save(state, path)
    with pytest.raises(UnsafeFileError, match="io.open"):
        ParamStoreDict().load(path)
    assert not target.exists()


# ---------------------------------------------------------------- Pyro-written files


def test_pyro_format_file_loads_through_the_constraint_allow_list(tmp_path):
    """What Pyro's ParamStoreDict.save writes: torch.save of unconstrained tensors (made by
    transform_to) and torch constraint objects."""
    logits = torch.tensor([0.3, -0.2, 0.5])
    state = {
        "params": {
            "w": logits.clone().requires_grad_(),
            "s": torch.tensor(0.0).requires_grad_(),
            "net$$$weight": torch.nn.Parameter(torch.ones(2)),
            "b": torch.tensor([0.0]).requires_grad_(),
        },
        "constraints": {
            "w": constraints.simplex,
            "s": constraints.positive,
            "net$$$weight": constraints.real,
            "b": constraints.independent(constraints.interval(-1.0, 1.0), 1),
        },
    }
    torch.save(state, tmp_path / "pyro.pt")
    store = ParamStoreDict()
    store.load(tmp_path / "pyro.pt")
    assert torch.allclose(store["w"], transform_to(constraints.simplex)(logits), atol=1e-6)
    assert float(store["s"]) == pytest.approx(1.0)
    assert float(store["b"][0]) == pytest.approx(0.0, abs=1e-6)
    assert type(dict(store.named_parameters())["net$$$weight"]) is torch.Tensor
    assert store.get_state()["constraints"]["net$$$weight"] is constraints.real


def test_pyro_format_file_with_unknown_class_is_refused(tmp_path):
    torch.save({"params": {"a": torch.ones(1)}, "constraints": {"a": _PyroOnly()}}, tmp_path / "x")
    with pytest.raises(UnsafeFileError, match=r"_PyroOnly"):
        ParamStoreDict().load(tmp_path / "x")


def test_allow_listed_classes_in_a_non_pyro_layout_are_foreign(tmp_path):
    torch.save({"model": constraints.real}, tmp_path / "x.pt")
    with pytest.raises(ForeignFileError, match="neither a ppl nor a Pyro parameter-store file"):
        ParamStoreDict().load(tmp_path / "x.pt")


_PYRO_WRITER = r"""
import sys, torch, pyro
from pyro.distributions import constraints
pyro.param("w", torch.tensor([0.2, 0.3, 0.5]), constraint=constraints.simplex)
pyro.param("s", torch.tensor(2.0), constraint=constraints.positive)
pyro.param("i", torch.tensor([0.3, 0.4]), constraint=constraints.interval(0.0, 1.0))
pyro.param("L", torch.tensor([[2.0, 0.0], [0.5, 1.0]]), constraint=constraints.lower_cholesky)
pyro.param("o", torch.tensor([0.5, 1.0, 3.0]), constraint=constraints.positive_ordered_vector)
pyro.param("sp", torch.tensor([0.5, 2.0]), constraint=constraints.softplus_positive)
pyro.module("net", torch.nn.Linear(2, 1, bias=False))
torch.nn.init.constant_(pyro.get_param_store()["net$$$weight"], 0.5)
pyro.get_param_store().save(sys.argv[1])
"""


@pytest.mark.skipif(importlib.util.find_spec("pyro") is None, reason="pyro-ppl not installed")
def test_file_written_by_pyro_loads_safely(tmp_path):
    path = tmp_path / "pyro_params.pt"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    subprocess.run([sys.executable, "-c", _PYRO_WRITER, str(path)], check=True, env=env)
    store = ParamStoreDict()
    store.load(path)
    assert torch.allclose(store["w"], torch.tensor([0.2, 0.3, 0.5]), atol=1e-6)
    assert float(store["s"]) == pytest.approx(2.0)
    assert torch.allclose(store["i"], torch.tensor([0.3, 0.4]), atol=1e-6)
    assert torch.allclose(store["L"], torch.tensor([[2.0, 0.0], [0.5, 1.0]]), atol=1e-6)
    assert torch.allclose(store["o"], torch.tensor([0.5, 1.0, 3.0]), atol=1e-5)
    assert torch.allclose(store["sp"], torch.tensor([0.5, 2.0]), atol=1e-6)
    constraint = store.get_state()["constraints"]["sp"]
    assert constraint is ppl_constraints.softplus_positive
    assert torch.equal(store["net$$$weight"].detach(), torch.full((1, 2), 0.5))
