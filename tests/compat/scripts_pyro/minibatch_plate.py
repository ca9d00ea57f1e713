"""Minibatch SVI: ``pyro.plate(..., subsample_size=...)`` picks the batch and rescales.

Pyro style: the plate's returned indices select the data, the likelihood is scaled by
size / subsample_size, ``ClippedAdam`` with ``lrd`` decay, and
``poutine.trace(...).get_trace(...)`` to look at the scale and the plate frame.
Exact answer: Normal(0, 10) prior on the mean, unit-variance data.
"""

import torch

import ppl as pyro
import ppl.distributions as dist
from ppl import poutine
from ppl.distributions import constraints
from ppl.infer.svi import SVI
from ppl.infer.trace_elbo import Trace_ELBO
from ppl.optim import ClippedAdam

N = 2000
BATCH = 100
PRIOR_SCALE = 10.0


def model(data):
    loc = pyro.sample("loc", dist.Normal(0.0, PRIOR_SCALE))
    with pyro.plate("data", len(data), subsample_size=BATCH) as ind:
        pyro.sample("obs", dist.Normal(loc, 1.0), obs=data[ind])


def guide(data):
    q_loc = pyro.param("q_loc", torch.tensor(0.0))
    q_scale = pyro.param("q_scale", torch.tensor(1.0), constraint=constraints.positive)
    pyro.sample("loc", dist.Normal(q_loc, q_scale))


def make_data(seed=3):
    g = torch.Generator().manual_seed(seed)
    return 2.5 + torch.randn(N, generator=g)


def main(num_steps=1500, seed=0):
    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    data = make_data()
    optim = ClippedAdam({"lr": 0.05, "lrd": 0.998, "clip_norm": 10.0})
    svi = SVI(model, guide, optim, loss=Trace_ELBO())
    for _ in range(num_steps):
        svi.step(data)
    tr = poutine.trace(model).get_trace(data)
    site = tr.nodes["obs"]
    frame = site["cond_indep_stack"][0]
    post_var = 1.0 / (N + 1.0 / PRIOR_SCALE**2)
    return {
        "q_loc": pyro.param("q_loc").item(),
        "q_scale": pyro.param("q_scale").item(),
        "exact_loc": (data.sum() * post_var).item(),
        "exact_scale": post_var**0.5,
        "obs_scale": float(site["scale"]),
        "obs_batch_shape": tuple(site["fn"].batch_shape),
        "obs_value_shape": tuple(site["value"].shape),
        "frame": (frame.name, frame.dim, frame.size),
    }
