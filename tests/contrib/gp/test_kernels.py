"""Kernels: closed forms, PSD Gram matrices, shapes, diag, active_dims errors."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ppl.contrib.gp.kernels import RBF, Exponential, Matern32, Matern52

KERNELS = [RBF, Exponential, Matern32, Matern52]
# (kernel, profile as a function of the scaled distance r)
CLOSED_FORMS = [
    (RBF, lambda r: math.exp(-0.5 * r * r)),
    (Exponential, lambda r: math.exp(-r)),
    (Matern32, lambda r: (1 + math.sqrt(3) * r) * math.exp(-math.sqrt(3) * r)),
    (Matern52, lambda r: (1 + math.sqrt(5) * r + 5 * r * r / 3) * math.exp(-math.sqrt(5) * r)),
]


@pytest.mark.parametrize("kernel_cls, profile", CLOSED_FORMS)
def test_closed_form(kernel_cls, profile):
    k = kernel_cls(2, variance=torch.tensor(1.5), lengthscale=torch.tensor([2.0, 0.5]))
    X = torch.tensor([[0.0, 0.0]])
    Z = torch.tensor([[1.0, 0.25]])
    r = math.sqrt((1.0 / 2.0) ** 2 + (0.25 / 0.5) ** 2)
    assert float(k(X, Z)) == pytest.approx(1.5 * profile(r), rel=1e-5)


@pytest.mark.parametrize("kernel_cls", KERNELS)
def test_shapes_and_diag(kernel_cls):
    k = kernel_cls(3, lengthscale=torch.tensor([1.0, 2.0, 3.0]))
    X, Z = torch.randn(5, 3), torch.randn(7, 3)
    assert k(X, Z).shape == (5, 7)
    assert torch.allclose(k(X, diag=True), k(X).diagonal(), atol=1e-5)


@pytest.mark.parametrize("kernel_cls", KERNELS)
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 12))
def test_gram_is_psd(kernel_cls, seed, n):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 2, generator=gen, dtype=torch.float64) * 3
    K = kernel_cls(2)(X).detach().double()
    eig = torch.linalg.eigvalsh(K)
    assert eig.min() >= -1e-6 * eig.max()


def test_active_dims_selects_columns():
    k = RBF(1, active_dims=[1])
    X = torch.tensor([[100.0, 0.0], [-100.0, 1.0]])
    assert float(k(X)[0, 1]) == pytest.approx(math.exp(-0.5), rel=1e-5)


def test_active_dims_length_error():
    with pytest.raises(ValueError, match="active_dims .* input_dim is 2"):
        RBF(2, active_dims=[0])


def test_wrong_input_dimension_error():
    with pytest.raises(ValueError, match="input has 2 columns but active_dims"):
        RBF(3)(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="1-D input gives one feature"):
        RBF(2)(torch.zeros(4))
