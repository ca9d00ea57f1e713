"""The MCMC driver: sample shapes, chains, hooks, summary, diagnostics, errors."""

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.infer import HMC, MCMC, NUTS
from ppl.infer.mcmc import StreamingMCMC
from ppl.infer.mcmc.api import _MultiSampler, _UnarySampler
from ppl.infer.mcmc.util import initialize_model, select_samples
from ppl.ops.streaming import StackStats, StatsOfDict


def model(data):
    x = ppl.sample("x", dist.Normal(0.0, 1.0))
    scale = ppl.sample("scale", dist.LogNormal(0.0, 0.5))
    with ppl.plate("plate", 3):
        y = ppl.sample("y", dist.Normal(x, scale))
    with ppl.plate("data", len(data)):
        ppl.sample("obs", dist.Normal(y.sum(), 1.0), obs=data)


DATA = torch.tensor([0.3, -0.2])


@pytest.mark.filterwarnings("ignore:num_chains")
@pytest.mark.parametrize("num_chains", [1, 2])
def test_get_samples_shapes(num_chains):
    mcmc = MCMC(
        NUTS(model, max_tree_depth=3),
        num_samples=6,
        warmup_steps=4,
        num_chains=num_chains,
        disable_progbar=True,
    )
    mcmc.run(DATA)
    flat = mcmc.get_samples()
    assert flat["x"].shape == (num_chains * 6,)
    assert flat["scale"].shape == (num_chains * 6,)
    assert flat["y"].shape == (num_chains * 6, 3)
    assert (flat["scale"] > 0).all()  # mapped back to the support
    grouped = mcmc.get_samples(group_by_chain=True)
    assert grouped["y"].shape == (num_chains, 6, 3)
    assert torch.equal(grouped["y"].reshape(-1, 3), flat["y"])
    assert mcmc.get_samples(num_samples=4)["y"].shape == (4, 3)
    assert mcmc.get_samples(num_samples=4, group_by_chain=True)["y"].shape == (num_chains, 4, 3)
    diag = mcmc.diagnostics()
    assert diag["y"]["n_eff"].shape == (3,)
    assert diag["y"]["r_hat"].shape == (3,)
    assert sorted(diag["divergences"]) == [f"chain {i}" for i in range(num_chains)]
    assert set(diag["acceptance rate"]) == {f"chain {i}" for i in range(num_chains)}


@pytest.mark.filterwarnings("ignore:num_chains")
def test_sampler_choice_follows_cpu_count(monkeypatch):
    monkeypatch.setattr(torch.multiprocessing, "cpu_count", lambda: 8)
    mcmc = MCMC(NUTS(model), num_samples=2, num_chains=2)
    assert isinstance(mcmc.sampler, _MultiSampler)
    monkeypatch.setattr(torch.multiprocessing, "cpu_count", lambda: 1)
    with pytest.warns(UserWarning, match="num_chains=2 is more than available_cpu=1"):
        mcmc = MCMC(NUTS(model), num_samples=2, num_chains=2)
    assert type(mcmc.sampler) is _UnarySampler
    assert mcmc.warmup_steps == 2  # defaults to num_samples, as Stan


@pytest.mark.filterwarnings("ignore:num_chains")
def test_initial_params_per_chain_and_hook_order():
    init, _, _, _ = initialize_model(model, (DATA,), num_chains=2)
    assert init["y"].shape == (2, 3)
    calls = []
    mcmc = MCMC(
        HMC(model, num_steps=2),
        num_samples=3,
        warmup_steps=2,
        num_chains=2,
        initial_params=init,
        hook_fn=lambda kernel, params, stage, i: calls.append((stage, i)),
        disable_progbar=True,
    )
    mcmc.run(DATA)
    expected = []
    for c in range(2):
        expected += [(f"Warmup [{c}]", i) for i in range(2)]
        expected += [(f"Sample [{c}]", i) for i in range(3)]
    assert calls == expected


def test_save_params_and_summary(capsys):
    mcmc = MCMC(
        NUTS(model, max_tree_depth=2),
        num_samples=5,
        warmup_steps=3,
        save_params=["y"],
        disable_progbar=True,
    )
    mcmc.run(DATA)
    assert set(mcmc.get_samples()) == {"y"}
    mcmc.summary(prob=0.8)
    out = capsys.readouterr().out
    header = out.strip().splitlines()[0].split()
    assert header == ["mean", "std", "median", "10.0%", "90.0%", "n_eff", "r_hat"]
    assert "y[0]" in out and "y[2]" in out
    assert "Number of divergences:" in out


def test_summary_numbers_match_torch(capsys):
    from ppl.infer.mcmc.util import summary

    x = torch.randn(2, 50, 2)
    table = summary({"x": x}, prob=0.9)
    flat = x.reshape(100, 2)
    assert torch.allclose(table["x"]["mean"], flat.mean(0))
    assert torch.allclose(table["x"]["std"], flat.std(0))
    assert torch.allclose(table["x"]["median"], flat.median(0)[0])
    assert (table["x"]["5.0%"] < table["x"]["95.0%"]).all()


def test_select_samples_resamples_existing_draws():
    samples = {"a": torch.arange(10.0).reshape(2, 5)}
    picked = select_samples(samples, num_samples=7)["a"]
    assert picked.shape == (7,)
    assert set(picked.tolist()) <= set(range(10))


def test_streaming_mcmc_stack_matches_shapes():
    mcmc = StreamingMCMC(
        HMC(model, num_steps=2),
        num_samples=5,
        warmup_steps=2,
        statistics=StatsOfDict(default=StackStats),
        disable_progbar=True,
    )
    mcmc.run(DATA)
    stats = mcmc.get_statistics(group_by_chain=False)
    assert stats["y"]["samples"].shape == (5, 3)
    assert (stats["scale"]["samples"] > 0).all()


def test_streaming_mcmc_default_statistics_give_r_hat():
    mcmc = StreamingMCMC(HMC(model, num_steps=2), num_samples=6, warmup_steps=2)
    mcmc.run(DATA)
    stats = mcmc.get_statistics()
    assert stats[(0, "y")]["count"] == 6
    assert mcmc.diagnostics()["y"]["r_hat"].shape == (3,)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="Only one of `model` or `potential_fn`"):
        HMC()
    with pytest.raises(ValueError, match="step_size must be a positive number"):
        HMC(model, step_size=-1.0)
    with pytest.raises(ValueError, match="target_accept_prob"):
        NUTS(model, target_accept_prob=1.5)
    with pytest.raises(ValueError, match="max_tree_depth"):
        NUTS(model, max_tree_depth=0)
    with pytest.raises(ValueError, match="initial parameters"):
        MCMC(HMC(potential_fn=lambda z: z["a"].sum()), num_samples=3)
    with pytest.raises(ValueError, match="leading dimension.*site 'a'.*num_chains=3"):
        MCMC(
            NUTS(potential_fn=lambda z: z["a"].sum()),
            num_samples=3,
            num_chains=3,
            initial_params={"a": torch.zeros(2)},
        )
    with pytest.raises(RuntimeError, match="call mcmc.run"):
        MCMC(NUTS(model), num_samples=3).get_samples()
    with pytest.raises(ValueError, match="full_mass should be"):
        mcmc = MCMC(NUTS(model, full_mass=[("nope",)]), num_samples=1, disable_progbar=True)
        mcmc.run(DATA)
    with pytest.raises(ValueError, match="save_params names unknown sites"):
        mcmc = MCMC(NUTS(model), num_samples=1, save_params=["zz"], disable_progbar=True)
        mcmc.run(DATA)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ppl.sample("k", dist.Poisson(3.0)),
        lambda: ppl.sample("k", dist.Categorical(torch.ones(3)), infer={"enumerate": None}),
    ],
    ids=["poisson", "not-enumerated"],
)
def test_discrete_latent_is_a_clear_error(make):
    with pytest.raises(NotImplementedError, match="latent site 'k'.*discrete"):
        MCMC(NUTS(make), num_samples=2, disable_progbar=True).run()


def test_run_blocks_outer_handlers():
    mcmc = MCMC(HMC(model, num_steps=1), num_samples=2, warmup_steps=1, disable_progbar=True)
    with ppl.poutine.trace() as tr:
        mcmc.run(DATA)
    assert len(tr.trace.nodes) == 0


def test_model_without_latent_sites():
    def empty():
        return torch.tensor(1.0)

    _, potential_fn, transforms, _ = initialize_model(empty)
    mcmc = MCMC(
        NUTS(potential_fn=potential_fn, transforms=transforms),
        num_samples=3,
        warmup_steps=2,
        initial_params={},
        disable_progbar=True,
    )
    mcmc.run()
    assert mcmc.get_samples() == {}


def test_progress_bar_postfix_has_step_size_and_acceptance(capsys):
    mcmc = MCMC(HMC(model, num_steps=2), num_samples=2, warmup_steps=1)
    mcmc.run(DATA)
    err = capsys.readouterr().err
    assert "Sample" in err and "step size=" in err and "acc. prob=" in err
