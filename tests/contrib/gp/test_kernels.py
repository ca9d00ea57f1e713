"""Kernels: closed forms, PSD Gram matrices, shapes, diag, kernel algebra, input errors."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import ppl
from ppl.contrib.gp.kernels import (
    RBF,
    Brownian,
    Constant,
    Coregionalize,
    Cosine,
    Exponent,
    Exponential,
    Linear,
    Matern32,
    Matern52,
    Periodic,
    Polynomial,
    Product,
    RationalQuadratic,
    Sum,
    VerticalScaling,
    Warping,
    WhiteNoise,
)

# (kernel, profile as a function of the scaled distance r)
CLOSED_FORMS = [
    (RBF, lambda r: math.exp(-0.5 * r * r)),
    (Exponential, lambda r: math.exp(-r)),
    (Matern32, lambda r: (1 + math.sqrt(3) * r) * math.exp(-math.sqrt(3) * r)),
    (Matern52, lambda r: (1 + math.sqrt(5) * r + 5 * r * r / 3) * math.exp(-math.sqrt(5) * r)),
    (RationalQuadratic, lambda r: (1 + r * r / 2) ** -1.0),
    (Cosine, lambda r: math.cos(r)),
]


def _all_kernels(dtype=torch.float64):
    """One instance of every kernel on 2 input features (float64 hyperparameters)."""
    t = lambda v: torch.tensor(v, dtype=dtype)  # noqa: E731
    ls = t([1.5, 0.7])
    return {
        "RBF": RBF(2, t(1.3), ls),
        "Exponential": Exponential(2, t(1.3), ls),
        "Matern32": Matern32(2, t(1.3), ls),
        "Matern52": Matern52(2, t(1.3), ls),
        "RationalQuadratic": RationalQuadratic(2, t(1.3), ls, scale_mixture=t(0.8)),
        "Periodic": Periodic(2, t(1.3), ls, period=t(2.0)),
        "Linear": Linear(2, t(0.5)),
        "Polynomial": Polynomial(2, t(0.5), bias=t(1.0), degree=3),
        "Constant": Constant(2, t(2.0)),
        "WhiteNoise": WhiteNoise(2, t(0.3)),
        "Brownian": Brownian(1, t(1.0), active_dims=[1]),
        "Coregionalize": Coregionalize(2, components=t([[1.0], [0.5]]), diagonal=t([0.1, 0.2])),
        "Sum": RBF(2, t(1.0), ls) + Linear(2, t(0.5)),
        "Product": Periodic(2, t(1.0), ls) * Matern32(2, t(1.0), ls),
        "Exponent": Exponent(Linear(2, t(0.1))),
        "VerticalScaling": VerticalScaling(RBF(2, t(1.0), ls), lambda x: 1 + x[:, 0] ** 2),
        "Warping": Warping(RBF(2, t(1.0), ls), iwarping_fn=torch.sin, owarping_coef=[1, 2, 0, 1]),
    }


NAMES = list(_all_kernels())


@pytest.mark.parametrize("kernel_cls, profile", CLOSED_FORMS)
def test_closed_form(kernel_cls, profile):
    k = kernel_cls(2, variance=torch.tensor(1.5), lengthscale=torch.tensor([2.0, 0.5]))
    X = torch.tensor([[0.0, 0.0]])
    Z = torch.tensor([[1.0, 0.25]])
    r = math.sqrt((1.0 / 2.0) ** 2 + (0.25 / 0.5) ** 2)
    assert float(k(X, Z)) == pytest.approx(1.5 * profile(r), rel=1e-5)


def test_non_stationary_closed_forms():
    # Separate root kernels share store names ("variance"), as in Pyro: clear in between.
    x, z = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, -1.0]])
    assert float(Linear(2, torch.tensor(2.0))(x, z)) == pytest.approx(2 * 1.0)
    assert float(Polynomial(2, torch.tensor(2.0), degree=2)(x, z)) == pytest.approx(2 * 4.0)
    ppl.clear_param_store()
    p = Periodic(1, lengthscale=torch.tensor(0.5), period=torch.tensor(4.0))
    expected = math.exp(-2 * math.sin(math.pi * 1.0 / 4.0) ** 2 / 0.25)
    assert float(p(torch.tensor([0.0]), torch.tensor([1.0]))) == pytest.approx(expected, rel=1e-6)
    ppl.clear_param_store()
    b = Brownian(1)(torch.tensor([1.0, -2.0, 3.0]), torch.tensor([2.0, -1.0]))
    assert b.tolist() == [[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]]


@pytest.mark.parametrize("name", NAMES)
def test_shapes_diag_and_symmetry(name):
    k = _all_kernels()[name]
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(5, 2, generator=gen, dtype=torch.float64)
    Z = torch.randn(7, 2, generator=gen, dtype=torch.float64)
    assert k(X, Z).shape == (5, 7)
    assert k(X).shape == (5, 5)
    assert k(X, diag=True).shape == (5,)
    assert torch.allclose(k(X, diag=True), k(X).diagonal(), atol=1e-10)
    assert torch.allclose(k(X, Z), k(Z, X).T, atol=1e-10)
    if name != "WhiteNoise":  # WhiteNoise treats a separate Z as distinct points
        assert torch.allclose(k(X), k(X, X), atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 10))
def test_gram_is_psd(name, seed, n):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 2, generator=gen, dtype=torch.float64) * 2
    K = _all_kernels()[name](X).detach()
    eig = torch.linalg.eigvalsh(K)
    assert eig.min() >= -1e-6 * eig.abs().max()


def test_algebra_matches_elementwise_ops():
    X, Z = torch.randn(3, 2), torch.randn(4, 2)
    k0, k1 = RBF(2), Linear(2)
    assert torch.allclose((k0 + k1)(X, Z), k0(X, Z) + k1(X, Z))
    assert torch.allclose((3 * k0)(X, Z), 3 * k0(X, Z))
    assert torch.allclose(Product(Sum(k0, 1.0), k1)(X, Z), (k0(X, Z) + 1) * k1(X, Z))
    assert torch.allclose(Exponent(k1)(X, Z), k1(X, Z).exp())
    warped = Warping(k0, owarping_coef=[2, 0, 1, 3])(X, Z)
    K = k0(X, Z)
    assert torch.allclose(warped, 2 + K**2 + 3 * K**3)


def test_combination_active_dims_union():
    k = Sum(RBF(1, active_dims=[0]), Matern32(2, active_dims=[1, 3]))
    assert k.active_dims == [0, 1, 3] and k.input_dim == 3


def test_active_dims_selects_columns():
    k = RBF(1, active_dims=[1])
    X = torch.tensor([[100.0, 0.0], [-100.0, 1.0]])
    assert float(k(X)[0, 1]) == pytest.approx(math.exp(-0.5), rel=1e-5)


def test_active_dims_length_error():
    with pytest.raises(ValueError, match=r"active_dims \[0\] has 1 entries but input_dim is 2"):
        RBF(2, active_dims=[0])


def test_wrong_input_dimension_error():
    with pytest.raises(ValueError, match="input has 2 columns .* active_dims is \\[0, 1, 2\\]"):
        RBF(3)(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="input has 1 columns .* active_dims is \\[1\\]"):
        Linear(1, active_dims=[1])(torch.zeros(4, 1))
    with pytest.raises(ValueError, match="must be 1-D .* or 2-D .* got shape \\(2, 2, 2\\)"):
        RBF(2)(torch.zeros(2, 2, 2))


def test_constructor_errors():
    with pytest.raises(TypeError, match="second component must be a Kernel or a number"):
        Sum(RBF(1), "a")
    with pytest.raises(TypeError, match="first component must be a Kernel"):
        Product(2.0, RBF(1))
    with pytest.raises(ValueError, match="degree must be a positive integer"):
        Polynomial(1, degree=0)
    with pytest.raises(ValueError, match="non-negative"):
        Warping(RBF(1), owarping_coef=[1, -1])
    with pytest.raises(ValueError, match="identically zero"):
        Warping(RBF(1), owarping_coef=[0, 0])
    with pytest.raises(ValueError, match="input_dim must be 1"):
        Brownian(2)
    with pytest.raises(ValueError, match=r"components must have shape \(3, rank\)"):
        Coregionalize(3, components=torch.ones(2, 2))
