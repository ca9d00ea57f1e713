"""Fast SVI: the same fit, three ways (eager, ``CompiledTrace_ELBO``, ``SVI(compile=True)``).

The model is seed 002's coin flip with its Beta guide. Small models like this one spend
most of each step on overhead: Python in the model and guide, one autograd node and one
kernel launch per tensor op, and the optimizer. ppl has two compiled paths:

* ``CompiledTrace_ELBO()``: a drop-in ELBO. The whole estimator (model, guide, effect
  handlers, ELBO arithmetic) goes through ``torch.compile``; autograd still runs the
  backward pass. Dynamo guards notice when the ParamStore or a non-tensor argument
  changes and recompile.
* ``SVI(..., compile=True)``: the step itself is compiled. After one eager step, the loss
  *and its gradients* are traced into one graph and compiled by inductor; each later
  step is one call returning the loss, the gradients and the NaN/validation verdict in
  one host read, followed by torch's fused optimizer kernel.

Both draw exactly the random numbers eager ``Trace_ELBO`` draws (random ops stay in
ATen), so the three fits below agree to floating-point rounding. What compiling costs:
a few seconds the first time a model is seen (torch caches the generated code on
disk), and, for ``compile=True``, the trace is frozen like ``JitTrace_ELBO``'s: Python
control flow on sampled values and params created after the first step are not seen.

Run: ``python tutorial/fast_svi.py`` (``--steps N``; ``--validation`` keeps ppl's
site checks on, which the compiled paths defer into the graph at almost no cost).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

import ppl
import ppl.distributions as dist
from ppl.distributions import constraints
from ppl.infer import SVI, CompiledTrace_ELBO, Trace_ELBO
from ppl.optim import Adam

HEADS, TAILS = 12, 8
DATA = torch.cat([torch.ones(HEADS), torch.zeros(TAILS)])


def model(data: torch.Tensor) -> None:
    f = ppl.sample("latent_fairness", dist.Uniform(0.0, 1.0))
    with ppl.plate("N", data.shape[0]):
        ppl.sample("obs", dist.Bernoulli(f), obs=data)


def guide(data: torch.Tensor) -> None:
    a = ppl.param("alpha_q", torch.tensor(10.0), constraint=constraints.positive)
    b = ppl.param("beta_q", torch.tensor(10.0), constraint=constraints.positive)
    ppl.sample("latent_fairness", dist.Beta(a, b))


def fit(how: str, steps: int, lr: float, data: torch.Tensor) -> dict[str, Any]:
    """Fit from the same seed; time the steps after the first two (compilation)."""
    ppl.clear_param_store()
    ppl.set_rng_seed(0)
    elbo = CompiledTrace_ELBO() if how == "CompiledTrace_ELBO" else Trace_ELBO()
    svi = SVI(model, guide, Adam({"lr": lr}), elbo, compile=how == "SVI(compile=True)")
    warm_up = svi.run(2, data, progress_bar=False)
    start = time.perf_counter()
    result = svi.run(steps - 2, data, progress_bar=False)
    seconds = time.perf_counter() - start
    a, b = float(result.params["alpha_q"]), float(result.params["beta_q"])
    return {
        "how": how,
        "losses": torch.cat([warm_up.losses, result.losses]),
        "alpha": a,
        "beta": b,
        "mean": a / (a + b),
        "steps_per_s": (steps - 2) / seconds,
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--lr", type=float, default=0.005)
    parser.add_argument("--validation", action="store_true", help="keep site checks on")
    args = parser.parse_args(argv)
    ppl.enable_validation(args.validation)
    torch.set_num_threads(1)  # small tensors: one thread is fastest
    runs = [
        fit(how, args.steps, args.lr, DATA)
        for how in ("Trace_ELBO", "CompiledTrace_ELBO", "SVI(compile=True)")
    ]
    eager = runs[0]
    exact = (HEADS + 1) / (HEADS + TAILS + 2)  # posterior Beta(13, 9) under the flat prior
    print(f"coin flip, {args.steps} steps, Adam(lr={args.lr}); exact posterior mean {exact:.4f}")
    print(f"{'':22}{'alpha':>9}{'beta':>9}{'mean':>8}{'steps/s':>10}{'max |loss - eager|':>20}")
    for run in runs:
        gap = float((run["losses"] - eager["losses"]).abs().max())
        print(
            f"{run['how']:22}{run['alpha']:9.3f}{run['beta']:9.3f}{run['mean']:8.4f}"
            f"{run['steps_per_s']:10.0f}{gap:20.2e}"
        )
    ppl.enable_validation(True)
    return runs


if __name__ == "__main__":
    main()
