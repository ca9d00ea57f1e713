"""GP models: sparse = exact when Xu = X, conditional whitening, shapes, likelihoods, errors."""

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.contrib.gp.kernels import RBF, Matern52
from ppl.contrib.gp.likelihoods import Binary, Gaussian, MultiClass, Poisson
from ppl.contrib.gp.models import (
    GPLVM,
    GPRegression,
    SparseGPRegression,
    VariationalGP,
    VariationalSparseGP,
)
from ppl.contrib.gp.util import conditional, train

D64 = torch.float64


def _data(n=12):
    gen = torch.Generator().manual_seed(3)
    X = torch.rand(n, 2, generator=gen, dtype=D64) * 3
    y = torch.sin(X[:, 0]) + torch.cos(X[:, 1]) + 0.1 * torch.randn(n, generator=gen, dtype=D64)
    return X, y


def _kernel():
    return RBF(2, torch.tensor(1.2, dtype=D64), torch.tensor([0.8, 1.5], dtype=D64))


def _log_marginal(gp):
    return ppl.poutine.trace(gp.model).get_trace().log_prob_sum()


@pytest.mark.parametrize("approx", ["DTC", "FITC", "VFE"])
def test_sparse_with_all_points_inducing_equals_exact(approx):
    X, y = _data()
    noise = torch.tensor(0.05, dtype=D64)
    exact = GPRegression(X, y, _kernel(), noise=noise, jitter=1e-10)
    sparse = SparseGPRegression(
        X, y, _kernel(), X.clone(), noise=noise, approx=approx, jitter=1e-10
    )
    Xs = torch.rand(5, 2, dtype=D64) * 3
    for full_cov in (False, True):
        loc_e, cov_e = exact(Xs, full_cov=full_cov)
        loc_s, cov_s = sparse(Xs, full_cov=full_cov)
        assert torch.allclose(loc_s, loc_e, atol=1e-5)
        assert torch.allclose(cov_s, cov_e, atol=1e-5)
    assert float(_log_marginal(sparse)) == pytest.approx(float(_log_marginal(exact)), abs=1e-4)


def test_vfe_bound_is_below_exact_marginal_likelihood():
    X, y = _data(30)
    noise = torch.tensor(0.05, dtype=D64)
    exact = float(_log_marginal(GPRegression(X, y, _kernel(), noise=noise)))
    Xu = X[::6].clone()
    vfe = float(_log_marginal(SparseGPRegression(X, y, _kernel(), Xu, noise=noise)))
    dtc = float(_log_marginal(SparseGPRegression(X, y, _kernel(), Xu, noise=noise, approx="DTC")))
    assert vfe < exact and vfe < dtc  # VFE = DTC - tr(K - Q) / (2 noise) <= log p(y)


def test_conditional_whitened_equals_plain():
    X, _ = _data(6)
    k = _kernel()
    Xs = torch.rand(4, 2, dtype=D64)
    L = torch.linalg.cholesky(k(X) + 1e-9 * torch.eye(6, dtype=D64))
    u = torch.randn(3, 6, dtype=D64)
    S = torch.tril(torch.rand(3, 6, 6, dtype=D64)) + torch.eye(6, dtype=D64)
    plain = conditional(Xs, X, k, u @ L.T, L @ S, Lff=L, full_cov=True)
    white = conditional(Xs, X, k, u, S, Lff=L, full_cov=True, whiten=True)
    assert plain[0].shape == (3, 4) and plain[1].shape == (3, 4, 4)
    assert torch.allclose(plain[0], white[0], atol=1e-8)
    assert torch.allclose(plain[1], white[1], atol=1e-8)
    # f(X) known exactly: predicting at X returns it with zero variance
    loc, var = conditional(X, X, k, u[0] @ L.T, jitter=1e-9)
    assert torch.allclose(loc, u[0] @ L.T, atol=1e-5) and var.abs().max() < 1e-5


@pytest.mark.parametrize("whiten", [False, True])
def test_vgp_gaussian_optimum_matches_exact_posterior(whiten):
    """With a Gaussian likelihood the optimal q(f) is the exact posterior; set it and
    check forward() reproduces GPRegression's prediction."""
    X, y = _data(8)
    noise = torch.tensor(0.1, dtype=D64)
    k = _kernel()
    K = k(X).detach()
    eye = torch.eye(8, dtype=D64)
    post_cov = K - K @ torch.linalg.solve(K + noise * eye, K)
    post_mean = K @ torch.linalg.solve(K + noise * eye, y)
    vgp = VariationalGP(X, y, k, Gaussian(noise), whiten=whiten, jitter=1e-10)
    L = torch.linalg.cholesky(K + 1e-10 * eye)
    S = torch.linalg.cholesky(post_cov + 1e-10 * eye)
    if whiten:
        vgp.f_loc.data = torch.linalg.solve_triangular(L, post_mean.unsqueeze(-1), upper=False)[
            :, 0
        ]
        vgp.f_scale_tril = torch.linalg.solve_triangular(L, S, upper=False)
    else:
        vgp.f_loc.data = post_mean
        vgp.f_scale_tril = S
    Xs = torch.rand(3, 2, dtype=D64) * 3
    loc, cov = vgp(Xs, full_cov=True)
    ppl.clear_param_store()
    loc_e, cov_e = GPRegression(X, y, _kernel(), noise=noise, jitter=1e-10)(Xs, full_cov=True)
    assert torch.allclose(loc, loc_e, atol=1e-4)
    assert torch.allclose(cov, cov_e, atol=1e-4)


@pytest.mark.parametrize(
    "likelihood, y",
    [
        (Gaussian(), torch.randn(2, 6)),
        (Binary(), torch.randint(0, 2, (2, 6)).float()),
        (Poisson(), torch.randint(0, 5, (2, 6)).float()),
    ],
    ids=["Gaussian", "Binary", "Poisson"],
)
def test_variational_models_train_with_each_likelihood(likelihood, y):
    X = torch.linspace(0, 1, 6)
    for gp in (
        VariationalGP(X, y, RBF(1), likelihood),
        VariationalSparseGP(X, y, RBF(1), X[::2].clone(), likelihood, whiten=True),
    ):
        ppl.clear_param_store()
        losses = train(gp, num_steps=2)
        assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
        loc, var = gp(X)
        assert loc.shape == (2, 6) and var.shape == (2, 6) and bool((var >= 0).all())


def test_multiclass_latent_shape_and_errors():
    X = torch.linspace(0, 1, 5)
    y = torch.tensor([0.0, 1.0, 2.0, 1.0, 0.0])
    gp = VariationalGP(X, y, RBF(1), MultiClass(3), latent_shape=torch.Size([3]))
    tr = ppl.poutine.trace(gp.model).get_trace()
    assert tr.nodes["likelihood.y"]["fn"].batch_shape == () and tr.nodes["f"]["value"].shape == (
        3,
        5,
    )
    with pytest.raises(ValueError, match="expected 4 latent GPs .* got 3"):
        MultiClass(4)(torch.zeros(3, 5), torch.ones(3, 5))
    with pytest.raises(ValueError, match="at least 2 dims"):
        MultiClass(3)(torch.zeros(5), torch.ones(5))


def test_gplvm_latent_inputs():
    y = torch.randn(3, 7)
    base = SparseGPRegression(torch.randn(7, 2), y, Matern52(2), torch.randn(3, 2))
    gplvm = GPLVM(base)
    tr = ppl.poutine.trace(gplvm.guide).get_trace()
    assert tr.nodes["X"]["value"].shape == (7, 2)
    train(gplvm, num_steps=2)
    loc, var = gplvm(Xnew=torch.zeros(4, 2))
    assert loc.shape == (3, 4) and var.shape == (3, 4)
    with pytest.raises(ValueError, match="latent X must be 2-D"):
        GPLVM(GPRegression(torch.zeros(7), y, RBF(1)))


def test_hmc_over_kernel_hyperparameters():
    X = torch.linspace(0, 2, 6)
    gp = GPRegression(X, torch.sin(X), RBF(1), noise=torch.tensor(0.1))
    gp.kernel.lengthscale = ppl.nn.PyroSample(dist.Uniform(0.5, 2.0))
    mcmc = ppl.infer.MCMC(
        ppl.infer.HMC(gp.model, step_size=0.2, num_steps=3), num_samples=5, warmup_steps=5
    )
    mcmc.run()
    samples = mcmc.get_samples()["kernel.lengthscale"]
    assert samples.shape == (5,) and bool(((samples > 0.5) & (samples < 2.0)).all())


def test_model_errors():
    X = torch.zeros(4, 2)
    with pytest.raises(ValueError, match=r"X has 4 points .* but y has 3"):
        GPRegression(X, torch.zeros(3), RBF(2))
    with pytest.raises(TypeError, match="kernel must be a ppl.contrib.gp.kernels.Kernel"):
        GPRegression(X, torch.zeros(4), lambda x, z=None: x)
    with pytest.raises(ValueError, match="approx must be one of"):
        SparseGPRegression(X, torch.zeros(4), RBF(2), X, approx="SoR")
    gp = GPRegression(X, torch.zeros(4), RBF(2))
    with pytest.raises(ValueError, match=r"feature shape \(3,\) but training inputs have \(2,\)"):
        gp(torch.zeros(2, 3))
    bad = GPRegression(
        torch.zeros(3, 1), torch.zeros(3), RBF(1), noise=torch.tensor(1e-30), jitter=0.0
    )
    with pytest.raises(ValueError, match="GPRegression: the 3x3 covariance .* jitter=0 "):
        bad(torch.zeros(1, 1))
