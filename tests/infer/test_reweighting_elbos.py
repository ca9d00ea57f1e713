"""TraceTailAdaptive_ELBO and ReweightedWakeSleep: gradients against closed forms.

Model: z ~ N(theta, 1), x | z ~ N(z, 1) with x observed, so p(x) = N(x | theta, 2) and
p(z | x) = N((theta + x) / 2, 1/2). ``R`` independent replicates sit in a plate, one
param entry each, so one call gives ``R`` independent gradient estimates.
"""

import math

import pytest
import torch

import ppl
import ppl.distributions as dist
import ppl.distributions.testing.fakes as fakes
from ppl.infer import SVI, ReweightedWakeSleep, TraceTailAdaptive_ELBO
from ppl.optim import Adam

X = 0.8
R = 400
POST_SD = math.sqrt(0.5)


def model(theta=0.0):
    th = ppl.param("theta", torch.full((R,), theta))
    with ppl.plate("rep", R):
        z = ppl.sample("z", dist.Normal(th, 1.0))
        ppl.sample("x", dist.Normal(z, 1.0), obs=torch.full((R,), X))


def make_guide(loc, scale=POST_SD, normal=dist.Normal):
    def guide(observations=None):
        m = ppl.param("m", torch.full((R,), loc))
        with ppl.plate("rep", R):
            ppl.sample("z", normal(m, scale))

    return guide


def grads_of(loss, name):
    leaf = ppl.get_param_store().get_param(name).unconstrained()
    (g,) = torch.autograd.grad(loss, [leaf])
    return g


def assert_mean_close(grads, exact, bias=0.0):
    se = grads.std().item() / math.sqrt(len(grads))
    print(f"estimate {grads.mean():.4f} +- {se:.4f}, exact {exact:.4f}")
    assert abs(grads.mean().item() - exact) < 4 * se + bias


# ---------------------------------------------------------------- tail-adaptive
def test_tail_adaptive_with_flat_weights_is_the_elbo_gradient_over_k():
    # beta = 0 gives every particle weight 1: the ELBO's pathwise gradient, divided by
    # num_particles as in Pyro. d(-ELBO)/dm = 2m - x - theta (theta = 0).
    m, num = -0.5, 10
    elbo = TraceTailAdaptive_ELBO(
        num_particles=num, vectorize_particles=True, tail_adaptive_beta=0.0
    )
    grads = grads_of(elbo.differentiable_loss(model, make_guide(m, 0.9)), "m")
    assert_mean_close(grads, (2 * m - X) / num)


def test_tail_adaptive_weights_follow_descending_ranks():
    from ppl.infer.trace_tail_adaptive_elbo import tail_adaptive_weights

    w = tail_adaptive_weights(torch.tensor([0.5, -2.0, 3.0, 1.0]), -1.0)
    assert w.tolist() == pytest.approx([1 / 3, 1 / 4, 1.0, 1 / 2])


def test_tail_adaptive_gradient_matches_an_independent_monte_carlo():
    # the paper's weights (Wang et al. 2018, beta = -1) computed directly in torch
    # from 20000 x K draws, against the mean of the estimator over calls
    m, s, num = -0.5, 0.9, 10

    def one_model():
        z = ppl.sample("z", dist.Normal(0.0, 1.0))
        ppl.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(X))

    def one_guide():
        loc = ppl.param("m", torch.tensor(m))
        ppl.sample("z", dist.Normal(loc, s))

    loc = torch.tensor(m, requires_grad=True)
    z = loc + s * torch.randn(20000, num)
    log_w = (
        dist.Normal(0.0, 1.0).log_prob(z)
        + dist.Normal(z, 1.0).log_prob(torch.tensor(X))
        - dist.Normal(loc, s).log_prob(z)
    )
    descending_rank = (log_w.detach()[:, None, :] >= log_w.detach()[:, :, None]).sum(-1)
    gamma = descending_rank.float().pow(-1.0)
    surrogate = -(gamma * log_w).sum(-1) / gamma.sum(-1) / num
    (exact,) = torch.autograd.grad(surrogate.mean(), [loc])

    elbo = TraceTailAdaptive_ELBO(num_particles=num, vectorize_particles=True)
    grads = torch.stack(
        [grads_of(elbo.differentiable_loss(one_model, one_guide), "m") for _ in range(400)]
    )
    assert_mean_close(grads, exact.item(), bias=0.002)


def test_tail_adaptive_errors():
    elbo = TraceTailAdaptive_ELBO(num_particles=4, vectorize_particles=True)
    with pytest.raises(NotImplementedError, match="only gradients"):
        elbo.loss(model, make_guide(0.0))
    with pytest.raises(NotImplementedError, match="vectorize_particles=True"):
        TraceTailAdaptive_ELBO(num_particles=4).differentiable_loss(model, make_guide(0.0))
    with pytest.raises(NotImplementedError, match="not fully reparameterized"):
        elbo.differentiable_loss(model, make_guide(0.0, normal=fakes.NonreparameterizedNormal))


# ---------------------------------------------------------------- reweighted wake-sleep
@pytest.mark.parametrize("vectorize", [True, False])
def test_wake_theta_gradient_is_the_log_evidence_gradient(vectorize):
    # with the exact posterior as guide every weight is p(x): the gradient of
    # wake_theta_loss = -log p(x) is exactly -(x - theta) / 2 in expectation
    theta = 0.3
    rws = ReweightedWakeSleep(num_particles=3, vectorize_particles=vectorize)
    guide = make_guide((theta + X) / 2)
    wake_theta, _, _, _ = rws._losses(lambda: model(theta), guide, (), {})
    grads = grads_of(wake_theta, "theta")
    assert_mean_close(grads, -(X - theta) / 2)


def test_wake_phi_gradient_approaches_the_inclusive_kl_gradient():
    # d/dm KL(p(z|x) || q) = -(E_p[z] - m) / s^2; self-normalized: O(1/K) bias. The
    # weights are per particle over the whole trace, so replicates must be separate calls.
    m, s = -0.5, 0.9

    def one_model():
        z = ppl.sample("z", dist.Normal(0.0, 1.0))
        ppl.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(X))

    def one_guide(observations=None):
        ppl.sample("z", dist.Normal(ppl.param("m", torch.tensor(m)), s))

    rws = ReweightedWakeSleep(num_particles=500)
    grads = torch.stack(
        [grads_of(rws._losses(one_model, one_guide, (), {})[1], "m") for _ in range(200)]
    )
    assert_mean_close(grads, -(X / 2 - m) / s**2, bias=0.03)


def test_sleep_phi_gradient_is_closed_form():
    # insomnia=0: phi = -E_{p(x,z)} log q(z | x), q = N(a x, s); d/da = -(E[zx] - a E[x^2]) / s^2
    a, s = 0.2, 0.9

    def amortized_guide(observations=None):
        coef = ppl.param("a", torch.full((R,), a))
        with ppl.plate("rep", R):
            ppl.sample("z", dist.Normal(coef * observations["x"], s))

    rws = ReweightedWakeSleep(num_particles=2, insomnia=0.0, model_has_params=False)
    _, phi, _, _ = rws._losses(model, amortized_guide, (), {})
    # phi averages over num_sleep_particles=2 vectorized draws per replicate
    grads = grads_of(phi, "a")
    assert_mean_close(grads, -(1.0 - 2.0 * a) / s**2)


def test_rws_loss_is_a_pair_and_svi_records_the_sum():
    rws = ReweightedWakeSleep(num_particles=4)
    guide = make_guide(X / 2)
    theta_loss, phi_loss = rws.loss(model, guide)
    assert theta_loss == pytest.approx(-R * dist.Normal(0.0, math.sqrt(2)).log_prob(
        torch.tensor(X)).item(), rel=1e-4)
    svi = SVI(model, guide, Adam({"lr": 0.01}), rws)
    assert math.isfinite(svi.step())


def test_rws_bad_arguments():
    with pytest.raises(ValueError, match="num_particles > 1"):
        ReweightedWakeSleep(num_particles=1)
    with pytest.raises(ValueError, match="insomnia"):
        ReweightedWakeSleep(insomnia=1.5)
