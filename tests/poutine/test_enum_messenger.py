"""poutine.enum dim allocation, markov scopes and poutine.queue."""

from __future__ import annotations

from queue import LifoQueue

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.infer.enum import iter_discrete_escape, iter_discrete_extend
from ppl.poutine.trace_struct import Trace


def test_enum_values_are_support_left_of_plates():
    @poutine.enum(first_available_dim=-2)
    def model():
        a = ppl.sample("a", dist.Bernoulli(0.5), infer={"enumerate": "parallel"})
        with ppl.plate("data", 4):
            b = ppl.sample("b", dist.Categorical(torch.ones(3)), infer={"enumerate": "parallel"})
        c = ppl.sample("c", dist.Bernoulli(0.5))  # not marked: sampled
        return a, b, c

    tr = poutine.trace(model).get_trace()
    a, b = tr.nodes["a"], tr.nodes["b"]
    assert tuple(a["value"].shape) == (2, 1) and a["infer"]["_enumerate_dim"] == -2
    assert tuple(b["value"].shape) == (3, 1, 1) and b["infer"]["_enumerate_dim"] == -3
    assert torch.equal(b["value"].flatten(), torch.arange(3.0))
    assert tuple(tr.nodes["c"]["value"].shape) == ()
    assert b["infer"]["_dim_to_id"] == {-3: 1, -2: 0}


def test_enum_expand_gives_full_plate_shape():
    @poutine.enum(first_available_dim=-2)
    def model():
        with ppl.plate("data", 4):
            return ppl.sample(
                "b", dist.Bernoulli(0.5), infer={"enumerate": "parallel", "expand": True}
            )

    assert tuple(model().shape) == (2, 4)


def test_markov_recycles_dims_with_history_two():
    def chain():
        for t in ppl.markov(range(6), history=2):
            ppl.sample(f"x_{t}", dist.Bernoulli(0.5), infer={"enumerate": "parallel"})

    tr = poutine.trace(poutine.enum(chain, first_available_dim=-1)).get_trace()
    dims = [tr.nodes[f"x_{t}"]["infer"]["_enumerate_dim"] for t in range(6)]
    assert len(set(dims)) == 3  # history + 1 dims
    assert all(len({dims[t], dims[t + 1], dims[t + 2]}) == 3 for t in range(4))


def test_markov_scope_records_window():
    with poutine.trace() as tm:
        for t in ppl.markov(range(3)):
            ppl.sample(f"x_{t}", dist.Normal(0.0, 1.0))
    scope = tm.trace.nodes["x_2"]["infer"]["_markov_scope"]
    assert set(scope) == {"x_1"}
    assert tm.trace.nodes["x_2"]["infer"]["_markov_depth"] == 1


def test_enum_without_first_dim_names_site():
    from ppl.poutine.enum_messenger import _ENUM_ALLOCATOR

    _ENUM_ALLOCATOR.next_available_dim = float("-inf")

    def model():
        ppl.sample("z", dist.Bernoulli(0.5), infer={"enumerate": "parallel"})

    with pytest.raises(ValueError, match="'z'.*max_plate_nesting"):
        poutine.enum(model)()


def test_queue_enumerates_sequential_sites_depth_first():
    q: LifoQueue = LifoQueue()
    q.put(Trace())

    def model():
        a = ppl.sample("a", dist.Bernoulli(0.5), infer={"enumerate": "sequential"})
        b = ppl.sample("b", dist.Bernoulli(0.5), infer={"enumerate": "sequential"})
        return int(a), int(b)

    f = poutine.queue(model, q, escape_fn=iter_discrete_escape, extend_fn=iter_discrete_extend)
    seen = []
    while not q.empty():
        seen.append(f())
    assert sorted(seen) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert seen[0] == (1, 1)  # last value first, as Pyro's LIFO queue
