"""Resumable sampling: a killed run, resumed, gives the draws of an uninterrupted run.

The kill tests run the sampler in a subprocess that checkpoints every few steps, stop it
at a known step with SIGKILL (after a checkpoint exists), resume from the file in a new
subprocess and compare every draw bit for bit with an uninterrupted subprocess run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.infer.mcmc import HMC, MCMC, NUTS, RandomWalkKernel
from ppl.infer.mcmc.resume import StateMismatchError, load_state, save_state

REPO = Path(__file__).resolve().parents[3]

WORKER = textwrap.dedent(
    """
    import sys, time, torch, ppl, ppl.distributions as dist
    from ppl.infer.mcmc import MCMC, NUTS

    mode, method, num_chains, kill_stage, kill_i, ckpt, out = sys.argv[1:8]
    num_chains, kill_i = int(num_chains), int(kill_i)

    def model(data):
        loc = ppl.sample("loc", dist.Normal(0.0, 10.0))
        scale = ppl.sample("scale", dist.LogNormal(0.0, 1.0))
        with ppl.plate("data", len(data)):
            ppl.sample("obs", dist.Normal(loc, scale), obs=data)

    def hook(kernel, params, stage, i):
        if mode == "victim" and stage == kill_stage and i == kill_i:
            print("READY", flush=True)
            time.sleep(600)  # killed here

    data = torch.randn(20, generator=torch.Generator().manual_seed(1)) + 3.0
    ppl.set_rng_seed(0 if mode != "resume" else 99)  # resume must not depend on it
    mcmc = MCMC(
        NUTS(model), num_samples=40, warmup_steps=40, num_chains=num_chains,
        chain_method=method, disable_progbar=True, hook_fn=hook,
        checkpoint_path=None if mode == "straight" else ckpt, checkpoint_every=7,
    )
    if mode == "resume":
        mcmc.run(data, resume_from=ckpt)
    else:
        mcmc.run(data)
    samples = mcmc.get_samples(group_by_chain=True)
    diag = mcmc.diagnostics()
    torch.save({"samples": samples, "divergences": diag["divergences"],
                "step size": diag.get("step size")}, out)
    """
)


def _python(tmp_path: Path, *argv: str) -> subprocess.Popen[str]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, str(script), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _finish(proc: subprocess.Popen[str]) -> None:
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err


def _kill_and_resume(
    tmp_path: Path, method: str, chains: int, stage: str, i: int, chain: int, step: int
) -> None:
    """Kill at the hook of step ``i`` of ``stage``: the last checkpoint is the one of
    ``chain`` at ``step`` (steps counted from the chain's start)."""
    ckpt = str(tmp_path / "run.ckpt")
    common = (method, str(chains), stage, str(i), ckpt)
    straight = _python(tmp_path, "straight", *common, str(tmp_path / "straight.pt"))
    _finish(straight)
    victim = _python(tmp_path, "victim", *common, str(tmp_path / "victim.pt"))
    assert victim.stdout is not None
    line = victim.stdout.readline()
    assert line.strip() == "READY", victim.communicate()[1]
    assert os.path.exists(ckpt)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    saved = load_state(ckpt)
    assert (saved["phase"], saved["chain"], saved["step"]) == (stage.split()[0], chain, step)
    resumed = _python(tmp_path, "resume", *common, str(tmp_path / "resumed.pt"))
    _finish(resumed)
    want = torch.load(tmp_path / "straight.pt", weights_only=True)
    got = torch.load(tmp_path / "resumed.pt", weights_only=True)
    for name in ("loc", "scale"):
        assert got["samples"][name].shape == (chains, 40)
        assert torch.equal(got["samples"][name], want["samples"][name]), name
    assert got["divergences"] == want["divergences"]
    assert got["step size"] == want["step size"]


def test_nuts_killed_in_warmup_resumes_bit_identical(tmp_path: Path) -> None:
    # killed in warm-up step 25 (26 steps done): the last checkpoint is after step 21
    _kill_and_resume(tmp_path, "sequential", 1, "Warmup", 25, 0, 21)


def test_vectorized_nuts_killed_in_sampling_resumes_bit_identical(tmp_path: Path) -> None:
    _kill_and_resume(tmp_path, "vectorized", 2, "Sample [0]", 12, 0, 49)


@pytest.mark.slow
def test_nuts_killed_in_sampling_second_chain_resumes_bit_identical(tmp_path: Path) -> None:
    _kill_and_resume(tmp_path, "sequential", 2, "Sample [1]", 30, 1, 70)


@pytest.mark.slow
def test_vectorized_nuts_killed_in_warmup_resumes_bit_identical(tmp_path: Path) -> None:
    _kill_and_resume(tmp_path, "vectorized", 2, "Warmup [1]", 10, 0, 7)


# ---------------------------------------------------------------------------- in process
def model(data: torch.Tensor) -> None:
    loc = ppl.sample("loc", dist.Normal(0.0, 10.0))
    with ppl.plate("data", len(data)):
        ppl.sample("obs", dist.Normal(loc, 1.0), obs=data)


def other_model(data: torch.Tensor) -> None:
    loc = ppl.sample("mu", dist.Normal(0.0, 10.0))
    with ppl.plate("data", len(data)):
        ppl.sample("obs", dist.Normal(loc, 1.0), obs=data)


DATA = torch.tensor([0.5, 1.5, 2.0, 1.0])


def _state_at(kernel: object, step: int, **options: object) -> tuple[dict, dict]:
    """The state captured from ``hook_fn`` after ``step`` steps, and the full run's draws."""
    seen: dict = {}
    count = [0]

    def hook(k: object, params: object, stage: str, i: int) -> None:
        count[0] += 1
        if count[0] == step:
            seen["state"] = mcmc.state_dict()

    ppl.set_rng_seed(3)
    mcmc = MCMC(kernel, hook_fn=hook, disable_progbar=True, **options)  # type: ignore[arg-type]
    mcmc.run(DATA)
    return seen["state"], mcmc.get_samples(group_by_chain=True)


@pytest.mark.parametrize(
    "make, chains, step",
    [
        (lambda: NUTS(model, jit_compile=True, full_mass=True), 2, 45),  # chain 1, warm-up
        (lambda: HMC(model, num_steps=3), 1, 35),  # sampling
        (lambda: RandomWalkKernel(model), 1, 12),  # warm-up
    ],
)
def test_resume_from_memory_state_equals_uninterrupted(make, chains: int, step: int) -> None:
    options = dict(num_samples=15, warmup_steps=25, num_chains=chains, chain_method="sequential")
    state, want = _state_at(make(), step, **options)
    ppl.set_rng_seed(77)
    mcmc = MCMC(make(), disable_progbar=True, **options)  # type: ignore[arg-type]
    mcmc.run(DATA, resume_from=state)
    got = mcmc.get_samples(group_by_chain=True)
    assert torch.equal(got["loc"], want["loc"])


def test_state_after_run_and_file_roundtrip(tmp_path: Path) -> None:
    ppl.set_rng_seed(0)
    mcmc = MCMC(NUTS(model), num_samples=10, warmup_steps=10, disable_progbar=True)
    mcmc.run(DATA)
    state = mcmc.state_dict()
    assert (state["phase"], state["chain"], state["step"]) == ("Sample", 0, 20)
    assert state["sites"] == {"loc": []}
    assert state["draws"][0].shape == (10, 1)
    assert state["kernel_state"]["_adapter"]["attrs"]["step_size"] == mcmc.kernel.step_size
    path = tmp_path / "state.pt"
    save_state(path, state)
    again = MCMC(NUTS(model), num_samples=10, warmup_steps=10, disable_progbar=True)
    again.run(DATA, resume_from=path)  # nothing left to do: the same draws
    assert torch.equal(again.get_samples()["loc"], mcmc.get_samples()["loc"])


def test_state_before_run_raises() -> None:
    mcmc = MCMC(NUTS(model), num_samples=5, disable_progbar=True)
    with pytest.raises(RuntimeError, match="call mcmc.run"):
        mcmc.state_dict()


@pytest.fixture(scope="module")
def saved_state() -> dict:
    ppl.set_rng_seed(0)
    mcmc = MCMC(NUTS(model), num_samples=5, warmup_steps=5, disable_progbar=True)
    mcmc.run(DATA)
    return mcmc.state_dict()


@pytest.mark.parametrize(
    "make, match",
    [
        (
            lambda: MCMC(HMC(model), num_samples=5, warmup_steps=5, disable_progbar=True),
            "kernel: saved 'NUTS', this run 'HMC'",
        ),
        (
            lambda: MCMC(
                NUTS(model),
                num_samples=5,
                warmup_steps=5,
                num_chains=2,
                chain_method="sequential",
                disable_progbar=True,
            ),  # fmt: skip
            "num_chains: saved 1, this run 2",
        ),
        (
            lambda: MCMC(NUTS(model), num_samples=7, warmup_steps=5, disable_progbar=True),
            "num_samples: saved 5, this run 7",
        ),
        (
            lambda: MCMC(NUTS(other_model), num_samples=5, warmup_steps=5, disable_progbar=True),
            r"latent sites \(name: shape\) \{'loc': \[\]\}, this model has \{'mu': \[\]\}",
        ),
        (
            lambda: MCMC(
                NUTS(model),
                num_samples=5,
                warmup_steps=5,
                num_chains=1,
                chain_method="vectorized",
                disable_progbar=True,
            ),  # fmt: skip
            "chain_method: saved 'sequential', this run 'vectorized'",
        ),
    ],
)
def test_mismatched_state_names_the_difference(saved_state: dict, make, match: str) -> None:
    with pytest.raises(StateMismatchError, match=match):
        make().run(DATA, resume_from=saved_state)


def test_other_mass_matrix_layout_names_the_attribute(saved_state: dict) -> None:
    mcmc = MCMC(NUTS(model, full_mass=True), num_samples=5, warmup_steps=5, disable_progbar=True)
    with pytest.raises(StateMismatchError, match=r"_adapter\._mass_matrix_adapter"):
        mcmc.run(DATA, resume_from=saved_state)


def test_not_a_state_and_bad_checkpoint_every(tmp_path: Path) -> None:
    mcmc = MCMC(NUTS(model), num_samples=5, disable_progbar=True)
    with pytest.raises(StateMismatchError, match="is not an MCMC state"):
        mcmc.run(DATA, resume_from={"step": 3})
    with pytest.raises(ValueError, match="checkpoint_every must be a positive int, got 0"):
        MCMC(NUTS(model), num_samples=5, checkpoint_path=tmp_path / "x", checkpoint_every=0)


def test_checkpoint_file_is_written_every_n_steps(tmp_path: Path) -> None:
    path = tmp_path / "ck.pt"
    steps = []

    def hook(kernel: object, params: object, stage: str, i: int) -> None:
        if path.exists():
            steps.append(load_state(path)["step"])

    ppl.set_rng_seed(0)
    mcmc = MCMC(
        NUTS(model), num_samples=6, warmup_steps=6, disable_progbar=True, hook_fn=hook,
        checkpoint_path=path, checkpoint_every=4,
    )  # fmt: skip
    mcmc.run(DATA)
    assert sorted(set(steps)) == [4, 8, 12]
    assert load_state(path)["step"] == 12
