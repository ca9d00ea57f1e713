"""Bayesian optimisation of a 1-D black-box function with ``ppl.contrib.gp``.

The flow of Pyro's ``bo`` tutorial, in our own code:

1. **The black box.** The Forrester et al. (2008) test function
   ``f(x) = (6x - 2)^2 sin(12x - 4)`` on ``[0, 1]`` has a local minimum near
   ``x = 0.01`` and its global minimum ``f(0.75725) = -6.02074``: a greedy
   search started on the left gets stuck, so the surrogate's uncertainty matters.
2. **Surrogate.** A ``GPRegression`` with a Matern-5/2 kernel on four evaluations
   (``x = 0, 0.33, 0.66, 1``); its hyperparameters are refit by Adam
   (``gp.util.train``) after every new evaluation.
3. **Acquisition.** The lower confidence bound ``mu(x) - kappa sigma(x)``
   (``kappa = 2``) trades a low predicted value against high uncertainty.
4. **Inner optimisation.** L-BFGS minimises the bound over ``x``; it runs on the
   unconstrained line ``transform_to(interval(0, 1)).inv(x)`` so every iterate is a
   valid input, from the last evaluated point plus a few uniform restarts; the
   candidate with the lowest bound is evaluated next.

After ``num_iterations`` evaluations the best point found is printed beside the known
minimum. Run ``python tutorial/bo.py`` (about 20 s of CPU; ``--steps 200 --lr 0.005``
refits faster and finds the same minimum). The same script run with ``import pyro``
(pyro-ppl 1.9.2) proposes the same eight points to three or four decimals.
"""

from __future__ import annotations

import argparse

import torch
from torch.distributions import constraints, transform_to

import ppl as pyro
import ppl.contrib.gp as gp

#: location and value of the global minimum of :func:`forrester` on [0, 1]
X_MIN = 0.75725
F_MIN = -6.02074


def forrester(x: torch.Tensor) -> torch.Tensor:
    """The Forrester et al. test function; elementwise on ``x``."""
    return (6 * x - 2) ** 2 * torch.sin(12 * x - 4)


def lower_confidence_bound(
    model: gp.models.GPRegression, x: torch.Tensor, kappa: float = 2.0
) -> torch.Tensor:
    """``mu(x) - kappa * sd(x)`` of the surrogate's predictive (noise included)."""
    mean, var = model(x, full_cov=False, noiseless=False)
    return mean - kappa * var.sqrt()


def minimise_acquisition(
    model: gp.models.GPRegression, x_init: torch.Tensor, lower: float = 0.0, upper: float = 1.0
) -> torch.Tensor:
    """One L-BFGS run on the lower confidence bound, started at ``x_init``.

    The search variable lives on the real line and is mapped into ``[lower, upper]``
    by the interval bijection, so the optimiser never proposes an infeasible point.
    """
    to_box = transform_to(constraints.interval(lower, upper))
    u = to_box.inv(x_init).detach().clone().requires_grad_(True)
    lbfgs = torch.optim.LBFGS([u], line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        lbfgs.zero_grad()
        value = lower_confidence_bound(model, to_box(u)).sum()
        (grad,) = torch.autograd.grad(value, u)
        u.grad = grad
        return value

    lbfgs.step(closure)
    return to_box(u).detach()


def next_point(model: gp.models.GPRegression, num_candidates: int = 5) -> torch.Tensor:
    """The lowest-bound candidate over L-BFGS runs from the last point and random starts."""
    x_init = model.X[-1:]
    best_x, best_value = x_init, float("inf")
    for _ in range(num_candidates):
        x = minimise_acquisition(model, x_init)
        with torch.no_grad():
            value = float(lower_confidence_bound(model, x))
        if value < best_value:
            best_x, best_value = x, value
        x_init = x.new_empty(1).uniform_(0.0, 1.0)
    return best_x


def refit(model: gp.models.GPRegression, num_steps: int, lr: float) -> None:
    """Refit the surrogate's hyperparameters by maximising the marginal likelihood."""
    gp.util.train(model, torch.optim.Adam(model.parameters(), lr=lr), num_steps=num_steps)


def run(
    num_iterations: int = 8, num_steps: int = 1000, lr: float = 0.001, seed: int = 1
) -> dict[str, object]:
    """The whole tutorial; returns the evaluated points and the best one."""
    pyro.set_rng_seed(seed)
    pyro.clear_param_store()
    X = torch.tensor([0.0, 0.33, 0.66, 1.0])
    model = gp.models.GPRegression(
        X, forrester(X), gp.kernels.Matern52(input_dim=1), noise=torch.tensor(0.1), jitter=1.0e-4
    )
    refit(model, num_steps, lr)
    proposals = []
    for _ in range(num_iterations):
        x_new = next_point(model)
        proposals.append(float(x_new))
        model.set_data(torch.cat([model.X, x_new]), torch.cat([model.y, forrester(x_new)]))
        refit(model, num_steps, lr)
    best = int(torch.argmin(model.y))
    return {
        "proposals": proposals,
        "best_x": float(model.X[best]),
        "best_f": float(model.y[best]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=0.001)
    args = parser.parse_args()
    r = run(args.iterations, args.steps, args.lr)
    for i, x in enumerate(r["proposals"], 1):  # type: ignore[arg-type]
        print(f"x{i} = {x:.5f}  f = {float(forrester(torch.tensor(x))):9.5f}")
    print(f"best x {r['best_x']:.5f} f {r['best_f']:.5f}  (true minimum x {X_MIN} f {F_MIN})")


if __name__ == "__main__":
    main()
