"""Handlers written against Pyro's Messenger API (``_pyro_sample``, ``_process_message``,
``register``) and ``effectful`` used as a decorator, as in Pyro's effect-handler tutorial."""

import math

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.poutine.messenger import Messenger
from ppl.poutine.runtime import effectful


def model():
    x = ppl.sample("x", dist.Normal(0.0, 1.0))
    y = ppl.sample("y", dist.Normal(x, 1.0), obs=torch.tensor(2.0))
    return x, y


class FixSamples(Messenger):
    """Pyro style: a per-type method sets every latent sample to 3."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def _pyro_sample(self, msg):
        self.seen.append(msg["name"])
        if not msg["is_observed"]:
            msg["value"] = torch.tensor(3.0)

    def _pyro_post_sample(self, msg):
        msg["value"] = msg["value"] + 1.0


def test_pyro_sample_and_post_sample_methods_are_called():
    handler = FixSamples()
    with handler:
        x, y = model()
    assert handler.seen == ["x", "y"]
    assert x.item() == 4.0  # 3 set before, +1 after
    assert y.item() == 3.0  # observed 2, +1 after


class CountAll(Messenger):
    def __init__(self) -> None:
        super().__init__()
        self.types: list[str] = []

    def _process_message(self, msg):
        self.types.append(msg["type"])


def test_overriding_process_message_sees_every_message():
    handler = CountAll()
    with handler:
        ppl.param("p", torch.tensor(1.0))
        model()
    assert handler.types == ["param", "sample", "sample"]


class TraceDoubling(poutine.trace_messenger.TraceMessenger):
    """Overrides the sample hook of a ppl handler; other types keep the trace's hooks."""

    def _pyro_sample(self, msg):
        if not msg["is_observed"]:
            msg["value"] = torch.tensor(0.5)


def test_subclass_of_ppl_handler_keeps_inherited_behaviour():
    tracer = TraceDoubling()
    with tracer:
        x, _ = model()
    tr = tracer.get_trace()
    assert x.item() == 0.5
    assert list(tr.nodes) == ["x", "y"]
    assert tr.nodes["x"]["value"].item() == 0.5


def test_register_attaches_and_unregister_removes_a_hook():
    class Plain(Messenger):
        pass

    calls: list[str] = []
    Plain.register(lambda msg: calls.append(msg["name"]), type="sample")
    with Plain():
        model()
    assert calls == ["x", "y"]
    Plain.unregister(type="sample")
    with Plain():
        model()
    assert calls == ["x", "y"]
    with pytest.raises(ValueError, match="expected type="):
        Plain.register(lambda msg: None)


def test_effectful_decorator_form_and_obs():
    @effectful(type="apply")
    def add(a, b):
        return a + b

    assert add(1, 2) == 3  # no handler: a plain call
    assert effectful(add, type="apply") is add

    class Recorder(Messenger):
        def __init__(self) -> None:
            super().__init__()
            self.msgs: list[tuple[str, tuple, bool]] = []

        def _pyro_apply(self, msg):
            self.msgs.append((msg["name"], msg["args"], msg["is_observed"]))

    rec = Recorder()
    with rec:
        assert add(1, 2, name="s") == 3
        assert add(1, 2, name="t", obs=10) == 10  # obs fixes the value
    assert rec.msgs == [("s", (1, 2), False), ("t", (1, 2), True)]


def test_effectful_needs_a_type():
    with pytest.raises(ValueError, match="expected a type label"):
        effectful(lambda x: x)
    with pytest.raises(ValueError, match="not 'message'"):
        effectful(lambda x: x, type="message")


class Lazy:
    """A stand-in for the tutorial's LazyValue: not a distribution, not callable."""

    def __init__(self, value):
        self.value = value


class SupplyLazy(Messenger):
    def _pyro_sample(self, msg):
        if isinstance(msg["fn"], Lazy):
            msg["value"] = msg["fn"].value * 10
            msg["done"] = True


def test_sample_of_a_non_distribution_reaches_the_handlers():
    with SupplyLazy():
        assert ppl.sample("z", Lazy(2)) == 20
    # outside handlers a callable is simply called, as in Pyro
    assert ppl.sample("c", lambda a, b=1: a + b, 4, b=2) == 6


def test_sample_of_a_non_distribution_nobody_handles_is_an_error():
    with pytest.raises(TypeError, match="at site 'z': expected a distribution, got Lazy, and no"):
        with poutine.trace():
            ppl.sample("z", Lazy(2))
    with pytest.raises(TypeError, match="at site 'x': expected a distribution, got float"):
        ppl.sample("x", 3.0)


class LogJoint(Messenger):
    """Pyro's tutorial pattern: fix values before the site runs, score them after it."""

    def __init__(self, data):  # no super().__init__(), as in the tutorial
        self.data = data

    def __enter__(self):
        self.logp = torch.tensor(0.0)
        return super().__enter__()

    def _pyro_sample(self, msg):
        if msg["name"] in self.data:
            msg["value"] = self.data[msg["name"]]
            msg["done"] = True

    def _pyro_post_sample(self, msg):
        self.logp = self.logp + (msg["scale"] * msg["fn"].log_prob(msg["value"])).sum()


def test_log_joint_handler_matches_the_closed_form():
    def scale(guess):
        weight = ppl.sample("weight", dist.Normal(guess, 1.0))
        return ppl.sample("measurement", dist.Normal(weight, 0.75))

    data = {"weight": torch.tensor(8.23), "measurement": torch.tensor(9.5)}
    with LogJoint(data) as m:
        scale(8.5)

    def normal_logpdf(x, loc, sd):
        return -0.5 * math.log(2 * math.pi) - math.log(sd) - 0.5 * ((x - loc) / sd) ** 2

    expected = normal_logpdf(8.23, 8.5, 1.0) + normal_logpdf(9.5, 8.23, 0.75)
    assert m.logp.item() == pytest.approx(expected, abs=1e-5)  # -3.0203
