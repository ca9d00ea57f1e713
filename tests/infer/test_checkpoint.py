"""Checkpoints: exact resume (in a new process), safe and all-or-nothing loading, devices."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.infer.autoguide import AutoNormal
from ppl.infer.checkpoint import (
    Checkpoint,
    CheckpointMismatchError,
    load_checkpoint,
    save_checkpoint,
)
from ppl.infer.svi import SVI
from ppl.infer.trace_elbo import Trace_ELBO
from ppl.params.safe_file import (
    CorruptFileError,
    FileVersionError,
    ForeignFileError,
    SafeFileError,
    atomic_save,
)

# The same source builds the problem here and in the resuming subprocess.
BUILD = textwrap.dedent(
    """
    import torch, ppl, ppl.distributions as dist
    from ppl.infer.autoguide import AutoNormal
    from ppl.infer.svi import SVI
    from ppl.infer.trace_elbo import Trace_ELBO

    DATA = torch.linspace(-1.0, 3.0, 40)

    def model(x):
        mu = ppl.sample("mu", dist.Normal(0.0, 10.0))
        sigma = ppl.sample("sigma", dist.LogNormal(0.0, 1.0))
        with ppl.plate("data", len(x), subsample_size=8) as idx:
            ppl.sample("obs", dist.Normal(mu, sigma), obs=x[idx])

    def build(lr=0.05, optimizer=torch.optim.Adam):
        ppl.clear_param_store()
        guide = AutoNormal(model)
        guide.setup(DATA)
        optim = ppl.optim.ExponentialLR(
            {"optimizer": optimizer, "optim_args": {"lr": lr}, "gamma": 0.97}
        )
        return SVI(model, guide, optim, Trace_ELBO())

    def schedule(svi, losses, step):
        svi.optim.step()

    def train(svi, n, callbacks=()):
        return svi.run(n, DATA, progress_bar=False, callbacks=[schedule, *callbacks]).losses
    """
)
NS: dict = {}
exec(BUILD, NS)
build, train, DATA = NS["build"], NS["train"], NS["DATA"]


def store_snapshot():
    return {k: v.detach().clone() for k, v in ppl.get_param_store().named_parameters()}


def assert_same_store(expected):
    current = store_snapshot()
    assert list(current) == list(expected)
    for name, value in expected.items():
        assert torch.equal(current[name], value), name


# ---------------------------------------------------------------------------- exact resume
def test_resume_in_new_process_is_bit_exact(tmp_path):
    n = 12
    ppl.set_rng_seed(7)
    svi = build()
    straight_losses = train(svi, 2 * n)
    straight = store_snapshot()

    ppl.set_rng_seed(7)
    svi = build()
    first = train(svi, n)
    path = tmp_path / "half.pt"
    assert save_checkpoint(path, svi, extra={"note": "half"})
    assert torch.equal(first, straight_losses[:n])

    script = BUILD + textwrap.dedent(
        f"""
        from ppl.infer.checkpoint import load_checkpoint
        ppl.set_rng_seed(12345)  # whatever the new process does first must not matter
        svi = build()
        report = load_checkpoint({str(path)!r}, svi)
        assert report.step == {n} and report.extra == {{"note": "half"}}, report
        losses = train(svi, {n})
        out = {{k: v.detach() for k, v in ppl.get_param_store().named_parameters()}}
        torch.save({{"params": out, "losses": losses, "history": svi.losses,
                    "step": svi.step_count}}, {str(tmp_path / "out.pt")!r})
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    result = torch.load(tmp_path / "out.pt", weights_only=True)
    assert result["step"] == 2 * n
    assert torch.equal(result["losses"], straight_losses[n:])
    assert torch.equal(result["history"], straight_losses)
    for name, value in straight.items():
        assert torch.equal(result["params"][name], value), name


def test_checkpoint_holds_step_losses_rng_and_extra(tmp_path):
    svi = build()
    losses = train(svi, 5)
    path = tmp_path / "c.pt"
    save_checkpoint(path, svi, extra={"epoch": 3, "tag": "x"})
    after_save = torch.rand(3)
    saved = store_snapshot()
    train(svi, 4)  # move on: params, step count, losses and RNG all change

    report = load_checkpoint(path, svi)
    assert report.step == 5 and svi.step_count == 5
    assert report.extra == {"epoch": 3, "tag": "x"}
    assert report.restored == ["optim", "svi", "params", "rng"] and report.complete
    assert torch.equal(svi.losses, losses)
    assert_same_store(saved)
    assert torch.equal(torch.rand(3), after_save)  # the RNG continues from the save


def test_loaded_file_is_weights_only(tmp_path):
    svi = build()
    train(svi, 2)
    path = tmp_path / "c.pt"
    save_checkpoint(path, svi)
    raw = torch.load(path, weights_only=True)
    assert raw["kind"] == "ppl.checkpoint" and raw["version"] == 1
    assert sorted(raw["payload"]) == ["extra", "meta", "optim", "param_store", "rng", "svi"]


# ---------------------------------------------------------------------------- failures
@pytest.fixture
def trained(tmp_path):
    """An SVI after 3 steps, a checkpoint of it, and the store/optimizer state at that time."""
    svi = build()
    train(svi, 3)
    path = tmp_path / "c.pt"
    save_checkpoint(path, svi)
    train(svi, 2)
    return svi, path, store_snapshot(), svi.optim.state_dict(), svi.step_count


def assert_untouched(svi, store, optim_state, step):
    assert_same_store(store)
    assert svi.step_count == step
    after = svi.optim.state_dict()
    for name, state in optim_state["state"].items():
        for key, value in state.items():
            assert torch.equal(torch.as_tensor(after["state"][name][key]), torch.as_tensor(value))


def test_truncated_file_changes_nothing(trained):
    svi, path, store, optim_state, step = trained
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match="c.pt"):
        load_checkpoint(path, svi)
    assert_untouched(svi, store, optim_state, step)


def test_foreign_and_newer_files_are_refused(trained, tmp_path):
    svi, path, store, optim_state, step = trained
    other = tmp_path / "store.pt"
    ppl.get_param_store().save(other)
    with pytest.raises(ForeignFileError, match="kind 'ppl.param_store', expected 'ppl.checkpoint'"):
        load_checkpoint(other, svi)
    newer = tmp_path / "newer.pt"
    atomic_save({}, newer, kind="ppl.checkpoint", version=2)
    with pytest.raises(FileVersionError, match="newer ppl"):
        load_checkpoint(newer, svi)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt", svi)
    assert_untouched(svi, store, optim_state, step)


def test_malformed_payload_is_corrupt(trained, tmp_path):
    svi, _, store, optim_state, step = trained
    bad = tmp_path / "bad.pt"
    atomic_save({"param_store": {}}, bad, kind="ppl.checkpoint")
    with pytest.raises(CorruptFileError, match="checkpoint payload has keys"):
        load_checkpoint(bad, svi)
    assert_untouched(svi, store, optim_state, step)


def test_malformed_parameters_are_corrupt(trained, tmp_path):
    svi, path, store, optim_state, step = trained
    payload = torch.load(path, weights_only=True)["payload"]
    payload["param_store"]["constraints"]["AutoNormal.locs.mu"] = {"name": "no_such"}
    bad = tmp_path / "bad.pt"
    atomic_save(payload, bad, kind="ppl.checkpoint")
    with pytest.raises(CorruptFileError, match="parameters are malformed.*locs.mu"):
        load_checkpoint(bad, svi)
    assert_untouched(svi, store, optim_state, step)


def test_pyro_style_optimizer_cannot_be_checkpointed(tmp_path):
    svi = SVI(NS["model"], AutoNormal(NS["model"]), lambda params: None, Trace_ELBO())
    with pytest.raises(TypeError, match="has no state_dict.*ppl.optim optimizer"):
        save_checkpoint(tmp_path / "c.pt", svi)


def test_other_optimizer_fails_strict_and_changes_nothing(tmp_path):
    svi = build()
    train(svi, 3)
    path = tmp_path / "c.pt"
    save_checkpoint(path, svi)
    sgd = build(optimizer=torch.optim.SGD)
    train(sgd, 2)
    store, optim_state, step = store_snapshot(), sgd.optim.state_dict(), sgd.step_count
    rng = torch.get_rng_state()
    with pytest.raises(CheckpointMismatchError, match="optim state does not fit.*Adam"):
        load_checkpoint(path, sgd)
    assert_untouched(sgd, store, optim_state, step)
    assert torch.equal(torch.get_rng_state(), rng)

    report = load_checkpoint(path, sgd, strict=False)
    assert "optim" in report.skipped and "Adam" in report.skipped["optim"]
    assert report.restored == ["svi", "params", "rng"] and not report.complete
    assert sgd.step_count == 3


def test_shape_mismatch_strict_and_non_strict(tmp_path):
    svi = build()
    train(svi, 2)
    path = tmp_path / "c.pt"
    save_checkpoint(path, svi)
    store = ppl.get_param_store()
    store["AutoNormal.locs.mu"] = torch.zeros(2)  # another model now
    ppl.param("extra_param", torch.ones(1))
    before = store_snapshot()
    with pytest.raises(CheckpointMismatchError, match="'extra_param' is in the ParamStore"):
        load_checkpoint(path, svi)
    del store["extra_param"]
    with pytest.raises(CheckpointMismatchError, match=r"shape \(\) in the file but \(2,\)"):
        load_checkpoint(path, svi)
    ppl.param("extra_param", torch.ones(1))
    assert_same_store(before)

    report = load_checkpoint(path, svi, strict=False)
    assert report.missing_params == ["extra_param"]
    assert list(report.mismatched_params) == ["AutoNormal.locs.mu"]
    assert torch.equal(store["AutoNormal.locs.mu"], torch.zeros(2))  # kept
    assert torch.equal(store["extra_param"], torch.ones(1))


def test_save_errors(tmp_path):
    svi = build()
    with pytest.raises(TypeError, match=r"extra\['f'\] is a function"):
        save_checkpoint(tmp_path / "c.pt", svi, extra={"f": lambda: 0})
    with pytest.raises(TypeError, match="expected a ppl.infer.SVI object"):
        save_checkpoint(tmp_path / "c.pt", object())
    with pytest.raises(TypeError, match="expected a ppl.infer.SVI object"):
        load_checkpoint(tmp_path / "c.pt", object())
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_checkpoint(tmp_path / "no" / "c.pt", svi)
    assert not os.listdir(tmp_path)


def test_only_rank_zero_writes(tmp_path, monkeypatch):
    svi = build()
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_rank", lambda group=None: 1)
    assert save_checkpoint(tmp_path / "c.pt", svi) is False
    assert not (tmp_path / "c.pt").exists()


# ---------------------------------------------------------------------------- devices
def _save_tagged_as_cuda(path, svi, monkeypatch):
    """Write a checkpoint whose storages claim to live on cuda:0 (as a GPU machine would)."""
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
    save_checkpoint(path, svi)
    monkeypatch.undo()


@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a CUDA file on a CPU machine")
def test_map_location_loads_a_gpu_checkpoint_on_cpu(tmp_path, monkeypatch):
    svi = build()
    train(svi, 3)
    saved = store_snapshot()
    path = tmp_path / "gpu.pt"
    _save_tagged_as_cuda(path, svi, monkeypatch)
    train(svi, 2)
    with pytest.raises(SafeFileError, match="saved on a CUDA device.*map_location='cpu'"):
        load_checkpoint(path, svi)
    report = load_checkpoint(path, svi, map_location="cpu")
    assert report.step == 3
    assert_same_store(saved)
    assert all(p.device.type == "cpu" for _, p in ppl.get_param_store().named_parameters())
    train(svi, 2)  # and training goes on


def test_float64_checkpoint_keeps_its_dtype(tmp_path):
    def model():
        ppl.sample("z", dist.Normal(torch.tensor(1.0, dtype=torch.float64), 1.0))

    guide = AutoNormal(model)
    svi = SVI(model, guide, ppl.optim.Adam({"lr": 0.1}), Trace_ELBO())
    svi.run(3, progress_bar=False)
    saved = store_snapshot()
    path = tmp_path / "f64.pt"
    save_checkpoint(path, svi)
    ppl.clear_param_store()
    svi2 = SVI(model, AutoNormal(model), ppl.optim.Adam({"lr": 0.1}), Trace_ELBO())
    load_checkpoint(path, svi2, map_location="cpu")
    assert_same_store(saved)
    assert all(v.dtype == torch.float64 for v in saved.values())
    svi2.run(2, progress_bar=False)
    state = svi2.optim.state_dict()["state"]
    assert state["AutoNormal.locs.z"]["exp_avg"].dtype == torch.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_checkpoint_to_cpu(tmp_path):
    x = torch.randn(10, device="cuda")

    def model():
        mu = ppl.sample("mu", dist.Normal(torch.zeros((), device="cuda"), 1.0))
        with ppl.plate("d", 10):
            ppl.sample("obs", dist.Normal(mu, 1.0), obs=x)

    svi = SVI(model, AutoNormal(model), ppl.optim.Adam({"lr": 0.1}), Trace_ELBO())
    svi.run(3, progress_bar=False)
    path = tmp_path / "cuda.pt"
    save_checkpoint(path, svi)
    saved = {k: v.cpu() for k, v in store_snapshot().items()}
    ppl.clear_param_store()
    svi2 = SVI(model, AutoNormal(model), ppl.optim.Adam({"lr": 0.1}), Trace_ELBO())
    load_checkpoint(path, svi2, map_location="cpu")
    assert_same_store(saved)


# ---------------------------------------------------------------------------- callback
def test_checkpoint_callback_every_and_keep(tmp_path):
    svi = build()
    cb = Checkpoint(tmp_path / "run.pt", every=3, keep=3)
    train(svi, 10, callbacks=[cb])
    assert cb.last_saved_step == 9
    assert [os.path.basename(p) for p in cb.backups()] == ["run.step3.pt", "run.step6.pt"]
    fresh = build()
    assert load_checkpoint(tmp_path / "run.pt", fresh).step == 9
    assert load_checkpoint(cb.backups()[0], fresh).step == 3

    # a new process (new callback object) continues the rotation and pruning: the file
    # it replaces (step 9, from the first run) becomes a backup and the oldest goes
    cb2 = Checkpoint(tmp_path / "run.pt", every=3, keep=3)
    train(fresh, 3, callbacks=[cb2])  # steps 4..6 after loading step 3
    assert load_checkpoint(tmp_path / "run.pt", build()).step == 6
    assert [os.path.basename(p) for p in cb2.backups()] == ["run.step6.pt", "run.step9.pt"]


def test_checkpoint_callback_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="every must be >= 1, got 0"):
        Checkpoint(tmp_path / "c.pt", every=0)
    with pytest.raises(TypeError, match="keep must be an int"):
        Checkpoint(tmp_path / "c.pt", keep=1.5)
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        Checkpoint(3)
    with pytest.raises(TypeError, match="cannot checkpoint a object"):
        Checkpoint(tmp_path / "c.pt")(object(), [], 1)


# ---------------------------------------------------------------------------- NaN rollback
def _diverging_problem(lr):
    """MAP of z ~ Normal(0, 0.05) with SGD: the update is m <- (1 - 400 lr) m.

    With lr = 0.0075 it doubles |m| each step (from m = 1), so the float32 loss 200 m^2
    overflows to inf after some 60 steps; with the halved rate |m| halves each step.
    """
    from ppl.infer.autoguide import AutoDelta

    def model():
        ppl.sample("z", dist.Normal(torch.tensor(0.0), 0.05))

    guide = AutoDelta(model, init_loc_fn=lambda site: torch.tensor(1.0))
    return SVI(model, guide, ppl.optim.SGD({"lr": lr}), Trace_ELBO())


def test_nan_rollback_recovers(tmp_path):
    from ppl.infer.nan_policy import _NAN_POLICIES

    svi = _diverging_problem(0.0075)
    cb = Checkpoint(tmp_path / "c.pt", every=10)
    with pytest.warns(RuntimeWarning, match="step 6.: .*rolled back to step 60") as record:
        result = svi.run(150, progress_bar=False, callbacks=[cb], on_nan="rollback")
    messages = [str(w.message) for w in record if "rolled back" in str(w.message)]
    assert len(messages) == 1 and "[0.00375]" in messages[0]
    assert svi.step_count == 150 and len(result.losses) == 150  # the lost steps were redone
    assert bool(torch.isfinite(result.losses).all())
    assert torch.equal(result.losses, svi.losses)
    assert result.losses[59] > 1e37 and result.losses[-1] < 0  # diverged, then recovered
    assert abs(float(ppl.get_param_store()["AutoDelta.z"].detach())) < 1e-3
    assert svi.optim.optimizer.param_groups[0]["lr"] == 0.00375
    assert _NAN_POLICIES["rollback"].rollbacks(svi) == 0  # forgotten after the run


def test_nan_rollback_without_checkpoint_goes_to_the_start():
    svi = _diverging_problem(0.0075)
    svi.run(3, progress_bar=False)  # some steps before this run
    with pytest.warns(RuntimeWarning, match="rolled back to step 3 "):
        result = svi.run(80, progress_bar=False, on_nan="rollback")
    assert svi.step_count == 83 and len(svi.losses) == 83 and len(result.losses) == 80
    assert bool(torch.isfinite(result.losses).all())
    assert abs(float(ppl.get_param_store()["AutoDelta.z"].detach())) < 1e-3


def test_nan_rollback_gives_up():
    from ppl.infer.svi import NonFiniteLossError

    svi = _diverging_problem(0.1)  # (1 - 40) m: halving once is not enough
    with pytest.warns(RuntimeWarning) as record:
        with pytest.raises(NonFiniteLossError, match="Gave up after 3 rollback"):
            svi.run(200, progress_bar=False, on_nan="rollback")
    messages = [str(w.message) for w in record]
    assert len(messages) == 3 and "(rollback 3 of at most 3)" in messages[-1]
    assert bool(torch.isfinite(ppl.get_param_store()["AutoDelta.z"]))


def test_rollback_policy_arguments():
    from ppl.infer.nan_policy import RollbackPolicy, scale_learning_rate

    with pytest.raises(ValueError, match=r"factor must be in \(0, 1\), got 2"):
        RollbackPolicy(factor=2)
    with pytest.raises(TypeError, match="max_rollbacks must be an int"):
        RollbackPolicy(max_rollbacks=1.0)
    with pytest.raises(ValueError, match="max_rollbacks must be >= 0"):
        RollbackPolicy(max_rollbacks=-1)
    with pytest.raises(ValueError, match="has not taken a step yet"):
        scale_learning_rate(ppl.optim.Adam({"lr": 0.1}), 0.5)
    with pytest.raises(ValueError, match="factor must be > 0"):
        scale_learning_rate(ppl.optim.Adam({"lr": 0.1}), 0.0)
    with pytest.raises(TypeError, match="expected a ppl.optim wrapper"):
        scale_learning_rate(object(), 0.5)


def test_scale_learning_rate_reaches_the_schedule():
    from ppl.infer.nan_policy import scale_learning_rate

    svi = build(lr=0.1)
    train(svi, 2)
    lr = svi.optim.get_last_lr()[0]
    assert scale_learning_rate(svi.optim, 0.5) == [lr * 0.5]
    assert svi.optim.scheduler.base_lrs == [0.05]
    svi.optim.step()  # ExponentialLR keeps the reduction
    assert svi.optim.get_last_lr()[0] == pytest.approx(lr * 0.5 * 0.97)


# ---------------------------------------------------------------------------- SVI state
def test_svi_state_dict_has_losses_and_nesting():
    svi = build()
    losses = train(svi, 4)
    svi.step(DATA)
    state = svi.state_dict()
    assert state["step_count"] == 5 and state["losses"].dtype == torch.float64
    assert torch.equal(state["losses"][:4], losses) and len(state["losses"]) == 5
    fresh = build()
    fresh.load_state_dict(state)
    assert torch.equal(fresh.losses, state["losses"]) and fresh.step_count == 5
    with pytest.raises(ValueError, match="losses must be a 1-D floating tensor"):
        fresh.load_state_dict({**state, "losses": torch.zeros(2, 2)})
    with pytest.raises(ValueError, match="max_plate_nesting must be an int >= 0 or None"):
        fresh.load_state_dict({**state, "max_plate_nesting": -1})
    with pytest.raises(ValueError, match="step_count must be >= 0"):
        fresh.load_state_dict({**state, "step_count": -1})
    assert fresh.step_count == 5  # a refused state changes nothing


def test_vectorized_particles_nesting_is_restored():
    def model():
        mu = ppl.sample("mu", dist.Normal(0.0, 1.0))
        with ppl.plate("data", 5):
            ppl.sample("obs", dist.Normal(mu, 1.0), obs=torch.zeros(5))

    elbo = Trace_ELBO(num_particles=4, vectorize_particles=True)
    svi = SVI(model, AutoNormal(model), ppl.optim.Adam({"lr": 0.01}), elbo)
    svi.step()
    assert svi.state_dict()["max_plate_nesting"] == 1
    other = Trace_ELBO(num_particles=4, vectorize_particles=True)
    svi2 = SVI(model, AutoNormal(model), ppl.optim.Adam({"lr": 0.01}), other)
    svi2.load_state_dict(svi.state_dict())
    assert other.max_plate_nesting == 1  # no prototype run (and no random draws) on resume


# ------------------------------------------------------- resume in the plain Pyro flow
LAZY = textwrap.dedent(
    """
    import torch, ppl, ppl.distributions as dist
    from ppl.infer import SVI, Trace_ELBO
    from ppl.infer.autoguide import AutoNormal

    DATA = torch.linspace(-1.0, 3.0, 40)

    def model(x):
        mu = ppl.sample("mu", dist.Normal(0.0, 10.0))
        sigma = ppl.sample("sigma", dist.LogNormal(0.0, 1.0))
        with ppl.plate("data", len(x), subsample_size=8) as idx:
            ppl.sample("obs", dist.Normal(mu, sigma), obs=x[idx])

    def build(compile=False):
        ppl.clear_param_store()
        guide = AutoNormal(model)  # no setup: the first step builds it
        return SVI(model, guide, ppl.optim.Adam({"lr": 0.05}), Trace_ELBO(), compile=compile)

    def steps(svi, n):
        return torch.tensor([svi.step(DATA) for _ in range(n)], dtype=torch.float64)
    """
)


@pytest.mark.parametrize("compile", [False, {"backend": "aot_eager"}], ids=["eager", "compiled"])
def test_resume_with_a_lazily_built_guide_is_exact(tmp_path, compile):
    ns: dict = {}
    exec(LAZY, ns)
    ppl.set_rng_seed(7)
    svi = ns["build"](compile)
    ns["steps"](svi, 6)
    path = tmp_path / "lazy.pt"
    save_checkpoint(path, svi)
    straight = ns["steps"](svi, 6)

    script = LAZY + textwrap.dedent(
        f"""
        from ppl.infer.checkpoint import load_checkpoint
        ppl.set_rng_seed(12345)
        svi = build({compile!r})
        load_checkpoint({str(path)!r}, svi)  # before the guide was ever run here
        torch.save(steps(svi, 6), {str(tmp_path / "resumed.pt")!r})
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    resumed = torch.load(tmp_path / "resumed.pt", weights_only=True)
    if compile:  # the resumed run's first step is eager again: equal to rounding
        assert torch.allclose(resumed, straight, rtol=1e-5, atol=1e-6)
    else:
        assert torch.equal(resumed, straight)


def test_compiled_steps_after_a_load_equal_eager_steps(tmp_path):
    ns: dict = {}
    exec(LAZY, ns)
    runs = []
    for compile in (False, {"backend": "aot_eager"}):
        ppl.set_rng_seed(3)
        svi = ns["build"](compile)
        ns["steps"](svi, 3)
        save_checkpoint(tmp_path / "c.pt", svi)
        ns["steps"](svi, 2)
        load_checkpoint(tmp_path / "c.pt", svi)  # rewinds: the graph must see the store
        runs.append(ns["steps"](svi, 8))
    assert torch.allclose(runs[0], runs[1], rtol=1e-5, atol=1e-6)
