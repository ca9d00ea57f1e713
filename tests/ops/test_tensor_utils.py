"""ppl.ops.tensor_utils against numpy/closed forms and live Pyro (when installed)."""

import math

import numpy as np
import pytest
import torch

from ppl.ops import tensor_utils as tu


def test_block_diag_embed_and_inverse():
    torch.manual_seed(0)
    m = torch.randn(2, 3, 2, 4)
    b = tu.block_diag_embed(m)
    assert b.shape == (2, 6, 12)
    assert torch.equal(b[:, 2:4, 4:8], m[:, 1])
    assert b[:, 0:2, 4:].abs().sum() == 0
    assert torch.equal(tu.block_diagonal(b, 3), m)
    with pytest.raises(ValueError, match="3 or more"):
        tu.block_diag_embed(torch.ones(2, 2))


def test_periodic_repeat_and_cumsum():
    x = torch.tensor([[1, 2, 3], [4, 5, 6]])
    assert tu.periodic_repeat(x, 4, 0).tolist() == [[1, 2, 3], [4, 5, 6], [1, 2, 3], [4, 5, 6]]
    assert tu.periodic_repeat(x, 4, -1).tolist() == [[1, 2, 3, 1], [4, 5, 6, 4]]
    torch.manual_seed(1)
    t = torch.randn(7, 3)
    for period in (1, 2, 3, 7, 9):
        expected = t.clone()
        for i in range(period, 7):
            expected[i] = t[i] + expected[i - period]
        assert torch.allclose(tu.periodic_cumsum(t, period, 0), expected)
        assert torch.allclose(tu.periodic_cumsum(t.T, period, 1), expected.T)


def test_periodic_features_closed_form():
    f = tu.periodic_features(10, max_period=6.0, min_period=2.0)
    assert f.shape == (10, 4)
    t = torch.arange(10.0)
    for k in (1, 2):
        w = 2 * math.pi * k / 6.0
        assert torch.allclose(f[:, k - 1], torch.cos(w * t), atol=1e-6)
        assert torch.allclose(f[:, k + 1], -torch.sin(w * t), atol=1e-6)
    with pytest.raises(ValueError, match="Nyquist"):
        tu.periodic_features(10, 6.0, 1.0)


@pytest.mark.parametrize("mode", ["full", "valid", "same"])
@pytest.mark.parametrize("m,n", [(5, 3), (3, 5), (4, 4), (1, 6)])
def test_convolve_matches_numpy(mode, m, n):
    torch.manual_seed(2)
    s, k = torch.randn(m, dtype=torch.float64), torch.randn(n, dtype=torch.float64)
    expected = np.convolve(s.numpy(), k.numpy(), mode=mode)
    assert np.allclose(tu.convolve(s, k, mode).numpy(), expected)
    with pytest.raises(ValueError, match="mode"):
        tu.convolve(s, k, "bogus")


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_repeated_matmul(n):
    torch.manual_seed(3)
    M = torch.randn(2, 3, 3, dtype=torch.float64)
    out = tu.repeated_matmul(M, n)
    assert out.shape == (n, 2, 3, 3)
    for i in range(n):
        assert torch.allclose(out[i], torch.linalg.matrix_power(M, i + 1))


@pytest.mark.parametrize("size", [1, 2, 5, 8, 11])
def test_haar_roundtrip_and_orthonormal(size):
    torch.manual_seed(4)
    x = torch.randn(3, size, dtype=torch.float64)
    y = tu.haar_transform(x)
    assert torch.allclose(y.norm(dim=-1), x.norm(dim=-1))
    assert torch.allclose(tu.inverse_haar_transform(y), x)
    if size == 2:
        r = 1 / math.sqrt(2)
        assert torch.allclose(
            y, torch.stack([(x[:, 0] + x[:, 1]) * r, (x[:, 0] - x[:, 1]) * r], -1)
        )


def test_linear_algebra_helpers():
    torch.manual_seed(5)
    A = torch.randn(4, 4, dtype=torch.float64)
    P = A @ A.T + torch.eye(4, dtype=torch.float64)
    L = tu.precision_to_scale_tril(P)
    assert torch.allclose(L, torch.tril(L))
    assert torch.allclose(L @ L.T, torch.linalg.inv(P))
    C = tu.safe_cholesky(P)
    assert torch.allclose(C @ C.T, P, atol=1e-12)
    b = torch.randn(4, 2, dtype=torch.float64)
    assert torch.allclose(tu.cholesky_solve(b, C), torch.linalg.solve(P, b))
    assert torch.allclose(tu.triangular_solve(b, C), torch.linalg.solve(C, b))
    assert torch.allclose(tu.triangular_solve(b, C, transpose=True), torch.linalg.solve(C.T, b))
    v = torch.randn(4, dtype=torch.float64)
    assert torch.allclose(tu.matvecmul(P, v), P @ v)
    assert torch.allclose(tu.matmul(P, b), P @ b)
    # scalar (1 x 1) paths
    one = torch.tensor([[4.0]])
    assert tu.safe_cholesky(one).item() == 2.0
    assert tu.cholesky_solve(torch.tensor([[8.0]]), torch.tensor([[2.0]])).item() == 2.0
    assert tu.matvecmul(one, torch.tensor([3.0])).tolist() == [12.0]


def test_safe_normalize():
    x = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    assert torch.allclose(tu.safe_normalize(x), torch.tensor([[0.6, 0.8], [1.0, 0.0]]))
    assert torch.allclose(
        tu.safe_normalize(torch.tensor([1.0, -3.0]), p=1), torch.tensor([0.25, -0.75])
    )


def test_broadcast_tensors_without_dim():
    a, b = tu.broadcast_tensors_without_dim([torch.ones(2, 1, 4), torch.ones(3, 5)], -1)
    assert a.shape == (2, 3, 4) and b.shape == (2, 3, 5)
    assert torch.cat([a, b], -1).shape == (2, 3, 9)
    with pytest.raises(ValueError, match="negative"):
        tu.broadcast_tensors_without_dim([torch.ones(2, 1), torch.ones(3)], 1)


def test_as_complex_on_strided_input():
    x = torch.arange(12.0).reshape(3, 4)[:, 1:3]  # stride 4 on dim 0, not contiguous
    z = tu.as_complex(x)
    assert torch.equal(z.real, x[:, 0]) and torch.equal(z.imag, x[:, 1])


def test_same_as_pyro():
    pyro_tu = pytest.importorskip("pyro.ops.tensor_utils")
    torch.manual_seed(6)
    x = torch.randn(3, 7)
    assert torch.allclose(tu.haar_transform(x), pyro_tu.haar_transform(x))
    assert torch.allclose(tu.periodic_cumsum(x, 3, -1), pyro_tu.periodic_cumsum(x, 3, -1))
    assert torch.allclose(tu.periodic_repeat(x, 10, -1), pyro_tu.periodic_repeat(x, 10, -1))
    assert torch.allclose(tu.periodic_features(20, 12.5, 3), pyro_tu.periodic_features(20, 12.5, 3))
    assert torch.allclose(
        tu.convolve(x, x[:1, :4], "same"), pyro_tu.convolve(x, x[:1, :4], "same"), atol=1e-5
    )
    m = torch.randn(2, 3, 3)
    assert torch.allclose(tu.repeated_matmul(m, 6), pyro_tu.repeated_matmul(m, 6), atol=1e-5)
    P = m @ m.transpose(-1, -2) + torch.eye(3)
    assert torch.allclose(tu.safe_cholesky(P), pyro_tu.safe_cholesky(P))
    assert torch.allclose(
        tu.precision_to_scale_tril(P), pyro_tu.precision_to_scale_tril(P), atol=1e-5
    )
    assert tu.CHOLESKY_RELATIVE_JITTER == pyro_tu.CHOLESKY_RELATIVE_JITTER
    assert tu.next_fast_len(97) == pyro_tu.next_fast_len(97)
