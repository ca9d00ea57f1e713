"""Is the coin fair? A Beta prior, Bernoulli flips, and a Beta guide fitted by SVI.

Pyro style: ``pyro.param`` with a positivity constraint, ``pyro.plate`` over the flips,
``SVI(model, guide, Adam, Trace_ELBO())`` stepped in a loop, ``svi.evaluate_loss``.
Exact answer: Beta(10, 10) prior and 6 heads in 10 flips give a Beta(16, 14) posterior.
"""

import torch

import ppl as pyro
import ppl.distributions as dist
from ppl.distributions import constraints
from ppl.infer.svi import SVI
from ppl.infer.trace_elbo import Trace_ELBO
from ppl.optim import Adam

PRIOR = (10.0, 10.0)
FLIPS = [1.0] * 6 + [0.0] * 4


def model(data):
    alpha0 = torch.tensor(PRIOR[0])
    beta0 = torch.tensor(PRIOR[1])
    f = pyro.sample("latent_fairness", dist.Beta(alpha0, beta0))
    with pyro.plate("flips", len(data)):
        pyro.sample("obs", dist.Bernoulli(f), obs=data)


def guide(data):
    alpha_q = pyro.param("alpha_q", torch.tensor(15.0), constraint=constraints.positive)
    beta_q = pyro.param("beta_q", torch.tensor(15.0), constraint=constraints.positive)
    pyro.sample("latent_fairness", dist.Beta(alpha_q, beta_q))


def main(num_steps=1500, seed=0):
    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    data = torch.tensor(FLIPS)
    svi = SVI(model, guide, Adam({"lr": 0.02, "betas": (0.90, 0.999)}), loss=Trace_ELBO())
    losses = [svi.step(data) for _ in range(num_steps)]
    a = pyro.param("alpha_q").item()
    b = pyro.param("beta_q").item()
    mean = a / (a + b)
    std = (a * b / ((a + b) ** 2 * (a + b + 1.0))) ** 0.5
    eval_losses = [svi.evaluate_loss(data) for _ in range(200)]
    return {
        "mean": mean,
        "std": std,
        "first_loss": losses[0],
        "mean_eval_loss": sum(eval_losses) / len(eval_losses),
        "param_names": sorted(pyro.get_param_store().keys()),
    }
