"""``TraceMeanField_ELBO`` and ``SVI.evaluate_loss`` on a conjugate Normal model.

Pyro style: a hand-written Normal guide, ``TraceMeanField_ELBO`` (analytic KL), and
``svi.evaluate_loss`` to score a guide without stepping. At the exact posterior the ELBO
equals the log evidence, so ``evaluate_loss`` with ``Trace_ELBO`` returns ``-log p(x)``
with zero variance: a sharp check of the loss's sign, scaling and terms.
"""

import math

import torch
from torch.distributions import kl_divergence

import ppl as pyro
import ppl.distributions as dist
from ppl.distributions import constraints
from ppl.infer.svi import SVI
from ppl.infer.trace_elbo import Trace_ELBO
from ppl.infer.trace_mean_field_elbo import TraceMeanField_ELBO

PRIOR_SCALE = 2.0
NOISE = 1.0
OBS = [0.3, 1.7, 2.2, 0.9, 1.4]


def model(data):
    loc = pyro.sample("loc", dist.Normal(0.0, PRIOR_SCALE))
    with pyro.plate("data", len(data)):
        pyro.sample("obs", dist.Normal(loc, NOISE), obs=data)


def guide(data):
    q_loc = pyro.param("q_loc", torch.tensor(0.0))
    q_scale = pyro.param("q_scale", torch.tensor(1.0), constraint=constraints.positive)
    pyro.sample("loc", dist.Normal(q_loc, q_scale))


def exact(data):
    n = len(data)
    post_var = 1.0 / (n / NOISE**2 + 1.0 / PRIOR_SCALE**2)
    post_mean = post_var * float(sum(data)) / NOISE**2
    cov = NOISE**2 * torch.eye(n, dtype=torch.float64) + PRIOR_SCALE**2
    evidence = dist.MultivariateNormal(torch.zeros(n, dtype=torch.float64), cov)
    log_evidence = evidence.log_prob(torch.tensor(data, dtype=torch.float64)).item()
    return post_mean, math.sqrt(post_var), log_evidence


def main(num_steps=1500, seed=0):
    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    data = torch.tensor(OBS)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.02}), loss=TraceMeanField_ELBO())
    for _ in range(num_steps):
        svi.step(data)
    fitted = (pyro.param("q_loc").item(), pyro.param("q_scale").item())
    post_mean, post_std, log_evidence = exact(OBS)
    store = pyro.get_param_store()
    store["q_loc"] = torch.tensor(post_mean)
    store["q_scale"] = torch.tensor(post_std)
    exact_svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.0}), loss=Trace_ELBO())
    loss_at_posterior = [exact_svi.evaluate_loss(data) for _ in range(5)]
    # the fitted guide's loss, from 20000 particles drawn at once (Pyro's vectorized particles)
    wide = TraceMeanField_ELBO(num_particles=20000, vectorize_particles=True, max_plate_nesting=1)
    store["q_loc"] = torch.tensor(fitted[0])
    store["q_scale"] = torch.tensor(fitted[1])
    meanfield_loss = SVI(model, guide, pyro.optim.Adam({"lr": 0.0}), loss=wide).evaluate_loss(data)
    # -ELBO(q) = -log p(x) + KL(q || posterior), both Normal
    kl = kl_divergence(dist.Normal(*fitted), dist.Normal(post_mean, post_std)).item()
    return {
        "q_loc": fitted[0],
        "q_scale": fitted[1],
        "exact_loc": post_mean,
        "exact_scale": post_std,
        "neg_log_evidence": -log_evidence,
        "trace_elbo_at_posterior": loss_at_posterior,
        "meanfield_loss": meanfield_loss,
        "expected_meanfield_loss": -log_evidence + kl,
    }
