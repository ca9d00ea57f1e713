"""Bayesian linear regression: ``PyroModule[nn.Linear]`` with ``PyroSample`` priors.

Pyro style: a ``PyroModule`` subclass whose ``linear`` child gets ``PyroSample`` weight and
bias priors, ``AutoDiagonalNormal``, ``SVI`` with ``Adam``, ``guide.median()`` /
``guide.quantiles``, and ``Predictive(model, guide=guide, num_samples=...,
return_sites=(...))``. With the noise scale known the posterior is Gaussian and exact.
"""

import torch
from torch import nn

import ppl as pyro
import ppl.distributions as dist
from ppl.infer.autoguide import AutoDiagonalNormal
from ppl.infer.predictive import Predictive
from ppl.infer.svi import SVI
from ppl.infer.trace_elbo import Trace_ELBO
from ppl.nn import PyroModule, PyroSample

NOISE = 0.5
PRIOR_SCALE = 10.0
TRUE_W = (1.5, -2.0)
TRUE_B = 0.7


class BayesianRegression(PyroModule):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = PyroModule[nn.Linear](in_features, out_features)
        self.linear.weight = PyroSample(
            dist.Normal(0.0, PRIOR_SCALE).expand([out_features, in_features]).to_event(2)
        )
        self.linear.bias = PyroSample(
            dist.Normal(0.0, PRIOR_SCALE).expand([out_features]).to_event(1)
        )

    def forward(self, x, y=None):
        mean = self.linear(x).squeeze(-1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("obs", dist.Normal(mean, NOISE), obs=y)
        return mean


def make_data(n=100, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g)
    y = x @ torch.tensor(TRUE_W) + TRUE_B + NOISE * torch.randn(n, generator=g)
    return x, y


def exact_posterior(x, y):
    """Mean and per-coordinate mean-field std of (w1, w2, b) under the Gaussian model."""
    design = torch.cat([x, torch.ones(len(x), 1)], dim=1).double()
    precision = design.T @ design / NOISE**2 + torch.eye(3).double() / PRIOR_SCALE**2
    mean = torch.linalg.solve(precision, design.T @ y.double() / NOISE**2)
    return mean, precision.diagonal().rsqrt()


def main(num_steps=1200, num_samples=1000, seed=0):
    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    x, y = make_data()
    model = BayesianRegression(2, 1)
    guide = AutoDiagonalNormal(model)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.03}), loss=Trace_ELBO())
    for _ in range(num_steps):
        svi.step(x, y)
    median = guide.median(x, y)
    quantiles = guide.quantiles([0.25, 0.5, 0.75], x, y)
    predictive = Predictive(
        model,
        guide=guide,
        num_samples=num_samples,
        return_sites=("linear.weight", "obs", "_RETURN"),
    )
    samples = predictive(x)
    weight = samples["linear.weight"].reshape(num_samples, -1)
    return {
        "median_weight": median["linear.weight"].reshape(-1).tolist(),
        "median_bias": median["linear.bias"].reshape(-1).tolist(),
        "q25_weight": quantiles["linear.weight"][0].reshape(-1).tolist(),
        "q75_weight": quantiles["linear.weight"][2].reshape(-1).tolist(),
        "sample_mean_weight": weight.mean(0).tolist(),
        "sample_std_weight": weight.std(0).tolist(),
        "shape_weight": tuple(samples["linear.weight"].shape),
        "shape_obs": tuple(samples["obs"].shape),
        "shape_return": tuple(samples["_RETURN"].shape),
        "site_names": sorted(samples),
        "obs_mean": samples["obs"].mean(0)[:3].tolist(),
        "return_mean": samples["_RETURN"].mean(0)[:3].tolist(),
    }
