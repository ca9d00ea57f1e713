"""PSDSymmetricMatrixPattern: row-major log-Cholesky free map, validation, batching, torch.func."""

import pytest
import torch

from ppl.patterns import PSDSymmetricMatrixPattern

F64 = torch.float64


def test_free_map_is_row_major_log_cholesky():
    p = PSDSymmetricMatrixPattern(size=3)
    mat = torch.tensor([[4.0, 2.0, 0.4], [2.0, 5.0, 1.0], [0.4, 1.0, 3.0]], dtype=F64)
    L = torch.linalg.cholesky(mat)
    expected = torch.stack([L[0, 0].log(), L[1, 0], L[1, 1].log(), L[2, 0], L[2, 1], L[2, 2].log()])
    free = p.flatten(mat, free=True)
    assert torch.allclose(free, expected, atol=1e-15)
    back = p.fold(free, free=True)
    assert torch.allclose(back, mat, atol=1e-14) and torch.equal(back, back.T)
    assert torch.equal(p.flatten(mat, free=False), mat.reshape(-1))
    assert p.flat_length(free=True) == 6 and p.flat_length(free=False) == 9


def test_seed_numbers():
    p = PSDSymmetricMatrixPattern(size=2)
    cov = torch.tensor([[1.1, 1.0], [1.0, 1.1]], dtype=F64)
    expected = torch.tensor([0.04765509, 0.95346259, -0.82797896], dtype=F64)
    assert torch.allclose(p.flatten(cov, free=True), expected, atol=5e-9, rtol=0)


def test_diag_lb():
    p = PSDSymmetricMatrixPattern(size=2, diag_lb=0.5)
    mat = torch.tensor([[1.5, 0.2], [0.2, 2.5]], dtype=F64)
    free = p.flatten(mat, free=True)
    L = torch.linalg.cholesky(mat - 0.5 * torch.eye(2, dtype=F64))
    assert torch.allclose(free, torch.stack([L[0, 0].log(), L[1, 0], L[1, 1].log()]))
    assert torch.allclose(p.fold(free, free=True), mat, atol=1e-14)
    assert torch.equal(p.empty(valid=True), 1.5 * torch.eye(2))
    # any free vector folds to a matrix with diagonal above the bound
    folded = p.fold(torch.tensor([-30.0, 0.0, -30.0]), free=True)
    assert (folded.diagonal() >= 0.5).all()


def test_batched_and_names():
    p = PSDSymmetricMatrixPattern(size=2)
    free = torch.randn(4, 3, 3, dtype=F64)
    mats = p.fold(free, free=True)
    assert mats.shape == (4, 3, 2, 2)
    assert torch.allclose(p.flatten(mats, free=True), free, atol=1e-12)
    assert p.flat_names(free=True) == ["chol[0,0]", "chol[1,0]", "chol[1,1]"]
    assert p.flat_names(free=False) == ["[0,0]", "[0,1]", "[1,0]", "[1,1]"]


def test_hessian_with_torch_func():
    p = PSDSymmetricMatrixPattern(size=2)

    def f(free):
        return torch.logdet(p.fold(free, free=True))

    free = torch.tensor([0.3, -0.2, 0.1], dtype=F64)
    h = torch.func.hessian(f)(free)
    # logdet(L L^T) = 2 * (free[0] + free[2]): linear, so the Hessian is zero
    assert torch.allclose(h, torch.zeros(3, 3, dtype=F64), atol=1e-12)
    g = torch.func.grad(f)(free)
    assert torch.allclose(g, torch.tensor([2.0, 0.0, 2.0], dtype=F64))
    jac = torch.func.jacrev(lambda x: p.fold(x, free=True))(free)
    assert jac.shape == (2, 2, 3)


@pytest.mark.parametrize(
    "value, free, match",
    [
        ([[1.0, 2.0], [2.0, 1.0]], True, "matrix is not positive definite"),
        ([[1.0, 2.0], [2.0, 1.0]], False, "matrix is not positive definite"),
        ([[1.0, 0.5], [0.4, 1.0]], False, "matrix is not symmetric"),
        ([[-1.0, 0.0], [0.0, 1.0]], False, "diagonal is less than the lower bound 0.0"),
        ([1.0, 0.0, 0.0, 1.0], False, "expected a value of shape \\(2, 2\\)"),
    ],
)
def test_flatten_errors(value, free, match):
    p = PSDSymmetricMatrixPattern(size=2)
    with pytest.raises(ValueError, match="PSDSymmetricMatrixPattern\\(size=2, diag_lb=0.0\\)"):
        p.flatten(torch.tensor(value, dtype=F64), free=free)
    with pytest.raises(ValueError, match=match):
        p.flatten(torch.tensor(value, dtype=F64), free=free)


def test_free_flatten_checks_pd_even_without_validation():
    p = PSDSymmetricMatrixPattern(size=2, default_validate=False)
    with pytest.raises(ValueError, match="flatten\\(free=True\\) needs a positive-definite"):
        p.flatten(torch.tensor([[1.0, 2.0], [2.0, 1.0]]), free=True)
    bad = torch.tensor([[1.0, 2.0], [2.0, 1.0]])
    assert torch.equal(p.fold(p.flatten(bad, free=False), free=False), bad)


def test_fold_errors_and_constructor():
    p = PSDSymmetricMatrixPattern(size=2)
    with pytest.raises(ValueError, match="expected a flat vector of length 3, got shape \\(4,\\)"):
        p.fold(torch.zeros(4), free=True)
    with pytest.raises(ValueError, match="matrix is not symmetric"):
        p.fold(torch.tensor([1.0, 0.5, 0.0, 1.0]), free=False)
    with pytest.raises(ValueError, match="diag_lb must be >= 0, got -1.0"):
        PSDSymmetricMatrixPattern(size=2, diag_lb=-1.0)
    with pytest.raises(ValueError, match="size must be >= 1, got 0"):
        PSDSymmetricMatrixPattern(size=0)


def test_device_and_float32(device):
    p = PSDSymmetricMatrixPattern(size=3)
    free = torch.randn(3, 6, device=device)
    mats = p.fold(free, free=True)
    assert mats.device.type == device.type and mats.dtype == torch.float32
    assert torch.allclose(p.flatten(mats, free=True), free, atol=1e-4)
    assert p.random(device=device).device.type == device.type
