"""HMC, NUTS and RandomWalkKernel recover exact conjugate posteriors within Monte Carlo error."""

import math

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.infer.mcmc import HMC, MCMC, NUTS, RandomWalkKernel
from ppl.ops.stats import effective_sample_size

DATA = torch.tensor([0.5, 1.5, 2.0, 1.0])


def normal_normal(data):
    loc = ppl.sample("loc", dist.Normal(0.0, 1.0))
    with ppl.plate("data", len(data)):
        ppl.sample("obs", dist.Normal(loc, 1.0), obs=data)


def beta_bernoulli(data):
    p = ppl.sample("p", dist.Beta(2.0, 3.0))
    with ppl.plate("data", len(data)):
        ppl.sample("obs", dist.Bernoulli(p), obs=data)


def gamma_poisson(data):
    rate = ppl.sample("rate", dist.Gamma(3.0, 2.0))
    with ppl.plate("data", len(data)):
        ppl.sample("obs", dist.Poisson(rate), obs=data)


def _check_moments(samples, exact_mean, exact_std, num_chains=1):
    """Sample mean/std within 4 Monte Carlo standard errors (from n_eff) of the exact ones.

    The error of the mean uses n_eff of the draws; the error of the variance uses n_eff of
    the squared deviations (HMC draws can be antithetic: n_eff > n for the mean only).
    """
    grouped = samples.reshape(num_chains, -1)
    n_eff = float(effective_sample_size(grouped))
    assert n_eff > 30, f"n_eff={n_eff}"
    mean, std = float(samples.mean()), float(samples.std())
    mcse_mean = exact_std / math.sqrt(n_eff)
    assert abs(mean - exact_mean) < 4 * mcse_mean, (mean, exact_mean, mcse_mean)
    sq = (grouped - samples.mean()) ** 2
    n_eff_sq = min(float(effective_sample_size(sq)), samples.numel())
    mcse_var = float(sq.std()) / math.sqrt(n_eff_sq)
    mcse_std = mcse_var / (2 * exact_std)
    assert abs(std - exact_std) < 4 * mcse_std, (std, exact_std, mcse_std)


def _run(kernel, data, num_samples=300, warmup_steps=150, num_chains=1):
    mcmc = MCMC(
        kernel,
        num_samples=num_samples,
        warmup_steps=warmup_steps,
        num_chains=num_chains,
        disable_progbar=True,
    )
    mcmc.run(data)
    return mcmc


@pytest.mark.parametrize(
    "make_kernel",
    [lambda m: NUTS(m), lambda m: HMC(m, trajectory_length=2.0)],
    ids=["NUTS", "HMC"],
)
def test_normal_normal_posterior(make_kernel):
    # prior N(0, 1), n unit-variance observations: posterior N(sum / (n + 1), 1 / (n + 1))
    mcmc = _run(make_kernel(normal_normal), DATA)
    n = len(DATA)
    _check_moments(mcmc.get_samples()["loc"], float(DATA.sum()) / (n + 1), (1 / (n + 1)) ** 0.5)


@pytest.mark.parametrize("kernel_cls", [NUTS, HMC])
def test_beta_bernoulli_posterior(kernel_cls):
    data = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0])
    kernel = kernel_cls(beta_bernoulli) if kernel_cls is NUTS else HMC(beta_bernoulli, num_steps=3)
    samples = _run(kernel, data).get_samples()["p"]
    assert ((samples > 0) & (samples < 1)).all()
    a, b = 2.0 + data.sum().item(), 3.0 + (1 - data).sum().item()
    exact_mean = a / (a + b)
    exact_std = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    _check_moments(samples, exact_mean, exact_std)


def test_positive_site_gamma_poisson():
    # Gamma(3, rate 2) prior, Poisson counts: posterior Gamma(3 + sum, 2 + n)
    data = torch.tensor([2.0, 0.0, 3.0, 1.0, 2.0])
    samples = _run(NUTS(gamma_poisson), data).get_samples()["rate"]
    assert (samples > 0).all()
    conc, rate = 3.0 + data.sum().item(), 2.0 + len(data)
    _check_moments(samples, conc / rate, math.sqrt(conc) / rate)


def test_random_walk_kernel_posterior():
    mcmc = _run(RandomWalkKernel(normal_normal, init_step_size=0.5), DATA, 1500, 300)
    n = len(DATA)
    _check_moments(mcmc.get_samples()["loc"], float(DATA.sum()) / (n + 1), (1 / (n + 1)) ** 0.5)
    rate = mcmc.diagnostics()["acceptance rate"]["chain 0"]
    assert 0.1 < rate < 0.6  # tuned towards 0.234


@pytest.mark.parametrize("kernel_cls", [NUTS, HMC])
def test_step_size_adaptation_reaches_target(kernel_cls):
    target = 0.8
    options = {"trajectory_length": 1.0} if kernel_cls is HMC else {}
    kernel = kernel_cls(
        normal_normal, target_accept_prob=target, adapt_mass_matrix=False, **options
    )
    # accept probabilities recorded during sampling (after warmup fixed the step size)
    probs = []

    def hook(kernel, params, stage, i):
        if stage == "Sample":
            probs.append(kernel._mean_accept_prob)

    mcmc = MCMC(kernel, num_samples=200, warmup_steps=200, hook_fn=hook, disable_progbar=True)
    mcmc.run(DATA)
    assert kernel.step_size != 1.0  # it moved
    assert abs(probs[-1] - target) < 0.15, probs[-1]


def test_potential_fn_only_usage():
    # unnormalized N(3, 0.5^2) given as a potential energy on unconstrained values
    def potential_fn(params):
        return 0.5 * (((params["z"] - 3.0) / 0.5) ** 2).sum()

    kernel = NUTS(potential_fn=potential_fn)
    mcmc = MCMC(
        kernel,
        num_samples=300,
        warmup_steps=150,
        initial_params={"z": torch.zeros(2)},
        disable_progbar=True,
    )
    mcmc.run()
    z = mcmc.get_samples()["z"]
    assert z.shape == (300, 2)
    for j in range(2):
        _check_moments(z[:, j], 3.0, 0.5)


def test_hmc_attributes_follow_pyro():
    kernel = HMC(normal_normal, step_size=0.25, num_steps=8)
    assert kernel.trajectory_length == 2.0
    assert kernel.num_steps == 8
    assert kernel.step_size == 0.25
    kernel.setup(0, DATA)
    assert sorted(kernel.initial_params) == ["loc"]
    assert kernel.inverse_mass_matrix[("loc",)].tolist() == [1.0]
    assert kernel._adapter.adapt_step_size
