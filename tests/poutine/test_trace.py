"""Trace: ordered nodes, node views, log-densities, shapes table, duplicate names."""

import math

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.distributions import constraints


def model(data):
    loc = ppl.param("loc", torch.tensor(0.5))
    scale = ppl.param("scale", torch.tensor(2.0), constraint=constraints.positive)
    z = ppl.sample("z", dist.Normal(loc, scale))
    with ppl.plate("data", len(data)):
        ppl.sample("obs", dist.Normal(z, 1.0), obs=data)
    return z


def test_nodes_in_order_and_views():
    data = torch.tensor([0.0, 1.0, 2.0])
    tr = poutine.trace(model).get_trace(data)
    assert list(tr.nodes) == ["_INPUT", "loc", "scale", "z", "data", "obs", "_RETURN"]
    assert tr.stochastic_nodes == ["z", "data"]  # as in Pyro, the plate's site is one
    assert tr.observation_nodes == ["obs"]
    assert tr.param_nodes == ["loc", "scale"]
    assert tr.reparameterized_nodes == ["z"]
    assert tr.nodes["_RETURN"]["value"] is tr.nodes["z"]["value"]
    assert tr.nodes["_INPUT"]["args"] == (data,)
    site = tr.nodes["obs"]
    assert site["type"] == "sample" and site["is_observed"]
    assert [f.name for f in site["cond_indep_stack"]] == ["data"]
    assert site["cond_indep_stack"][0].dim == -1 and site["cond_indep_stack"][0].size == 3
    assert tuple(site["fn"].batch_shape) == (3,)


def test_log_prob_sum_matches_hand_computation():
    data = torch.tensor([0.0, 1.0, 2.0])
    tr = poutine.trace(model).get_trace(data)
    z = tr.nodes["z"]["value"]
    expected = dist.Normal(0.5, 2.0).log_prob(z) + dist.Normal(z, 1.0).log_prob(data).sum()
    assert torch.allclose(tr.log_prob_sum(), expected)
    tr.compute_log_prob()
    assert tr.nodes["obs"]["log_prob"].shape == (3,)
    assert torch.allclose(tr.nodes["obs"]["unscaled_log_prob"], dist.Normal(z, 1.0).log_prob(data))


def test_scale_and_mask_enter_log_prob():
    def m():
        with poutine.scale(scale=3.0), poutine.mask(mask=torch.tensor([True, False])):
            ppl.sample("x", dist.Normal(torch.zeros(2), 1.0), obs=torch.tensor([0.0, float("nan")]))

    tr = poutine.trace(m).get_trace()
    assert torch.allclose(tr.log_prob_sum(), torch.tensor(3 * -0.5 * math.log(2 * math.pi)))


def test_duplicate_sample_site_is_an_error_naming_it():
    def m():
        ppl.sample("x", dist.Normal(0.0, 1.0))
        ppl.sample("x", dist.Normal(0.0, 1.0))

    with pytest.raises(ValueError, match="Multiple sample sites named 'x'"):
        poutine.trace(m).get_trace()
    with pytest.raises(RuntimeError):  # Pyro raises RuntimeError: still catchable as such
        poutine.trace(m).get_trace()


def test_param_site_may_repeat():
    def m():
        ppl.param("a", torch.tensor(1.0))
        return ppl.param("a", torch.tensor(1.0))

    tr = poutine.trace(m).get_trace()
    assert tr.param_nodes == ["a"]


def test_format_shapes_lists_sites():
    data = torch.zeros(3)
    table = poutine.trace(model).get_trace(data).format_shapes()
    assert table.splitlines()[0].strip() == "Trace Shapes:"
    assert "Param Sites:" in table and "Sample Sites:" in table
    assert any(line.split()[:3] == ["obs", "dist", "3"] for line in table.splitlines())


def test_nonfinite_sites_are_named():
    def m():
        ppl.sample("ok", dist.Normal(0.0, 1.0), obs=torch.tensor(0.0))
        ppl.sample("bad", dist.Normal(0.0, 1.0), obs=torch.tensor(float("inf")))

    with ppl.validation_enabled(False):
        tr = poutine.trace(m).get_trace()
    tr.compute_log_prob()
    assert tr.nonfinite_sites() == ["bad"]


def test_add_node_and_copy():
    tr = poutine.Trace()
    tr.add_node("x", type="sample", fn=dist.Normal(0.0, 1.0), value=torch.tensor(0.0), log_prob=1)
    assert tr.nodes["x"]["log_prob"] == 1
    tr2 = tr.copy()
    tr2.nodes["x"]["value"] = torch.tensor(5.0)
    assert float(tr.nodes["x"]["value"]) == 0.0
    with pytest.raises(ValueError, match="appears twice"):
        tr.add_node("x", type="param", value=torch.tensor(0.0))


def test_graph_edges_and_removal():
    tr = poutine.Trace()
    for a, b in [("a", "b"), ("a", "c"), ("c", "d")]:
        tr.add_edge(a, b)
    assert sorted(tr.edges) == [("a", "b"), ("a", "c"), ("c", "d")]
    assert tr.successors("a") == {"b", "c"} and tr.predecessors("d") == {"c"}
    order = tr.topological_sort()
    assert order.index("a") < order.index("c") < order.index("d")
    tr.remove_node("c")
    assert sorted(tr.edges) == [("a", "b")] and tr.predecessors("d") == set()


def test_compute_log_prob_sets_log_prob_sum_per_site():
    def m():
        with ppl.plate("p", 3):
            ppl.sample("x", dist.Normal(0.0, 1.0), obs=torch.tensor([0.0, 1.0, 2.0]))

    tr = poutine.trace(m).get_trace()
    tr.compute_log_prob()
    expected = dist.Normal(0.0, 1.0).log_prob(torch.tensor([0.0, 1.0, 2.0])).sum()
    assert torch.allclose(tr.nodes["x"]["log_prob_sum"], expected)
    assert torch.allclose(tr.log_prob_sum(), expected)
