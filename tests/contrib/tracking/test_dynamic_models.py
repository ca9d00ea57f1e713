"""Dynamic models: transition matrices and noise covariances in closed form."""

import pytest
import torch

from ppl.contrib.tracking.dynamic_models import (
    NcpContinuous,
    NcpDiscrete,
    NcvContinuous,
    NcvDiscrete,
)


def test_ncv_transition():
    ncv = NcvContinuous(4, 2.0)
    F = ncv.jacobian(0.5)
    assert F.tolist() == [
        [1.0, 0.0, 0.5, 0.0],
        [0.0, 1.0, 0.0, 0.5],
        [0.0, 0.0, 1.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert ncv(x, 0.5).tolist() == [2.5, 4.0, 3.0, 4.0]


@pytest.mark.parametrize(
    "Model, expected",
    [
        # Q / sa2 for dt = 2 and one position coordinate
        (NcvContinuous, [[2 * 8 / 3, 2 * 4 / 2], [2 * 4 / 2, 2 * 2]]),
        (NcvDiscrete, [[16 / 4, 8 / 2], [8 / 2, 4]]),
    ],
)
def test_ncv_noise(Model, expected):
    Q = Model(2, 3.0).process_noise_cov(2.0)
    assert torch.allclose(Q, 3.0 * torch.tensor(expected))
    assert torch.equal(Q, Q.T)


@pytest.mark.parametrize("Model", [NcpContinuous, NcpDiscrete])
def test_ncp(Model):
    ncp = Model(2, 3.0)
    x = torch.tensor([1.0, -1.0])
    assert torch.equal(ncp(x, 0.1), x)
    assert ncp.mean2pv(x).tolist() == [1.0, -1.0, 0.0, 0.0]
    assert ncp.cov2pv(torch.eye(2) * 2)[:2, :2].tolist() == [[2.0, 0.0], [0.0, 2.0]]
    assert ncp.cov2pv(torch.eye(2)).abs().sum() == 2.0
    assert torch.allclose(ncp.process_noise_cov(0.5), 3.0 * 0.25 * torch.eye(2))
    assert ncp.process_noise_dist(0.5).sample().shape == (2,)


def test_noise_gradient_and_dtype():
    ncv = NcvContinuous(2, 1.0).double()
    Q = ncv.process_noise_cov(1.0)
    assert Q.dtype == torch.float64
    (g,) = torch.autograd.grad(Q.sum(), [ncv.sa2])
    assert g.item() == pytest.approx(1 / 3 + 1 / 2 + 1 / 2 + 1)
