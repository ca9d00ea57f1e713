"""Exact inference by breadth-first search over discrete choices with ``poutine.queue``.

The idea of Pyro's RSA examples: a ``Search`` posterior enumerates every execution
of a discrete model (``poutine.queue`` with a FIFO queue), weighting each by its
joint log-probability; nested searches model agents reasoning about each other.
The scalar-implicature numbers are exact.
"""

import functools
import math
import queue

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.infer import EmpiricalMarginal
from ppl.infer.abstract_infer import TracePosterior
from ppl.poutine.trace_struct import Trace


class Search(TracePosterior):
    """Every complete execution of ``model``, found breadth first, weighted exactly."""

    def __init__(self, model, max_tries=int(1e6)):
        self.model = model
        self.max_tries = max_tries
        super().__init__()

    def _traces(self, *args, **kwargs):
        todo = queue.Queue()
        todo.put(Trace())
        run = poutine.trace(poutine.queue(self.model, queue=todo, max_tries=self.max_tries))
        while not todo.empty():
            tr = run.get_trace(*args, **kwargs)
            yield tr, tr.log_prob_sum()


def marginal_probs(model, *args, size):
    """Exact ``P(return value = k)`` for ``k < size``."""
    marginal = EmpiricalMarginal(Search(model).run(*args))
    return torch.stack([marginal.log_prob(torch.tensor(k)).exp() for k in range(size)])


# Scalar implicature: how many of 3 students passed (0..3), utterances none/some/all.
STATES, UTTERANCES = 4, ("none", "some", "all")
ALPHA = 1.0


def meaning(utterance, state):
    return {"none": state == 0, "some": state > 0, "all": state == 3}[utterance]


def literal_listener(u):
    state = ppl.sample("state", dist.Categorical(logits=torch.zeros(STATES)))
    ppl.factor("literal", 0.0 if meaning(UTTERANCES[u], int(state)) else -math.inf)
    return state


@functools.cache
def literal_probs(u):
    return marginal_probs(literal_listener, u, size=STATES)


def speaker(state):
    u = ppl.sample("utterance", dist.Categorical(logits=torch.zeros(len(UTTERANCES))))
    ppl.factor("informative", ALPHA * literal_probs(int(u))[state].log())
    return u


@functools.cache
def speaker_probs(state):
    return marginal_probs(speaker, state, size=len(UTTERANCES))


def pragmatic_listener(u):
    state = ppl.sample("state", dist.Categorical(logits=torch.zeros(STATES)))
    ppl.factor("speaker", speaker_probs(int(state))[u].log())
    return state


def test_some_implies_not_all():
    some = UTTERANCES.index("some")
    literal = literal_probs(some)
    assert torch.allclose(literal, torch.tensor([0.0, 1 / 3, 1 / 3, 1 / 3]), atol=1e-6)
    assert torch.allclose(speaker_probs(3), torch.tensor([0.0, 0.25, 0.75]), atol=1e-6)
    pragmatic = marginal_probs(pragmatic_listener, some, size=STATES)
    assert torch.allclose(pragmatic, torch.tensor([0.0, 4 / 9, 4 / 9, 1 / 9]), atol=1e-6)


def two_coins():
    a = ppl.sample("a", dist.Bernoulli(0.3))
    b = ppl.sample("b", dist.Bernoulli(0.6))
    return int(a), int(b)


@pytest.mark.parametrize(
    "queue_cls, order",
    [
        (queue.Queue, [(0, 0), (0, 1), (1, 0), (1, 1)]),  # breadth first
        (queue.LifoQueue, [(1, 1), (1, 0), (0, 1), (0, 0)]),  # depth first
    ],
)
def test_queue_order_and_exact_joint(queue_cls, order):
    todo = queue_cls()
    todo.put(Trace())
    run = poutine.trace(poutine.queue(two_coins, queue=todo))
    found = []
    while not todo.empty():
        tr = run.get_trace()
        found.append((tr.nodes["_RETURN"]["value"], float(tr.log_prob_sum().exp())))
    assert [value for value, _ in found] == order
    exact = {(a, b): (0.3 if a else 0.7) * (0.6 if b else 0.4) for a in (0, 1) for b in (0, 1)}
    for value, prob in found:
        assert prob == pytest.approx(exact[value])


def test_running_out_of_tries_names_max_tries():
    todo = queue.Queue()
    todo.put(Trace())
    with pytest.raises(ValueError, match="max_tries=2"):
        poutine.queue(two_coins, queue=todo, max_tries=2)()
