"""Bayesian linear regression written as a ``PyroModule``, fitted with AutoNormal + SVI.

This is the habit Pyro users bring along: take an ``nn.Linear``, make it Bayesian by
replacing its ``weight`` and ``bias`` with ``PyroSample`` priors, and let an
autoguide approximate the posterior. With ``import ppl as pyro`` the model below is
the one from Pyro's "Bayesian regression" tutorial, unchanged.

What happens under the hood:

* ``PyroModule[nn.Linear](3, 1)`` is ``nn.Linear`` with the ``PyroModule`` mixin;
  inside a call, reading ``self.linear.weight`` is
  ``pyro.sample("linear.weight", prior)`` (site names are attribute paths), drawn
  once per call of the model;
* ``AutoNormal(model)`` finds the latent sites ``linear.weight``, ``linear.bias``
  and ``sigma`` by tracing the model, and learns a Normal for each;
* SVI maximises the ELBO; afterwards the guide's medians are the posterior means.

Run it with ``python tutorial/pyro_module_regression.py`` (a few seconds on one CPU
core); ``--steps`` and ``--lr`` change the optimisation.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

import ppl as pyro
import ppl.distributions as dist
from ppl.infer.autoguide import AutoNormal
from ppl.infer.svi import SVI
from ppl.infer.trace_elbo import Trace_ELBO
from ppl.nn import PyroModule, PyroSample
from ppl.optim import Adam

TRUE_WEIGHT = torch.tensor([[2.0, -1.0, 0.5]])
TRUE_BIAS = torch.tensor([1.0])
TRUE_SIGMA = 0.5


class BayesianRegression(PyroModule):
    """``y ~ Normal(x @ w.T + b, sigma)`` with Normal priors on ``w``, ``b``."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.linear = PyroModule[nn.Linear](in_features, out_features)
        self.linear.weight = PyroSample(
            dist.Normal(0.0, 1.0).expand([out_features, in_features]).to_event(2)
        )
        self.linear.bias = PyroSample(dist.Normal(0.0, 10.0).expand([out_features]).to_event(1))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        sigma = pyro.sample("sigma", dist.Uniform(0.0, 10.0))
        mean = self.linear(x).squeeze(-1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("obs", dist.Normal(mean, sigma), obs=y)
        return mean


def make_data(num_data: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``x`` (num_data, 3) and noisy targets ``y`` (num_data,) from the true line."""
    x = torch.randn(num_data, 3)
    y = (x @ TRUE_WEIGHT.T + TRUE_BIAS).squeeze(-1) + TRUE_SIGMA * torch.randn(num_data)
    return x, y


def fit(num_steps: int = 600, lr: float = 0.05, seed: int = 0) -> dict[str, torch.Tensor]:
    """Fit the model to generated data; return the posterior medians by site name."""
    pyro.set_rng_seed(seed)
    pyro.clear_param_store()
    x, y = make_data()
    model = BayesianRegression(3, 1)
    guide = AutoNormal(model)
    svi = SVI(model, guide, Adam({"lr": lr}), Trace_ELBO())
    for step in range(num_steps):
        loss = svi.step(x, y)
        if step % 100 == 0 or step == num_steps - 1:
            print(f"step {step:4d}  loss {loss / len(y):8.4f} (per data point)")
    with torch.no_grad():
        return {name: value.detach() for name, value in guide.median(x, y).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--lr", type=float, default=0.05)
    args = parser.parse_args()

    posterior = fit(args.steps, args.lr)
    truth = {
        "linear.weight": TRUE_WEIGHT,
        "linear.bias": TRUE_BIAS,
        "sigma": torch.tensor(TRUE_SIGMA),
    }
    print(f"\n{'site':15s} {'posterior mean':>28s} {'truth':>28s}")
    for name, true_value in truth.items():
        estimate = [round(v, 3) for v in posterior[name].flatten().tolist()]
        target = [round(v, 3) for v in true_value.flatten().tolist()]
        print(f"{name:15s} {str(estimate):>28s} {str(target):>28s}")
    print("\nparameters in the store:", ", ".join(sorted(pyro.get_param_store().keys())))


if __name__ == "__main__":
    main()
