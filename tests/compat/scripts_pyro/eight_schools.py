"""Eight schools, non-centred by hand (no ``poutine.reparam``), fitted with ``AutoNormal``.

Pyro style: ``pyro.plate`` over schools, ``pyro.deterministic`` for the school effects,
``AutoNormal`` with ``init_scale``, ``SVI`` + ``Adam``, then ``Predictive`` with
``return_sites`` and ``guide.median()``.
"""

import torch

import ppl as pyro
import ppl.distributions as dist
from ppl.infer.autoguide import AutoNormal
from ppl.infer.predictive import Predictive
from ppl.infer.svi import SVI
from ppl.infer.trace_elbo import Trace_ELBO

Y = [28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0]
SIGMA = [15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0]


def model(sigma, y=None):
    mu = pyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = pyro.sample("tau", dist.HalfCauchy(5.0))
    with pyro.plate("schools", len(sigma)):
        theta_tilde = pyro.sample("theta_tilde", dist.Normal(0.0, 1.0))
        theta = pyro.deterministic("theta", mu + tau * theta_tilde)
        pyro.sample("obs", dist.Normal(theta, sigma), obs=y)


def main(num_steps=1500, num_samples=2000, seed=0):
    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    sigma, y = torch.tensor(SIGMA), torch.tensor(Y)
    guide = AutoNormal(model, init_scale=0.1)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.03}), loss=Trace_ELBO())
    losses = [svi.step(sigma, y) for _ in range(num_steps)]
    predictive = Predictive(
        model, guide=guide, num_samples=num_samples, return_sites=("mu", "tau", "theta")
    )
    samples = predictive(sigma)
    median = guide.median()
    return {
        "mu_mean": samples["mu"].mean().item(),
        "tau_median": samples["tau"].median().item(),
        "theta_mean": samples["theta"].mean(0).tolist(),
        "theta_shape": tuple(samples["theta"].shape),
        "median_mu": float(median["mu"]),
        "final_loss": sum(losses[-200:]) / 200,
        "param_names": sorted(pyro.get_param_store().keys()),
    }
