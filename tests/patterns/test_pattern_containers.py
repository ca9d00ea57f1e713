"""PatternDict (ordered, nestable, lock) and PatternArray (vectorized)."""

import itertools
from collections import OrderedDict

import pytest
import torch

from ppl.patterns import (
    NumericArrayPattern,
    NumericVectorPattern,
    PatternArray,
    PatternDict,
    PSDSymmetricMatrixPattern,
    SimplexArrayPattern,
)

F64 = torch.float64


def mvn_pattern(free_default=True):
    p = PatternDict(free_default=free_default)
    p["mean"] = NumericVectorPattern(length=2)
    p["cov"] = PSDSymmetricMatrixPattern(size=2)
    return p


def mvn_value():
    return {
        "mean": torch.tensor([1.0, 2.0], dtype=F64),
        "cov": torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=F64),
    }


# ----------------------------------------------------------------- PatternDict
def test_dict_flatten_fold_order_and_views():
    p = mvn_pattern()
    free = p.flatten(mvn_value())
    assert free.shape == (5,)
    assert torch.equal(free[:2], torch.tensor([1.0, 2.0], dtype=F64))
    folded = p.fold(free)
    assert isinstance(folded, OrderedDict) and list(folded) == ["mean", "cov"]
    assert torch.allclose(folded["cov"], mvn_value()["cov"], atol=1e-14)
    flat = p.flatten(mvn_value(), free=False)
    assert flat.shape == (6,)
    mean_view = p.fold(flat, free=False)["mean"]
    mean_view[0] = 7.0  # folded numeric members are views of the flat input
    assert flat[0].item() == 7.0
    assert p.layout(free=True).names == ("mean", "cov")


def test_dict_keys_items_delete_and_names():
    p = mvn_pattern(free_default=None)
    assert list(p.keys()) == ["mean", "cov"] and len(p) == 2 and "cov" in p
    assert [k for k, _ in p.items()] == list(p)
    assert p.flat_names(free=True) == ["mean_[0]", "mean_[1]", "cov_chol[0,0]",
                                        "cov_chol[1,0]", "cov_chol[1,1]"]  # fmt: skip
    del p["mean"]
    assert p.flat_length(free=True) == 3 and p.flat_length(free=False) == 4
    ok, msg = p.validate_folded({"cov": torch.eye(2)})
    assert ok and msg == ""


def test_dict_empty_and_random():
    p = mvn_pattern()
    e = p.empty(valid=True, dtype=F64)
    assert torch.equal(e["cov"], torch.eye(2, dtype=F64)) and torch.equal(
        e["mean"], torch.zeros(2, dtype=F64)
    )
    r = p.random(torch.Generator().manual_seed(0), dtype=F64)
    assert p.validate_folded(r) == (True, "")


def test_nested_dicts_and_lock_propagation():
    inner = mvn_pattern()
    outer = PatternDict(free_default=True)
    outer["a"] = inner
    outer["b"] = inner
    outer["s"] = SimplexArrayPattern(simplex_size=2, array_shape=(1,))
    assert inner.locked and not outer.locked
    val = {"a": mvn_value(), "b": mvn_value(), "s": torch.tensor([[0.3, 0.7]], dtype=F64)}
    free = outer.flatten(val)
    assert free.shape == (11,)
    back = outer.fold(free)
    assert torch.allclose(back["b"]["cov"], val["b"]["cov"], atol=1e-14)
    assert outer.flat_names(True)[5] == "b_mean_[0]"


def test_dict_batched():
    p = mvn_pattern()
    free = torch.randn(4, 5, dtype=F64)
    folded = p.fold(free)
    assert folded["mean"].shape == (4, 2) and folded["cov"].shape == (4, 2, 2)
    assert torch.allclose(p.flatten(folded), free, atol=1e-12)


def test_locked_dict_errors():
    p = mvn_pattern()
    p.lock()
    with pytest.raises(ValueError, match="The dictionary is locked.*key 'x'"):
        p["x"] = NumericVectorPattern(length=1)
    with pytest.raises(ValueError, match="locked.*key 'mean'"):
        p["mean"] = NumericVectorPattern(length=4)
    with pytest.raises(ValueError, match="locked.*key 'mean'"):
        del p["mean"]
    assert p.flat_length() == 5


@pytest.mark.parametrize(
    "value, match",
    [
        ({"mean": torch.zeros(2)}, "missing \\['cov'\\], unexpected \\[\\]"),
        ({**mvn_value(), "extra": torch.zeros(1)}, "unexpected \\['extra'\\]"),
        ({**mvn_value(), "mean": torch.zeros(3)},
         "key 'mean': NumericVectorPattern.*shape \\(2,\\)"),
        ({**mvn_value(), "cov": torch.tensor([[1.0, 2.0], [2.0, 1.0]])},
         "key 'cov': PSDSymmetricMatrixPattern.*not positive definite"),
        ({"mean": torch.zeros(3, 2), "cov": torch.eye(2)},
         "entry 'cov' has batch shape \\(\\) but 'mean' has \\(3,\\)"),
        ([1.0], "expected a dict of values, got list"),
    ],
)  # fmt: skip
def test_dict_flatten_errors(value, match):
    with pytest.raises(ValueError, match=match):
        mvn_pattern().flatten(value)


def test_dict_other_errors():
    p = mvn_pattern()
    with pytest.raises(
        ValueError,
        match="keys \\['mean', 'cov'\\]: fold\\(free=True\\) expected a flat vector of length 5, "
        "got shape \\(4,\\)",
    ):
        p.fold(torch.zeros(4))
    with pytest.raises(ValueError, match="key 'cov': .*not symmetric"):
        p.fold(torch.tensor([0.0, 0.0, 1.0, 0.5, 0.0, 1.0]), free=False)
    with pytest.raises(KeyError, match="no key 'nope'"):
        p["nope"]
    with pytest.raises(TypeError, match="must be a Pattern, got int"):
        PatternDict()["a"] = 3
    with pytest.raises(TypeError, match="keys must be strings"):
        PatternDict()[1] = NumericVectorPattern(1)
    ok, msg = p.validate_folded({**mvn_value(), "mean": torch.zeros(3)})
    assert not ok and "PatternDict key 'mean'" in msg


# ----------------------------------------------------------------- PatternArray
def loop_flatten(base, value, array_shape, free):
    """paragami's semantics: the elements' flat vectors, row-major, one by one."""
    return torch.cat(
        [base.flatten(value[ix], free=free) for ix in itertools.product(*map(range, array_shape))]
    )


@pytest.mark.parametrize(
    "base",
    [
        PSDSymmetricMatrixPattern(size=2),
        SimplexArrayPattern(simplex_size=3, array_shape=(2,)),
        NumericArrayPattern(shape=(2,), lb=-1.0, ub=3.0),
    ],
    ids=["psd", "simplex", "numeric"],
)
@pytest.mark.parametrize("free", [True, False])
def test_pattern_array_equals_elementwise_loop(base, free):
    arr = PatternArray(array_shape=(3, 2), base_pattern=base)
    value = arr.random(torch.Generator().manual_seed(0), dtype=F64)
    assert value.shape == (3, 2) + base.shape()
    flat = arr.flatten(value, free=free)
    assert torch.allclose(flat, loop_flatten(base, value, (3, 2), free), atol=1e-14)
    assert torch.allclose(arr.fold(flat, free=free), value, atol=1e-13)
    assert arr.flat_length(free) == 6 * base.flat_length(free)


def test_pattern_array_of_array_batch_names_empty():
    inner = PatternArray(array_shape=(2,), base_pattern=PSDSymmetricMatrixPattern(size=2))
    outer = PatternArray(array_shape=(3,), base_pattern=inner)
    assert outer.shape() == (3, 2, 2, 2) and outer.flat_length(True) == 18
    free = torch.randn(5, 18, dtype=F64)
    val = outer.fold(free, free=True)
    assert val.shape == (5, 3, 2, 2, 2)
    assert torch.allclose(outer.flatten(val, free=True), free, atol=1e-12)
    assert inner.flat_names(True)[:4] == [
        "[0]chol[0,0]",
        "[0]chol[1,0]",
        "[0]chol[1,1]",
        "[1]chol[0,0]",
    ]
    assert torch.equal(inner.empty(True), torch.eye(2).expand(2, 2, 2))
    assert inner.array_shape() == (2,) and isinstance(
        inner.base_pattern(), PSDSymmetricMatrixPattern
    )


def test_pattern_array_errors():
    base = SimplexArrayPattern(simplex_size=2, array_shape=(1,))
    arr = PatternArray(array_shape=(2,), base_pattern=base)
    with pytest.raises(ValueError, match="PatternArray.*expected a value of shape \\(2, 1, 2\\)"):
        arr.flatten(torch.full((3, 2), 0.5), free=True)
    with pytest.raises(ValueError, match="bad element value: .*do not sum to one"):
        arr.flatten(torch.tensor([[[0.5, 0.5]], [[0.5, 0.6]]]), free=False)
    with pytest.raises(ValueError, match="expected a flat vector of length 2, got shape \\(3,\\)"):
        arr.fold(torch.zeros(3), free=True)
    d = PatternDict()
    d["a"] = NumericVectorPattern(length=2)
    with pytest.raises(NotImplementedError, match="not tensors; got a PatternDict"):
        PatternArray(array_shape=(2,), base_pattern=d)
    with pytest.raises(TypeError, match="base_pattern must be a Pattern, got str"):
        PatternArray(array_shape=(2,), base_pattern="psd")


def test_pattern_array_gradient_matches_base(device):
    base = PSDSymmetricMatrixPattern(size=2)
    arr = PatternArray(array_shape=(4,), base_pattern=base)
    free = torch.randn(12, dtype=F64, device=device, requires_grad=True)
    (g,) = torch.autograd.grad(torch.logdet(arr.fold(free, free=True)).sum(), free)
    # logdet = 2 * sum of log-diagonal free entries
    assert torch.allclose(g, torch.tensor([2.0, 0.0, 2.0] * 4, dtype=F64, device=device))
