"""Several chains: per-chain seeds, worker processes, grouped shapes, convergence."""

import math

import pytest
import torch
import torch.multiprocessing as mp

import ppl
import ppl.distributions as dist
from ppl.infer.mcmc import MCMC, NUTS
from ppl.infer.mcmc.api import _MultiSampler, _UnarySampler
from ppl.ops.stats import effective_sample_size, split_gelman_rubin

COIN = torch.cat([torch.ones(12), torch.zeros(8)])  # 12 heads, 8 tails


def coin(data):
    p = ppl.sample("p", dist.Uniform(0.0, 1.0))
    with ppl.plate("data", len(data)):
        ppl.sample("obs", dist.Bernoulli(p), obs=data)


def _draws(num_chains, seed=3, steps=8, **kwargs):
    ppl.set_rng_seed(seed)
    mcmc = MCMC(
        NUTS(coin),
        num_samples=steps,
        warmup_steps=steps,
        num_chains=num_chains,
        disable_progbar=True,
        **kwargs,
    )
    mcmc.run(COIN)
    return mcmc, mcmc.get_samples(group_by_chain=True)["p"]


@pytest.mark.filterwarnings("ignore:num_chains")
def test_each_chain_is_reproducible_whatever_the_number_of_chains():
    _, two = _draws(2)
    _, three = _draws(3)
    assert two.shape == (2, 8) and three.shape == (3, 8)
    assert torch.equal(two, three[:2])
    assert not torch.equal(two[0], two[1])  # different seeds per chain


@pytest.mark.slow
def test_worker_processes_draw_what_sequential_chains_draw(monkeypatch):
    with pytest.warns(UserWarning, match="sequentially"):
        sequential, seq = _draws(2, steps=5)
    assert isinstance(sequential.sampler, _UnarySampler)
    after_sequential = torch.rand(3)
    monkeypatch.setattr(mp, "cpu_count", lambda: 4)
    parallel, par = _draws(2, steps=5, mp_context="fork")
    assert isinstance(parallel.sampler, _MultiSampler)
    assert torch.equal(seq, par)
    assert torch.equal(torch.rand(3), after_sequential)  # the global stream resumes alike
    assert set(parallel.diagnostics()["acceptance rate"]) == {"chain 0", "chain 1"}


@pytest.mark.filterwarnings("ignore:num_chains")
def test_grouped_and_flat_sample_shapes():
    mcmc, grouped = _draws(2, steps=4)
    assert grouped.shape == (2, 4)
    flat = mcmc.get_samples()["p"]
    assert flat.shape == (8,)
    assert torch.equal(flat, grouped.reshape(-1))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:num_chains")
def test_four_chains_recover_beta_13_9_and_converge():
    # seed example: uniform prior, 12 heads 8 tails -> Beta(13, 9)
    ppl.set_rng_seed(0)
    mcmc = MCMC(NUTS(coin), num_samples=600, warmup_steps=150, num_chains=4, disable_progbar=True)
    mcmc.run(COIN)
    p = mcmc.get_samples(group_by_chain=True)["p"]
    assert p.shape == (4, 600)
    assert float(split_gelman_rubin(p)) < 1.01
    n_eff = float(effective_sample_size(p))
    assert n_eff > 400
    a, b = 13.0, 9.0
    mean, std = a / (a + b), math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    assert abs(float(p.mean()) - mean) < 4 * std / math.sqrt(n_eff)
    assert float(mcmc.diagnostics()["p"]["r_hat"]) < 1.01


ALIASED_MODEL = """
import ppl_alias_for_test as pp
import ppl_alias_for_test.distributions as dist


def model():
    pp.sample("x", dist.Normal(0.0, 1.0))
"""


@pytest.mark.slow
def test_spawn_workers_resolve_module_aliases(tmp_path, monkeypatch):
    # a model whose module imports ppl under another name (an import shim) runs in
    # spawned workers, which register the same aliases before rebuilding the kernel
    import importlib
    import sys
    import warnings

    import ppl.distributions
    from ppl.infer.mcmc.parallel import _module_aliases

    (tmp_path / "aliased_model_for_test.py").write_text(ALIASED_MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "ppl_alias_for_test", ppl)
    monkeypatch.setitem(sys.modules, "ppl_alias_for_test.distributions", ppl.distributions)
    module = importlib.import_module("aliased_model_for_test")
    monkeypatch.setitem(sys.modules, "aliased_model_for_test", module)
    assert _module_aliases()["ppl_alias_for_test.distributions"] == "ppl.distributions"
    monkeypatch.setattr(mp, "cpu_count", lambda: 3)  # two workers, whatever the machine
    ppl.set_rng_seed(0)
    mcmc = MCMC(
        NUTS(module.model), num_samples=20, warmup_steps=10, num_chains=2,
        mp_context="spawn", disable_progbar=True,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback to this process
        mcmc.run()
    assert mcmc.get_samples(group_by_chain=True)["x"].shape == (2, 20)
