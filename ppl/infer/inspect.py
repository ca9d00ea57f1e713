"""Inspect a model's structure: dependencies between sites, and a graphviz picture of it.

Design notes
------------
Everything here starts from one traced run of the model in which every sample (and
param) value is tagged with its own site name (:mod:`ppl.ops.provenance`). The tags
flow through every torch operation, so the ``log_prob`` of a site's distribution at its
value carries exactly the names of the sites its parameters were computed from: those
are the site's direct upstream dependencies. Tags follow data flow, not Python control
flow, and each site is tagged only with its own name (tags are reset at every site), so
only *direct* dependencies are recorded.

* :func:`get_dependencies` turns those edges into the prior dependency structure and
  the posterior one (reversed edges plus moralization: latents sharing a child become
  dependent), with the plates across which a dependency is all-to-all.
* :func:`get_model_relations` collects the edges, distributions, plates and observed
  sites as plain lists; :func:`generate_graph_specification` groups them by plate and
  nests the plates; :func:`render_graph` draws that spec with graphviz, and
  :func:`render_model` chains the three.

graphviz is optional: everything up to the graph specification works without it, and
:func:`render_graph` raises an ``ImportError`` naming ``pip install graphviz``. No
graphviz binary is run unless :func:`render_model` is given a ``filename``.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> def model():
    ...     a = ppl.sample("a", dist.Normal(0.0, 1.0))
    ...     ppl.sample("b", dist.Normal(a, 1.0), obs=torch.tensor(0.5))
    >>> get_dependencies(model)["posterior_dependencies"]
    {'a': {'a': set(), 'b': set()}}
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .. import distributions as dist
from ..ops.provenance import ProvenanceTensor, detach_provenance, get_provenance
from ..poutine.messenger import Messenger
from ..poutine.runtime import Message
from ..poutine.trace_messenger import trace
from ..poutine.util import site_is_subsample
from ..settings import validation_enabled

if TYPE_CHECKING:  # pragma: no cover
    import graphviz

__all__ = [
    "generate_graph_specification",
    "get_dependencies",
    "get_model_relations",
    "is_sample_site",
    "render_graph",
    "render_model",
    "site_is_deterministic",
    "site_is_subsample",
]


def is_sample_site(msg: Any, *, include_deterministic: bool = False) -> bool:
    """Whether ``msg`` is a sample site that counts as a random variable.

    Subsample sites never count. Unless ``include_deterministic``, neither do fully
    masked observations nor sites whose (innermost) distribution is a ``Delta``
    (``ppl.deterministic`` sites and explicit ``Delta`` samples).

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> tr = ppl.poutine.trace(lambda: ppl.sample("x", dist.Delta(torch.tensor(1.0))))
        >>> site = tr.get_trace().nodes["x"]
        >>> is_sample_site(site), is_sample_site(site, include_deterministic=True)
        (False, True)
    """
    if msg["type"] != "sample" or site_is_subsample(msg):
        return False
    if include_deterministic:
        return True
    if msg["is_observed"] and msg["mask"] is False:
        return False  # an observation masked out entirely carries no information
    fn = msg["fn"]
    while hasattr(fn, "base_dist"):
        fn = fn.base_dist
    return type(fn).__name__ != "Delta"


def site_is_deterministic(msg: Any) -> bool:
    """Whether ``msg`` was recorded by ``ppl.deterministic``.

    Example:
        >>> import ppl
        >>> tr = ppl.poutine.trace(lambda: ppl.deterministic("d", torch.ones(1))).get_trace()
        >>> site_is_deterministic(tr.nodes["d"])
        True
    """
    return msg["type"] == "sample" and bool(msg["infer"].get("_deterministic", False))


class TrackProvenance(Messenger):
    """Tag each sample (and param) value with its own site name, dropping older tags.

    Dropping the tags a value already carries (an observed value computed from other
    sites) keeps only direct dependencies.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> with TrackProvenance():
        ...     a = ppl.sample("a", dist.Normal(0.0, 1.0))
        >>> get_provenance(a)
        frozenset({'a'})
    """

    def __init__(self, *, include_deterministic: bool = False) -> None:
        super().__init__()
        self.include_deterministic = include_deterministic

    def postprocess_message(self, msg: Message) -> None:
        if msg.type == "sample":
            tracked = (self.include_deterministic and site_is_deterministic(msg)) or (
                is_sample_site(msg, include_deterministic=self.include_deterministic)
            )
        else:
            tracked = msg.type == "param"
        if tracked and msg.name is not None and isinstance(msg.value, torch.Tensor):
            msg.value = ProvenanceTensor(detach_provenance(msg.value), frozenset({msg.name}))


def _traced_run(
    model: Callable[..., Any],
    model_args: tuple,
    model_kwargs: dict,
    include_deterministic: bool,
) -> Any:
    """One run of ``model`` under :class:`TrackProvenance`, leaving the global RNG as it was."""
    if not isinstance(model_args, tuple):
        raise TypeError(f"model_args: expected a tuple, got {type(model_args).__name__}")
    if not isinstance(model_kwargs, dict):
        raise TypeError(f"model_kwargs: expected a dict, got {type(model_kwargs).__name__}")
    with torch.random.fork_rng(), torch.no_grad(), validation_enabled(False):
        with TrackProvenance(include_deterministic=include_deterministic):
            return trace(model).get_trace(*model_args, **model_kwargs)


def _vectorized_plates(msg: Any) -> set[str]:
    return {f.name for f in msg["cond_indep_stack"] if f.vectorized}


@torch.enable_grad()
def get_dependencies(
    model: Callable[..., Any],
    model_args: tuple | None = None,
    model_kwargs: dict | None = None,
    include_deterministic: bool = False,
) -> dict[str, dict[str, dict[str, set[str]]]]:
    """The prior and posterior dependency structure of a (conditioned) model.

    Returns ``{"prior_dependencies": ..., "posterior_dependencies": ...}``:

    * ``prior_dependencies[d][u]`` exists when the distribution at site ``d`` (latent
      or observed) depends directly on latent site ``u`` upstream (every site depends
      on itself); the value is the set of plates across which the dependency is
      all-to-all (elements of ``d`` depend on every element of ``u`` in that plate);
      absent plates mean element-wise dependence. Keys follow model order.
    * ``posterior_dependencies[u][d]``: for each latent ``u``, the sites it depends on
      in the posterior: its prior children, plus co-parents of a common child
      (moralization), in reverse model order.

    ``ppl.deterministic`` and ``Delta`` sites are left out.

    Args:
        model: the model, run once (with a forked RNG, so global RNG state is unchanged).
        model_args: positional arguments for the model.
        model_kwargs: keyword arguments for the model.
        include_deterministic: tag deterministic sites too (they still are not nodes).

    Example:
        >>> import torch, ppl, ppl.distributions as dist
        >>> def model():
        ...     with ppl.plate("p", 3):
        ...         a = ppl.sample("a", dist.Normal(0.0, 1.0))
        ...     ppl.sample("b", dist.Normal(a.sum(), 1.0), obs=torch.tensor(0.0))
        >>> get_dependencies(model)["posterior_dependencies"]
        {'a': {'a': {'p'}, 'b': set()}}
    """
    tr = _traced_run(model, model_args or (), model_kwargs or {}, include_deterministic)
    sites = [msg for msg in tr.nodes.values() if is_sample_site(msg)]
    observed = {msg["name"] for msg in sites if msg["is_observed"]}
    plates = {msg["name"]: _vectorized_plates(msg) for msg in sites}

    # direct prior edges: latent upstream sites found in the log-density's tags
    prior: dict[str, dict[str, set[str]]] = {name: {name: set()} for name in plates}
    for i, down in enumerate(sites):
        candidates = [
            up["name"] for up in sites[:i] if not up["is_observed"] and up["value"].numel()
        ]
        if not candidates:
            continue
        tags = get_provenance(down["fn"].log_prob(down["value"]))
        for u in candidates:
            if u in tags:
                prior[down["name"]][u] = set()

    # reverse the edges, keeping only latent sites as keys
    posterior: dict[str, dict[str, set[str]]] = {n: {} for n in plates if n not in observed}
    for d, ups in prior.items():
        for u, ps in ups.items():
            if u not in observed:
                posterior[u][d] = set(ps)

    # moralize: the latent parents of each site become mutually dependent; a pair is
    # recorded under the later (in model order) of the two sites
    rank = {msg["name"]: i for i, msg in enumerate(reversed(sites))}
    for d, ups in prior.items():
        latent_ups = {u: ps for u, ps in ups.items() if u not in observed}
        for u1, p1 in latent_ups.items():
            for u2, p2 in latent_ups.items():
                if rank[u1] > rank[u2]:
                    continue
                shared = posterior[u2].setdefault(u1, set())
                shared |= (plates[u1] & plates[u2]) - plates[d]
                shared |= plates[u2] & p1
                shared |= plates[u1] & p2

    return {"prior_dependencies": prior, "posterior_dependencies": posterior}


def _dist_name(fn: Any) -> str:
    """The class name of ``fn`` with ``Independent``/``Expanded``/``Masked`` wrappers peeled."""
    wrappers = (dist.Independent, dist.ExpandedDistribution, dist.MaskedDistribution)
    while isinstance(fn, wrappers):
        fn = fn.base_dist
    return type(fn).__name__


def _split_overlapping_plates(groups: dict[str, list[str]]) -> dict[str, list[str]]:
    """Split plates that overlap without nesting, so the groups form a tree.

    When plates ``p`` and ``q`` share sites but each also has sites of its own, ``q``
    keeps the shared ones and its remainder becomes a new group ``q + "__CLONE"``.
    """
    groups = dict(groups)
    changed = True
    while changed:
        changed = False
        for p, q in itertools.permutations(list(groups), 2):
            ps, qs = set(groups[p]), set(groups[q])
            if ps & qs and ps - qs and qs - ps:
                groups[q] = [n for n in groups[q] if n in ps]
                groups[q + "__CLONE"] = [n for n in qs if n not in ps]
                changed = True
                break
    return groups


def get_model_relations(
    model: Callable[..., Any],
    model_args: tuple | None = None,
    model_kwargs: dict | None = None,
    include_deterministic: bool = False,
) -> dict[str, Any]:
    """Relations between the sample sites, params and plates of one run of ``model``.

    Returns a dict with

    * ``"sample_sample"``: each sample site -> the upstream sample sites its
      distribution depends on directly;
    * ``"sample_param"``: each sample site -> the params it depends on directly;
    * ``"sample_dist"``: each sample site -> its distribution's class name (wrappers
      peeled; ``"Deterministic"`` for ``ppl.deterministic`` sites);
    * ``"param_constraint"``: each param -> its constraint, as a string;
    * ``"plate_sample"``: each plate -> the sample sites inside it;
    * ``"observed"``: the observed sample sites.

    All lists follow model order. Deterministic sites are sample sites here, but only
    with ``include_deterministic`` are they tagged, i.e. seen as upstream of others.

    Example:
        >>> import torch, ppl, ppl.distributions as dist
        >>> def model(data):
        ...     m = ppl.sample("m", dist.Normal(0.0, 1.0))
        ...     with ppl.plate("N", len(data)):
        ...         ppl.sample("x", dist.Normal(m, 1.0), obs=data)
        >>> rel = get_model_relations(model, (torch.zeros(2),))
        >>> rel["sample_sample"], rel["plate_sample"], rel["observed"]
        ({'m': [], 'x': ['m']}, {'N': ['x']}, ['x'])
    """
    tr = _traced_run(model, model_args or (), model_kwargs or {}, include_deterministic)
    order = list(tr.nodes)

    def in_model_order(names: Collection[str]) -> list[str]:
        return [n for n in order if n in names]

    sample_sample: dict[str, list[str]] = {}
    sample_param: dict[str, list[str]] = {}
    sample_dist: dict[str, str] = {}
    param_constraint: dict[str, str] = {}
    plate_sample: dict[str, list[str]] = {}
    observed: list[str] = []
    for name, site in tr.nodes.items():
        if site["type"] == "param":
            param_constraint[name] = str(site["kwargs"].get("constraint"))
        if site["type"] != "sample" or site_is_subsample(site):
            continue
        deterministic = site_is_deterministic(site)
        fn = site["fn"].base_dist if deterministic else site["fn"]
        tags = get_provenance(fn.log_prob(site["value"]))
        upstream = [u for u in tags if u != name and u in tr.nodes]
        sample_sample[name] = in_model_order(
            [u for u in upstream if tr.nodes[u]["type"] == "sample"]
        )
        sample_param[name] = in_model_order(
            [u for u in upstream if tr.nodes[u]["type"] == "param"]
        )
        sample_dist[name] = "Deterministic" if deterministic else _dist_name(site["fn"])
        for frame in site["cond_indep_stack"]:
            plate_sample.setdefault(frame.name, []).append(name)
        if site["is_observed"]:
            observed.append(name)

    plate_sample = _split_overlapping_plates(plate_sample)
    return {
        "sample_sample": sample_sample,
        "sample_param": sample_param,
        "sample_dist": sample_dist,
        "param_constraint": param_constraint,
        "plate_sample": {p: in_model_order(v) for p, v in plate_sample.items()},
        "observed": observed,
    }


def generate_graph_specification(
    model_relations: dict[str, Any], render_params: bool = False
) -> dict[str, Any]:
    """Turn :func:`get_model_relations` output into nodes, edges and nested plates.

    Returns a dict with ``"plate_groups"`` (plate -> its nodes; key ``None`` holds the
    nodes in no plate), ``"plate_data"`` (plate -> ``{"parent": enclosing plate or
    None}``), ``"node_data"`` (node -> ``is_observed``, ``distribution`` and, for
    params, ``constraint``) and ``"edge_list"`` (``(source, target)`` pairs).
    Params appear only with ``render_params``.

    Raises:
        NotImplementedError: two plates share nodes but neither contains the other.

    Example:
        >>> rel = {"sample_sample": {"m": [], "x": ["m"]}, "sample_param": {"m": [], "x": []},
        ...        "sample_dist": {"m": "Normal", "x": "Normal"}, "param_constraint": {},
        ...        "plate_sample": {"N": ["x"]}, "observed": ["x"]}
        >>> spec = generate_graph_specification(rel)
        >>> spec["plate_groups"], spec["plate_data"], spec["edge_list"]
        ({'N': ['x'], None: ['m']}, {'N': {'parent': None}}, [('m', 'x')])
    """
    plate_groups: dict[str | None, list[str]] = dict(model_relations["plate_sample"])
    in_some_plate = {n for names in plate_groups.values() for n in names}
    plate_groups[None] = [n for n in model_relations["sample_sample"] if n not in in_some_plate]
    if render_params:
        for names in model_relations["sample_param"].values():
            for p in names:
                if p not in plate_groups[None]:
                    plate_groups[None].append(p)

    node_data: dict[str, dict[str, Any]] = {
        n: {
            "is_observed": n in model_relations["observed"],
            "distribution": model_relations["sample_dist"][n],
        }
        for n in model_relations["sample_sample"]
    }
    if render_params:
        for p, constraint in model_relations["param_constraint"].items():
            node_data[p] = {"is_observed": False, "constraint": constraint, "distribution": None}

    # nest plates by inclusion of their node sets; trace order breaks ties
    plate_data: dict[str, dict[str, str | None]] = {}
    named = [p for p in plate_groups if p is not None]
    for outer_first, inner_first in itertools.combinations(named, 2):
        a, b = set(plate_groups[outer_first]), set(plate_groups[inner_first])
        if a < b:
            plate_data[outer_first] = {"parent": inner_first}
        elif a >= b:
            plate_data[inner_first] = {"parent": outer_first}
        elif a & b:
            raise NotImplementedError(
                f"plates {outer_first!r} and {inner_first!r} share sites but neither "
                "contains the other; render_model() draws only nested plates"
            )
    for p in named:
        plate_data.setdefault(p, {"parent": None})

    edge_list = [
        (src, dst) for dst, srcs in model_relations["sample_sample"].items() for src in srcs
    ]
    if render_params:
        edge_list += [
            (src, dst) for dst, srcs in model_relations["sample_param"].items() for src in srcs
        ]
    return {
        "plate_groups": plate_groups,
        "plate_data": plate_data,
        "node_data": node_data,
        "edge_list": edge_list,
    }


def _deep_merge(things: list[Any]) -> Any:
    """Merge graph specs of several runs: union of dict keys, booleans vote.

    Booleans that agree keep their value; disagreeing ones become ``None`` ("maybe",
    drawn half-shaded). Any other value is taken from the first thing that has it.

    Example:
        >>> _deep_merge([{"x": True, "y": 1}, {"x": False, "z": 2}])
        {'x': None, 'y': 1, 'z': 2}
    """
    if len(things) == 1:
        return things[0]
    first = things[0]
    if isinstance(first, dict):
        merged: dict[Any, Any] = {}
        for thing in things:
            for key in thing:
                if key not in merged:
                    merged[key] = _deep_merge([t[key] for t in things if key in t])
        return merged
    if isinstance(first, bool):
        if all(t is True for t in things):
            return True
        if all(t is False for t in things):
            return False
        return None
    return first


def _import_graphviz() -> Any:
    try:
        import graphviz
    except ImportError as e:
        raise ImportError(
            "rendering a model needs the graphviz Python package "
            "(https://graphviz.org/): install it with `pip install graphviz` "
            "(or `pip install ppl[render]`); saving to a file also needs the `dot` program"
        ) from e
    return graphviz


def render_graph(
    graph_specification: dict[str, Any], render_distributions: bool = False
) -> graphviz.Digraph:
    """Draw a :func:`generate_graph_specification` dict as a ``graphviz.Digraph``.

    Latent nodes are white ellipses, observed ones gray (half-shaded when observed
    in some runs only), params plain text, deterministic sites dashed; plates are
    clusters labelled with their names. ``render_distributions`` adds a legend node
    listing each site's distribution and each param's constraint. Nothing is
    rendered to disk (no ``dot`` call).

    Raises:
        ImportError: the graphviz package is not installed.
    """
    graphviz = _import_graphviz()
    plate_groups = graph_specification["plate_groups"]
    plate_data = dict(graph_specification["plate_data"])  # consumed below
    node_data = graph_specification["node_data"]

    graph = graphviz.Digraph()
    clusters: dict[str | None, Any] = {None: graph}
    for plate in plate_groups:
        if plate is not None:
            cluster = graphviz.Digraph(name=f"cluster_{plate}")
            cluster.attr(label=plate.split("__CLONE")[0], labeljust="r", labelloc="b")
            clusters[plate] = cluster

    fill = {False: "white", True: "gray", None: "gray:white"}
    for plate, names in plate_groups.items():
        for name in names:
            data = node_data[name]
            is_rv = bool(data["distribution"])
            clusters[plate].node(
                name,
                label=name if is_rv else name.replace("$params", ""),
                shape="ellipse" if is_rv else "plain",
                style="filled,dashed" if data["distribution"] == "Deterministic" else "filled",
                fillcolor=fill[data["is_observed"]],
            )

    # attach innermost plates first, so each cluster is complete when it is copied in
    while plate_data:
        parents = {d["parent"] for d in plate_data.values()}
        leaf = next(p for p in plate_data if p not in parents)
        clusters[plate_data.pop(leaf)["parent"]].subgraph(clusters[leaf])

    for src, dst in graph_specification["edge_list"]:
        graph.edge(src, dst)

    if render_distributions:
        lines = []
        for name, data in node_data.items():
            if data["distribution"]:
                lines.append(rf"{name} ~ {data['distribution']}\l")
            if data.get("constraint"):
                lines.append(rf"{name} : {data['constraint']}\l")
        graph.node("distribution_description_node", label="".join(lines), shape="plaintext")
    return graph


def render_model(
    model: Callable[..., Any],
    model_args: tuple | list[tuple] | None = None,
    model_kwargs: dict | list[dict] | None = None,
    filename: str | None = None,
    render_distributions: bool = False,
    render_params: bool = False,
    render_deterministic: bool = False,
) -> graphviz.Digraph:
    """Draw ``model`` as a graphical model with graphviz (plates, edges, observed sites).

    Pass lists of ``model_args``/``model_kwargs`` to merge several runs (e.g. a
    semi-supervised model run with and without labels: a site observed in only some
    runs is drawn half-shaded). With ``filename`` (e.g. ``"model.png"``; the suffix
    gives the format) the picture is also saved, which needs graphviz's ``dot``.

    Args:
        model: the model to draw.
        model_args: a tuple of positional arguments, or a list of them (one per run).
        model_kwargs: a dict of keyword arguments, or a list of them (one per run).
        filename: save the rendering here as well.
        render_distributions: add a legend of distributions (and param constraints).
        render_params: draw ``ppl.param`` sites and their edges.
        render_deterministic: draw ``ppl.deterministic`` sites (dashed).

    Returns:
        the ``graphviz.Digraph``.

    Raises:
        ImportError: the graphviz package is not installed.
        ValueError: lists of args and kwargs of different lengths.
    """
    runs: list[tuple[Any, Any]]
    if isinstance(model_args, list) or isinstance(model_kwargs, list):
        if not isinstance(model_args, list):
            model_args = [model_args or ()] * len(model_kwargs)  # type: ignore[arg-type]
        if not isinstance(model_kwargs, list):
            model_kwargs = [model_kwargs or {}] * len(model_args)
        if len(model_args) != len(model_kwargs):
            raise ValueError(
                f"render_model: model_args has {len(model_args)} entries but "
                f"model_kwargs has {len(model_kwargs)}; give one of each per run"
            )
        runs = list(zip(model_args, model_kwargs))
    else:
        runs = [(model_args, model_kwargs)]
    relations = [
        get_model_relations(model, args, kwargs, include_deterministic=render_deterministic)
        for args, kwargs in runs
    ]
    specs = [generate_graph_specification(r, render_params=render_params) for r in relations]
    graph = render_graph(_deep_merge(specs), render_distributions=render_distributions)
    if filename is not None:
        fmt = Path(filename).suffix[1:]
        graph.render(os.path.splitext(filename)[0], view=False, cleanup=True, format=fmt or None)
    return graph
