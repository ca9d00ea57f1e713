"""contrib.timeseries models against dense Gaussian processes and a hand-written Kalman filter.

Everything runs in float64; the state space answers are exact, so tolerances are rounding.
"""

import math

import pytest
import torch
from torch.distributions import MultivariateNormal

import ppl
from ppl.contrib.timeseries import (
    DependentMaternGP,
    GenericLGSSM,
    GenericLGSSMWithGPNoiseModel,
    IndependentMaternGP,
    LinearlyCoupledMaternGP,
    TimeSeriesModel,
)

F64 = torch.float64
TOL = dict(atol=1e-8, rtol=1e-8)


@pytest.fixture(autouse=True)
def _float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(F64)
    yield
    torch.set_default_dtype(old)


def matern(nu, tau, length_scale, kernel_scale):
    r = math.sqrt(2 * nu) * tau.abs() / length_scale
    poly = {0.5: 1.0, 1.5: 1.0 + r, 2.5: 1.0 + r + r**2 / 3.0}[nu]
    return kernel_scale**2 * poly * torch.exp(-r)


def kalman(init_loc, init_cov, A, Q, H, R, y, obs_loc=None):
    """Sequential Kalman filter in the row layout z_t = z_{t-1} A + w, y_t = z_t H + loc + v.
    Returns (log likelihood, filtered mean, filtered covariance) of the last state."""
    m, P = init_loc, init_cov
    loc = torch.zeros(H.shape[1]) if obs_loc is None else obs_loc
    ll = torch.tensor(0.0)
    for t in range(y.shape[0]):
        m = m @ A
        P = A.T @ P @ A + Q
        S = H.T @ P @ H + R
        e = y[t] - (m @ H + loc)
        ll = ll + MultivariateNormal(torch.zeros_like(e), S).log_prob(e)
        K = P @ H @ torch.linalg.inv(S)
        m = m + K @ e
        P = P - K @ S @ K.T
    return ll, m, P


def predict(m, P, A, Q, H, R, obs_loc=None):
    """One Kalman prediction step without an observation: the state and the target law."""
    m, P = m @ A, A.T @ P @ A + Q
    loc = m @ H + (0.0 if obs_loc is None else obs_loc)
    return m, P, loc, H.T @ P @ H + R


def dense_gp_condition(K_train, K_cross, K_test, y):
    """The exact GP conditional mean and covariance of test given train."""
    L = torch.linalg.cholesky(K_train)
    alpha = torch.cholesky_solve(y[:, None], L)[:, 0]
    mean = K_cross @ alpha
    cov = K_test - K_cross @ torch.cholesky_solve(K_cross.T, L)
    return mean, cov


def init_matern(nu, n):
    ls = 0.5 + torch.rand(n)
    ks = 0.5 + torch.rand(n)
    return ls, ks


# ---------------------------------------------------------------------- IndependentMaternGP
@pytest.mark.parametrize("nu", [0.5, 1.5, 2.5])
def test_independent_matern_gp_is_the_exact_gp(nu):
    obs_dim, T, dt = 2, 9, 0.37
    ls, ks = init_matern(nu, obs_dim)
    noise = 0.3 + torch.rand(obs_dim)
    gp = IndependentMaternGP(
        nu=nu, dt=dt, obs_dim=obs_dim, length_scale_init=ls, kernel_scale_init=ks,
        obs_noise_scale_init=noise,
    )  # fmt: skip
    y = torch.randn(T, obs_dim)
    lp = gp.log_prob(y)
    assert lp.shape == (obs_dim,)
    dts = torch.tensor([0.2, 1.0, 3.5])
    pred = gp.forecast(y, dts)
    assert pred.loc.shape == pred.scale.shape == (3, obs_dim)
    times = dt * torch.arange(T, dtype=F64)
    future = times[-1] + dts
    for i in range(obs_dim):

        def k(a, b, i=i):
            return matern(nu, a[:, None] - b[None, :], float(ls[i]), float(ks[i]))

        K = k(times, times) + noise[i] ** 2 * torch.eye(T)
        expected = MultivariateNormal(torch.zeros(T), K).log_prob(y[:, i])
        assert torch.allclose(lp[i], expected, **TOL)
        mean, cov = dense_gp_condition(K, k(future, times), k(future, future), y[:, i])
        assert torch.allclose(pred.loc[:, i], mean, **TOL)
        assert torch.allclose(pred.scale[:, i] ** 2, cov.diagonal() + noise[i] ** 2, **TOL)


def test_independent_matern_gp_gradient_is_the_dense_gradient():
    nu, T, dt = 1.5, 7, 0.5
    gp = IndependentMaternGP(nu=nu, dt=dt, obs_dim=1, length_scale_init=torch.tensor([0.8]))
    y = torch.randn(T, 1)
    gp.log_prob(y).sum().backward()
    log_ls = torch.tensor(math.log(0.8), requires_grad=True)
    tau = dt * (torch.arange(T)[:, None] - torch.arange(T)[None, :]).to(F64)
    K = matern(nu, tau, log_ls.exp(), 1.0) + 0.2**2 * torch.eye(T)
    MultivariateNormal(torch.zeros(T), K).log_prob(y[:, 0]).backward()
    grad = gp.kernel.length_scale_unconstrained.grad
    assert torch.allclose(grad, log_ls.grad.reshape(1), **TOL)


def test_independent_matern_gp_forgets_the_distant_past():
    ks = torch.tensor([1.3, 0.7])
    gp = IndependentMaternGP(nu=2.5, obs_dim=2, kernel_scale_init=ks)
    pred = gp.forecast(torch.randn(12, 2) + 3.0, torch.tensor([500.0]))
    assert torch.allclose(pred.loc, torch.zeros(1, 2), atol=1e-12)
    assert torch.allclose(pred.scale**2, (ks**2 + 0.2**2)[None], **TOL)


# ---------------------------------------------------------------------- LinearlyCoupledMaternGP
@pytest.mark.parametrize("nu", [1.5, 2.5])
def test_linearly_coupled_matern_gp_is_the_exact_gp(nu):
    obs_dim, num_gps, T, dt = 3, 2, 6, 0.6
    ls, ks = init_matern(nu, num_gps)
    noise = 0.3 + torch.rand(obs_dim)
    gp = LinearlyCoupledMaternGP(
        nu=nu, dt=dt, obs_dim=obs_dim, num_gps=num_gps, length_scale_init=ls,
        kernel_scale_init=ks, obs_noise_scale_init=noise,
    )  # fmt: skip
    Amix = gp.A.detach()
    y = torch.randn(T, obs_dim)
    times = dt * torch.arange(T, dtype=F64)
    dts = torch.tensor([0.3, 2.0])
    future = times[-1] + dts

    def cov(a, b):  # Cov(y(a), y(b)) without noise, flattened time-major
        out = 0.0
        for j in range(num_gps):
            kj = matern(nu, a[:, None] - b[None, :], float(ls[j]), float(ks[j]))
            out = out + torch.kron(kj, torch.outer(Amix[j], Amix[j]))
        return out

    K = cov(times, times) + torch.kron(torch.eye(T), torch.diag(noise**2))
    lp = gp.log_prob(y)
    assert lp.shape == ()
    assert torch.allclose(
        lp, MultivariateNormal(torch.zeros(T * obs_dim), K).log_prob(y.reshape(-1)), **TOL
    )
    pred = gp.forecast(y, dts)
    assert pred.covariance_matrix.shape == (2, obs_dim, obs_dim)
    for s in range(2):
        t = future[s : s + 1]
        mean, c = dense_gp_condition(K, cov(t, times), cov(t, t), y.reshape(-1))
        assert torch.allclose(pred.loc[s], mean, **TOL)
        assert torch.allclose(pred.covariance_matrix[s], c + torch.diag(noise**2), **TOL)


def test_linearly_coupled_needs_two_outputs():
    with pytest.raises(ValueError, match="obs_dim must be at least 2"):
        LinearlyCoupledMaternGP(obs_dim=1)


# ---------------------------------------------------------------------- DependentMaternGP
def dependent_stationary_covariance(ls, W):
    """Solve F X + X F^T + W (x) e e^T = 0 for the coupled Matern-3/2 SDEs (vectorized)."""
    n = len(ls)
    blocks = []
    for i in range(n):
        lam = math.sqrt(3.0) / float(ls[i])
        blocks.append(torch.tensor([[0.0, 1.0], [-(lam**2), -2 * lam]]))
    F = torch.block_diag(*blocks)
    e = torch.tensor([[0.0, 0.0], [0.0, 1.0]])
    noise = torch.kron(W, e)
    eye = torch.eye(2 * n)
    X = torch.linalg.solve(torch.kron(F, eye) + torch.kron(eye, F), -noise.reshape(-1))
    return X.reshape(2 * n, 2 * n), F


@pytest.mark.parametrize("linearly_coupled", [False, True])
def test_dependent_matern_gp_is_the_kalman_filter(linearly_coupled):
    obs_dim, T, dt = 3, 8, 0.45
    ls = 0.5 + torch.rand(obs_dim)
    gp = DependentMaternGP(
        dt=dt, obs_dim=obs_dim, linearly_coupled=linearly_coupled, length_scale_init=ls
    )
    gp.wiener_noise_tril = torch.tensor([[1.0, 0.0, 0.0], [0.4, 0.8, 0.0], [-0.3, 0.2, 1.2]])
    L = gp.wiener_noise_tril.detach()
    W = L @ L.T
    P, F = dependent_stationary_covariance(ls, W)
    assert torch.allclose(gp._stationary_covariance(), P, **TOL)
    if linearly_coupled:
        H = torch.zeros(2 * obs_dim, obs_dim)
        H[0::2] = gp.obs_matrix.detach()
    else:
        H = torch.kron(torch.eye(obs_dim), torch.tensor([[1.0], [0.0]]))
    R = torch.diag(gp.obs_noise_scale.detach() ** 2)

    def step(t):
        A = torch.linalg.matrix_exp(F * t).T
        return A, P - A.T @ P @ A

    y = torch.randn(T, obs_dim)
    A, Q = step(dt)
    ll, m, S = kalman(torch.zeros(2 * obs_dim), P, A, Q, H, R, y)
    assert torch.allclose(gp.log_prob(y), ll, **TOL)
    dts = torch.tensor([0.5, 1.5])
    pred = gp.forecast(y, dts)
    for s in range(2):
        A, Q = step(float(dts[s]))
        _, _, loc, cov = predict(m, S, A, Q, H, R)
        assert torch.allclose(pred.loc[s], loc, **TOL)
        assert torch.allclose(pred.covariance_matrix[s], cov, **TOL)


def test_dependent_matern_gp_has_no_kernel_scale_parameter():
    gp = DependentMaternGP(obs_dim=2)
    names = {n for n, _ in gp.named_parameters()}
    assert names == {
        "kernel.length_scale_unconstrained",
        "obs_noise_scale_unconstrained",
        "wiener_noise_tril_unconstrained",
    }
    # Pyro's state-dict keys: the fixed kernel scale is the buffer kernel.kernel_scale
    state = gp.state_dict()
    assert torch.equal(state["kernel.kernel_scale"], torch.ones(2))
    clone = DependentMaternGP(obs_dim=2)
    clone.load_state_dict(state)
    assert torch.equal(clone.wiener_noise_tril, gp.wiener_noise_tril)
    with pytest.raises(NotImplementedError, match="only nu=1.5"):
        DependentMaternGP(nu=2.5)


# ---------------------------------------------------------------------- GenericLGSSM
def test_generic_lgssm_is_the_kalman_filter():
    obs_dim, state_dim, T = 2, 3, 10
    m = GenericLGSSM(obs_dim=obs_dim, state_dim=state_dim, learnable_observation_loc=True)
    with torch.no_grad():
        m.obs_loc.copy_(torch.tensor([0.5, -1.0]))
    m.trans_noise_scale_sq = torch.tensor([0.3, 0.6, 0.9])
    m.init_noise_scale_sq = torch.tensor([1.5, 0.5, 2.0])
    A, H = m.trans_matrix.detach(), m.obs_matrix.detach()
    Q = torch.diag(torch.tensor([0.3, 0.6, 0.9]))
    R = torch.diag(m.obs_noise_scale.detach() ** 2)
    y = torch.randn(T, obs_dim)
    ll, mean, cov = kalman(
        torch.zeros(state_dim), torch.diag(torch.tensor([1.5, 0.5, 2.0])), A, Q, H, R, y,
        m.obs_loc.detach(),
    )  # fmt: skip
    assert torch.allclose(m.log_prob(y), ll, **TOL)
    pred = m.forecast(y, 4)
    assert pred.loc.shape == (4, obs_dim)
    assert pred.covariance_matrix.shape == (4, obs_dim, obs_dim)
    for k in range(4):
        mean, cov, loc, ycov = predict(mean, cov, A, Q, H, R, m.obs_loc.detach())
        assert torch.allclose(pred.loc[k], loc, **TOL)
        assert torch.allclose(pred.covariance_matrix[k], ycov, **TOL)


def test_generic_lgssm_samples_have_the_model_shape():
    m = GenericLGSSM(obs_dim=2, state_dim=2)
    assert m.get_dist(duration=5).sample().shape == (5, 2)
    with pytest.raises(ValueError, match=r"targets must have shape \(T, 2\)"):
        m.log_prob(torch.randn(5, 3))


# ------------------------------------------------------------ GenericLGSSMWithGPNoiseModel
@pytest.mark.parametrize("nu", [0.5, 1.5, 2.5])
def test_lgssm_with_gp_noise_is_the_kalman_filter(nu):
    obs_dim, state_dim, T = 2, 2, 9
    ls, ks = init_matern(nu, obs_dim)
    m = GenericLGSSMWithGPNoiseModel(
        obs_dim=obs_dim, state_dim=state_dim, nu=nu, length_scale_init=ls, kernel_scale_init=ks
    )
    gp_A, gp_Q = m.kernel.transition_matrix_and_covariance(1.0)
    P = m.kernel.stationary_covariance().detach()
    d = m.kernel.state_dim
    A = torch.block_diag(*gp_A.detach(), m.z_trans_matrix.detach())
    Q = torch.block_diag(*gp_Q.detach(), torch.eye(state_dim))
    H = torch.cat(
        [torch.kron(torch.eye(obs_dim), torch.eye(d)[:, :1]), m.z_obs_matrix.detach()], dim=0
    )
    R = torch.diag(m.obs_noise_scale.detach() ** 2)
    init_cov = torch.block_diag(*P, torch.eye(state_dim))
    y = torch.randn(T, obs_dim)
    ll, mean, cov = kalman(torch.zeros(A.shape[0]), init_cov, A, Q, H, R, y)
    assert torch.allclose(m.log_prob(y), ll, **TOL)
    pred = m.forecast(y, 3)
    for k in range(3):
        mean, cov, loc, ycov = predict(mean, cov, A, Q, H, R)
        assert torch.allclose(pred.loc[k], loc, **TOL)
        assert torch.allclose(pred.covariance_matrix[k], ycov, **TOL)


# ---------------------------------------------------------------------- shared behaviour
def test_models_are_time_series_models_and_record_params():
    gp = IndependentMaternGP(obs_dim=2)
    assert isinstance(gp, TimeSeriesModel)
    tr = ppl.poutine.trace(gp.log_prob).get_trace(torch.randn(4, 2))
    params = {n for n, site in tr.nodes.items() if site["type"] == "param"}
    assert params == {
        "obs_noise_scale",
        "kernel.length_scale",
        "kernel.kernel_scale",
    }
