"""ppl.poutine.util, ppl.poutine.handlers (incl. queue) and Pyro's module aliases."""

import queue as pyqueue

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.poutine import handlers, runtime
from ppl.poutine.trace_struct import Trace
from ppl.poutine.util import (
    all_escape,
    discrete_escape,
    enum_extend,
    mc_extend,
    prune_subsample_sites,
    site_is_factor,
    site_is_subsample,
)


def model_with_plate():
    ppl.factor("f", torch.tensor(-1.0))
    with ppl.plate("data", 10, subsample_size=4):
        ppl.sample("x", dist.Normal(0.0, 1.0))


def test_site_predicates_and_prune():
    tr = poutine.trace(model_with_plate).get_trace()
    assert [n for n, s in tr.nodes.items() if site_is_subsample(s)] == ["data"]
    assert [n for n, s in tr.nodes.items() if site_is_factor(s)] == ["f"]
    pruned = prune_subsample_sites(tr)
    assert "data" not in pruned and "data" in tr
    assert list(pruned.nodes) == [n for n in tr.nodes if n != "data"]
    assert site_is_subsample({"type": "sample", "fn": None, "infer": {"is_subsample": True}})


def test_enum_and_mc_extend():
    msg = runtime.Message(type="sample", name="c", fn=dist.Categorical(torch.ones(3)))
    base = Trace()
    base.add_node("a", type="sample", value=torch.tensor(1.0), fn=dist.Normal(0.0, 1.0))
    out = enum_extend(base, msg)
    assert [int(t.nodes["c"]["value"]) for t in out] == [0, 1, 2]
    assert all(list(t.nodes) == ["a", "c"] for t in out)
    assert "c" not in base  # copies, not the input
    assert len(enum_extend(base, msg, num_samples=1)) == 2  # Pyro's bound: n + 1
    torch.manual_seed(0)
    draws = mc_extend(base, runtime.Message(type="sample", name="z", fn=dist.Normal(0.0, 1.0)), 4)
    values = torch.stack([t.nodes["z"]["value"] for t in draws])
    assert values.shape == (4,) and values.unique().numel() == 4


def test_escape_predicates():
    tr = Trace()
    tr.add_node("seen", type="sample", fn=dist.Bernoulli(0.5), value=torch.tensor(0.0))
    bern = runtime.Message(type="sample", name="b", fn=dist.Bernoulli(0.5))
    norm = runtime.Message(type="sample", name="n", fn=dist.Normal(0.0, 1.0))
    seen = runtime.Message(type="sample", name="seen", fn=dist.Bernoulli(0.5))
    obs = runtime.Message(type="sample", name="o", fn=dist.Bernoulli(0.5), is_observed=True)
    param = runtime.Message(type="param", name="p", fn=None)
    assert [all_escape(tr, m) for m in (bern, norm, seen, obs, param)] == [True, True] + [False] * 3
    assert [discrete_escape(tr, m) for m in (bern, norm, seen, obs)] == [True, False, False, False]


def two_coins():
    a = ppl.sample("a", dist.Bernoulli(0.5))
    b = ppl.sample("b", dist.Bernoulli(0.5))
    ppl.sample("y", dist.Normal(a + b, 1.0), obs=torch.tensor(1.0))
    return int(a), int(b)


def test_queue_enumerates_every_assignment():
    todo = pyqueue.Queue()
    todo.put(Trace())
    run = poutine.queue(two_coins, queue=todo)
    results = [run() for _ in range(4)]
    assert results == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert todo.empty()


def test_queue_under_outer_trace_resets_it():
    todo = pyqueue.Queue()
    todo.put(Trace())
    tr = poutine.trace(poutine.queue(two_coins, queue=todo)).get_trace()
    assert set(tr.nodes) == {"_INPUT", "a", "b", "y", "_RETURN"}
    assert (int(tr.nodes["a"]["value"]), int(tr.nodes["b"]["value"])) == (0, 0)


def test_queue_errors():
    with pytest.raises(ValueError, match="queue"):
        poutine.queue(two_coins)
    todo = pyqueue.Queue()
    todo.put(Trace())
    with pytest.raises(ValueError, match="max_tries=1"):
        poutine.queue(two_coins, queue=todo, max_tries=1)()


def test_handlers_module_matches_poutine():
    for name in handlers.__all__:
        assert getattr(handlers, name) is getattr(poutine, name), name
    with pytest.raises(AttributeError):
        handlers.no_such_handler  # noqa: B018


def test_aliases_at_pyro_paths():
    from ppl.poutine.broadcast_messenger import BroadcastMessenger
    from ppl.poutine.indep_messenger import CondIndepStackFrame, IndepMessenger
    from ppl.poutine.subsample_messenger import SubsampleMessenger, _Subsample

    assert BroadcastMessenger is poutine.BroadcastMessenger
    assert CondIndepStackFrame is runtime.CondIndepStackFrame
    assert IndepMessenger is SubsampleMessenger is poutine.PlateMessenger
    assert _Subsample(5, 2, torch.device("cpu")).sample().shape == (2,)
    assert runtime._PYRO_PARAM_STORE is ppl.get_param_store()
    assert runtime._PYRO_STACK == []
    with ppl.plate("outer", 2), ppl.plate("inner", 3):
        assert runtime._DIM_ALLOCATOR._stack == ["outer", "inner"]  # dims -1, -2
        assert len(runtime._PYRO_STACK) == 2
    assert runtime._DIM_ALLOCATOR._stack == []


def test_validation_switch_is_global():
    from ppl.poutine import util

    was = util.is_validation_enabled()
    try:
        util.enable_validation(False)
        assert not ppl.settings.is_validation_enabled()
    finally:
        util.enable_validation(was)


def test_same_as_pyro_queue():
    pyro = pytest.importorskip("pyro")

    def pyro_coins():
        a = pyro.sample("a", pyro.distributions.Bernoulli(0.5))
        b = pyro.sample("b", pyro.distributions.Bernoulli(0.5))
        return int(a), int(b)

    q = pyqueue.Queue()
    q.put(pyro.poutine.Trace())
    run = pyro.poutine.queue(pyro_coins, queue=q)
    assert [run() for _ in range(4)] == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_handler_on_method_binds_self():
    class A:
        @poutine.block
        def run(self, x):
            return ppl.sample("z", dist.Normal(x, 1.0)), self

    a = A()
    tr = poutine.trace(a.run).get_trace(torch.tensor(0.0))
    assert tr.nodes["_RETURN"]["value"][1] is a
    assert "z" not in tr  # still blocked


def test_non_callable_first_argument_is_an_error():
    with pytest.raises(ValueError, match="not callable"):
        poutine.mask(False)
    with poutine.mask(mask=False):
        pass


def test_escape_lets_inner_trace_record_the_site():
    def model():
        ppl.sample("x", dist.Normal(0.0, 1.0))
        ppl.sample("y", dist.Normal(0.0, 1.0))

    tm = poutine.trace(model)
    with pytest.raises(runtime.NonlocalExit) as info:
        poutine.escape(tm, escape_fn=lambda msg: msg.name == "x")()
    assert info.value.site.name == "x"
    assert "x" in tm.trace and "y" not in tm.trace
    outer = poutine.trace(poutine.escape(model, escape_fn=lambda msg: msg.name == "y"))
    with pytest.raises(runtime.NonlocalExit):
        outer()
    assert "x" in outer.trace and "y" not in outer.trace  # stopped at escape


def test_param_only_trace_holds_params_only():
    def model():
        ppl.param("p", torch.ones(2))
        ppl.sample("x", dist.Normal(0.0, 1.0))

    tr = poutine.trace(model, param_only=True).get_trace()
    assert list(tr.nodes) == ["p"]


def test_make_handler_decorator():
    from ppl.poutine.scale_messenger import ScaleMessenger

    @handlers._make_handler(ScaleMessenger, "my.module")
    def half(fn=None, scale=1.0):
        """Scale by a half."""

    assert half.__name__ == "half" and half.__module__ == "my.module"
    assert half.__doc__ == "Scale by a half."

    def model():
        ppl.sample("x", dist.Normal(0.0, 1.0), obs=torch.tensor(0.0))

    tr = poutine.trace(half(model, scale=0.5)).get_trace()
    assert tr.nodes["x"]["scale"] == 0.5


def _seq_model(sample, plate, Normal):
    a = sample("a", Normal(0.0, 1.0))
    for i in plate("s", 2):
        b = sample(f"b{i}", Normal(a, 1.0))
        sample(f"c{i}", Normal(b, 1.0))
    with plate("v", 3):
        sample("d", Normal(0.0, 1.0))


def test_dense_edges_respect_sequential_plates():
    tr = poutine.trace(lambda: _seq_model(ppl.sample, ppl.plate, dist.Normal), "dense").get_trace()
    edges = set(tr.edges)
    assert ("b0", "c0") in edges and ("a", "c1") in edges and ("a", "d") in edges
    assert ("b0", "b1") not in edges and ("b0", "c1") not in edges
    flat = poutine.trace(lambda: _seq_model(ppl.sample, ppl.plate, dist.Normal)).get_trace()
    assert set(flat.edges) == set()


def test_dense_edges_same_as_pyro():
    pyro = pytest.importorskip("pyro")
    ours = poutine.trace(lambda: _seq_model(ppl.sample, ppl.plate, dist.Normal), "dense")
    theirs = pyro.poutine.trace(
        lambda: _seq_model(pyro.sample, pyro.plate, pyro.distributions.Normal), "dense"
    )
    assert set(ours.get_trace().edges) == set(theirs.get_trace().edges)


def _pickle_model():
    a = ppl.sample("a", dist.Normal(0.0, 1.0))
    return ppl.sample("b", dist.Normal(a, 1.0))


@pytest.mark.parametrize(
    "kwargs", [{}, {"hide": ["a"]}, {"expose": ["a"]}, {"expose_types": ["sample"]}]
)
def test_blocked_model_pickles(kwargs):
    import pickle

    blocked = poutine.block(_pickle_model, **kwargs)
    restored = pickle.loads(pickle.dumps(blocked))
    names = list(poutine.trace(blocked).get_trace().stochastic_nodes)
    assert list(poutine.trace(restored).get_trace().stochastic_nodes) == names
