"""A Gaussian mixture with enumerated assignments: MAP globals, ``infer_discrete``, NUTS.

The flow of Pyro's GMM tutorial on its five points ``0, 1, 10, 11, 12``:

1. **Model.** Two components share a scale; mixture ``weights ~ Dirichlet(0.5)``,
   ``scale ~ LogNormal(0, 2)``, ``locs ~ Normal(0, 10)`` per component, and one
   ``assignment ~ Categorical(weights)`` per point, marked for enumeration.
2. **MAP of the globals.** ``AutoDelta`` on ``poutine.block(model, expose=globals)``
   leaves the assignments to ``TraceEnum_ELBO``, which sums them out exactly. The
   best of ``--inits`` random initialisations (``locs`` at two data points) is
   trained with Adam for ``--steps`` steps.
3. **Classifying with ``infer_discrete``.** Replaying the fitted globals into the model
   and wrapping it in ``infer_discrete(temperature=0)`` gives each point's MAP
   component; ``temperature=1`` draws from the exact posterior of the assignments.
4. **A guide-side assignment.** A second guide keeps the globals and adds enumerated
   per-point ``assignment_probs``; SVI fits them to the posterior.
5. **Collapsed NUTS.** NUTS on the model itself: the assignments are enumerated
   inside the potential, so HMC only sees the continuous globals.

:func:`run` returns the printed numbers; the tests compare the classifications with
a brute-force argmax and the exact posterior. Runs in a few seconds on one core.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
from torch.distributions import constraints

import ppl as pyro
import ppl.distributions as dist
from ppl import poutine
from ppl.infer import SVI, TraceEnum_ELBO, config_enumerate, infer_discrete
from ppl.infer.autoguide import AutoDelta
from ppl.infer.mcmc import MCMC, NUTS

K = 2
DATA = torch.tensor([0.0, 1.0, 10.0, 11.0, 12.0])


@config_enumerate
def model(data: torch.Tensor) -> None:
    weights = pyro.sample("weights", dist.Dirichlet(0.5 * torch.ones(K)))
    scale = pyro.sample("scale", dist.LogNormal(0.0, 2.0))
    with pyro.plate("components", K):
        locs = pyro.sample("locs", dist.Normal(0.0, 10.0))
    with pyro.plate("data", len(data)):
        assignment = pyro.sample("assignment", dist.Categorical(weights))
        pyro.sample("obs", dist.Normal(locs[assignment], scale), obs=data)


def make_init_loc_fn(data: torch.Tensor) -> Any:
    def init_loc_fn(site: Any) -> torch.Tensor:
        if site["name"] == "weights":
            return torch.ones(K) / K
        if site["name"] == "scale":
            return (data.var() / 2).sqrt()
        if site["name"] == "locs":
            return data[torch.multinomial(torch.ones(len(data)) / len(data), K)]
        raise ValueError(f"init_loc_fn: no initial value for site {site['name']!r}")

    return init_loc_fn


def initialize(seed: int, data: torch.Tensor) -> tuple[float, AutoDelta, SVI]:
    pyro.set_rng_seed(seed)
    pyro.clear_param_store()
    guide = AutoDelta(
        poutine.block(model, expose=["weights", "locs", "scale"]),
        init_loc_fn=make_init_loc_fn(data),
    )
    optim = pyro.optim.Adam({"lr": 0.1, "betas": [0.8, 0.99]})
    svi = SVI(model, guide, optim, loss=TraceEnum_ELBO(max_plate_nesting=1))
    return float(svi.evaluate_loss(data)), guide, svi


def classifier(guide: AutoDelta, data: torch.Tensor, temperature: int = 0) -> torch.Tensor:
    """Each point's component: MAP (temperature 0) or a posterior draw (temperature 1)."""
    guide_trace = poutine.trace(guide).get_trace(data)
    trained_model = poutine.replay(model, trace=guide_trace)
    inferred = infer_discrete(trained_model, temperature=temperature, first_available_dim=-2)
    return poutine.trace(inferred).get_trace(data).nodes["assignment"]["value"]


def posterior_assignment_probs(
    weights: torch.Tensor, locs: torch.Tensor, scale: torch.Tensor, data: torch.Tensor
) -> torch.Tensor:
    """Exact ``p(assignment = k | x, globals)`` for every point, shape ``(N, K)``."""
    log_joint = weights.log() + dist.Normal(locs, scale).log_prob(data[:, None])
    return (log_joint - log_joint.logsumexp(-1, keepdim=True)).exp()


def run(
    num_steps: int = 200,
    num_inits: int = 100,
    num_samples: int = 100,
    warmup_steps: int = 50,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """The whole tutorial; returns its numbers by name."""
    data = DATA
    out: dict[str, Any] = {}

    # 2. MAP globals from the best of num_inits initialisations
    loss, best = min((initialize(s, data)[0], s) for s in range(num_inits))
    _, guide, svi = initialize(best, data)
    out.update(init_seed=best, initial_loss=loss)
    losses = [float(svi.step(data)) for _ in range(num_steps)]
    out["final_loss"] = losses[-1]
    estimates = guide(data)
    for name in ("weights", "locs", "scale"):
        out[name] = estimates[name].detach()

    # 3. infer_discrete: MAP and posterior draws of the assignments
    out["map_assignment"] = classifier(guide, data)
    out["grid"] = torch.arange(-3.0, 15.0, 0.1)
    out["grid_map_assignment"] = classifier(guide, out["grid"])
    pyro.set_rng_seed(seed)
    out["sampled_assignment"] = classifier(guide, data, temperature=1)
    out["boundary_grid"] = torch.arange(5.5, 6.0, 0.005)
    out["boundary_samples"] = torch.stack(
        [classifier(guide, out["boundary_grid"], temperature=1) for _ in range(20)]
    )

    # 4. an enumerated guide-side assignment on top of the fitted globals
    @config_enumerate
    def full_guide(data: torch.Tensor) -> None:
        with poutine.block(hide_types=["param"]):
            guide(data)
        with pyro.plate("data", len(data)):
            probs = pyro.param(
                "assignment_probs", torch.ones(len(data), K) / K, constraint=constraints.simplex
            )
            pyro.sample("assignment", dist.Categorical(probs))

    optim = pyro.optim.Adam({"lr": 0.2, "betas": [0.8, 0.99]})
    svi = SVI(model, full_guide, optim, loss=TraceEnum_ELBO(max_plate_nesting=1))
    guide_losses = [float(svi.step(data)) for _ in range(num_steps)]
    out["guide_final_loss"] = guide_losses[-1]
    out["assignment_probs"] = pyro.param("assignment_probs").detach()

    # 5. collapsed NUTS over the continuous globals
    if num_samples > 0:
        pyro.set_rng_seed(2)
        mcmc = MCMC(
            NUTS(model),
            num_samples=num_samples,
            warmup_steps=warmup_steps,
            disable_progbar=not progress,
        )
        mcmc.run(data)
        out["nuts_locs"] = mcmc.get_samples()["locs"].detach()
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--inits", type=int, default=100)
    parser.add_argument("--samples", type=int, default=250)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args(argv)
    out = run(args.steps, args.inits, args.samples, args.warmup)
    print(f"seed = {out['init_seed']}, initial_loss = {out['initial_loss']:.4f}")
    print(f"final loss = {out['final_loss']:.4f}")
    for name in ("weights", "locs", "scale"):
        print(f"{name} = {out[name].numpy()}")
    print(f"MAP assignment = {out['map_assignment'].tolist()}")
    print(f"sampled assignment = {out['sampled_assignment'].tolist()}")
    print(f"assignment_probs[:, 0] = {out['assignment_probs'][:, 0].numpy()}")
    if "nuts_locs" in out:
        print(f"NUTS posterior mean of locs = {out['nuts_locs'].mean(0).numpy()}")
    return out


if __name__ == "__main__":
    main()
