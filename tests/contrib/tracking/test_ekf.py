"""EKF on linear-Gaussian models equals the Kalman filter in closed form."""

import pytest
import torch

from ppl.contrib.tracking.distributions import EKFDistribution
from ppl.contrib.tracking.dynamic_models import NcpContinuous, NcvContinuous
from ppl.contrib.tracking.extended_kalman_filter import EKFState
from ppl.contrib.tracking.measurements import PositionMeasurement
from ppl.distributions import MultivariateNormal

DT = 0.5


def kalman_step(x, P, F, Q, H, R, z):
    """Textbook predict + update (covariance form), written independently."""
    x = F @ x
    P = F @ P @ F.T + Q
    S = H @ P @ H.T + R
    K = P @ H.T @ torch.linalg.inv(S)
    return x + K @ (z - H @ x), (torch.eye(len(x), dtype=x.dtype) - K @ H) @ P


def test_ekf_matches_kalman_filter_on_ncv():
    torch.manual_seed(0)
    model = NcvContinuous(dimension=4, sa2=0.7)
    x = torch.tensor([0.0, 1.0, 0.5, -0.2], dtype=torch.float64)
    P = torch.eye(4, dtype=torch.float64) * 2.0
    model = model.double()
    R = torch.tensor([[0.3, 0.1], [0.1, 0.4]], dtype=torch.float64)
    F = model.jacobian(DT)
    Q = model.process_noise_cov(DT).detach()
    H = torch.cat([torch.eye(2), torch.zeros(2, 2)], 1).double()
    state = EKFState(model, x, P, time=0.0)
    x_ref, P_ref = x, P
    for t in range(1, 5):
        z = torch.randn(2, dtype=torch.float64)
        state, _ = state.predict(DT).update(PositionMeasurement(z, R, time=t * DT))
        x_ref, P_ref = kalman_step(x_ref, P_ref, F, Q, H, R, z)
        assert torch.allclose(state.mean.detach(), x_ref, atol=1e-10)
        assert torch.allclose(state.cov.detach(), P_ref, atol=1e-10)
    assert state.time == pytest.approx(4 * DT)


def _joint_measurement_density(x0, P0, F, Q, H, R, T):
    """Mean and covariance of all T stacked measurements of a linear-Gaussian model."""
    means = []
    # cross-covariances of states: Cov(x_s, x_t) = F^(t-s) Var(x_s) for s <= t
    var = [P0]
    mean = [x0]
    for _ in range(1, T):
        mean.append(F @ mean[-1])
        var.append(F @ var[-1] @ F.T + Q)
    m = H.shape[0]
    big = torch.zeros(T * m, T * m, dtype=x0.dtype)
    for s in range(T):
        for t in range(s, T):
            cross = torch.linalg.matrix_power(F, t - s) @ var[s]  # Cov(x_t, x_s)
            block = H @ cross @ H.T
            big[t * m : (t + 1) * m, s * m : (s + 1) * m] = block
            big[s * m : (s + 1) * m, t * m : (t + 1) * m] = block.T
        big[s * m : (s + 1) * m, s * m : (s + 1) * m] += R
        means.append(H @ mean[s])
    return torch.cat(means), big


@pytest.mark.parametrize("Model", [NcpContinuous, NcvContinuous])
def test_ekf_distribution_is_the_joint_gaussian(Model):
    torch.manual_seed(1)
    T, k = 4, 2
    x0 = torch.randn(2 * k, dtype=torch.float64)
    P0 = torch.eye(2 * k, dtype=torch.float64)
    R = 0.5 * torch.eye(k, dtype=torch.float64)
    model = Model(2 * k, 1.3).double()
    d = EKFDistribution(x0, P0, model, R, time_steps=T, dt=DT)
    zs = torch.randn(T, k, dtype=torch.float64)
    F = model.jacobian(DT)
    Q = model.process_noise_cov(DT).detach()
    # the measurement sees the first k coordinates of the native state
    H = torch.cat([torch.eye(k), torch.zeros(k, k)], 1).double()
    mean, cov = _joint_measurement_density(x0, P0, F, Q, H, R, T)
    expected = MultivariateNormal(mean, cov).log_prob(zs.reshape(-1))
    assert d.log_prob(zs).item() == pytest.approx(expected.item(), abs=1e-9)
    assert len(d.filter_states(zs)) == T


def test_ekf_distribution_as_an_observed_site():
    # the ekf tutorial's use: an observed sample site under validation (which checks the
    # measurements against the support) scores exactly the distribution's log_prob
    import ppl

    model = NcvContinuous(2, 1.0)
    d = EKFDistribution(torch.zeros(2), torch.eye(2), model, torch.eye(1), time_steps=3)
    zs = torch.tensor([[0.0], [1.0], [3.0]])
    tr = ppl.poutine.trace(lambda: ppl.sample("obs", d, obs=zs)).get_trace()
    assert tr.log_prob_sum().item() == pytest.approx(d.log_prob(zs).item(), abs=1e-6)
    assert d.support.event_dim == 2 and bool(d.support.check(zs))


def test_gradients_reach_noise_parameters():
    model = NcvContinuous(2, 1.0)
    P0 = torch.eye(2).requires_grad_()
    d = EKFDistribution(torch.zeros(2), P0, model, torch.eye(1), time_steps=3)
    lp = d.log_prob(torch.tensor([[0.0], [1.0], [3.0]]))
    g_sa2, g_P0 = torch.autograd.grad(lp, [model.sa2, P0])
    assert g_sa2.abs() > 0 and g_P0.abs().sum() > 0


def test_errors():
    model = NcpContinuous(1, 1.0)
    with pytest.raises(ValueError, match="time or frame_num"):
        EKFState(model, torch.zeros(1), torch.eye(1))
    state = EKFState(model, torch.zeros(1), torch.eye(1), time=0.0)
    with pytest.raises(ValueError, match="exactly one of dt and destination_time"):
        state.predict()
    with pytest.raises(ValueError, match="must be aligned"):
        state.update(PositionMeasurement(torch.zeros(1), torch.eye(1), time=1.0))
    with pytest.raises(ValueError, match="must be even"):
        EKFDistribution(torch.zeros(3), torch.eye(3), model, torch.eye(1))
    with pytest.raises(ValueError, match="cov must have shape"):
        PositionMeasurement(torch.zeros(2), torch.eye(3), time=0.0)
    with pytest.raises(ValueError, match="dimension must be even"):
        NcvContinuous(3, 1.0)
