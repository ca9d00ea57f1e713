"""waic, fit_generalized_pareto, crps/energy scores, weighed_quantile, _cummin."""

import math

import numpy as np
import pytest
import torch
from scipy import stats as sps

from ppl.ops.stats import (
    _cummin,
    crps_empirical,
    energy_score_empirical,
    fit_generalized_pareto,
    waic,
    weighed_quantile,
)


def test_cummin():
    x = torch.tensor([[3.0, 0.0], [1.0, 2.0], [2.0, -1.0]])
    assert _cummin(x).tolist() == [[3.0, 0.0], [1.0, 0.0], [1.0, -1.0]]


def test_waic_closed_form():
    ll = torch.randn(200, 5)
    value, p = waic(ll, pointwise=True)
    lpd = torch.logsumexp(ll, 0) - math.log(200)
    assert torch.allclose(p, ll.var(0), atol=1e-6)
    assert torch.allclose(value, -2 * (lpd - ll.var(0)), atol=1e-5)
    total, p_total = waic(ll.T, dim=1)
    assert torch.allclose(total, value.sum(), atol=1e-4)
    assert torch.allclose(p_total, p.sum(), atol=1e-5)


def test_waic_equal_log_weights_change_nothing():
    ll = torch.randn(50, 3)
    a = waic(ll)
    b = waic(ll, log_weights=torch.full((50,), -2.0))
    assert torch.allclose(a[0], b[0]) and torch.allclose(a[1], b[1])


def test_fit_generalized_pareto_recovers_parameters():
    k, sigma = 0.3, 2.0
    x = torch.from_numpy(sps.genpareto(c=k, scale=sigma).rvs(20000, random_state=0))
    k_hat, sigma_hat = fit_generalized_pareto(x)
    assert abs(k_hat - k) < 0.04
    assert abs(sigma_hat - sigma) < 0.1
    with pytest.raises(ValueError, match="1-dimensional"):
        fit_generalized_pareto(x.reshape(2, -1))


def test_crps_matches_quadratic_formula():
    pred = torch.randn(40, 3)
    truth = torch.randn(3)
    naive = (pred - truth).abs().mean(0) - (pred - pred.unsqueeze(1)).abs().mean((0, 1)) / 2
    assert torch.allclose(crps_empirical(pred, truth), naive, atol=1e-5)
    assert torch.equal(crps_empirical(pred[:1], truth), (pred[0] - truth).abs())
    with pytest.raises(ValueError, match="one extra sample dim"):
        crps_empirical(pred, torch.randn(4))


def test_energy_score_reduces_to_crps_and_batches():
    pred = torch.randn(3, 25, 1)
    truth = torch.randn(3, 1)
    es = energy_score_empirical(pred, truth)
    crps = crps_empirical(pred[..., 0].T, truth[..., 0])
    assert es.shape == (3,)
    assert torch.allclose(es, crps, atol=1e-5)
    multi = torch.randn(2, 30, 4)
    t = torch.randn(2, 4)
    assert torch.allclose(
        energy_score_empirical(multi, t), energy_score_empirical(multi, t, pred_batch_size=7),
        atol=1e-5,
    )  # fmt: skip


def test_weighed_quantile_uniform_weights_and_example():
    x = torch.tensor([[10.0, 50.0, 40.0], [20.0, 30.0, 0.0]])
    w = torch.tensor([0.4, 0.5, 0.1]).log()
    got = weighed_quantile(x, torch.tensor([0.2, 0.8]), w, dim=-1)
    assert torch.allclose(got, torch.tensor([[40.4, 47.6], [9.0, 26.4]]))
    # uniform weights: the rescaled CDF puts sample i at i / (n - 1), as numpy's linear rule
    y = torch.randn(11)
    got = weighed_quantile(y, [0.25, 0.6], torch.zeros(11))
    assert np.allclose(got.numpy(), np.quantile(y.numpy(), [0.25, 0.6]), atol=1e-5)


def test_matches_pyro():
    pstats = pytest.importorskip("pyro.ops.stats")
    x = torch.randn(6, 40, 2)
    w = torch.randn(40)
    assert torch.allclose(
        weighed_quantile(x, [0.1, 0.9], w, 1), pstats.weighed_quantile(x, [0.1, 0.9], w, 1),
        atol=1e-5,
    )  # fmt: skip
    ll, lw = torch.randn(30, 4), torch.randn(30)
    for a, b in zip(waic(ll, lw, pointwise=True), pstats.waic(ll, lw, pointwise=True)):
        assert torch.allclose(a, b, atol=1e-6)
    data = torch.distributions.Exponential(1.0).sample((300,))
    assert np.allclose(fit_generalized_pareto(data), pstats.fit_generalized_pareto(data))


def test_quantile_and_pi_keep_dim_position():
    from ppl.ops.stats import pi, quantile

    x = torch.rand(10, 3)
    q = quantile(x.T, [0.1, 0.6], dim=-1)
    assert q.shape == (3, 2)
    expected = np.quantile(x.T.numpy(), [0.1, 0.6], axis=-1).T
    assert np.allclose(q.numpy(), expected, atol=1e-6)
    assert quantile(x, 0.5).shape == (3,)
    assert pi(x, 0.8).shape == (2, 3)


def test_autocorrelation_and_ess_closed_form():
    from ppl.ops.stats import autocorrelation, effective_sample_size

    # lag-k mean of products of the centered ramp, over its lag-0 mean square
    x = torch.arange(10.0, dtype=torch.float64)
    c = x - x.mean()
    expected = torch.stack([(c[: 10 - k] * c[k:]).mean() for k in range(10)]) / (c * c).mean()
    assert torch.allclose(autocorrelation(x), expected)
    assert torch.equal(autocorrelation(torch.zeros(5)), torch.ones(5))
    # arviz's value for this input (quoted by Pyro's tests)
    ess = effective_sample_size(torch.arange(1000.0).reshape(100, 10))
    assert abs(ess.item() - 52.64) < 0.01


def test_ess_matches_pyro():
    pstats = pytest.importorskip("pyro.ops.stats")
    from ppl.ops.stats import effective_sample_size

    x = torch.randn(3, 80, 2).cumsum(1)
    assert torch.allclose(effective_sample_size(x), pstats.effective_sample_size(x), rtol=1e-4)
