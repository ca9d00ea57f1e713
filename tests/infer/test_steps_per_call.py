"""``SVI(compile={"steps_per_call": K})``: K steps (loss, gradients, optimizer update)
per compiled call give the eager run's losses and params, and its NaN handling."""

import math

import pytest
import torch
from torch.distributions import constraints

import ppl
import ppl.distributions as dist
from ppl.infer import SVI, Trace_ELBO
from ppl.infer.svi import NonFiniteLossError
from ppl.optim import SGD, Adagrad, Adam

DATA = torch.cat([torch.ones(6), torch.zeros(4)])


def coin_model(data):
    f = ppl.sample("f", dist.Beta(10.0, 10.0))
    with ppl.plate("data", len(data)):
        ppl.sample("obs", dist.Bernoulli(f), obs=data)


def coin_guide(data):
    a = ppl.param("a", torch.tensor(15.0), constraint=constraints.positive)
    b = ppl.param("b", torch.tensor(15.0), constraint=constraints.positive)
    ppl.sample("f", dist.Beta(a, b))


def fit(
    compile,
    num_steps=30,
    optim=None,
    callbacks=(),
    model=coin_model,
    guide=coin_guide,
    on_nan="raise",
):
    ppl.clear_param_store()
    ppl.set_rng_seed(0)
    optim = optim or Adam({"lr": 0.05, "weight_decay": 0.01})
    svi = SVI(model, guide, optim, Trace_ELBO(), compile=compile)
    result = svi.run(num_steps, DATA, progress_bar=False, callbacks=callbacks, on_nan=on_nan)
    return svi, result


def aot(k):
    return {"steps_per_call": k, "backend": "aot_eager"}


@pytest.mark.parametrize(
    "optim",
    [lambda: Adam({"lr": 0.05, "weight_decay": 0.01}), lambda: SGD({"lr": 0.02})],
    ids=["adam", "sgd"],
)
def test_k_steps_equal_eager_steps(optim):
    _, eager = fit(False, optim=optim())
    svi, chunked = fit(aot(4), optim=optim())
    # 30 steps = 1 eager (creates the optimizer state) + 7 calls of 4 + a call of 1
    assert svi.estimator.steps_per_call.calls == 8
    assert svi.estimator.steps_per_call.looped  # the 4 steps loop inside one graph
    assert svi.step_count == 30 and len(svi.losses) == 30
    # same draws, same update formula: equal to float32 rounding (seen bitwise equal)
    assert torch.allclose(chunked.losses, eager.losses, rtol=1e-6, atol=0)
    for name in ("a", "b"):
        assert chunked.params[name].item() == pytest.approx(eager.params[name].item(), rel=1e-6)


@pytest.mark.slow
def test_inductor_k_steps_equal_eager_to_rounding():
    _, eager = fit(False, num_steps=20)
    svi, chunked = fit({"steps_per_call": 8}, num_steps=20)
    assert svi.estimator.steps_per_call.calls == 3  # 1 eager step, then 8 + 8 + 3
    chunks = svi.estimator.steps_per_call
    assert chunks.looped and chunks.loop_failure is None, chunks.loop_failure  # C++ wrapper
    assert torch.allclose(chunked.losses, eager.losses, rtol=1e-5, atol=0)


def test_python_loop_of_calls_equals_the_looped_graph(monkeypatch):
    from ppl.infer.compile import multistep

    _, looped = fit(aot(4))
    original = multistep.StepsPerCall.__init__
    monkeypatch.setattr(
        multistep.StepsPerCall,
        "__init__",
        lambda self, *a, **k: original(self, *a, **{**k, "loop": False}),
    )
    svi, calls = fit(aot(4))
    assert not svi.estimator.steps_per_call.looped
    assert svi.estimator.steps_per_call.calls == 8
    assert torch.allclose(calls.losses, looped.losses, rtol=1e-6, atol=0)


def test_optimizer_state_continues_after_the_calls():
    # the graph updated Adam's moments and step count: ordinary steps continue from them
    svi, _ = fit(aot(4), num_steps=9)  # 1 + 2 calls of 4
    ppl.set_rng_seed(1)
    after_chunks = [svi.step(DATA) for _ in range(3)]
    eager_svi, _ = fit(False, num_steps=9)
    ppl.set_rng_seed(1)
    after_eager = [eager_svi.step(DATA) for _ in range(3)]
    assert after_chunks == pytest.approx(after_eager, rel=1e-6)
    state = svi.optim.optimizer.state
    assert all(int(s["step"]) == 12 for s in state.values())


def test_callbacks_keep_single_steps():
    seen = []
    svi, _ = fit(aot(4), num_steps=6, callbacks=[lambda s, losses, step: seen.append(step)])
    assert svi.estimator.steps_per_call.calls == 0
    assert seen == [1, 2, 3, 4, 5, 6]


def test_unsupported_optimizer_steps_one_at_a_time():
    svi, chunked = fit(aot(4), optim=Adagrad({"lr": 0.1}), num_steps=10)
    _, eager = fit(False, optim=Adagrad({"lr": 0.1}), num_steps=10)
    assert svi.estimator.steps_per_call.calls == 0
    assert "Adagrad has no in-graph update" in svi.estimator.steps_per_call.failure
    assert torch.allclose(chunked.losses, eager.losses, rtol=1e-6, atol=0)


def scale_model(data):
    # -log N(0.1; 0, s) = log s + 0.005 / s^2 + c: SGD(lr=0.3) from s=1 makes s negative
    # at step 4, so the loss is NaN from step 4 on (validation off)
    s = ppl.param("s", torch.tensor(1.0))
    ppl.sample("x", dist.Normal(0.0, s), obs=torch.tensor(0.1))


def empty_guide(data):
    pass


def test_non_finite_step_inside_a_call_is_redone_eagerly():
    kwargs = dict(model=scale_model, guide=empty_guide, num_steps=12, on_nan="skip")
    with ppl.validation_enabled(False):
        _, eager = fit(False, optim=SGD({"lr": 0.3}), **kwargs)
        svi, chunked = fit(aot(4), optim=SGD({"lr": 0.3}), **kwargs)
    assert math.isfinite(eager.losses[2]) and torch.isnan(eager.losses[3:]).all()
    assert torch.equal(torch.isnan(chunked.losses), torch.isnan(eager.losses))
    finite = ~torch.isnan(eager.losses)
    assert torch.allclose(chunked.losses[finite], eager.losses[finite], rtol=1e-6)
    assert chunked.params["s"].item() == pytest.approx(eager.params["s"].item(), rel=1e-6)
    assert svi.estimator.steps_per_call.calls == 0  # every call met the NaN and was undone


def test_non_finite_step_inside_a_call_raises_at_its_step():
    with ppl.validation_enabled(False):
        _, eager = fit(
            False, optim=SGD({"lr": 0.3}), model=scale_model, guide=empty_guide, num_steps=3
        )
        with pytest.raises(NonFiniteLossError, match="SVI step 4"):
            fit(aot(4), optim=SGD({"lr": 0.3}), model=scale_model, guide=empty_guide, num_steps=12)
    # the params keep their values from before step 4 (= after 3 eager steps)
    s = ppl.get_param_store()["s"].item()
    assert s == pytest.approx(eager.params["s"].item(), rel=1e-6)


@pytest.mark.parametrize("bad, error", [(0, ValueError), (1.5, TypeError), (True, TypeError)])
def test_bad_steps_per_call(bad, error):
    with pytest.raises(error, match="steps_per_call"):
        SVI(
            coin_model, coin_guide, Adam({"lr": 0.1}), Trace_ELBO(), compile={"steps_per_call": bad}
        )


@pytest.mark.parametrize("unroll", [2, 4])
def test_unrolled_graphs_equal_eager_steps(monkeypatch, unroll):
    # one traced step repeated `unroll` times at the FX level, called 4 / unroll times
    import ppl.infer.compile.multistep as multistep

    monkeypatch.setattr(multistep, "UNROLL", unroll)
    _, eager = fit(False)
    svi, chunked = fit(aot(4))
    assert svi.estimator.steps_per_call.unroll == unroll
    # 1 eager + 7 calls of 4 + the last step: a call of 1 with unroll 2 or 4 is not
    # possible, so an ordinary step
    assert svi.estimator.steps_per_call.calls == 7
    assert torch.allclose(chunked.losses, eager.losses, rtol=1e-6, atol=0)
    for name in ("a", "b"):
        assert chunked.params[name].item() == pytest.approx(eager.params[name].item(), rel=1e-6)


def test_repeat_graph_draws_what_repeated_steps_draw():
    from torch.fx.experimental.proxy_tensor import make_fx

    from ppl.infer.compile.repeat import repeat_graph

    def step(x, c):  # a random walk: x += c * noise
        x.add_(c * torch.randn(3))
        return (x.sum(),)

    one = make_fx(step)(torch.zeros(3), torch.zeros(3))
    five = repeat_graph(one, 5, per_step=1)
    coef = torch.arange(15.0).reshape(3, 5)  # column i is step i's c
    torch.manual_seed(3)
    x = torch.zeros(3)
    (sums,) = five(x, coef)
    torch.manual_seed(3)
    y = torch.zeros(3)
    expected = torch.stack([step(y, coef[:, i])[0] for i in range(5)])
    assert torch.equal(sums, expected) and torch.equal(x, y)


def test_bad_unroll():
    from ppl.infer.compile import StepsPerCall

    with pytest.raises(ValueError, match="unroll must be a positive divisor"):
        StepsPerCall(Trace_ELBO(), 6, lambda *a: None, unroll=4)
    assert StepsPerCall(Trace_ELBO(), 6, lambda *a: None, unroll=3).unroll == 3
