"""MaternKernel's state space form against the Matern kernels written out by hand."""

import math

import pytest
import torch

from ppl.ops.ssm_gp import MaternKernel

NUS = [0.5, 1.5, 2.5]


def matern(nu, tau, length_scale, kernel_scale):
    """The Matern kernel of order nu at lag tau (closed forms for half-integer orders)."""
    r = math.sqrt(2 * nu) * tau.abs() / length_scale
    poly = {0.5: 1.0, 1.5: 1.0 + r, 2.5: 1.0 + r + r**2 / 3.0}[nu]
    return kernel_scale**2 * poly * torch.exp(-r)


def companion_drift(nu, length_scale):
    """The SDE drift F (column layout) whose first coordinate is a Matern GP: the
    companion matrix of (s + lam)^d, lam = sqrt(2 nu) / length_scale."""
    lam = math.sqrt(2 * nu) / length_scale
    d = int(nu + 0.5)
    F = torch.zeros(d, d, dtype=torch.float64)
    for i in range(d - 1):
        F[i, i + 1] = 1.0
    for k in range(d):
        F[d - 1, k] = -math.comb(d, k) * lam ** (d - k)
    return F


def make_kernel(nu, num_gps=2):
    ls = torch.tensor([0.7, 1.9, 1.3][:num_gps], dtype=torch.float64)
    ks = torch.tensor([1.4, 0.6, 0.9][:num_gps], dtype=torch.float64)
    return MaternKernel(nu=nu, num_gps=num_gps, length_scale_init=ls, kernel_scale_init=ks)


@pytest.mark.parametrize("nu", NUS)
def test_transition_matrix_is_the_sde_exponential(nu):
    mk = make_kernel(nu)
    dts = torch.tensor([0.05, 0.4, 2.5], dtype=torch.float64)
    A = mk.transition_matrix(dts[:, None, None, None])
    assert A.shape == (3, 2, mk.state_dim, mk.state_dim)
    for g in range(2):
        F = companion_drift(nu, float(mk.length_scale[g]))
        for s, dt in enumerate(dts):
            expected = torch.linalg.matrix_exp(F * dt).T  # (old, new) layout
            assert torch.allclose(A[s, g], expected, atol=1e-12, rtol=1e-10)
    # a step forward then back is the identity; a zero step is the identity
    eye = torch.eye(mk.state_dim, dtype=torch.float64).expand(2, -1, -1)
    back = torch.matmul(mk.transition_matrix(0.8), mk.transition_matrix(-0.8))
    assert torch.allclose(back, eye, atol=1e-12)
    assert torch.allclose(mk.transition_matrix(0.0), eye, atol=0)


@pytest.mark.parametrize("nu", NUS)
def test_state_space_autocovariance_is_the_matern_kernel(nu):
    # Cov(z_t, z_{t+tau}) = P A(tau); its (0, 0) entry is k(tau)
    mk = make_kernel(nu)
    P = mk.stationary_covariance()
    taus = torch.tensor([0.0, 0.1, 0.5, 1.0, 3.0], dtype=torch.float64)
    cross = torch.matmul(P, mk.transition_matrix(taus[:, None, None, None]))[..., 0, 0]
    for g in range(2):
        expected = matern(nu, taus, float(mk.length_scale[g]), float(mk.kernel_scale[g]))
        assert torch.allclose(cross[:, g], expected, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("nu", NUS)
def test_stationary_covariance_solves_the_lyapunov_equation(nu):
    # F P + P F^T + q e e^T = 0 for some q > 0: zero outside the last diagonal entry
    mk = make_kernel(nu)
    P = mk.stationary_covariance()
    for g in range(2):
        F = companion_drift(nu, float(mk.length_scale[g]))
        residual = F @ P[g] + P[g] @ F.T
        q = -residual[-1, -1]
        lam = math.sqrt(2 * nu) / float(mk.length_scale[g])
        d = mk.state_dim
        # the white-noise intensity of a Matern SDE: sigma^2 (2 lam)^(2d-1) ((d-1)!)^2 / (2d-2)!
        q_expected = (
            float(mk.kernel_scale[g]) ** 2
            * (2 * lam) ** (2 * d - 1)
            * math.factorial(d - 1) ** 2
            / math.factorial(2 * d - 2)
        )
        assert math.isclose(float(q), q_expected, rel_tol=1e-10)
        residual[-1, -1] = 0.0
        assert torch.allclose(residual, torch.zeros_like(residual), atol=1e-10)


@pytest.mark.parametrize("nu", NUS)
def test_process_covariance(nu):
    mk = make_kernel(nu)
    A, Q = mk.transition_matrix_and_covariance(dt=0.3)
    P = mk.stationary_covariance()
    assert torch.allclose(Q, P - A.transpose(-1, -2) @ P @ A, atol=1e-14)
    assert bool((torch.linalg.eigvalsh(Q) > 0).all())
    # over a long step the state forgets: the noise is the whole stationary covariance
    _, Q_far = mk.transition_matrix_and_covariance(dt=200.0)
    assert torch.allclose(Q_far, P, atol=1e-12)
    # a zero step adds no noise
    _, Q0 = mk.transition_matrix_and_covariance(dt=0.0)
    assert torch.allclose(Q0, torch.zeros_like(Q0), atol=1e-14)


def test_parameters_are_positive_and_trainable():
    mk = MaternKernel(nu=1.5, num_gps=2)
    assert mk.length_scale.tolist() == [1.0, 1.0]
    names = sorted(n for n, _ in mk.named_parameters())
    assert names == ["kernel_scale_unconstrained", "length_scale_unconstrained"]
    mk.length_scale = torch.tensor([2.0, 0.5])
    assert torch.allclose(mk.length_scale, torch.tensor([2.0, 0.5]))
    mk.stationary_covariance().sum().backward()
    # d/dlog(ls) of the sum of P = sigma^2 (1 + 3/ls^2) is -6/ls^2
    expected = torch.tensor([-6.0 / 4.0, -6.0 / 0.25])
    assert torch.allclose(mk.length_scale_unconstrained.grad, expected)
    mk.freeze_kernel_scale()
    assert [n for n, _ in mk.named_parameters()] == ["length_scale_unconstrained"]
    assert mk.kernel_scale.tolist() == [1.0, 1.0]
    assert list(mk.state_dict()) == ["length_scale_unconstrained", "kernel_scale"]
    mk.kernel_scale = torch.full((2,), 3.0)  # as in Pyro: assigning replaces the buffer
    assert mk.stationary_covariance()[:, 0, 0].tolist() == [9.0, 9.0]
    assert list(mk.state_dict()) == ["length_scale_unconstrained", "kernel_scale"]


def test_errors_name_the_argument():
    with pytest.raises(NotImplementedError, match="nu must be one of"):
        MaternKernel(nu=2.0)
    with pytest.raises(ValueError, match=r"length_scale_init must have shape \(2,\)"):
        MaternKernel(num_gps=2, length_scale_init=torch.ones(3))
    with pytest.raises(ValueError, match="kernel_scale_init must be positive"):
        MaternKernel(num_gps=1, kernel_scale_init=torch.tensor([-1.0]))
    with pytest.raises(ValueError, match=r"A must end in \(3, 3\)"):
        MaternKernel(nu=2.5).process_covariance(torch.eye(2))
