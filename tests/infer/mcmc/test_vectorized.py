"""chain_method="vectorized": all chains advance together over a leading chain dim."""

import math

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.infer.mcmc import HMC, MCMC, NUTS, RandomWalkKernel
from ppl.infer.mcmc.vectorized import VectorizedChains
from ppl.ops.stats import effective_sample_size

COIN = torch.cat([torch.ones(12), torch.zeros(8)])  # 12 heads, 8 tails: Beta(13, 9)
COIN_MEAN = 13 / 22
COIN_STD = math.sqrt(13 * 9 / (22**2 * 23))
DATA = torch.tensor([0.5, 1.5, 2.0, 1.0])


def coin(data):
    p = ppl.sample("p", dist.Uniform(0.0, 1.0))
    with ppl.plate("data", len(data)):
        ppl.sample("obs", dist.Bernoulli(p), obs=data)


def normal_normal(data):
    loc = ppl.sample("loc", dist.Normal(0.0, 1.0))
    scale = ppl.sample("scale", dist.LogNormal(0.0, 1.0))  # a constrained site beside it
    with ppl.plate("data", len(data)):
        ppl.sample("obs", dist.Normal(loc, 1.0), obs=data)
    return scale


def _run(model, data, num_chains=4, num_samples=200, warmup_steps=100, seed=0, **kwargs):
    kernel_cls = kwargs.pop("kernel_cls", NUTS)
    method = kwargs.pop("chain_method", "vectorized")
    ppl.set_rng_seed(seed)
    mcmc = MCMC(
        kernel_cls(model, **kwargs),
        num_samples=num_samples,
        warmup_steps=warmup_steps,
        num_chains=num_chains,
        chain_method=method,
        disable_progbar=True,
    )
    mcmc.run(data)
    return mcmc


def _mcse(grouped):
    """Monte Carlo standard error of the mean of ``(chains, draws)`` from n_eff."""
    n_eff = float(effective_sample_size(grouped))
    assert n_eff > 50, f"n_eff={n_eff}"
    return float(grouped.std()) / math.sqrt(n_eff)


def _check_moments(grouped, exact_mean, exact_std):
    """Mean and std within 4 Monte Carlo standard errors of the exact ones."""
    mean, std = float(grouped.mean()), float(grouped.std())
    assert abs(mean - exact_mean) < 4 * _mcse(grouped), (mean, exact_mean)
    sq = (grouped - grouped.mean()) ** 2
    mcse_std = _mcse(sq) / (2 * exact_std)
    assert abs(std - exact_std) < 4 * mcse_std, (std, exact_std)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"use_multinomial_sampling": False}, {"kernel_cls": HMC, "trajectory_length": 1.0}],
    ids=["NUTS", "NUTS-slice", "HMC"],
)
def test_coin_posterior_is_beta_13_9(kwargs):
    mcmc = _run(coin, COIN, **kwargs)
    grouped = mcmc.get_samples(group_by_chain=True)["p"]
    assert grouped.shape == (4, 200)
    _check_moments(grouped, COIN_MEAN, COIN_STD)
    assert float(mcmc.diagnostics()["p"]["r_hat"]) < 1.05


def test_normal_normal_posterior_and_constrained_site():
    mcmc = _run(normal_normal, DATA, num_chains=2, num_samples=300)
    samples = mcmc.get_samples(group_by_chain=True)
    n = len(DATA)
    # prior N(0, 1), unit-variance data: posterior N(sum / (n + 1), 1 / (n + 1))
    _check_moments(samples["loc"], float(DATA.sum()) / (n + 1), (1 / (n + 1)) ** 0.5)
    # scale does not touch the data: its posterior is its LogNormal(0, 1) prior
    assert bool((samples["scale"] > 0).all())
    _check_moments(samples["scale"].log(), 0.0, 1.0)


@pytest.mark.slow
def test_vectorized_chains_match_sequential_chains_in_distribution():
    vec = _run(coin, COIN, num_chains=2, num_samples=400, jit_compile=True)
    seq = _run(
        coin, COIN, num_chains=2, num_samples=400, jit_compile=True, chain_method="sequential"
    )
    vec, seq = (m.get_samples(group_by_chain=True)["p"] for m in (vec, seq))
    for stat in (lambda x: x, lambda x: (x - COIN_MEAN) ** 2):
        a, b = stat(vec), stat(seq)
        err = math.hypot(_mcse(a), _mcse(b))
        assert abs(float(a.mean()) - float(b.mean())) < 4 * err


def test_same_starts_as_sequential_chains():
    # chain i starts from the init-strategy draw under seed i, as sequential chain i does
    seeds = [11, 22, 33]
    sampler = VectorizedChains(NUTS(coin), 1, 0, 3, True)
    starts = sampler._starts(seeds, (COIN,), {})["p"]
    for chain, seed in enumerate(seeds):
        ppl.set_rng_seed(seed)
        kernel = NUTS(coin)
        kernel.setup(0, COIN)
        assert torch.equal(starts[chain], kernel.initial_params["p"])
    assert len(set(starts.tolist())) == 3


@pytest.mark.parametrize("kernel_cls", [NUTS, HMC])
def test_each_chain_is_reproducible_whatever_the_number_of_chains(kernel_cls):
    kw = {"num_samples": 30, "warmup_steps": 30, "kernel_cls": kernel_cls}
    if kernel_cls is HMC:
        kw["trajectory_length"] = 1.0
    two = _run(coin, COIN, num_chains=2, **kw)
    again = _run(coin, COIN, num_chains=2, **kw)
    three = _run(coin, COIN, num_chains=3, **kw)
    a = two.get_samples(group_by_chain=True)["p"]
    assert torch.equal(a, again.get_samples(group_by_chain=True)["p"])
    # batched arithmetic may round differently with another batch size: not bit-equal
    assert torch.allclose(a, three.get_samples(group_by_chain=True)["p"][:2], atol=1e-5)
    assert not torch.allclose(a[0], a[1])


def test_per_chain_adaptation_and_diagnostics():
    mcmc = _run(coin, COIN, num_chains=3, num_samples=100, warmup_steps=150)
    diag = mcmc.diagnostics()
    sizes = diag["step size"]
    assert set(sizes) == {"chain 0", "chain 1", "chain 2"}
    assert len(set(sizes.values())) == 3  # each chain tuned its own
    for chain in range(3):
        rate = diag["acceptance rate"][f"chain {chain}"]
        assert 0.5 < rate <= 1.0
        assert diag["divergences"][f"chain {chain}"] == []
        assert 1.0 <= diag["tree depth"][f"chain {chain}"] <= 10.0
    sampler = mcmc.sampler
    assert isinstance(sampler, VectorizedChains) and sampler.potential.vectorized
    # the adapted inverse mass of the unconstrained logit(p) estimates its posterior
    # variance, about 1/13 + 1/9 = 0.19, from one short warmup window per chain (sequential
    # chains' estimates spread as widely, 0.06 to 0.36 over these seeds): one per chain
    inv_mass = sampler.inv_mass[:, 0]
    assert bool(((inv_mass > 0.03) & (inv_mass < 0.6)).all()), inv_mass
    assert len(set(inv_mass.tolist())) == 3


def test_dense_mass_matrix_learns_the_correlation():
    cov = torch.tensor([[1.0, 0.95], [0.95, 1.0]])
    precision = torch.linalg.inv(cov)

    def potential(z):
        x = z["x"]
        return 0.5 * x @ precision @ x

    ppl.set_rng_seed(1)
    starts = {"x": torch.randn(2, 2)}
    mcmc = MCMC(
        NUTS(potential_fn=potential, full_mass=True),
        num_samples=400,
        warmup_steps=400,
        num_chains=2,
        initial_params=starts,
        chain_method="vectorized",
        disable_progbar=True,
    )
    mcmc.run()
    x = mcmc.get_samples(group_by_chain=True)["x"]
    assert x.shape == (2, 400, 2)
    inv_mass = mcmc.sampler.inv_mass
    assert inv_mass.shape == (2, 2, 2)
    corr = inv_mass[:, 0, 1] / (inv_mass[:, 0, 0] * inv_mass[:, 1, 1]).sqrt()
    assert bool((corr > 0.8).all()), corr  # the window estimate of 0.95
    for i in range(2):
        _check_moments(x[..., i], 0.0, 1.0)
    flat = x.reshape(-1, 2)
    assert abs(float(torch.corrcoef(flat.T)[0, 1]) - 0.95) < 0.05


def test_model_that_defeats_tracing_runs_chain_by_chain():
    def branchy(data):
        p = ppl.sample("p", dist.Uniform(0.0, 1.0))
        scale = 1.0 if float(p) > -1 else 2.0  # Python control flow on a latent value
        with ppl.plate("data", len(data)):
            ppl.sample("obs", dist.Bernoulli(p * scale), obs=data)

    with pytest.warns(RuntimeWarning, match="eagerly"):
        mcmc = _run(branchy, COIN, num_chains=2, num_samples=200, warmup_steps=100)
    assert not mcmc.sampler.potential.vectorized
    _check_moments(mcmc.get_samples(group_by_chain=True)["p"], COIN_MEAN, COIN_STD)


def test_hook_save_params_and_initial_params():
    calls = []
    ppl.set_rng_seed(0)
    mcmc = MCMC(
        NUTS(normal_normal),
        num_samples=5,
        warmup_steps=3,
        num_chains=2,
        initial_params={"loc": torch.tensor([0.1, 0.2]), "scale": torch.zeros(2)},
        hook_fn=lambda kernel, params, stage, i: calls.append((stage, i, sorted(params))),
        chain_method="vectorized",
        disable_progbar=True,
    )
    mcmc.run(DATA)
    mcmc.kernel.save_params = ["loc"]
    mcmc.run(DATA)
    assert list(mcmc.get_samples()) == ["loc"]
    assert mcmc.get_samples(group_by_chain=True)["loc"].shape == (2, 5)
    first_run = calls[: 2 * 8]
    assert first_run[0] == ("Warmup [0]", 0, ["loc", "scale"])
    assert first_run[-1] == ("Sample [1]", 4, ["loc", "scale"])


def test_bad_arguments():
    with pytest.raises(ValueError, match="chain_method must be one of"):
        MCMC(NUTS(coin), num_samples=5, chain_method="threads")
    with pytest.raises(ValueError, match="HMC and NUTS kernels only"):
        MCMC(RandomWalkKernel(coin), num_samples=5, num_chains=2, chain_method="vectorized")
    with pytest.raises(ValueError, match="initial_params"):
        MCMC(
            NUTS(potential_fn=lambda z: (z["x"] ** 2).sum()),
            num_samples=5,
            num_chains=2,
            chain_method="vectorized",
        )
    with pytest.raises(ValueError, match="leading dimension"):
        MCMC(
            NUTS(potential_fn=lambda z: (z["x"] ** 2).sum()),
            num_samples=5,
            num_chains=2,
            initial_params={"x": torch.zeros(3, 2)},
            chain_method="vectorized",
        )


def test_mass_matrix_blocks_dense_and_diagonal():
    cov = torch.tensor([[1.0, 0.9], [0.9, 1.0]])
    precision = torch.linalg.inv(cov)

    def potential(z):  # "a" ~ N(0, cov), "b" ~ N(0, 2^2), independent
        return 0.5 * z["a"] @ precision @ z["a"] + 0.5 * (z["b"] / 2) ** 2

    mcmc = MCMC(
        NUTS(potential_fn=potential, full_mass=[("a",)]),
        num_samples=300,
        warmup_steps=300,
        num_chains=2,
        initial_params={"a": torch.zeros(2, 2), "b": torch.zeros(2)},
        chain_method="vectorized",
        disable_progbar=True,
    )
    mcmc.run()
    inv_mass = mcmc.sampler.inv_mass  # flat layout: a[0], a[1], b
    assert inv_mass.shape == (2, 3, 3)
    assert bool((inv_mass[:, :2, 2] == 0).all() and (inv_mass[:, 2, :2] == 0).all())
    corr = inv_mass[:, 0, 1] / (inv_mass[:, 0, 0] * inv_mass[:, 1, 1]).sqrt()
    assert bool((corr > 0.7).all()), corr
    assert bool(((inv_mass[:, 2, 2] > 2.0) & (inv_mass[:, 2, 2] < 8.0)).all())
    b = mcmc.get_samples(group_by_chain=True)["b"]
    _check_moments(b, 0.0, 2.0)
