"""One test group per handler: semantics, composition and nesting."""

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine


def two_sites():
    a = ppl.sample("a", dist.Normal(0.0, 1.0))
    b = ppl.sample("b", dist.Normal(a, 1.0))
    return a, b


# --- replay ----------------------------------------------------------------------
def test_replay_reuses_values_and_infer():
    guide_tr = poutine.trace(
        lambda: ppl.sample("a", dist.Normal(3.0, 1.0), infer={"tag": 1})
    ).get_trace()
    tr = poutine.trace(poutine.replay(two_sites, trace=guide_tr)).get_trace()
    assert tr.nodes["a"]["value"] is guide_tr.nodes["a"]["value"]
    assert tr.nodes["a"]["infer"] == {"tag": 1}
    assert "b" in tr.stochastic_nodes


def test_replay_of_observed_site_in_source_is_an_error():
    source = poutine.trace(lambda: ppl.sample("a", dist.Normal(0.0, 1.0), obs=torch.tensor(1.0)))
    with pytest.raises(ValueError, match="site 'a' must be a latent sample site"):
        poutine.replay(two_sites, trace=source.get_trace())()


def test_replay_params():
    f = poutine.replay(lambda: ppl.param("w", torch.tensor(1.0)), params={"w": torch.tensor(7.0)})
    assert float(f()) == 7.0


def test_replay_needs_something():
    with pytest.raises(ValueError, match="trace= or params="):
        poutine.replay(two_sites)


# --- block -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, visible",
    [
        ({}, []),
        ({"hide": ["a"]}, ["b"]),
        ({"expose": ["a"]}, ["a"]),
        ({"hide_types": ["sample"]}, []),
        ({"expose_types": ["sample"]}, ["a", "b"]),
        ({"hide_fn": lambda m: m.name == "b"}, ["a"]),
        ({"expose_fn": lambda m: m.name == "b"}, ["b"]),
        ({"expose_all": True, "hide_all": False}, ["a", "b"]),
    ],
)
def test_block_hides_chosen_sites(kwargs, visible):
    tr = poutine.trace(poutine.block(two_sites, **kwargs)).get_trace()
    assert tr.stochastic_nodes == visible


def test_block_inside_trace_does_not_stop_inner_trace():
    with poutine.trace() as outer:
        with poutine.block():
            with poutine.trace() as inner:
                two_sites()
    assert inner.trace.stochastic_nodes == ["a", "b"]
    assert outer.trace.stochastic_nodes == []


# --- condition / substitute / uncondition / do -------------------------------------
def test_condition_observes():
    tr = poutine.trace(poutine.condition(two_sites, data={"a": torch.tensor(2.0)})).get_trace()
    assert tr.observation_nodes == ["a"] and float(tr.nodes["a"]["value"]) == 2.0
    assert torch.allclose(tr.nodes["b"]["fn"].loc, torch.tensor(2.0))


def test_condition_from_trace():
    source = poutine.trace(two_sites).get_trace()
    tr = poutine.trace(poutine.condition(two_sites, data=source)).get_trace()
    assert tr.observation_nodes == ["a", "b"]


def test_substitute_keeps_site_latent_and_fixes_params():
    def m():
        w = ppl.param("w", torch.tensor(1.0))
        return ppl.sample("a", dist.Normal(w, 1.0))

    tr = poutine.trace(
        poutine.substitute(m, data={"a": torch.tensor(5.0), "w": torch.tensor(-1.0)})
    ).get_trace()
    assert tr.stochastic_nodes == ["a"] and float(tr.nodes["a"]["value"]) == 5.0
    assert float(tr.nodes["w"]["value"]) == -1.0
    via_fn = poutine.substitute(
        m, substitute_fn=lambda msg: torch.tensor(9.0) if msg.name == "a" else None
    )
    assert float(via_fn()) == 9.0
    with pytest.raises(ValueError, match="exactly one"):
        poutine.substitute(m)


def test_uncondition_makes_observed_latent():
    def m():
        return ppl.sample("x", dist.Normal(0.0, 1.0), obs=torch.tensor(0.5))

    tr = poutine.trace(poutine.uncondition(m)).get_trace()
    site = tr.nodes["x"]
    assert not site["is_observed"] and site["infer"]["was_observed"]
    assert float(site["infer"]["obs"]) == 0.5 and float(site["value"]) != 0.5


def test_do_intervenes_but_keeps_natural_site():
    intervened = poutine.do(two_sites, data={"a": torch.tensor(10.0)})
    tr = poutine.trace(intervened).get_trace()
    a, b = tr.nodes["_RETURN"]["value"]
    assert float(a) == 10.0
    assert "a" in tr.stochastic_nodes and float(tr.nodes["a"]["value"]) != 10.0
    assert "a__CF" not in tr.nodes
    assert torch.allclose(tr.nodes["b"]["fn"].loc, torch.tensor(10.0))


# --- seed ----------------------------------------------------------------------------
def test_seed_is_reproducible_and_restores_outer_state():
    torch.manual_seed(1)
    expected_next = torch.rand(1)
    torch.manual_seed(1)
    x1 = poutine.seed(two_sites, rng_seed=5)()
    after = torch.rand(1)
    x2 = poutine.seed(two_sites, rng_seed=5)()
    assert x1 == x2
    assert after == expected_next
    with pytest.raises(TypeError, match="rng_seed must be an int"):
        poutine.seed(two_sites, rng_seed="5")


# --- scale / mask ---------------------------------------------------------------------
def test_scale_composes_multiplicatively():
    with poutine.trace() as tm, poutine.scale(scale=2.0), poutine.scale(scale=torch.tensor(3.0)):
        ppl.sample("x", dist.Normal(0.0, 1.0))
    assert float(tm.trace.nodes["x"]["scale"]) == 6.0
    with pytest.raises(ValueError, match="positive"):
        poutine.scale(scale=-1.0)


def test_mask_composes_and_get_mask():
    m1, m2 = torch.tensor([True, True, False]), torch.tensor([True, False, True])
    with poutine.trace() as tm, poutine.mask(mask=m1), poutine.mask(mask=m2):
        assert poutine.get_mask().tolist() == [True, False, False]
        ppl.sample("x", dist.Normal(torch.zeros(3), 1.0))
    assert tm.trace.nodes["x"]["mask"].tolist() == [True, False, False]
    assert poutine.get_mask() is None
    with pytest.raises(TypeError, match="bool"):
        poutine.mask(mask=torch.ones(2))


# --- lift / infer_config / escape / markov / broadcast ---------------------------------
def test_lift_turns_params_into_samples():
    def m():
        return ppl.param("w", torch.zeros(3)), ppl.param("v", torch.zeros(1))

    lifted = poutine.lift(m, prior={"w": dist.Normal(0.0, 1.0)})
    tr = poutine.trace(lifted).get_trace()
    assert tr.nodes["w"]["type"] == "sample" and tr.nodes["w"]["value"].shape == (3,)
    assert tr.nodes["v"]["type"] == "param"


def test_lift_stochastic_function_priors_and_repeated_reads():
    def m():
        a = ppl.param("a", torch.full((2,), 3.0))
        return a, ppl.param("a"), ppl.param("b", torch.zeros(2))

    def a_prior(init, *args, **kwargs):  # called with the param's initial tensor
        return init + 1.0

    tr = poutine.trace(poutine.lift(m, prior={"a": a_prior})).get_trace()
    assert tr.nodes["a"]["type"] == "sample" and tr.nodes["a"]["fn"] is a_prior
    assert tr.nodes["a"]["value"].tolist() == [4.0, 4.0]
    assert tr.nodes["b"]["type"] == "param"
    a1, a2, _ = tr.nodes["_RETURN"]["value"]
    assert a2 is a1  # the second read of "a" reuses the first draw
    # a bare function prior lifts every param and hides the sites from outer handlers
    tr = poutine.trace(poutine.lift(m, prior=a_prior)).get_trace()
    assert "a" not in tr.nodes and "b" not in tr.nodes
    assert tr.nodes["_RETURN"]["value"][2].tolist() == [1.0, 1.0]
    ppl.clear_param_store()


def test_lift_warns_about_unused_prior_keys():
    with pytest.warns(UserWarning, match=r"did not find params \['c'\]"):
        poutine.trace(poutine.lift(lambda: ppl.param("w", torch.zeros(1)), prior={"c": None}))()
    ppl.clear_param_store()


def test_random_module_samples_module_params():
    ppl.clear_param_store()
    net = torch.nn.Linear(3, 1)
    with pytest.warns(FutureWarning, match="random_module is deprecated"):
        draw = ppl.random_module(
            "net", net, {"weight": dist.Normal(5.0, 1e-6), "bias": dist.Normal(-1.0, 1e-6)}
        )
    tr = poutine.trace(draw).get_trace()
    sampled = tr.nodes["_RETURN"]["value"]
    assert sampled is not net
    assert torch.allclose(sampled.weight, torch.full((1, 3), 5.0), atol=1e-4)
    assert torch.allclose(sampled(torch.ones(1, 3)), torch.tensor([[14.0]]), atol=1e-3)
    assert tr.nodes["net$$$weight"]["type"] == "sample"
    ppl.clear_param_store()


def test_infer_config_adds_entries():
    cfg = poutine.infer_config(two_sites, config_fn=lambda msg: {"enumerate": None, "n": msg.name})
    tr = poutine.trace(cfg).get_trace()
    assert tr.nodes["b"]["infer"]["n"] == "b"


def test_escape_raises_nonlocal_exit():
    with pytest.raises(poutine.NonlocalExit) as info:
        poutine.escape(two_sites, escape_fn=lambda msg: msg.name == "b")()
    assert info.value.site.name == "b"


def test_markov_forms():
    assert [t for t in ppl.markov(range(3))] == [0, 1, 2]
    with ppl.markov():
        pass
    assert poutine.markov(two_sites)() is not None


def test_broadcast_handler_is_compatible():
    with poutine.broadcast(), ppl.plate("p", 4):
        x = ppl.sample("x", dist.Normal(0.0, 1.0))
    assert x.shape == (4,)


# --- composition and decorator use -----------------------------------------------------
def test_handlers_compose_as_decorators():
    @poutine.scale(scale=2.0)
    def m():
        return ppl.sample("x", dist.Normal(0.0, 1.0), obs=torch.tensor(0.0))

    tr = poutine.trace(poutine.condition(m, data={})).get_trace()
    assert tr.nodes["x"]["scale"] == 2.0
    assert m.__name__ == "m"


def test_handler_wraps_only_callables():
    with pytest.raises(TypeError, match="callable"):
        poutine.trace(3)


def test_stacked_function_handlers_all_apply():
    def model():
        return ppl.sample("x", dist.Normal(0.0, 1.0)), ppl.sample("y", dist.Normal(0.0, 1.0))

    inner = poutine.condition(model, data={"x": torch.tensor(1.0)})
    outer = poutine.substitute(inner, data={"y": torch.tensor(3.0)})
    tr = poutine.trace(outer).get_trace()
    assert float(tr.nodes["x"]["value"]) == 1.0 and tr.observation_nodes == ["x"]
    assert float(tr.nodes["y"]["value"]) == 3.0
