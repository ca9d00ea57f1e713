"""SVI part III: score-function gradients, Rao-Blackwellization and baselines.

The flow of Pyro's ``svi_part_iii`` tutorial. A coin's fairness ``f`` has a
``Beta(10, 10)`` prior and we see six heads in ten tosses, so the exact posterior is
``Beta(16, 14)``. The guide is a Beta with learnable ``alpha_q``, ``beta_q``, but a
*non-reparameterizable* one (``NonreparameterizedBeta``): its samples carry no path
derivative, so ``TraceGraph_ELBO`` estimates the gradient with the score function
``(log p - log q) * grad log q(f)``, whose variance is large. Two remedies:

* **Rao-Blackwellization**: ``TraceGraph_ELBO`` multiplies each score only by the
  costs downstream of its site (here every cost is downstream of ``f``).
* **Baselines**: subtracting a constant ``b`` from the cost keeps the estimator
  unbiased (``E[grad log q] = 0``) and, for ``b`` near the mean cost, shrinks its
  variance. ``infer={"baseline": {"use_decaying_avg_baseline": True,
  "baseline_beta": 0.9}}`` tracks a decaying average of the cost.

As in the tutorial, SVI runs (Adam, ``lr=0.0005``, ``betas=(0.93, 0.999)``) from
``alpha_q = beta_q = 15`` until both parameters are within ``--tolerance`` of the
exact ``(16, 14)``, with and without the baseline, printing the steps taken. Then
the estimator's variance is measured directly: many gradient estimates at the
initial parameters, with a baseline first warmed up at those parameters, against
none. Run ``python tutorial/svi_part_iii.py`` (a few seconds).
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
from torch.distributions import constraints

import ppl as pyro
import ppl.distributions as dist
import ppl.optim as optim
from ppl.distributions.testing.fakes import NonreparameterizedBeta
from ppl.infer import SVI, TraceGraph_ELBO

ALPHA0, BETA0 = 10.0, 10.0  # the Beta prior
DATA = torch.tensor([1.0] * 6 + [0.0] * 4)  # six heads, four tails
ALPHA_N = ALPHA0 + float(DATA.sum())  # exact posterior Beta(16, 14)
BETA_N = BETA0 + len(DATA) - float(DATA.sum())
INIT = 15.0


def model(use_baseline: bool) -> None:
    f = pyro.sample("latent_fairness", dist.Beta(ALPHA0, BETA0))
    with pyro.plate("data_plate"):
        pyro.sample("obs", dist.Bernoulli(f), obs=DATA)


def guide(use_baseline: bool) -> None:
    alpha_q = pyro.param("alpha_q", torch.tensor(INIT), constraint=constraints.positive)
    beta_q = pyro.param("beta_q", torch.tensor(INIT), constraint=constraints.positive)
    baseline = {"use_decaying_avg_baseline": use_baseline, "baseline_beta": 0.90}
    pyro.sample(
        "latent_fairness", NonreparameterizedBeta(alpha_q, beta_q), infer={"baseline": baseline}
    )


def errors() -> tuple[float, float]:
    """Absolute errors of the variational parameters against the exact posterior."""
    return (
        abs(pyro.param("alpha_q").item() - ALPHA_N),
        abs(pyro.param("beta_q").item() - BETA_N),
    )


def do_inference(use_baseline: bool, tolerance: float, max_steps: int) -> dict[str, Any]:
    """SVI until both errors are below ``tolerance`` (or ``max_steps``)."""
    pyro.clear_param_store()
    svi = SVI(model, guide, optim.Adam({"lr": 0.0005, "betas": (0.93, 0.999)}), TraceGraph_ELBO())
    steps = 0
    while steps < max_steps:
        svi.step(use_baseline)
        steps += 1
        alpha_error, beta_error = errors()
        if alpha_error < tolerance and beta_error < tolerance:
            break
    alpha_error, beta_error = errors()
    print(
        f"use_decaying_avg_baseline={use_baseline}: {steps} steps, final absolute errors "
        f"{alpha_error:.4f} & {beta_error:.4f}"
    )
    return {
        "steps": steps,
        "alpha_q": pyro.param("alpha_q").item(),
        "beta_q": pyro.param("beta_q").item(),
        "alpha_error": alpha_error,
        "beta_error": beta_error,
    }


def gradient_variance(use_baseline: bool, num_estimates: int, warmup: int = 50) -> torch.Tensor:
    """Mean and variance of single-sample gradient estimates w.r.t. the unconstrained
    ``(log alpha_q, log beta_q)`` at the initial parameters: ``(2, 2)`` rows (mean, var)."""
    pyro.clear_param_store()
    elbo = TraceGraph_ELBO()
    guide(use_baseline)  # create the params
    store = pyro.get_param_store()
    leaves = [store.get_param(name).unconstrained() for name in ("alpha_q", "beta_q")]
    grads = []
    for i in range(warmup + num_estimates):
        for leaf in leaves:
            leaf.grad = None
        elbo.loss_and_grads(model, guide, use_baseline)
        if i >= warmup:  # the baseline's running average has settled by now
            grads.append(torch.stack([leaf.grad.detach().clone() for leaf in leaves]))
    stacked = torch.stack(grads)
    return torch.stack([stacked.mean(0), stacked.var(0)])


def exact_gradient(alpha: float = INIT, beta: float = INIT) -> torch.Tensor:
    """The exact gradient of the loss ``-ELBO`` w.r.t. ``(log alpha_q, log beta_q)``.

    With ``q = Beta(a, b)`` every term is a Beta expectation in closed form:
    ``log p(f, data) = (ALPHA_N - 1) log f + (BETA_N - 1) log(1 - f) - log B(10, 10)``,
    ``E_q log f = digamma(a) - digamma(a + b)``, and the entropy of ``q`` is
    ``log B(a, b) - (a - 1) digamma(a) - (b - 1) digamma(b) + (a + b - 2) digamma(a + b)``.
    """
    log_ab = torch.tensor([alpha, beta], dtype=torch.float64).log().requires_grad_()
    a, b = log_ab.exp()
    e_log_f = torch.digamma(a) - torch.digamma(a + b)
    e_log_1mf = torch.digamma(b) - torch.digamma(a + b)

    def log_beta_fn(x: Any, y: Any) -> Any:
        return torch.lgamma(x) + torch.lgamma(y) - torch.lgamma(x + y)

    prior_norm = log_beta_fn(torch.tensor(ALPHA0), torch.tensor(BETA0))
    entropy = (
        log_beta_fn(a, b)
        - (a - 1) * torch.digamma(a)
        - (b - 1) * torch.digamma(b)
        + (a + b - 2) * torch.digamma(a + b)
    )
    elbo = (ALPHA_N - 1) * e_log_f + (BETA_N - 1) * e_log_1mf - prior_norm + entropy
    (grad,) = torch.autograd.grad(-elbo, log_ab)
    return grad.float()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tolerance", type=float, default=0.8)
    parser.add_argument("--max-steps", type=int, default=10000)
    parser.add_argument("--num-estimates", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    runs = {flag: do_inference(flag, args.tolerance, args.max_steps) for flag in (True, False)}
    with_b = gradient_variance(True, args.num_estimates)
    without_b = gradient_variance(False, args.num_estimates)
    exact = exact_gradient()
    print(f"exact gradient (log alpha_q, log beta_q): {exact.tolist()}")
    for label, est in (("with baseline", with_b), ("without baseline", without_b)):
        print(f"{label:>17}: mean {est[0].tolist()}, variance {est[1].tolist()}")
    return {
        "with_baseline": runs[True],
        "without_baseline": runs[False],
        "grad_with_baseline": with_b,
        "grad_without_baseline": without_b,
        "exact_gradient": exact,
        "num_estimates": args.num_estimates,
    }


if __name__ == "__main__":
    main()
