"""The logistic-regression workload shared by the two-rank worker and the in-process reference.

``run_svi`` trains a hand-written mean-field guide with ``Trace_ELBO``; the model's data
plate is a ``sharded_plate`` whose per-rank batch is ``batch``. In a world of one with
``batch = W * b`` it is the single-process run on the union of the ``W`` ranks' batches.
"""

from __future__ import annotations

import torch

import ppl
import ppl.distributions as dist
from ppl.distributed import sharded_plate
from ppl.distributions import constraints
from ppl.infer.svi import SVI
from ppl.infer.trace_elbo import Trace_ELBO

N, D = 64, 3
DTYPE = torch.float64


def make_data(seed: int = 123) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, D, generator=g, dtype=DTYPE)
    w = torch.tensor([1.0, -2.0, 0.5], dtype=DTYPE)
    y = (torch.rand(N, generator=g, dtype=DTYPE) < torch.sigmoid(x @ w)).to(DTYPE)
    return x, y


def model(x: torch.Tensor, y: torch.Tensor, batch: int) -> None:
    w = ppl.sample("w", dist.Normal(torch.zeros(D, dtype=DTYPE), 1.0).to_event(1))
    b = ppl.sample("b", dist.Normal(torch.tensor(0.0, dtype=DTYPE), 1.0))
    with sharded_plate("data", N, batch, seed=7) as idx:
        ppl.sample("obs", dist.Bernoulli(logits=x[idx] @ w + b), obs=y[idx])


def guide(x: torch.Tensor, y: torch.Tensor, batch: int) -> None:
    w_loc = ppl.param("w_loc", torch.zeros(D, dtype=DTYPE))
    w_scale = ppl.param("w_scale", torch.full((D,), 0.5, dtype=DTYPE), constraints.positive)
    b_loc = ppl.param("b_loc", torch.tensor(0.0, dtype=DTYPE))
    b_scale = ppl.param("b_scale", torch.tensor(0.5, dtype=DTYPE), constraints.positive)
    ppl.sample("w", dist.Normal(w_loc, w_scale).to_event(1))
    ppl.sample("b", dist.Normal(b_loc, b_scale))


def run_svi(optim, batch: int, num_steps: int) -> tuple[dict[str, torch.Tensor], list[float]]:
    """Train from a fresh store with seed 0; return detached params and the losses."""
    ppl.clear_param_store()
    ppl.set_rng_seed(0)
    x, y = make_data()
    svi = SVI(model, guide, optim, Trace_ELBO())
    losses = [svi.step(x, y, batch) for _ in range(num_steps)]
    store = ppl.get_param_store()
    params = {name: store[name].detach().clone() for name in store.keys()}
    return params, losses
