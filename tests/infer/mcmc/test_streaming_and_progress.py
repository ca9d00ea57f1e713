"""StreamingMCMC over vectorized chains, and the per-chain progress bars."""

from __future__ import annotations

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.infer.mcmc import MCMC, NUTS, StreamingMCMC

DATA = torch.tensor([0.5, 1.5, 2.0, 1.0, 3.0])


def model(data: torch.Tensor) -> None:
    loc = ppl.sample("loc", dist.Normal(0.0, 10.0))
    scale = ppl.sample("scale", dist.LogNormal(0.0, 1.0))
    with ppl.plate("data", len(data)):
        ppl.sample("obs", dist.Normal(loc, scale), obs=data)


def test_streaming_vectorized_statistics_equal_those_of_stored_draws() -> None:
    options = dict(num_samples=30, warmup_steps=30, num_chains=3, chain_method="vectorized")
    ppl.set_rng_seed(5)
    stored = MCMC(NUTS(model), disable_progbar=True, **options)  # type: ignore[arg-type]
    stored.run(DATA)
    samples = stored.get_samples(group_by_chain=True)
    ppl.set_rng_seed(5)
    streamed = StreamingMCMC(NUTS(model), disable_progbar=True, **options)  # type: ignore[arg-type]
    streamed.run(DATA)
    stats = streamed.get_statistics()
    assert sorted(stats) == [(c, s) for c in range(3) for s in ("loc", "scale")]
    for (chain, site), stat in stats.items():
        draws = samples[site][chain]
        assert stat["count"] == 30
        # the same draws, so the same moments up to the rounding of streaming updates
        torch.testing.assert_close(stat["mean"], draws.mean(0), rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(stat["variance"], draws.var(0), rtol=1e-5, atol=1e-6)
    merged = streamed.get_statistics(group_by_chain=False)
    torch.testing.assert_close(merged["loc"]["mean"], samples["loc"].mean(), rtol=1e-6, atol=1e-6)
    assert streamed.diagnostics()["divergences"] == stored.diagnostics()["divergences"]
    assert streamed.diagnostics()["loc"]["r_hat"] > 0


def test_streaming_rejects_unknown_chain_method() -> None:
    with pytest.raises(ValueError, match="got 'parallel'"):
        StreamingMCMC(NUTS(model), num_samples=5, chain_method="parallel")


def _bar_text(capsys: pytest.CaptureFixture[str], **options: object) -> str:
    ppl.set_rng_seed(0)
    mcmc = MCMC(NUTS(model), num_samples=4, warmup_steps=4, **options)  # type: ignore[arg-type]
    mcmc.run(DATA)
    return capsys.readouterr().err


def test_vectorized_chains_have_one_bar_each(capsys: pytest.CaptureFixture[str]) -> None:
    err = _bar_text(capsys, num_chains=2, chain_method="vectorized")
    for chain in (0, 1):
        assert f"Warmup [{chain}]" in err and f"Sample [{chain}]" in err
    assert "step size=" in err and "acc. prob=" in err and "div=" in err
    assert "8/8" in err


def test_sequential_chains_have_one_bar_each(capsys: pytest.CaptureFixture[str]) -> None:
    err = _bar_text(capsys, num_chains=2, chain_method="sequential")
    assert "Warmup [0]" in err and "Sample [1]" in err and "div=0" in err


@pytest.mark.parametrize("method", ["vectorized", "sequential"])
def test_disable_progbar_silences_every_bar(
    capsys: pytest.CaptureFixture[str], method: str
) -> None:
    assert _bar_text(capsys, num_chains=2, chain_method=method, disable_progbar=True) == ""
