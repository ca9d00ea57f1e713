"""ppl.ops.dct against scipy's orthonormal DCT-II/III and the closed-form definition."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ppl.ops.dct import dct, idct, next_fast_len


def dct_by_definition(x):
    n = x.shape[-1]
    k = torch.arange(n, dtype=x.dtype).unsqueeze(-1)
    t = torch.arange(n, dtype=x.dtype)
    basis = torch.cos(math.pi * k * (2 * t + 1) / (2 * n))
    scale = torch.full((n, 1), math.sqrt(2.0 / n), dtype=x.dtype)
    scale[0] = math.sqrt(1.0 / n)
    return x @ (scale * basis).T


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 12])
@pytest.mark.parametrize("dim", [-1, -2, 0])
def test_dct_matches_definition_and_scipy(n, dim):
    x = (
        torch.randn(n, n, dtype=torch.float64)
        if dim == 0
        else torch.randn(3, n, n, dtype=torch.float64)
    )
    expected = dct_by_definition(x.movedim(dim, -1)).movedim(-1, dim)
    assert torch.allclose(dct(x, dim), expected, atol=1e-12)
    scipy_fft = pytest.importorskip("scipy.fft")
    assert torch.allclose(
        idct(x, dim), torch.from_numpy(scipy_fft.idct(x.numpy(), axis=dim, norm="ortho"))
    )


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=17))
def test_idct_inverts_dct_and_preserves_norm(values):
    x = torch.tensor(values, dtype=torch.float64)
    y = dct(x)
    assert torch.allclose(idct(y), x, atol=1e-9)
    assert torch.allclose(y.norm(), x.norm(), atol=1e-9)


def test_dct_is_differentiable_and_linear():
    x = torch.randn(6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, dtype=torch.float64)
    (dct(x) * w).sum().backward()
    # d/dx <D x, w> = D^T w = idct(w) for the orthonormal (orthogonal) D
    assert torch.allclose(x.grad, idct(w))


@pytest.mark.parametrize(
    "size,expected", [(1, 1), (7, 8), (11, 12), (13, 15), (97, 100), (121, 125)]
)
def test_next_fast_len(size, expected):
    assert next_fast_len(size) == expected


def test_errors():
    with pytest.raises(ValueError, match="positive int"):
        next_fast_len(0)
    with pytest.raises(TypeError, match="floating point"):
        dct(torch.arange(4))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_dct_on_cuda():
    x = torch.randn(5, device="cuda")
    assert torch.allclose(idct(dct(x)), x, atol=1e-5)
