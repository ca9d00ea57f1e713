"""Model rendering: a model's graphical structure from one run, with ``render_model``.

The flow of Pyro's ``model_rendering`` tutorial. ``ppl.render_model`` runs the model
once, tracks which sample sites and params each site's distribution depends on (tensor
provenance), groups sites by plate and draws the graph with the ``graphviz`` package
(an optional extra: ``pip install graphviz`` plus the ``dot`` binary to save files).
The graph itself comes from two functions that need nothing extra, and this script
prints what they find for each of the tutorial's models:

* ``get_model_relations(model, args, kwargs)``: per sample site its upstream sample
  sites, params, distribution name, its plates, and which sites are observed;
* ``generate_graph_specification(relations, render_params)``: nodes per plate (key
  None for none), plate nesting, node data and the edge list.

The models: a Normal with a LogNormal scale; MACE (annotator reliability, from Paun et
al. 2018) with nested ``item``/``position`` plates; params as nodes; overlapping plates
(``plate1`` and ``plate2`` share ``y``, so a plate is split); a site observed in only one
of two runs (drawn half-shaded when runs are merged); and ``ppl.deterministic`` sites.
Run ``python tutorial/model_rendering.py [--out DIR]``; with graphviz installed each
graph is also rendered to ``DIR``.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

import ppl as pyro
import ppl.distributions as dist
from ppl.distributions import constraints
from ppl.infer.inspect import generate_graph_specification, get_model_relations


def normal_model(data: torch.Tensor) -> None:
    m = pyro.sample("m", dist.Normal(0.0, 1.0))
    sd = pyro.sample("sd", dist.LogNormal(m, 1.0))
    with pyro.plate("N", len(data)):
        pyro.sample("obs", dist.Normal(m, sd), obs=data)


def mace(positions: torch.Tensor, annotations: torch.Tensor) -> None:
    """MACE: each annotator is a spammer (``s = 1``, answers from ``ε``) with
    probability ``1 - θ``, else reports the true class ``c``."""
    num_annotators = int(positions.max()) + 1
    num_classes = int(annotations.max()) + 1
    num_items, num_positions = annotations.shape
    with pyro.plate("annotator", num_annotators):
        epsilon = pyro.sample("ε", dist.Dirichlet(torch.full((num_classes,), 10.0)))
        theta = pyro.sample("θ", dist.Beta(0.5, 0.5))
    with pyro.plate("item", num_items, dim=-2):
        c = pyro.sample("c", dist.Categorical(logits=torch.zeros(num_classes)))
        with pyro.plate("position", num_positions):
            s = pyro.sample("s", dist.Bernoulli(1 - theta[positions]))
            probs = torch.where(
                s[..., None] == 0, F.one_hot(c, num_classes).float(), epsilon[positions]
            )
            pyro.sample("y", dist.Categorical(probs), obs=annotations)


def mace_data() -> tuple[torch.Tensor, torch.Tensor]:
    """Seven annotators' labels (1..4) of 45 items; positions index the annotators."""
    torch.manual_seed(0)
    positions = torch.tensor([1, 1, 1, 2, 3, 4, 5]) - 1
    annotations = torch.randint(0, 4, (45, 7))
    return positions, annotations


def param_model(data: torch.Tensor) -> None:
    sigma = pyro.param("sigma", torch.tensor([1.0]), constraint=constraints.positive)
    mu = pyro.param("mu", torch.tensor([0.0]))
    x = pyro.sample("x", dist.Normal(mu, sigma))
    y = pyro.sample("y", dist.LogNormal(x, 1.0))
    with pyro.plate("N", len(data)):
        pyro.sample("z", dist.Normal(x, y), obs=data)


def overlapping_plates_model() -> None:
    plate1 = pyro.plate("plate1", 2, dim=-2)
    plate2 = pyro.plate("plate2", 3, dim=-1)
    with plate1:
        x = pyro.sample("x", dist.Normal(0.0, 1.0))
    with plate1, plate2:
        y = pyro.sample("y", dist.Normal(x, 1.0))
    with plate2:
        pyro.sample("z", dist.Normal(y.sum(-2, True), 1.0), obs=torch.zeros(3))


def semi_supervised_model(x: torch.Tensor, y: torch.Tensor | None = None) -> None:
    with pyro.plate("N", 2):
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        y = pyro.sample("y", dist.Normal(0.0, 1.0), obs=y)
        pyro.sample("x", dist.Normal(y + z, 1.0), obs=x)


def deterministic_model(data: torch.Tensor) -> None:
    sigma = pyro.param("sigma", torch.tensor([1.0]), constraint=constraints.positive)
    mu = pyro.param("mu", torch.tensor([0.0]))
    x = pyro.sample("x", dist.Normal(mu, sigma))
    log_y = pyro.sample("y", dist.Normal(x, 1.0))
    y = pyro.deterministic("y_deterministic", log_y.exp())
    with pyro.plate("N", len(data)):
        eps_z_loc = pyro.sample("eps_z_loc", dist.Normal(0.0, 1.0))
        z_loc = pyro.deterministic("z_loc", eps_z_loc + x, event_dim=0)
        pyro.sample("z", dist.Normal(z_loc, y), obs=data)


# name -> (model, list of (args, kwargs) runs, render options)
CASES: dict[str, tuple[Callable[..., Any], list[tuple[tuple, dict]], dict[str, bool]]] = {
    "normal": (normal_model, [((torch.ones(10),), {})], {}),
    "mace": (mace, [(mace_data(), {})], {}),
    "params": (
        param_model,
        [((torch.ones(10),), {})],
        {"render_params": True, "render_distributions": True},
    ),
    "overlapping_plates": (overlapping_plates_model, [((), {})], {}),
    "semi_supervised": (
        semi_supervised_model,
        [((), {"x": torch.zeros(2)}), ((), {"x": torch.zeros(2), "y": torch.zeros(2)})],
        {},
    ),
    "deterministic": (
        deterministic_model,
        [((torch.ones(10),), {})],
        {"render_params": True, "render_distributions": True, "render_deterministic": True},
    ),
}


def specification(name: str) -> list[dict[str, Any]]:
    """The graph specification of each run of case ``name``."""
    model, runs, options = CASES[name]
    specs = []
    for args, kwargs in runs:
        pyro.clear_param_store()
        relations = get_model_relations(
            model, args, kwargs, include_deterministic=options.get("render_deterministic", False)
        )
        spec = generate_graph_specification(relations, options.get("render_params", False))
        spec["relations"] = relations
        specs.append(spec)
    return specs


def render(name: str, out: Path) -> Any:
    """Draw case ``name`` with graphviz (merging its runs): the DOT source goes to
    ``out/<name>.gv`` and, when graphviz's ``dot`` binary is on the PATH, an SVG too."""
    model, runs, options = CASES[name]
    pyro.clear_param_store()
    args = [a for a, _ in runs]
    kwargs = [k for _, k in runs]
    many = len(runs) > 1
    graph = pyro.render_model(
        model,
        model_args=args if many else args[0],
        model_kwargs=kwargs if many else kwargs[0],
        **options,
    )
    (out / f"{name}.gv").write_text(graph.source)
    if shutil.which("dot") is not None:
        graph.render(str(out / name), format="svg", cleanup=True)
    return graph


def main(argv: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="render graphs here")
    args = parser.parse_args(argv)
    results = {name: specification(name) for name in CASES}
    for name, specs in results.items():
        for i, spec in enumerate(specs):
            plates = {str(k): v for k, v in spec["plate_groups"].items()}
            print(f"{name}[{i}]: plates {plates}")
            print(f"{'':>{len(name) + 5}}edges {spec['edge_list']}")
            print(f"{'':>{len(name) + 5}}observed {spec['relations']['observed']}")
    if args.out is not None:
        if importlib.util.find_spec("graphviz") is None:
            print("graphviz is not installed (pip install graphviz): not rendering")
        else:
            args.out.mkdir(parents=True, exist_ok=True)
            for name in CASES:
                render(name, args.out)
            print(f"wrote {len(CASES)} graphs (DOT source, SVG if dot exists) to {args.out}")
    return results


if __name__ == "__main__":
    main()
