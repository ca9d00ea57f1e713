"""An LR schedule stepped once per epoch: ``pyro.optim.ExponentialLR``.

Pyro style: ``ExponentialLR({"optimizer": torch.optim.Adam, "optim_args": {...},
"gamma": ...})`` passed to ``SVI`` like any optimizer, ``scheduler.step()`` after each
epoch of minibatch steps, the current rate read from ``scheduler.optim_objs``.
Exact answer: Gaussian posterior of a regression slope with known noise.
"""

import torch

import ppl as pyro
import ppl.distributions as dist
from ppl.distributions import constraints
from ppl.infer.svi import SVI
from ppl.infer.trace_elbo import Trace_ELBO

N = 256
BATCH = 64
NOISE = 0.3


def model(x, y, size):
    slope = pyro.sample("slope", dist.Normal(0.0, 5.0))
    with pyro.plate("data", size, subsample_size=len(x)):
        pyro.sample("y", dist.Normal(slope * x, NOISE), obs=y)


def guide(x, y, size):
    loc = pyro.param("slope_loc", torch.tensor(0.0))
    scale = pyro.param("slope_scale", torch.tensor(0.05), constraint=constraints.positive)
    pyro.sample("slope", dist.Normal(loc, scale))


def make_data(seed=5):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, generator=g)
    return x, -1.2 * x + NOISE * torch.randn(N, generator=g)


def main(num_epochs=100, seed=0):
    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    x, y = make_data()
    scheduler = pyro.optim.ExponentialLR(
        {"optimizer": torch.optim.Adam, "optim_args": {"lr": 0.1}, "gamma": 0.97}
    )
    svi = SVI(model, guide, scheduler, loss=Trace_ELBO())
    lrs = []
    for _epoch in range(num_epochs):
        perm = torch.randperm(N)
        for start in range(0, N, BATCH):
            idx = perm[start : start + BATCH]
            svi.step(x[idx], y[idx], N)
        scheduler.step()
        lrs.append(next(iter(scheduler.optim_objs.values())).get_last_lr()[0])
    precision = (x * x).sum().item() / NOISE**2 + 1.0 / 25.0
    return {
        "slope_loc": pyro.param("slope_loc").item(),
        "slope_scale": pyro.param("slope_scale").item(),
        "exact_loc": ((x * y).sum().item() / NOISE**2) / precision,
        "exact_scale": precision**-0.5,
        "lrs": lrs,
        "num_optim_objs": len(scheduler.optim_objs),
    }
