"""Model inspection: dependency structure, model relations, graph specs and rendering."""

import sys

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.distributions import constraints
from ppl.infer.inspect import (
    _deep_merge,
    generate_graph_specification,
    get_dependencies,
    get_model_relations,
    is_sample_site,
    render_graph,
    render_model,
)


def hierarchical(data):
    """Three groups of four observations; group means share a prior."""
    mu = ppl.sample("mu", dist.Normal(0.0, 1.0))
    tau = ppl.sample("tau", dist.LogNormal(0.0, 1.0))
    scale = ppl.param("scale", torch.tensor(1.0), constraint=constraints.positive)
    with ppl.plate("groups", 3, dim=-2):
        theta = ppl.sample("theta", dist.Normal(mu, tau))
        ppl.deterministic("theta2", 2 * theta)
        with ppl.plate("items", 4, dim=-1):
            ppl.sample("y", dist.Normal(theta, scale), obs=data)


DATA = torch.arange(12.0).reshape(3, 4)


def test_hierarchical_dependencies():
    deps = get_dependencies(hierarchical, (DATA,))
    assert deps == {
        "prior_dependencies": {
            "mu": {"mu": set()},
            "tau": {"tau": set()},
            "theta": {"theta": set(), "mu": set(), "tau": set()},
            "y": {"y": set(), "theta": set()},
        },
        "posterior_dependencies": {
            # mu and tau are co-parents of theta: moralization links them
            "mu": {"mu": set(), "tau": set(), "theta": set()},
            "tau": {"tau": set(), "theta": set()},
            "theta": {"theta": set(), "y": set()},
        },
    }
    assert list(deps["prior_dependencies"]) == ["mu", "tau", "theta", "y"]


def test_plate_reduced_by_a_sum_couples_its_elements():
    def model():
        with ppl.plate("p", 3):
            a = ppl.sample("a", dist.Normal(0.0, 1.0))
        ppl.sample("c", dist.Normal(a.sum(), 1.0), obs=torch.tensor(0.0))

    deps = get_dependencies(model)
    assert deps["posterior_dependencies"] == {"a": {"a": {"p"}, "c": set()}}


def test_collider_inside_plate_couples_upstream_across_the_plate():
    def model():
        a = ppl.sample("a", dist.Normal(0.0, 1.0))  # outside the plate
        with ppl.plate("p", 2):
            b = ppl.sample("b", dist.Normal(0.0, 1.0))
            ppl.sample("c", dist.Normal(a + b, 1.0), obs=torch.zeros(2))

    deps = get_dependencies(model)
    # b[i] and a share child c[i]: element-wise (no plate), a depends on every b
    assert deps["posterior_dependencies"] == {
        "a": {"a": set(), "b": set(), "c": set()},
        "b": {"b": set(), "c": set()},
    }


def test_deterministic_delta_and_masked_sites_are_elided():
    def model():
        a = ppl.sample("a", dist.Normal(0.0, 1.0))
        d = ppl.deterministic("d", a + 1)
        e = ppl.sample("e", dist.Delta(a - 1))
        with poutine.mask(mask=False):
            ppl.sample("hidden", dist.Normal(a, 1.0), obs=torch.tensor(3.0))
        ppl.sample("y", dist.Normal(d + e, 1.0), obs=torch.tensor(0.0))

    # untagged deterministic/Delta values pass a's tag on: y depends on a through them
    assert get_dependencies(model) == {
        "prior_dependencies": {"a": {"a": set()}, "y": {"y": set(), "a": set()}},
        "posterior_dependencies": {"a": {"a": set(), "y": set()}},
    }
    # tagged with their own names instead, they cut that path (and are still no nodes)
    assert get_dependencies(model, include_deterministic=True) == {
        "prior_dependencies": {"a": {"a": set()}, "y": {"y": set()}},
        "posterior_dependencies": {"a": {"a": set()}},
    }


def test_is_sample_site_rules():
    def model():
        with ppl.plate("p", 5, subsample_size=2):
            ppl.sample("x", dist.Normal(0.0, 1.0))
        ppl.deterministic("d", torch.ones(1))

    tr = poutine.trace(model).get_trace()
    assert [n for n, s in tr.nodes.items() if is_sample_site(s)] == ["x"]
    assert [n for n, s in tr.nodes.items() if is_sample_site(s, include_deterministic=True)] == [
        "x",
        "d",
    ]


def test_inspection_leaves_the_global_rng_alone():
    ppl.set_rng_seed(3)
    expected = torch.rand(3)
    ppl.set_rng_seed(3)
    get_dependencies(hierarchical, (DATA,))
    get_model_relations(hierarchical, (DATA,))
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("include_deterministic", [False, True])
def test_hierarchical_model_relations(include_deterministic):
    rel = get_model_relations(hierarchical, (DATA,), include_deterministic=include_deterministic)
    assert rel == {
        "sample_sample": {
            "mu": [],
            "tau": [],
            "theta": ["mu", "tau"],
            "theta2": ["theta"],
            "y": ["theta"],
        },
        "sample_param": {"mu": [], "tau": [], "theta": [], "theta2": [], "y": ["scale"]},
        "sample_dist": {
            "mu": "Normal",
            "tau": "LogNormal",
            "theta": "Normal",
            "theta2": "Deterministic",
            "y": "Normal",
        },
        "param_constraint": {"scale": str(constraints.positive)},
        "plate_sample": {"groups": ["theta", "theta2", "y"], "items": ["y"]},
        "observed": ["theta2", "y"],
    }


def test_relations_bad_arguments_name_the_parameter():
    with pytest.raises(TypeError, match="model_args: expected a tuple, got list"):
        get_model_relations(hierarchical, [DATA])
    with pytest.raises(TypeError, match="model_kwargs: expected a dict, got list"):
        get_dependencies(hierarchical, (DATA,), [("data", DATA)])


def test_graph_specification_with_params():
    rel = get_model_relations(hierarchical, (DATA,))
    spec = generate_graph_specification(rel, render_params=True)
    assert spec == {
        "plate_groups": {
            "groups": ["theta", "theta2", "y"],
            "items": ["y"],
            None: ["mu", "tau", "scale"],
        },
        "plate_data": {"items": {"parent": "groups"}, "groups": {"parent": None}},
        "node_data": {
            "mu": {"is_observed": False, "distribution": "Normal"},
            "tau": {"is_observed": False, "distribution": "LogNormal"},
            "theta": {"is_observed": False, "distribution": "Normal"},
            "theta2": {"is_observed": True, "distribution": "Deterministic"},
            "y": {"is_observed": True, "distribution": "Normal"},
            "scale": {
                "is_observed": False,
                "constraint": str(constraints.positive),
                "distribution": None,
            },
        },
        "edge_list": [
            ("mu", "theta"),
            ("tau", "theta"),
            ("theta", "theta2"),
            ("theta", "y"),
            ("scale", "y"),
        ],
    }
    without = generate_graph_specification(rel)
    assert without["plate_groups"][None] == ["mu", "tau"]
    assert "scale" not in without["node_data"]
    assert ("scale", "y") not in without["edge_list"]


def test_overlapping_plates_are_split_into_a_clone():
    def model():
        b = ppl.plate("b", 3, dim=-2)  # entered twice: once inside "a", once outside
        with ppl.plate("a", 2, dim=-1):
            x = ppl.sample("x", dist.Normal(0.0, 1.0))
            with b:
                ppl.sample("y", dist.Normal(x, 1.0))
        with b:
            ppl.sample("z", dist.Normal(torch.zeros(3, 1), 1.0))

    rel = get_model_relations(model)
    assert rel["plate_sample"] == {"a": ["x", "y"], "b": ["y"], "b__CLONE": ["z"]}
    spec = generate_graph_specification(rel)
    assert spec["plate_data"] == {
        "b": {"parent": "a"},
        "a": {"parent": None},
        "b__CLONE": {"parent": None},
    }


def test_non_nested_overlapping_plates_in_a_spec_are_refused():
    rel = {
        "sample_sample": {"x": [], "y": [], "z": []},
        "sample_param": {"x": [], "y": [], "z": []},
        "sample_dist": {"x": "Normal", "y": "Normal", "z": "Normal"},
        "param_constraint": {},
        "plate_sample": {"p": ["x", "y"], "q": ["y", "z"]},
        "observed": [],
    }
    with pytest.raises(NotImplementedError, match="plates 'p' and 'q' share sites"):
        generate_graph_specification(rel)


def test_deep_merge_votes_on_booleans():
    merged = _deep_merge(
        [
            {"n": {"is_observed": True, "distribution": "Normal"}, "k": 1},
            {"n": {"is_observed": False, "distribution": "Normal"}, "k": 2, "extra": True},
        ]
    )
    assert merged == {"n": {"is_observed": None, "distribution": "Normal"}, "k": 1, "extra": True}


def test_render_without_graphviz_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # makes `import graphviz` fail
    spec = generate_graph_specification(get_model_relations(hierarchical, (DATA,)))
    with pytest.raises(ImportError, match="pip install graphviz"):
        render_graph(spec)
    with pytest.raises(ImportError, match="pip install graphviz"):
        ppl.render_model(hierarchical, model_args=(DATA,))


def test_render_model_list_length_mismatch():
    with pytest.raises(ValueError, match="model_args has 2 entries but model_kwargs has 1"):
        render_model(hierarchical, [(DATA,), (DATA,)], [{}])


def test_render_model_draws_nested_plates_and_legend():
    graphviz = pytest.importorskip("graphviz")
    graph = ppl.render_model(
        hierarchical,
        model_args=(DATA,),
        render_distributions=True,
        render_params=True,
        render_deterministic=True,
    )
    assert isinstance(graph, graphviz.Digraph)
    src = graph.source
    outer, inner = src.index("subgraph cluster_groups"), src.index("subgraph cluster_items")
    assert outer < inner  # items is drawn inside groups
    assert "y [label=y fillcolor=gray shape=ellipse style=filled]" in src
    assert 'theta2 [label=theta2 fillcolor=gray shape=ellipse style="filled,dashed"]' in src
    assert "scale [label=scale fillcolor=white shape=plain style=filled]" in src
    for edge in ["mu -> theta", "tau -> theta", "theta -> y", "scale -> y", "theta -> theta2"]:
        assert edge in src
    assert r"tau ~ LogNormal\l" in src
    assert rf"scale : {constraints.positive}\l" in src


def test_render_model_merges_runs_of_a_semisupervised_model():
    pytest.importorskip("graphviz")

    def model(x, y=None):
        with ppl.plate("n", x.shape[0]):
            y = ppl.sample("y", dist.Bernoulli(0.5), obs=y)
            ppl.sample("x", dist.Normal(y, 1.0), obs=x)

    x = torch.zeros(3)
    src = render_model(model, model_args=(x,), model_kwargs=[{}, {"y": torch.ones(3)}]).source
    assert 'y [label=y fillcolor="gray:white"' in src  # observed in one run of two
    assert "x [label=x fillcolor=gray" in src
    assert "y -> x" in src


def test_render_model_with_filename_renders_in_the_suffix_format(monkeypatch, tmp_path):
    graphviz = pytest.importorskip("graphviz")
    calls = []

    def fake_render(self, filename, **kwargs):  # the real one needs the dot program
        calls.append((filename, kwargs))

    monkeypatch.setattr(graphviz.Digraph, "render", fake_render)
    render_model(hierarchical, model_args=(DATA,), filename=str(tmp_path / "model.png"))
    assert calls == [(str(tmp_path / "model"), {"view": False, "cleanup": True, "format": "png"})]
