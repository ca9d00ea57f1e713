"""RenyiELBO on the Normal-Normal model: exact values, the IWAE limit, gradients.

Model: z ~ N(0, 1), x | z ~ N(z, 1), so p(x) = N(x | 0, 2) and p(z | x) = N(x/2, 1/2).
"""

import math

import numpy as np
import pytest
import torch

import ppl
import ppl.distributions as dist
import ppl.distributions.testing.fakes  # noqa: F401
from ppl.infer import RenyiELBO, Trace_ELBO

X = torch.tensor(0.8)
LOG_EVIDENCE = dist.Normal(0.0, math.sqrt(2.0)).log_prob(X).item()


def model():
    z = ppl.sample("z", dist.Normal(0.0, 1.0))
    ppl.sample("x", dist.Normal(z, 1.0), obs=X)


def make_guide(loc, scale):
    def guide():
        m = ppl.param("m", torch.tensor(loc))
        ppl.sample("z", dist.Normal(m, scale))

    return guide


@pytest.mark.parametrize("alpha", [0.0, 0.5, -1.0, 2.0])
@pytest.mark.parametrize("vectorize", [False, True])
def test_exact_posterior_guide_gives_log_evidence(alpha, vectorize):
    # every importance weight equals p(x): the bound is exact for any alpha and K
    guide = make_guide(0.4, math.sqrt(0.5))
    loss = RenyiELBO(alpha=alpha, num_particles=5, vectorize_particles=vectorize).loss(
        model, guide
    )
    assert loss == pytest.approx(-LOG_EVIDENCE, abs=1e-5)


R = 400  # independent replicates of the problem, one per element of a plate


def rep_model():
    with ppl.plate("rep", R):
        z = ppl.sample("z", dist.Normal(0.0, 1.0))
        ppl.sample("x", dist.Normal(z, 1.0), obs=X.expand(R))


def make_rep_guide(loc, scale, normal=dist.Normal):
    def guide():
        m = ppl.param("m", torch.full((R,), loc))
        with ppl.plate("rep", R):
            ppl.sample("z", normal(m, scale))

    return guide


def replicate_grads(elbo, guide):
    """One gradient estimate per replicate: the plate shared by every site is kept
    element-wise, so replicate r's bound depends only on m[r]."""
    loss = elbo.differentiable_loss(rep_model, guide)
    leaf = ppl.get_param_store().get_param("m").unconstrained()
    (g,) = torch.autograd.grad(loss, [leaf])
    return g


@pytest.mark.parametrize("vectorize", [False, True])
def test_iwae_bound_tightens_to_log_evidence(vectorize):
    guide = make_rep_guide(0.0, 1.0)  # the prior: a poor proposal
    elbo_bound = -Trace_ELBO().loss(rep_model, guide) / R
    num = 1000 if vectorize else 50
    iwae = -RenyiELBO(alpha=0, num_particles=num, vectorize_particles=vectorize).loss(
        rep_model, guide
    ) / R
    print(f"ELBO {elbo_bound:.4f}  IWAE(K={num}) {iwae:.4f}  log p(x) {LOG_EVIDENCE:.4f}")
    assert elbo_bound < LOG_EVIDENCE - 0.2  # KL(prior || posterior) ~ 0.32
    # a weight's relative variance is < 0.5: one bound's sd < sqrt(0.5 / K), its bias
    # below (-) 0.5 / (2 K); the mean over R replicates has sd < sqrt(0.5 / (K R))
    sd = math.sqrt(0.5 / (num * R))
    assert LOG_EVIDENCE - 0.25 / num - 4 * sd < iwae < LOG_EVIDENCE + 4 * sd


def test_alpha_one_is_rejected():
    with pytest.raises(ValueError, match="alpha must not be 1"):
        RenyiELBO(alpha=1)


def _quadrature_grid():
    nodes, weights = np.polynomial.hermite_e.hermegauss(60)
    return torch.tensor(nodes), torch.tensor(weights) / math.sqrt(2 * math.pi)


def _log_w(z, loc, s):
    prior = dist.Normal(0.0, 1.0).log_prob(z)
    lik = dist.Normal(z, 1.0).log_prob(X.double())
    return prior + lik - dist.Normal(loc, s).log_prob(z)


def _iwae2_loss_gradient(m, s):
    """d/dm of -E[log((w1 + w2) / 2)] for K=2, by 2-D Gauss-Hermite quadrature."""
    eps, w = _quadrature_grid()
    loc = torch.tensor(m, dtype=torch.float64, requires_grad=True)
    z1, z2 = (loc + s * eps)[:, None], (loc + s * eps)[None, :]
    bound = torch.logaddexp(_log_w(z1, loc, s), _log_w(z2, loc, s)) - math.log(2.0)
    (grad,) = torch.autograd.grad(-(w[:, None] * w[None, :] * bound).sum(), [loc])
    return grad.item()


def _renyi_loss_gradient(m, s, alpha):
    """d/dm of -L_alpha = -1/(1-alpha) log E_q[w^(1-alpha)] (the K -> inf limit)."""
    eps, w = _quadrature_grid()
    loc = torch.tensor(m, dtype=torch.float64, requires_grad=True)
    z = (loc + s * eps).detach()  # the expectation is over q(.; loc): reweight fixed nodes
    log_q_ratio = dist.Normal(loc, s).log_prob(z) - dist.Normal(loc.detach(), s).log_prob(z)
    inner = (w * torch.exp(log_q_ratio + (1 - alpha) * _log_w(z, loc, s))).sum()
    (grad,) = torch.autograd.grad(-torch.log(inner) / (1 - alpha), [loc])
    return grad.item()


@pytest.mark.parametrize("vectorize", [False, True])
def test_pathwise_gradient_is_unbiased_for_the_k2_bound(vectorize):
    m, s = -0.5, 0.9
    exact = _iwae2_loss_gradient(m, s)
    elbo = RenyiELBO(alpha=0, num_particles=2, vectorize_particles=vectorize)
    grads = replicate_grads(elbo, make_rep_guide(m, s))
    se = grads.std().item() / math.sqrt(R)
    print(f"IWAE K=2 gradient: estimate {grads.mean():.4f} +- {se:.4f}, exact {exact:.4f}")
    assert abs(grads.mean().item() - exact) < 4 * se


def test_score_function_gradient_approaches_renyi_gradient():
    m, s, alpha, num = -0.5, 0.9, 0.5, 500
    exact = _renyi_loss_gradient(m, s, alpha)
    elbo = RenyiELBO(alpha=alpha, num_particles=num, vectorize_particles=True)
    guide = make_rep_guide(m, s, normal=dist.testing.fakes.NonreparameterizedNormal)
    grads = replicate_grads(elbo, guide)
    se = grads.std().item() / math.sqrt(R)
    print(f"Renyi(0.5) score gradient: {grads.mean():.4f} +- {se:.4f}, K->inf {exact:.4f}")
    # self-normalized: bias O(1/K), well below the Monte Carlo error here
    assert abs(grads.mean().item() - exact) < 4 * se + 0.02


def test_local_plates_get_one_bound_each():
    data = torch.tensor([0.8, -1.0, 2.0])

    def plated_model():
        with ppl.plate("d", 3):
            z = ppl.sample("z", dist.Normal(0.0, 1.0))
            ppl.sample("x", dist.Normal(z, 1.0), obs=data)

    def plated_guide():  # the exact posterior of every data point
        with ppl.plate("d", 3):
            ppl.sample("z", dist.Normal(data / 2, math.sqrt(0.5)))

    exact = -dist.Normal(0.0, math.sqrt(2.0)).log_prob(data).sum().item()
    for vectorize in (False, True):
        loss = RenyiELBO(num_particles=4, vectorize_particles=vectorize).loss(
            plated_model, plated_guide
        )
        assert loss == pytest.approx(exact, abs=1e-4)
