"""MAP estimation with ``AutoDelta``: the guide's point is the posterior *mode*.

Pyro style: ``AutoDelta(model)`` fitted with ``SVI``/``Trace_ELBO``, read back with
``guide.median()`` and through the param store (``"AutoDelta.<site>"``).
Exact answer: Beta(10, 10) prior, 6 heads of 10 -> mode of Beta(16, 14) = 15/28, found in
the constrained space (no Jacobian term), as in Pyro. A Normal-mean site shows the same for
an unconstrained latent: mode = mean of the Gaussian posterior.
"""

import torch

import ppl as pyro
import ppl.distributions as dist
from ppl.infer.autoguide import AutoDelta
from ppl.infer.svi import SVI
from ppl.infer.trace_elbo import Trace_ELBO

FLIPS = [1.0] * 6 + [0.0] * 4
OBS = [1.0, 2.0, 4.0]


def model(flips, obs):
    f = pyro.sample("fairness", dist.Beta(10.0, 10.0))
    with pyro.plate("flips", len(flips)):
        pyro.sample("flip", dist.Bernoulli(f), obs=flips)
    loc = pyro.sample("loc", dist.Normal(0.0, 2.0))
    with pyro.plate("obs_plate", len(obs)):
        pyro.sample("obs", dist.Normal(loc, 1.0), obs=obs)


def main(num_steps=1500, seed=0):
    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    flips, obs = torch.tensor(FLIPS), torch.tensor(OBS)
    guide = AutoDelta(model)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.02}), loss=Trace_ELBO())
    for _ in range(num_steps):
        svi.step(flips, obs)
    median = guide.median(flips, obs)
    return {
        "fairness": float(median["fairness"]),
        "loc": float(median["loc"]),
        "exact_fairness": 15.0 / 28.0,
        "exact_loc": sum(OBS) / (len(OBS) + 1.0 / 4.0),
        "param_names": sorted(pyro.get_param_store().keys()),
    }
