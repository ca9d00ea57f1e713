"""GPRegression: closed-form predictive, MAP training, non-PD error."""

import pytest
import torch

import ppl
from ppl.contrib.gp.kernels import RBF
from ppl.contrib.gp.models import GPRegression


def _data(dtype=torch.float64):
    gen = torch.Generator().manual_seed(0)
    X = torch.rand(20, 2, generator=gen, dtype=dtype) * 4
    y = torch.sin(X[:, 0]) + 0.1 * torch.randn(20, generator=gen, dtype=dtype)
    return X, y


@pytest.mark.parametrize("full_cov", [False, True])
def test_posterior_matches_closed_form(full_cov):
    X, y = _data()
    Xs = torch.rand(6, 2, dtype=X.dtype) * 4
    k = RBF(
        2,
        variance=torch.tensor(1.3, dtype=X.dtype),
        lengthscale=torch.tensor([0.7, 1.2], dtype=X.dtype),
    )
    s2 = torch.tensor(0.05, dtype=X.dtype)
    gpr = GPRegression(X, y, k, noise=s2, jitter=0.0)
    loc, cov = gpr(Xs, full_cov=full_cov)
    Kxx = k(X).detach() + s2 * torch.eye(20, dtype=X.dtype)
    Ksx = k(Xs, X).detach()
    exp_loc = Ksx @ torch.linalg.solve(Kxx, y)
    exp_cov = k(Xs).detach() - Ksx @ torch.linalg.solve(Kxx, Ksx.T)
    assert torch.allclose(loc.detach(), exp_loc, atol=1e-5)
    expected = exp_cov if full_cov else exp_cov.diagonal()
    assert torch.allclose(cov.detach(), expected, atol=1e-5)
    _, noisy = gpr(Xs, full_cov=False, noiseless=False)
    assert torch.allclose(noisy.detach(), exp_cov.diagonal() + s2, atol=1e-5)


def test_map_training_raises_marginal_likelihood():
    X, y = _data(torch.get_default_dtype())
    gpr = GPRegression(X, y, RBF(2))
    optim = ppl.optim.Adam({"lr": 0.05})
    svi = ppl.infer.SVI(gpr.model, gpr.guide, optim, ppl.infer.Trace_ELBO())
    losses = [svi.step() for _ in range(150)]
    assert losses[-1] < losses[0] - 5.0
    assert float(gpr.noise) < 0.5  # true noise variance is 0.01


def test_non_pd_gram_error_names_model_and_jitter():
    X = torch.zeros(3, 1)
    gpr = GPRegression(X, torch.zeros(3), RBF(1), noise=torch.tensor(1e-30), jitter=0.0)
    with pytest.raises(ValueError, match="GPRegression: .*jitter=0.*increase `jitter`"):
        ppl.poutine.trace(gpr.model).get_trace()


def test_forward_without_targets_error():
    gpr = GPRegression(torch.zeros(3, 1), None, RBF(1))
    with pytest.raises(ValueError, match="needs training targets y"):
        gpr(torch.zeros(2, 1))


def test_jitter_grows_until_factorisation_succeeds():
    from ppl.contrib.gp.linalg import jittered_cholesky

    K = torch.diag(torch.tensor([1.0, -5e-6], dtype=torch.float64))
    L = jittered_cholesky(K, 1e-6, "demo")  # 1e-6 fails, 1e-5 succeeds
    assert torch.allclose(L @ L.T, K + 1e-5 * torch.eye(2, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"demo: .*jitter=1e-08, 1e-07, 1e-06 .*increase `jitter`"):
        jittered_cholesky(K, 1e-8, "demo")


def test_iter_sample_reproduces_data_and_grows_state():
    X = torch.linspace(0, 1, 4, dtype=torch.float64)
    y = torch.sin(X)
    gpr = GPRegression(X, y, RBF(1, torch.tensor(1.0, dtype=X.dtype)), noise=X.new_tensor(1e-6))
    sampler = gpr.iter_sample()
    draws = torch.cat([sampler(X[i : i + 1]) for i in range(4)])
    assert torch.allclose(draws, y, atol=0.01)  # near-noiseless: draws at data = data
