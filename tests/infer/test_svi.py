"""SVI: step, evaluate_loss, run (bar text, callbacks, results), NaN handling, errors."""

import math
import re

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.distributions import constraints
from ppl.infer.compile import JitTrace_ELBO
from ppl.infer.svi import SVI, NonFiniteLossError, SVIRunResult, register_nan_policy
from ppl.infer.trace_elbo import Trace_ELBO
from ppl.optim import SGD, Adam

DATA = torch.tensor([1.2, 0.4, 2.0, 1.1])


def model(data):
    loc = ppl.sample("loc", dist.Normal(0.0, 1.0))
    with ppl.plate("n", data.shape[0]):
        ppl.sample("x", dist.Normal(loc, 1.0), obs=data)


def guide(data):
    m = ppl.param("m", torch.tensor(0.0))
    s = ppl.param("s", torch.tensor(1.0), constraint=constraints.positive)
    ppl.sample("loc", dist.Normal(m, s))


# posterior of loc: N(sum(x) / (n + 1), 1 / (n + 1))
POST_MEAN = float(DATA.sum() / 5)
POST_SD = math.sqrt(1 / 5)


def store_values():
    return {k: v.detach().clone() for k, v in ppl.get_param_store().items()}


def test_run_recovers_conjugate_posterior():
    svi = SVI(
        model, guide, Adam({"lr": 0.05}), Trace_ELBO(num_particles=8, vectorize_particles=True)
    )
    result = svi.run(1500, DATA, progress_bar=False)
    assert isinstance(result, SVIRunResult)
    assert set(result.params) == {"m", "s"}
    assert float(result.params["m"]) == pytest.approx(POST_MEAN, abs=0.05)
    assert float(result.params["s"]) == pytest.approx(POST_SD, abs=0.05)
    assert result.losses.shape == (1500,) and result.losses.device.type == "cpu"
    assert float(result.losses[-200:].mean()) < float(result.losses[:50].mean())
    assert svi.step_count == 1500


def test_result_params_are_detached_copies():
    svi = SVI(model, guide, Adam({"lr": 0.05}), Trace_ELBO())
    result = svi.run(3, DATA, progress_bar=False)
    m_before = result.params["m"].clone()
    svi.run(5, DATA, progress_bar=False)
    assert not result.params["m"].requires_grad
    assert torch.equal(result.params["m"], m_before)


def test_step_returns_float_and_updates_params():
    svi = SVI(model, guide, Adam({"lr": 0.1}), Trace_ELBO())
    loss = svi.step(DATA)
    before = store_values()
    svi.step(DATA)
    after = store_values()
    assert isinstance(loss, float) and math.isfinite(loss)
    assert not torch.equal(before["m"], after["m"])
    for _, p in ppl.get_param_store().named_parameters():
        assert p.grad is None


def test_evaluate_loss_leaves_params_alone():
    svi = SVI(model, guide, Adam({"lr": 0.1}), Trace_ELBO())
    svi.step(DATA)
    before = store_values()
    loss = svi.evaluate_loss(DATA)
    assert isinstance(loss, float)
    assert all(torch.equal(before[k], v) for k, v in store_values().items())
    assert all(p.grad is None for _, p in ppl.get_param_store().named_parameters())


def test_only_touched_params_are_stepped():
    ppl.param("other", torch.tensor(5.0))
    svi = SVI(model, guide, Adam({"lr": 0.1}), Trace_ELBO())
    result = svi.run(3, DATA, progress_bar=False)
    assert "other" not in result.params
    assert float(ppl.get_param_store()["other"].detach()) == 5.0


def test_progress_bar_text_matches_numpyro(capsys):
    svi = SVI(model, guide, Adam({"lr": 0.01}), Trace_ELBO())
    result = svi.run(40, DATA)
    err = capsys.readouterr().err
    found = re.findall(
        r"init loss: (-?\d+\.\d{4}), avg\. loss \[(\d+)-(\d+)\]: (-?\d+\.\d{4})", err
    )
    assert found, err
    init, a, b, avg = found[-1]
    assert (int(a), int(b)) == (39, 40)
    assert float(init) == pytest.approx(float(result.losses[0]), abs=1e-4)
    assert float(avg) == pytest.approx(float(result.losses[38:40].mean()), abs=1e-4)
    assert "40/40" in err


def test_callbacks_get_losses_and_can_stop(capsys):
    seen = []

    def cb(svi, losses, step):
        seen.append((step, len(losses)))
        if step == 5:
            raise StopIteration

    svi = SVI(model, guide, Adam({"lr": 0.01}), Trace_ELBO())
    result = svi.run(100, DATA, progress_bar=False, callbacks=[cb])
    assert seen == [(i, i) for i in range(1, 6)]
    assert result.losses.shape == (5,)
    assert "Interrupted at step 5" in capsys.readouterr().out


def test_pyro_style_callable_loss_and_optimizer():
    elbo = Trace_ELBO()

    def loss_fn(model, guide, *args, **kwargs):
        return elbo.differentiable_loss(model, guide, *args, **kwargs)

    svi = SVI(model, guide, SGD({"lr": 0.01}), loss_fn)
    before = store_values() if len(ppl.get_param_store()) else None
    value = svi.step(DATA)
    assert before is None and isinstance(value, float)
    assert set(svi.get_params()) == {"m", "s"}

    stepped = []

    def plain_sgd(params):
        for p in params:
            stepped.append(p.shape)
            with torch.no_grad():
                p -= 0.01 * p.grad

    svi2 = SVI(model, guide, plain_sgd, elbo)
    svi2.step(DATA)
    assert len(stepped) == 2


def test_jit_elbo_runs_in_svi():
    svi = SVI(model, guide, Adam({"lr": 0.05}), JitTrace_ELBO(ignore_jit_warnings=True))
    result = svi.run(600, DATA, progress_bar=False)
    assert float(result.params["m"]) == pytest.approx(POST_MEAN, abs=0.1)


def test_subsampled_plate_in_svi():
    torch.manual_seed(0)
    x = torch.randn(200) + 3.0

    def model_sub():
        loc = ppl.sample("loc", dist.Normal(0.0, 10.0))
        with ppl.plate("n", 200, subsample_size=20) as idx:
            ppl.sample("x", dist.Normal(loc, 1.0), obs=x[idx])

    def guide_sub():
        ppl.sample("loc", dist.Normal(ppl.param("m", torch.tensor(0.0)), 0.1))

    result = SVI(model_sub, guide_sub, Adam({"lr": 0.05}), Trace_ELBO()).run(
        800, progress_bar=False
    )
    assert float(result.params["m"]) == pytest.approx(float(x.mean()), abs=0.15)


# --------------------------------------------------------------------------- NaN / inf
def nan_model(data, bad_from=1, counter=[0]):  # noqa: B006  (a deliberate call counter)
    counter[0] += 1
    loc = ppl.sample("loc", dist.Normal(0.0, 1.0))
    ppl.sample("x", dist.Normal(loc, 1.0), obs=data[0])
    if counter[0] >= bad_from:
        ppl.sample("boom", dist.Normal(loc, 1.0), obs=torch.tensor(float("inf")))


def test_nan_loss_raises_naming_step_and_site_and_keeps_params():
    counter = [0]
    svi = SVI(lambda d: nan_model(d, 3, counter), guide, Adam({"lr": 0.1}), Trace_ELBO())
    svi.step(DATA)
    svi.step(DATA)
    before = store_values()
    with pytest.raises(
        NonFiniteLossError, match=r"SVI step 3: loss is inf.*model sites \['boom'\]"
    ):
        svi.step(DATA)
    assert all(torch.equal(before[k], v) for k, v in store_values().items())
    assert all(p.grad is None for _, p in ppl.get_param_store().named_parameters())


def test_run_raises_on_nan_with_step_number():
    counter = [0]
    svi = SVI(lambda d: nan_model(d, 4, counter), guide, Adam({"lr": 0.1}), Trace_ELBO())
    with pytest.raises(NonFiniteLossError, match=r"SVI step 4: .*'boom'"):
        svi.run(10, DATA, progress_bar=False)
    assert svi.step_count == 3


def test_run_skips_nan_steps_when_asked():
    counter = [0]
    svi = SVI(lambda d: nan_model(d, 4, counter), guide, Adam({"lr": 0.1}), Trace_ELBO())
    result = svi.run(6, DATA, progress_bar=False, on_nan="skip")
    assert torch.isfinite(result.losses[:3]).all() and torch.isnan(result.losses[3:]).all()
    assert svi.step_count == 3
    assert all(torch.isfinite(v).all() for v in result.params.values())


def test_nonfinite_gradient_is_caught():
    def model_grad(data):
        loc = ppl.sample("loc", dist.Normal(0.0, 1.0))
        m = ppl.param("m")
        ppl.factor("sqrt0", torch.sqrt(m - m.detach()))
        ppl.sample("x", dist.Normal(loc, 1.0), obs=data[0])

    svi = SVI(model_grad, guide, Adam({"lr": 0.1}), Trace_ELBO())
    ppl.param("m", torch.tensor(0.0))
    with pytest.raises(NonFiniteLossError, match="a gradient is not finite"):
        svi.step(DATA)
    assert float(ppl.get_param_store()["m"].detach()) == 0.0


def test_custom_nan_policy_is_called():
    calls = []
    register_nan_policy("record", lambda svi, out, step: calls.append(step))
    counter = [0]
    svi = SVI(lambda d: nan_model(d, 2, counter), guide, Adam({"lr": 0.1}), Trace_ELBO())
    svi.run(3, DATA, progress_bar=False, on_nan="record")
    assert calls == [2, 3]


# --------------------------------------------------------------------------- errors
def test_bad_run_arguments():
    svi = SVI(model, guide, Adam({"lr": 0.1}), Trace_ELBO())
    with pytest.raises(ValueError, match="on_nan must be one of"):
        svi.run(2, DATA, on_nan="explode")
    with pytest.raises(ValueError, match="num_steps must be >= 1"):
        svi.run(0, DATA)
    with pytest.raises(TypeError, match="num_steps must be an int"):
        svi.run("10", DATA)
    with pytest.raises(TypeError, match="every callback must be callable"):
        svi.run(2, DATA, callbacks=[3])


def test_bad_constructor_arguments():
    with pytest.raises(TypeError, match="raw torch optimizer"):
        SVI(
            model,
            guide,
            torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1),
            Trace_ELBO(),
        )
    with pytest.raises(TypeError, match="optim must be a ppl.optim optimizer"):
        SVI(model, guide, 3, Trace_ELBO())
    with pytest.raises(TypeError, match="loss must be an ELBO"):
        SVI(model, guide, Adam({"lr": 0.1}), "elbo")
    with pytest.raises(TypeError, match="model must be callable"):
        SVI(None, guide, Adam({"lr": 0.1}), Trace_ELBO())


def test_register_nan_policy_errors():
    with pytest.raises(TypeError, match="name must be a str"):
        register_nan_policy(3, lambda *a: None)
    with pytest.raises(TypeError, match="policy must be callable"):
        register_nan_policy("x", 3)


def test_state_dict_round_trip_and_errors():
    svi = SVI(model, guide, Adam({"lr": 0.1}), Trace_ELBO())
    svi.run(3, DATA, progress_bar=False)
    state = svi.state_dict()
    other = SVI(model, guide, Adam({"lr": 0.1}), Trace_ELBO())
    other.load_state_dict(state)
    assert other.step_count == 3 and set(other.get_params()) == {"m", "s"}
    with pytest.raises(ValueError, match="expected"):
        other.load_state_dict({"step_count": "3"})
    with pytest.raises(ValueError, match="param_names must be a list of str"):
        other.load_state_dict({"step_count": 3, "param_names": [1]})


def test_policy_start_and_stop_hooks_wrap_the_run():
    events = []

    class Policy:
        def start(self, svi):
            events.append(("start", svi.step_count))

        def stop(self, svi):
            events.append(("stop", svi.step_count))

        def __call__(self, svi, out, step):
            events.append(("nan", step))

    register_nan_policy("hooked", Policy())
    counter = [0]
    svi = SVI(lambda d: nan_model(d, 3, counter), guide, Adam({"lr": 0.1}), Trace_ELBO())
    svi.run(3, DATA, progress_bar=False, on_nan="hooked")
    assert events == [("start", 0), ("nan", 3), ("stop", 2)]


def test_svi_loss_is_pyros_callable_returning_a_float():
    # Pyro: SVI(..., loss=elbo).loss is elbo.loss, called as svi.loss(model, guide, *args)
    def model():
        ppl.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        ppl.sample("z", dist.Normal(ppl.param("m", torch.tensor(0.0)), 1.0))

    ppl.clear_param_store()
    elbo = Trace_ELBO()
    svi = SVI(model, guide, Adam({"lr": 0.1}), elbo)
    value = svi.loss(model, guide)
    assert isinstance(value, float) and abs(value) < 1e-6  # guide == prior: KL is 0
    assert svi.objective is elbo
