"""SimplexArrayPattern: log-ratio free map, validation, batching."""

import pytest
import torch

from ppl.patterns import SimplexArrayPattern

F64 = torch.float64


def test_free_map_is_log_ratio_to_first():
    p = SimplexArrayPattern(simplex_size=3, array_shape=(2,))
    x = torch.tensor([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]], dtype=F64)
    free = p.flatten(x, free=True)
    expected = torch.log(torch.tensor([1.5, 2.5, 0.5, 1 / 6], dtype=F64))
    assert torch.allclose(free, expected, atol=1e-15)
    assert torch.allclose(p.fold(free, free=True), x, atol=1e-15)
    assert torch.equal(p.flatten(x, free=False), x.reshape(-1))
    assert p.flat_length(free=True) == 4 and p.flat_length(free=False) == 6
    seed = SimplexArrayPattern(array_shape=(1,), simplex_size=2)
    ez = seed.flatten(torch.tensor([[0.3, 0.7]], dtype=F64), free=True)
    assert ez.item() == pytest.approx(0.84729786, abs=5e-9)


def test_extreme_free_values_are_stable():
    p = SimplexArrayPattern(simplex_size=3, array_shape=())
    val = p.fold(torch.tensor([800.0, -800.0], dtype=F64), free=True)
    assert torch.isfinite(val).all() and val.sum().item() == pytest.approx(1.0)


def test_names_empty_accessors():
    p = SimplexArrayPattern(simplex_size=3, array_shape=(2,))
    assert p.flat_names(free=True) == ["[0,1]", "[0,2]", "[1,1]", "[1,2]"]
    assert p.flat_names(free=False)[:3] == ["[0,0]", "[0,1]", "[0,2]"]
    assert SimplexArrayPattern(simplex_size=3, array_shape=()).flat_names(True) == ["[1]", "[2]"]
    assert torch.allclose(p.empty(valid=True), torch.full((2, 3), 1 / 3))
    assert p.array_shape() == (2,) and p.simplex_size() == 3 and p.shape() == (2, 3)


def test_batched():
    p = SimplexArrayPattern(simplex_size=4, array_shape=(3,))
    free = torch.randn(5, 9, dtype=F64)
    val = p.fold(free, free=True)
    assert val.shape == (5, 3, 4)
    assert torch.allclose(val.sum(-1), torch.ones(5, 3, dtype=F64))
    assert torch.allclose(p.flatten(val, free=True), free, atol=1e-12)


@pytest.mark.parametrize(
    "value, free, match",
    [
        ([[0.5, 0.6]], False, "the simplexes do not sum to one: expected 1, got 1.1"),
        ([[1.2, -0.2]], False, "some values are negative; got min -0.2"),
        ([[0.0, 1.0]], True, "needs every simplex entry > 0"),
        ([0.3, 0.7], False, "expected a value of shape \\(1, 2\\) .*got shape \\(2,\\)"),
    ],
)
def test_errors(value, free, match):
    p = SimplexArrayPattern(simplex_size=2, array_shape=(1,))
    with pytest.raises(ValueError, match=match):
        p.flatten(torch.tensor(value, dtype=F64), free=free)


def test_fold_errors_and_constructor():
    p = SimplexArrayPattern(simplex_size=2, array_shape=(1,))
    with pytest.raises(ValueError, match="expected a flat vector of length 1, got shape \\(2,\\)"):
        p.fold(torch.zeros(2), free=True)
    with pytest.raises(ValueError, match="do not sum to one"):
        p.fold(torch.tensor([0.5, 0.6]), free=False)
    with pytest.raises(ValueError, match="simplex_size must be >= 2, got 1"):
        SimplexArrayPattern(simplex_size=1, array_shape=(2,))


def test_float32_tolerance_and_device(device):
    p = SimplexArrayPattern(simplex_size=5, array_shape=(4,))
    val = p.random(device=device)
    assert val.dtype == torch.float32 and val.device.type == device.type
    assert p.validate_folded(val) == (True, "")
    assert torch.allclose(p.fold(p.flatten(val, free=True), free=True), val, atol=1e-6)
