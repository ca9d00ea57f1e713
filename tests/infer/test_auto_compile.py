"""SVI's default ``compile="auto"``: long static runs compile, everything else stays
eager, and the answer is eager's (bit-exact while eager, to rounding once compiled)."""

from __future__ import annotations

import warnings

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.distributions import constraints
from ppl.infer import SVI, Trace_ELBO
from ppl.infer.checkpoint import load_checkpoint, save_checkpoint
from ppl.infer.compile import AutoStep
from ppl.infer.compile.auto import frozen_inputs
from ppl.optim import Adam

FAST = {"auto": True, "backend": "aot_eager"}  # the automatic mode, without inductor's cost
DATA = torch.tensor([1.0] * 6 + [0.0] * 4)


def coin_model(data):
    f = ppl.sample("f", dist.Beta(10.0, 10.0))
    with ppl.plate("d", len(data)):
        ppl.sample("obs", dist.Bernoulli(f), obs=data)


def coin_guide(data):
    a = ppl.param("a", torch.tensor(15.0), constraint=constraints.positive)
    b = ppl.param("b", torch.tensor(15.0), constraint=constraints.positive)
    ppl.sample("f", dist.Beta(a, b))


def fit(model, guide, compile, steps, *args, seconds=0.0, callbacks=()):
    ppl.clear_param_store()
    ppl.set_rng_seed(0)
    svi = SVI(model, guide, Adam({"lr": 0.01}), Trace_ELBO(), compile=compile)
    with ppl.settings.context(auto_compile_seconds=seconds, auto_compile_cost_steps=0):
        losses = svi.run(steps, *args, progress_bar=False, callbacks=callbacks).losses
    return svi, losses


def test_default_is_auto_and_a_short_run_stays_eager_bit_exact():
    eager_svi, eager = fit(coin_model, coin_guide, False, 60, DATA)
    svi, losses = fit(coin_model, coin_guide, "auto", 60, DATA, seconds=15.0)
    assert isinstance(SVI(coin_model, coin_guide, Adam({}), Trace_ELBO()).estimator, AutoStep)
    assert svi.estimator.mode == "eager"
    assert "not worth compiling" in svi.estimator.reason
    assert torch.equal(losses, eager)
    assert torch.equal(ppl.param("a"), eager_svi.get_params()["a"])


def test_long_run_compiles_and_matches_eager_to_rounding():
    _, eager = fit(coin_model, coin_guide, False, 120, DATA)
    svi, losses = fit(coin_model, coin_guide, FAST, 120, DATA)
    auto = svi.estimator
    assert auto.mode == "compiled", auto.reason
    assert auto.since == 7  # first step + 5 timed ones, then compiled
    assert auto.compiled_steps == 120 - 6
    assert auto.chunk_calls == 8  # 114 = 7 calls of 16 steps + a call of 2
    assert torch.allclose(losses, eager, rtol=1e-5, atol=0)


def test_inductor_default_backend_matches_eager():
    _, eager = fit(coin_model, coin_guide, False, 40, DATA)
    svi, losses = fit(coin_model, coin_guide, "auto", 40, DATA)
    assert svi.estimator.mode == "compiled", svi.estimator.reason
    assert svi.estimator.chunk_calls == 3  # 6 eager steps, then 16 + 16 + 2
    assert torch.allclose(losses, eager, rtol=1e-5, atol=0)


CLOSURE_DATA = torch.tensor([1.0, 0.0, 1.0, 1.0])


def closure_model():
    f = ppl.sample("f", dist.Beta(2.0, 2.0))
    with ppl.plate("d", 4):
        ppl.sample("obs", dist.Bernoulli(f), obs=CLOSURE_DATA)


def closure_guide():
    a = ppl.param("a", torch.tensor(2.0), constraint=constraints.positive)
    ppl.sample("f", dist.Beta(a, 2.0))


def test_data_from_a_global_keeps_the_run_eager():
    _, eager = fit(closure_model, closure_guide, False, 30)
    svi, losses = fit(closure_model, closure_guide, FAST, 30)
    assert svi.estimator.mode == "refused"
    assert "shape (4,)" in svi.estimator.reason and "argument" in svi.estimator.reason
    assert torch.equal(losses, eager)


def branching_model(data):
    z = ppl.sample("z", dist.Normal(0.0, 1.0))
    loc = z if z > 0 else -z  # Python control flow on a sampled value
    with ppl.plate("d", len(data)):
        ppl.sample("obs", dist.Normal(loc, 1.0), obs=data)


def normal_guide(data):
    m = ppl.param("m", torch.tensor(0.5))
    ppl.sample("z", dist.Normal(m, 1.0))


def test_control_flow_on_values_keeps_the_run_eager_without_warning():
    data = torch.tensor([1.0, 2.0])
    _, eager = fit(branching_model, normal_guide, False, 30, data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        svi, losses = fit(branching_model, normal_guide, FAST, 30, data)
    assert svi.estimator.mode == "refused"
    assert "Error" in svi.estimator.reason
    assert torch.equal(losses, eager)


SCALE = 1.0


def scaled_model(data):
    z = ppl.sample("z", dist.Normal(0.0, 1.0))
    with ppl.plate("d", len(data)), ppl.poutine.scale(scale=SCALE):
        ppl.sample("obs", dist.Normal(z, 1.0), obs=data)


def change_scale(svi, losses, step):
    global SCALE
    SCALE = 1.0 if step < 20 else 3.0


def test_a_changed_global_sends_the_run_back_to_eager():
    global SCALE
    data = torch.tensor([1.0, 2.0])
    try:
        SCALE = 1.0
        _, eager = fit(scaled_model, normal_guide, False, 40, data, callbacks=[change_scale])
        SCALE = 1.0
        svi, losses = fit(scaled_model, normal_guide, FAST, 40, data, callbacks=[change_scale])
    finally:
        SCALE = 1.0
    assert svi.estimator.mode == "refused"
    assert "scaled_model.SCALE changed" in svi.estimator.reason
    assert torch.allclose(losses, eager, rtol=1e-5, atol=0)


def test_frozen_inputs_fingerprints_closures_and_globals():
    t = torch.zeros(2)

    def model():
        return t, SCALE

    before = frozen_inputs(model, model)
    assert before["model.t"] == ("tensor", id(t), t._version)
    assert before["model.SCALE"] == ("value", SCALE)
    t.add_(1.0)  # an in-place change shows in the version counter
    assert frozen_inputs(model, model) != before


@pytest.mark.parametrize("k", [1, 16], ids=["one_step_a_call", "k_steps"])
def test_an_audit_catches_python_state_the_trace_froze(k):
    calls = {"n": 0}

    def counting_model(data):
        calls["n"] += 1
        z = ppl.sample("z", dist.Normal(0.0, 1.0))
        with ppl.plate("d", len(data)), ppl.poutine.scale(scale=float(calls["n"] % 3 + 1)):
            ppl.sample("obs", dist.Normal(z, 1.0), obs=data)

    data = torch.tensor([1.0, 2.0])
    with pytest.warns(RuntimeWarning, match="differed from the eager step"):
        svi, _ = fit(counting_model, normal_guide, {**FAST, "steps_per_call": k}, 30, data)
    assert svi.estimator.mode == "refused"
    if k == 1:
        assert svi.estimator.compiled_steps <= 2  # caught by the first or second audit
    else:  # the first K-step call (steps 7-22) is audited: replayed eagerly, compared
        assert svi.estimator.chunk_calls == 1 and svi.estimator.compiled_steps == 16
        assert "compiled steps 7-22 differed from eager" in svi.estimator.reason


def test_resume_after_the_switch_is_bit_exact(tmp_path):
    _, whole = fit(coin_model, coin_guide, FAST, 60, DATA)

    first, head = fit(coin_model, coin_guide, FAST, 30, DATA)
    assert first.estimator.mode == "compiled"
    path = tmp_path / "run.pt"
    save_checkpoint(path, first)

    ppl.clear_param_store()
    ppl.set_rng_seed(123)  # the checkpoint restores the random state
    svi = SVI(coin_model, coin_guide, Adam({"lr": 0.01}), Trace_ELBO(), compile=FAST)
    load_checkpoint(path, svi)
    assert svi.estimator.mode == "compiled" and svi.estimator.since == 7
    tail = svi.run(30, DATA, progress_bar=False).losses
    assert svi.estimator.compiled_steps == 60 - 6  # no eager step after the resume
    assert svi.estimator.compiled.graphs.states() == []  # K-step calls only
    assert torch.equal(torch.cat([head, tail]), whole)


def test_a_later_audit_replays_one_step_of_a_call_and_catches_a_change():
    state = {"scale": 1.0}  # a dict's contents are not fingerprinted: only audits see them

    def model(data):
        z = ppl.sample("z", dist.Normal(0.0, 1.0))
        with ppl.plate("d", len(data)), ppl.poutine.scale(scale=state["scale"]):
            ppl.sample("obs", dist.Normal(z, 1.0), obs=data)

    data = torch.tensor([1.0, 2.0])
    svi, _ = fit(model, normal_guide, {**FAST, "steps_per_call": 4}, 30, data)
    auto = svi.estimator
    assert auto.mode == "compiled" and auto.chunk_calls == 6  # 6 eager + 6 calls of 4
    state["scale"] = 3.0
    with pytest.warns(RuntimeWarning, match="differed from the eager step"):
        with ppl.settings.context(auto_compile_seconds=0.0, auto_compile_cost_steps=0):
            svi.run(30, data, progress_bar=False)
    # call 7 is not audited; call 8's first step is, and the whole call is redone eagerly
    assert auto.mode == "refused" and auto.chunk_calls == 8
    assert "compiled steps 35-38 differed from eager (loss of step 1" in auto.reason


@pytest.mark.slow
def test_inductor_resume_after_the_switch_is_bit_exact(tmp_path):
    # uninterrupted: 6 eager steps, then calls of 16, 16, 16, 6 steps; resumed: 6 eager,
    # 16, 8 | 16, 14: every compiled step runs the same one-step kernels either way
    _, whole = fit(coin_model, coin_guide, "auto", 60, DATA)
    first, head = fit(coin_model, coin_guide, "auto", 30, DATA)
    assert first.estimator.chunk_calls == 2
    path = tmp_path / "run.pt"
    save_checkpoint(path, first)
    ppl.clear_param_store()
    ppl.set_rng_seed(123)
    svi = SVI(coin_model, coin_guide, Adam({"lr": 0.01}), Trace_ELBO())
    load_checkpoint(path, svi)
    with ppl.settings.context(auto_compile_seconds=0.0, auto_compile_cost_steps=0):
        tail = svi.run(30, DATA, progress_bar=False).losses
    assert svi.estimator.chunk_calls == 4 and svi.estimator.compiled_steps == 54
    # the first resumed step was a K-step call (the optimizer was made from its loaded
    # state), not a one-step graph
    assert svi.estimator.compiled.graphs.states() == []
    assert torch.equal(torch.cat([head, tail]), whole)


def nan_model(data):
    # -log N(0.1; 0, s) = log s + 0.005 / s^2 + c: SGD(lr=0.3) from s=1 makes s negative
    # at step 4, so the loss is NaN from then on (validation off)
    s = ppl.param("s", torch.tensor(1.0))
    ppl.sample("x", dist.Normal(0.0, s), obs=torch.tensor(0.1))


def test_a_non_finite_step_in_a_call_is_redone_eagerly():
    from ppl.optim import SGD

    def run(compile):
        ppl.clear_param_store()
        ppl.set_rng_seed(0)
        svi = SVI(nan_model, lambda data: None, SGD({"lr": 0.3}), Trace_ELBO(), compile=compile)
        with (
            ppl.settings.context(auto_compile_seconds=0.0, auto_compile_cost_steps=0),
            ppl.validation_enabled(False),
        ):
            losses = svi.run(30, DATA, progress_bar=False, on_nan="skip").losses
        return svi, losses

    nan_model_steps = {**FAST, "steps_per_call": 4}
    _, eager = run(False)
    svi, losses = run(nan_model_steps)
    assert torch.equal(torch.isnan(losses), torch.isnan(eager)) and torch.isnan(eager[-1])
    finite = ~torch.isnan(eager)
    assert torch.allclose(losses[finite], eager[finite], rtol=1e-6, atol=0)
    auto = svi.estimator
    assert auto.mode == "compiled" and auto.chunk_calls == 0  # every call met a NaN
    assert auto.compiled.graphs.failure is None and not auto.compiled_steps  # no 2nd graph


def test_state_dict_round_trip_and_malformed_state():
    svi, _ = fit(coin_model, coin_guide, FAST, 20, DATA)
    state = svi.estimator.state_dict()
    other = AutoStep(Trace_ELBO())
    other.load_state_dict(state)
    assert other.state_dict() == state
    with pytest.raises(ValueError, match="malformed"):
        other.load_state_dict({"mode": "sometimes", "steps": 1})
    with pytest.raises(ValueError, match="compile must be True, False, 'auto'"):
        SVI(coin_model, coin_guide, Adam({}), Trace_ELBO(), compile="always")


def test_single_steps_announce_no_run_and_stay_eager():
    ppl.clear_param_store()
    svi = SVI(coin_model, coin_guide, Adam({"lr": 0.01}), Trace_ELBO())
    with ppl.settings.context(auto_compile_seconds=0.0, auto_compile_cost_steps=0):
        for _ in range(20):
            svi.step(DATA)
    assert svi.estimator.mode == "eager"
    assert svi.estimator.reason == "no run announced its length yet"


def test_fit_advi_compiles_a_long_run_too():
    from ppl.infer.vi import ADVI

    def model():
        ppl.sample("x", dist.Normal(1.0, 2.0))

    ppl.set_rng_seed(0)
    advi = ADVI(model, compile=FAST)
    with ppl.settings.context(auto_compile_seconds=0.0, auto_compile_cost_steps=0):
        advi.fit(200, progress_bar=False)
    assert advi.svi.estimator.mode == "compiled", advi.svi.estimator.reason


def test_auto_compile_seconds_setting_is_validated():
    with pytest.raises(ValueError, match="auto_compile_seconds"):
        ppl.settings.set(auto_compile_seconds=-1)


def test_a_run_shorter_than_the_compile_cost_stays_eager():
    """With no time threshold, a run still compiles only if its remaining steps outlast
    compiling (``auto_compile_cost_steps`` eager steps' time)."""
    ppl.clear_param_store()
    ppl.set_rng_seed(0)
    svi = SVI(coin_model, coin_guide, Adam({"lr": 0.01}), Trace_ELBO(), compile=FAST)
    with ppl.settings.context(auto_compile_seconds=0.0, auto_compile_cost_steps=10**6):
        svi.run(40, DATA, progress_bar=False)
    assert svi.estimator.mode == "eager"
    assert "not worth compiling" in svi.estimator.reason
    with pytest.raises(ValueError, match="auto_compile_cost_steps"):
        ppl.settings.set(auto_compile_cost_steps=-1)
