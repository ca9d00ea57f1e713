"""ppl.ops.special against scipy and live Pyro (when installed)."""

import math

import pytest
import torch
from scipy.special import betaln, iv

from ppl.ops.special import (
    get_quad_rule,
    log_beta,
    log_binomial,
    log_I1,
    safe_log,
    sparse_multinomial_likelihood,
)


def test_safe_log_values_and_gradient():
    torch.manual_seed(0)
    x = torch.rand(20).add(0.1).requires_grad_()
    y = safe_log(x)
    assert torch.allclose(y, x.log())
    (g,) = torch.autograd.grad(y.sum(), [x])
    assert torch.allclose(g, 1 / x)
    z = torch.tensor(0.0, requires_grad=True)
    (g0,) = torch.autograd.grad(safe_log(z), [z])
    assert g0.item() == pytest.approx(1 / torch.finfo(torch.float32).eps)


@pytest.mark.parametrize("tol", [0.0, 0.02, 0.05, 0.1, 0.2])
def test_log_beta_within_tol(tol):
    x = torch.logspace(-3, 3, 40, dtype=torch.float64)
    a, b = x[:, None], x[None, :]
    expected = torch.from_numpy(betaln(a.numpy(), b.numpy()))
    err = (log_beta(a, b, tol=tol) - expected).abs().max().item()
    assert err < max(tol, 1e-10)


@pytest.mark.parametrize("tol", [0.0, 0.05, 0.1])
def test_log_binomial(tol):
    n = torch.arange(0.0, 30.0)[:, None]
    k = torch.arange(0.0, 30.0)[None, :].clamp(max=n).expand(30, 30)
    k = torch.minimum(k, n.expand(30, 30))
    expected = torch.tensor(
        [[math.log(math.comb(int(a), int(b))) for b in row_k] for a, row_k in zip(n[:, 0], k)]
    )
    assert (log_binomial(n, k, tol=tol) - expected).abs().max().item() < max(tol, 1e-4)


@pytest.mark.parametrize("orders", [0, 1, 3])
def test_log_I1_against_scipy(orders):
    value = torch.tensor([0.1, 1.0, 2.5, 10.0], dtype=torch.float64)
    out = log_I1(orders, value)
    assert out.shape == (orders + 1, 4)
    for v in range(orders + 1):
        assert torch.allclose(out[v], torch.from_numpy(iv(v, value.numpy())).log())
    assert log_I1(2, torch.tensor(1.0)).shape == (3, 1)


def test_quad_rule_moments():
    pts, logw = get_quad_rule(16, torch.zeros((), dtype=torch.float64))
    assert pts.dtype == torch.float64 and pts.shape == (16,)
    w = logw.exp()
    assert w.sum().item() == pytest.approx(1.0)
    assert (w * (4 * pts) ** 2).sum().item() == pytest.approx(16.0)
    assert (w * pts**4).sum().item() == pytest.approx(3.0)


def test_sparse_multinomial_matches_dense():
    torch.manual_seed(1)
    logits = torch.randn(3, 5)
    value = torch.tensor([[2.0, 0, 0, 1, 0], [0, 0, 3, 0, 0], [1, 1, 1, 1, 1]])
    dense = sum(
        torch.distributions.Multinomial(int(v.sum()), logits=lg).log_prob(v)
        for lg, v in zip(logits, value)
    )
    nnz = value.nonzero(as_tuple=True)
    sparse = sparse_multinomial_likelihood(
        value.sum(-1), (logits - logits.logsumexp(-1, True))[nnz], value[nnz]
    )
    assert sparse.item() == pytest.approx(dense.item(), rel=1e-5)


def test_same_as_pyro():
    special = pytest.importorskip("pyro.ops.special")
    x = torch.logspace(-2, 2, 9)
    assert torch.allclose(
        log_beta(x, x.flip(0), tol=0.1), special.log_beta(x, x.flip(0), tol=0.1), atol=1e-4
    )
    assert torch.allclose(
        log_binomial(x.round() + 5, x.round(), 0.05),
        special.log_binomial(x.round() + 5, x.round(), 0.05),
        atol=1e-4,
    )
    assert torch.allclose(log_I1(3, x), special.log_I1(3, x), atol=1e-5)
    for a, b in zip(get_quad_rule(5, x), special.get_quad_rule(5, x)):
        assert torch.allclose(a, b)


def test_log_I1_at_zero():
    out = log_I1(2, torch.tensor([0.0]))
    assert out[0, 0].item() == 0.0
    assert out[1:, 0].tolist() == [-math.inf, -math.inf]
