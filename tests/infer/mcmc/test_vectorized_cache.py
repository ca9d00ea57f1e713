"""Vectorized chains reuse their traced graphs across runs on unchanged arguments."""

from __future__ import annotations

import torch

import ppl
import ppl.distributions as dist
from ppl.infer.mcmc import MCMC, NUTS

OFFSET = [0.0]


def model(x: torch.Tensor, y: torch.Tensor) -> None:
    w = ppl.sample("w", dist.Normal(torch.zeros(x.shape[1]), 1.0).to_event(1))
    with ppl.plate("data", x.shape[0]):
        ppl.sample("y", dist.Bernoulli(logits=x @ w + OFFSET[0]), obs=y)


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 3, generator=g)
    return x, torch.bernoulli(torch.sigmoid(x @ torch.ones(3)), generator=g)


def _mcmc() -> MCMC:
    return MCMC(
        NUTS(model, jit_compile=True), num_samples=15, warmup_steps=15, num_chains=2,
        chain_method="vectorized", disable_progbar=True,
    )  # fmt: skip


def _run(mcmc: MCMC, *args: torch.Tensor) -> torch.Tensor:
    ppl.set_rng_seed(1)
    mcmc.run(*args)
    return mcmc.get_samples(group_by_chain=True)["w"]


def test_second_run_reuses_graphs_and_draws_like_a_fresh_run() -> None:
    x, y = _data()
    mcmc = _mcmc()
    first = _run(mcmc, x, y)
    graphs = mcmc.sampler._graphs  # type: ignore[union-attr]
    assert graphs is not None and graphs[3]  # the traced leaf is kept
    again = _run(mcmc, x, y)
    assert mcmc.sampler.potential is graphs[2]  # type: ignore[union-attr]
    assert mcmc.sampler._leaf_graph is graphs[3]  # type: ignore[union-attr]
    assert torch.equal(again, first)
    assert torch.equal(_run(_mcmc(), x, y), first)


def test_changed_data_or_model_state_traces_again() -> None:
    x, y = _data()
    mcmc = _mcmc()
    _run(mcmc, x, y)
    old = mcmc.sampler.potential  # type: ignore[union-attr]
    x.mul_(2.0)  # in place: a new version of the same tensor
    got = _run(mcmc, x, y)
    assert mcmc.sampler.potential is not old  # type: ignore[union-attr]
    assert torch.equal(got, _run(_mcmc(), x, y))
    old = mcmc.sampler.potential  # type: ignore[union-attr]
    OFFSET[0] = 1.5  # state the model reads, invisible in its arguments
    try:
        got = _run(mcmc, x, y)
        assert mcmc.sampler.potential is not old  # type: ignore[union-attr]
        assert torch.equal(got, _run(_mcmc(), x, y))
    finally:
        OFFSET[0] = 0.0
