"""Gaussian-process regression with ``ppl.contrib.gp``: exact, MAP with priors, sparse.

The flow of Pyro's GP tutorial, in four steps (all numbers printed):

1. **Data.** ``y = 0.5 sin(3x) + noise`` (noise sd 0.2) at 20 random points of [0, 5].
2. **Exact GP, type-II maximum likelihood.** ``GPRegression`` with an RBF kernel
   integrates ``f`` out, so ``model()`` scores ``y`` under ``N(0, K + noise I)``;
   ``gp.util.train`` maximises that marginal likelihood over the kernel's ``variance``
   and ``lengthscale`` and the ``noise`` (all positive ``PyroParam`` s).
3. **MAP with priors.** Assigning ``kernel.lengthscale = PyroSample(prior)`` turns a
   hyperparameter into a random variable; the GP module gives it a ``Delta`` guide
   (``lengthscale_map``) automatically, so the same ``train`` call now finds the
   posterior mode. Priors keep a tiny data set from choosing absurd lengthscales.
4. **Sparse GP.** With 1000 points the exact GP costs ``O(N^3)``; the variational
   free energy approximation (``SparseGPRegression``, ``approx="VFE"``) with 10
   inducing points costs ``O(N M^2)`` and learns the inducing inputs too.

Each fitted model predicts on a grid; the root-mean-square error against the true
function ``0.5 sin(3x)`` measures the fit. Run ``python tutorial/gp_regression.py``
(a few seconds on one core); ``--steps`` changes the number of Adam steps.
"""

from __future__ import annotations

import argparse

import torch

import ppl as pyro
import ppl.contrib.gp as gp
import ppl.distributions as dist
from ppl.nn import PyroSample

NOISE_SD = 0.2


def true_function(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.sin(3 * x)


def make_data(num_data: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``num_data`` inputs uniform on [0, 5] and noisy targets of :func:`true_function`."""
    X = dist.Uniform(0.0, 5.0).sample((num_data,))
    y = true_function(X) + NOISE_SD * torch.randn(num_data)
    return X, y


def rmse(model: gp.models.GPModel) -> float:
    """RMSE of the predictive mean against the true function on a grid of [0, 5]."""
    grid = torch.linspace(0.0, 5.0, 200)
    with torch.no_grad():
        mean, _ = model(grid, full_cov=False)
    return float((mean - true_function(grid)).pow(2).mean().sqrt())


def run(num_steps: int = 400, seed: int = 0) -> dict[str, float]:
    """The whole tutorial; returns its numbers by name."""
    pyro.set_rng_seed(seed)
    results: dict[str, float] = {}

    # 2. exact GP, maximum marginal likelihood
    pyro.clear_param_store()
    X, y = make_data(20)
    kernel = gp.kernels.RBF(input_dim=1)
    gpr = gp.models.GPRegression(X, y, kernel, noise=torch.tensor(0.5))
    losses = gp.util.train(gpr, torch.optim.Adam(gpr.parameters(), lr=0.05), num_steps=num_steps)
    results.update(
        mle_loss=losses[-1],
        mle_lengthscale=float(gpr.kernel.lengthscale.detach()),
        mle_noise=float(gpr.noise.detach()),
        mle_rmse=rmse(gpr),
    )

    # 3. priors on the kernel hyperparameters, MAP
    pyro.clear_param_store()
    kernel = gp.kernels.RBF(input_dim=1)
    kernel.lengthscale = PyroSample(dist.LogNormal(0.0, 1.0))
    kernel.variance = PyroSample(dist.LogNormal(0.0, 1.0))
    gpr = gp.models.GPRegression(X, y, kernel, noise=torch.tensor(0.5))
    gp.util.train(gpr, torch.optim.Adam(gpr.parameters(), lr=0.05), num_steps=num_steps)
    gpr.set_mode("guide")
    results.update(
        map_lengthscale=float(gpr.kernel.lengthscale_map.detach()),
        map_variance=float(gpr.kernel.variance_map.detach()),
        map_rmse=rmse(gpr),
    )

    # 4. sparse GP (VFE) with 10 learnable inducing points on 1000 data points
    pyro.clear_param_store()
    X, y = make_data(1000)
    Xu = torch.linspace(0.0, 5.0, 10)
    sgpr = gp.models.SparseGPRegression(X, y, gp.kernels.RBF(input_dim=1), Xu, approx="VFE")
    gp.util.train(sgpr, torch.optim.Adam(sgpr.parameters(), lr=0.05), num_steps=num_steps)
    results.update(sparse_noise=float(sgpr.noise.detach()), sparse_rmse=rmse(sgpr))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    args = parser.parse_args()
    results = run(args.steps)
    print(f"true noise variance {NOISE_SD**2:.3f}")
    for name, value in results.items():
        print(f"{name:18s} {value:9.4f}")


if __name__ == "__main__":
    main()
