"""The message, the handler stack and apply_stack."""

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.poutine.messenger import Messenger
from ppl.poutine.runtime import Message, apply_stack, handler_stack


class Recorder(Messenger):
    def __init__(self, log, tag, stop=False):
        super().__init__()
        self.log, self.tag, self.stop = log, tag, stop

    def process_message(self, msg):
        self.log.append(("process", self.tag))
        if self.stop:
            msg.stop = True

    def postprocess_message(self, msg):
        self.log.append(("post", self.tag))


def test_message_reads_like_a_dict():
    msg = Message(type="sample", name="x", fn=dist.Normal(0.0, 1.0), value=torch.tensor(1.0))
    assert msg["value"] is msg.value
    assert msg.get("infer") == {}
    assert "value" in msg and "log_prob" not in msg
    msg["log_prob"] = torch.tensor(-1.0)
    assert "log_prob" in msg and float(msg["log_prob"]) == -1.0
    assert msg.get("missing", 3) == 3
    with pytest.raises(KeyError):
        msg["missing"]
    assert set(["type", "name", "fn", "value", "log_prob"]) <= set(msg.keys())


def test_process_innermost_first_and_postprocess_outermost_first():
    log = []
    with Recorder(log, "outer"), Recorder(log, "inner"):
        ppl.sample("x", dist.Normal(0.0, 1.0))
    assert log == [("process", "inner"), ("process", "outer"), ("post", "outer"), ("post", "inner")]


def test_stop_hides_message_from_outer_handlers():
    log = []
    with Recorder(log, "outer"), Recorder(log, "inner", stop=True):
        ppl.sample("x", dist.Normal(0.0, 1.0))
    assert log == [("process", "inner"), ("post", "inner")]


def test_exception_inside_handler_leaves_stack_clean():
    def model():
        ppl.sample("x", dist.Normal(0.0, 1.0))
        raise KeyError("boom")

    with pytest.raises(KeyError):
        poutine.trace(poutine.scale(model, scale=2.0)).get_trace()
    assert handler_stack() == ()
    with pytest.raises(KeyError):
        with ppl.plate("p", 3):
            model()
    assert handler_stack() == ()
    # the plate's dim is free again
    with ppl.plate("q", 2) as idx:
        x = ppl.sample("y", dist.Normal(0.0, 1.0))
    assert x.shape == (2,) and idx.tolist() == [0, 1]


def test_entering_a_handler_twice_is_an_error():
    tm = poutine.trace()
    with tm:
        with pytest.raises(RuntimeError, match="already active"):
            with tm:
                pass
    assert handler_stack() == ()


def test_default_process_runs_fn_and_rsample():
    loc = torch.tensor(0.0, requires_grad=True)
    msg = Message(type="sample", name="x", fn=dist.Normal(loc, 1.0))
    apply_stack(msg)
    assert msg.done and msg.value.requires_grad


def test_raw_torch_distribution_is_accepted():
    tr = poutine.trace(lambda: ppl.sample("x", torch.distributions.Normal(0.0, 1.0))).get_trace()
    assert tr.nodes["x"]["value"].shape == ()


def test_sample_without_handlers_is_plain_draw():
    ppl.set_rng_seed(3)
    a = ppl.sample("x", dist.Normal(0.0, 1.0))
    ppl.set_rng_seed(3)
    b = dist.Normal(0.0, 1.0).sample()
    assert a == b
    obs = torch.tensor(0.3)
    with pytest.warns(RuntimeWarning, match="observe a value outside of inference at x"):
        assert ppl.sample("x", dist.Normal(0.0, 1.0), obs=obs) is obs  # as Pyro, with a warning


def test_effectful_custom_statement():
    from ppl.poutine.runtime import effectful

    double = effectful(lambda x: 2 * x, type="double")
    assert double(3) == 6

    class Triple(Messenger):
        def process_message(self, msg):
            if msg.type == "double":
                msg.value = 3 * msg.args[0]

    with Triple():
        assert double(3, name="d") == 9
