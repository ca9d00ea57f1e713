"""init_to_generated: one generated strategy per model run, shared by its sites."""

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.infer import init_to_generated, init_to_value
from ppl.infer.autoguide import AutoDelta
from ppl.infer.autoguide.initialization import InitMessenger


def _model():
    a = ppl.sample("a", dist.Normal(0.0, 1.0))
    b = ppl.sample("b", dist.Normal(0.0, 1.0))
    return a, b


def test_one_strategy_per_run_shared_by_sites():
    calls = []

    def generate():
        k = float(len(calls))
        calls.append(k)
        return init_to_value(values={"a": k, "b": k + 10.0})

    strategy = init_to_generated(generate=generate)
    with InitMessenger(strategy):
        first = _model()
    with InitMessenger(strategy):
        second = _model()
    assert calls == [0.0, 1.0]
    assert [float(v) for v in first] == [0.0, 10.0]
    assert [float(v) for v in second] == [1.0, 11.0]


def test_autoguide_uses_generated_values():
    strategy = init_to_generated(generate=lambda: init_to_value(values={"a": 2.5}))
    guide = AutoDelta(_model, init_loc_fn=strategy)
    values = guide()
    assert float(values["a"]) == pytest.approx(2.5)
    assert torch.isfinite(values["b"])


def test_generate_must_be_callable():
    with pytest.raises(TypeError, match="generate must be a zero-argument callable"):
        init_to_generated(generate=3)
