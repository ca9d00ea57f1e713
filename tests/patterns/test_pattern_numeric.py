"""NumericArrayPattern / Vector / Scalar: paragami's free maps, validation, batching."""

import math

import pytest
import torch

from ppl.patterns import NumericArrayPattern, NumericScalarPattern, NumericVectorPattern

F64 = torch.float64


@pytest.mark.parametrize(
    "lb, ub, free_of",
    [
        (-math.inf, math.inf, lambda x: x),
        (1.0, math.inf, lambda x: math.log(x - 1.0)),
        (-math.inf, 2.0, lambda x: -math.log(2.0 - x)),
        (-1.0, 2.0, lambda x: math.log(x + 1.0) - math.log(2.0 - x)),
    ],
)
def test_free_maps_match_paragami(lb, ub, free_of):
    p = NumericArrayPattern(shape=(2, 2), lb=lb, ub=ub)
    x = torch.tensor([[1.5, 1.25], [1.75, 1.9]], dtype=F64)
    free = p.flatten(x, free=True)
    expected = torch.tensor([free_of(v) for v in x.reshape(-1).tolist()], dtype=F64)
    assert torch.allclose(free, expected, atol=1e-15)
    assert torch.allclose(p.fold(free, free=True), x, atol=1e-14)
    assert torch.equal(p.flatten(x, free=False), x.reshape(-1))
    assert torch.equal(p.fold(x.reshape(-1), free=False), x)


def test_lengths_names_and_empty():
    p = NumericArrayPattern(shape=(2, 3), lb=0.0, ub=4.0)
    assert p.flat_length(free=True) == p.flat_length(free=False) == 6
    assert p.flat_names(free=True) == ["[0,0]", "[0,1]", "[0,2]", "[1,0]", "[1,1]", "[1,2]"]
    assert torch.equal(p.empty(valid=True), torch.full((2, 3), 2.0))
    assert NumericVectorPattern(3, lb=1.0).empty(True).tolist() == [2.0, 2.0, 2.0]
    assert NumericVectorPattern(3, ub=1.0).empty(True).tolist() == [0.0, 0.0, 0.0]
    assert NumericScalarPattern().empty(True, dtype=F64).dtype == F64
    assert p.empty(valid=False).shape == (2, 3)
    assert NumericScalarPattern(lb=0.0).shape() == (1,)
    assert NumericVectorPattern(length=4).length() == 4
    assert p.bounds() == (0.0, 4.0)


def test_random_is_valid_and_seeded():
    p = NumericVectorPattern(length=5, lb=-1.0, ub=1.0)
    a = p.random(torch.Generator().manual_seed(3), dtype=F64)
    b = p.random(torch.Generator().manual_seed(3), dtype=F64)
    assert torch.equal(a, b) and a.dtype == F64
    assert ((a > -1) & (a < 1)).all()


def test_batched_fold_flatten():
    p = NumericArrayPattern(shape=(2,), lb=0.0)
    free = torch.randn(3, 4, 2)
    val = p.fold(free, free=True)
    assert val.shape == (3, 4, 2)
    assert torch.allclose(p.flatten(val, free=True), free, atol=1e-6)


def test_free_default_and_validation_switch():
    p = NumericVectorPattern(length=2, lb=0.0, free_default=True)
    assert p.flat_length() == 2
    assert torch.allclose(p.flatten(torch.tensor([1.0, 1.0])), torch.zeros(2))
    lax = NumericVectorPattern(length=2, lb=0.0, default_validate=False)
    assert lax.fold(torch.tensor([-1.0, 1.0]), free=False).tolist() == [-1.0, 1.0]
    assert lax.validate_folded(torch.tensor([-1.0, 1.0])) == (True, "")
    ok, msg = lax.validate_folded(torch.tensor([-1.0, 1.0]), validate_value=True)
    assert not ok and "beneath lower bound" in msg


def test_non_tensor_inputs_are_converted():
    p = NumericVectorPattern(length=2)
    assert p.flatten([1, 2], free=False).dtype == torch.get_default_dtype()
    import numpy as np

    assert p.flatten(np.array([1.0, 2.0]), free=True).dtype == F64


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda p: p.fold(torch.zeros(3), free=True), ValueError,
         "NumericVectorPattern\\(length=2, lb=0.0, ub=1.0\\): fold\\(free=True\\) expected a flat "
         "vector of length 2, got shape \\(3,\\)"),
        (lambda p: p.fold(torch.tensor(0.5), free=False), ValueError, "got shape \\(\\)"),
        (lambda p: p.flatten(torch.zeros(3), free=False), ValueError,
         "expected a value of shape \\(2,\\) .*got shape \\(3,\\)"),
        (lambda p: p.flatten(torch.tensor([0.5, 1.5]), free=False), ValueError,
         "value above upper bound ub=1.0: got max 1.5"),
        (lambda p: p.fold(torch.tensor([-0.5, 0.5]), free=False), ValueError,
         "value beneath lower bound lb=0.0: got min -0.5"),
        (lambda p: p.flatten(torch.tensor([0.0, 0.5]), free=True), ValueError,
         "needs lb < value < ub strictly"),
        (lambda p: p.flatten(torch.tensor([0.5, 0.5])), ValueError,
         "free=None but the pattern has free_default=None"),
        (lambda p: p.flatten("ab", free=True), TypeError, "expected a tensor or array-like"),
    ],
)  # fmt: skip
def test_errors(call, exc, match):
    p = NumericVectorPattern(length=2, lb=0.0, ub=1.0)
    with pytest.raises(exc, match=match):
        call(p)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"shape": (2,), "lb": 1.0, "ub": 1.0}, ValueError, "ub=1.0 must strictly exceed"),
        ({"shape": (2,), "lb": float("nan")}, ValueError, "lb must not be nan"),
        ({"shape": (2,), "lb": "a"}, TypeError, "lb must be a float"),
        ({"shape": (2,), "ub": torch.zeros(2)}, ValueError, "ub must be a scalar"),
    ],
)
def test_constructor_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        NumericArrayPattern(**kwargs)


def test_device_and_dtype(device):
    p = NumericArrayPattern(shape=(3,), lb=-2.0, ub=5.0)
    for dtype in (torch.float32, F64):
        free = torch.randn(3, dtype=dtype, device=device)
        val = p.fold(free, free=True)
        assert val.dtype == dtype and val.device.type == device.type
        assert p.flatten(val, free=True).device.type == device.type
        assert p.random(dtype=dtype, device=device).device.type == device.type


def test_gradient_of_free_fold():
    p = NumericVectorPattern(length=2, lb=0.0)
    free = torch.zeros(2, dtype=F64, requires_grad=True)
    (g,) = torch.autograd.grad(p.fold(free, free=True).sum(), free)
    assert torch.allclose(g, torch.ones(2, dtype=F64))
