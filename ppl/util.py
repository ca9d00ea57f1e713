"""Pyro's ``pyro.util`` helpers under ppl's name: RNG seeding, NaN/Inf checks, shape checks.

Why: Pyro scripts and tests import these from ``pyro.util``; after ``import ppl as pyro``
they must find them at ``ppl.util``. Seeding delegates to :mod:`ppl.rng`, and the
model/guide match check to the ELBO's own check, so there is one implementation of each.

Example:
    >>> import torch
    >>> from ppl.util import torch_isnan, warn_if_nan
    >>> bool(torch_isnan(float("nan")))
    True
    >>> warn_if_nan(torch.tensor(1.0)).item()
    1.0
"""

from __future__ import annotations

import math
import numbers
import time
import timeit  # Pyro exposes the stdlib module as ``pyro.util.timeit``
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from ppl.distributions.util import ignore_jit_warnings
from ppl.infer.util import _enumerated_names, check_traceenum_requirements
from ppl.ops.context import optional
from ppl.rng import get_rng_state, set_rng_seed, set_rng_state

__all__ = [
    "ExperimentalWarning",
    "check_if_enumerated",
    "check_model_guide_match",
    "check_site_shape",
    "check_traceenum_requirements",
    "check_traces_match",
    "get_rng_state",
    "ignore_experimental_warning",
    "ignore_jit_warnings",
    "jit_iter",
    "optional",
    "save_visualization",
    "set_rng_seed",
    "set_rng_state",
    "site_is_subsample",
    "timed",
    "timeit",
    "torch_float",
    "torch_isinf",
    "torch_isnan",
    "warn_if_inf",
    "warn_if_nan",
]


def torch_isnan(x: torch.Tensor | numbers.Number) -> torch.Tensor | bool:
    """Whether ``x`` holds any NaN: a 0-dim bool tensor for tensors, a bool for numbers."""
    if isinstance(x, numbers.Number):
        return x != x
    return torch.isnan(x).any()


def torch_isinf(x: torch.Tensor | numbers.Number) -> torch.Tensor | bool:
    """Whether ``x`` holds any +/-inf: a 0-dim bool tensor for tensors, a bool for numbers."""
    if isinstance(x, numbers.Number):
        return x in (math.inf, -math.inf)
    return torch.isinf(x).any()


def _warn_if(value: Any, bad: Any, msg: str, what: str, allow_inf: bool) -> Any:
    if isinstance(value, dict):
        for key, item in value.items():
            _warn_if(item, bad, f"{msg} {key!r}", what, allow_inf)
        return value
    if isinstance(value, numbers.Number) and bad(value):
        warnings.warn(f"Encountered {what} {msg}".rstrip(), stacklevel=3)
    elif isinstance(value, torch.Tensor) and bool(torch.as_tensor(bad(value)).any()):
        warnings.warn(f"Encountered {what} {msg}".rstrip(), stacklevel=3)
    return value


def warn_if_nan(
    value: Any, msg: str = "", *, filename: str | None = None, lineno: int | None = None
) -> Any:
    """Warn when ``value`` (a number, tensor or dict of them) holds a NaN; return it.

    Args:
        value: what to check.
        msg: appended to the warning text, e.g. the name of the loss.
        filename, lineno: accepted for Pyro compatibility.
    Returns:
        ``value`` unchanged, so the call can wrap an expression.
    """
    del filename, lineno
    return _warn_if(value, torch_isnan, msg, "NaN:", allow_inf=True)


def warn_if_inf(
    value: Any,
    msg: str = "",
    allow_posinf: bool = False,
    allow_neginf: bool = False,
    *,
    filename: str | None = None,
    lineno: int | None = None,
) -> Any:
    """Warn when ``value`` holds an infinity not allowed by the flags; return it."""
    del filename, lineno

    def bad(x: Any) -> Any:
        if isinstance(x, numbers.Number):
            return (x == math.inf and not allow_posinf) or (x == -math.inf and not allow_neginf)
        out = torch.zeros_like(x, dtype=torch.bool)
        if not allow_posinf:
            out = out | (x == math.inf)
        if not allow_neginf:
            out = out | (x == -math.inf)
        return out

    return _warn_if(value, bad, msg, "+/-Inf:", allow_inf=False)


def check_model_guide_match(
    model_trace: Any, guide_trace: Any, max_plate_nesting: float = math.inf
) -> None:
    """Raise ``ValueError`` when the guide's sample sites do not match the model's.

    ``max_plate_nesting`` is accepted for Pyro compatibility.
    """
    del max_plate_nesting
    from ppl.infer.elbo import check_model_guide_match as check

    check(model_trace, guide_trace)


def check_site_shape(site: Any, max_plate_nesting: int) -> None:
    """Check a sample site's ``log_prob`` shape against its enclosing plates.

    Each plate at ``dim`` must see a log-prob dimension of the plate's size (or 1),
    and no batch dimension may sit left of ``max_plate_nesting``.

    Raises:
        ValueError: naming the site, the plate, the expected and the actual size.
    """
    actual = site["log_prob"].shape if "log_prob" in site else site["fn"].batch_shape
    actual = tuple(actual)
    expected: list[int | None] = [None] * max_plate_nesting
    for frame in site.get("cond_indep_stack", ()):
        if frame.vectorized and frame.dim is not None:
            if -frame.dim > max_plate_nesting:
                raise ValueError(
                    f"at site {site['name']!r}, plate {frame.name!r} uses dim {frame.dim}, "
                    f"beyond max_plate_nesting={max_plate_nesting}"
                )
            expected[frame.dim] = frame.size
    if len(actual) > max_plate_nesting:
        extra = actual[: len(actual) - max_plate_nesting]
        if any(size != 1 for size in extra):
            raise ValueError(
                f"at site {site['name']!r}, invalid log_prob shape {actual}: batch dims left of "
                f"max_plate_nesting={max_plate_nesting}; declare them with a plate"
            )
    for dim in range(-min(len(actual), max_plate_nesting), 0):
        size, want = actual[dim], expected[dim]
        if want is None:
            if size != 1:
                raise ValueError(
                    f"at site {site['name']!r}, invalid log_prob shape: dim {dim} of {actual} "
                    f"has size {size} but no plate is declared at that dim"
                )
        elif size not in (1, want):
            raise ValueError(
                f"at site {site['name']!r}, invalid log_prob shape: dim {dim} of {actual} "
                f"has size {size}, expected {want} from its plate"
            )


def jit_iter(tensor: torch.Tensor) -> list[torch.Tensor]:
    """The slices of ``tensor`` along dim 0, as a list (safe under the JIT tracer)."""
    with ignore_jit_warnings():
        return list(tensor)


class ExperimentalWarning(UserWarning):
    """Warns that a feature is experimental."""


@contextmanager
def ignore_experimental_warning() -> Iterator[None]:
    """Silence :class:`ExperimentalWarning` inside a block."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ExperimentalWarning)
        yield


class timed:
    """Context manager that records its wall-clock duration in ``.elapsed`` seconds."""

    def __enter__(self, timer: Any = time.perf_counter) -> timed:
        self.start = timer()
        return self

    def __exit__(self, *args: Any) -> None:
        self.end = time.perf_counter()
        self.elapsed = self.end - self.start


def torch_float(x: torch.Tensor | float | int) -> torch.Tensor | float:
    """Cast to floating point: ``x.float()`` for tensors, ``float(x)`` for numbers."""
    return x.float() if isinstance(x, torch.Tensor) else float(x)


# ---------------------------------------------------------------------------------
# Trace checks and rendering (Pyro's ``pyro.util`` names).
# ---------------------------------------------------------------------------------
def site_is_subsample(site: Any) -> bool:
    """True for a plate's subsample index site (see :func:`ppl.poutine.util.site_is_subsample`).

    Example:
        >>> from ppl.poutine.runtime import Message
        >>> site = Message(type="sample", name="i", fn=None, infer={"is_subsample": True})
        >>> site_is_subsample(site)
        True
    """
    from ppl.poutine.util import site_is_subsample as is_subsample

    return is_subsample(site)


def _sample_names(trace: Any) -> set[str]:
    return {name for name, site in trace.nodes.items() if site["type"] == "sample"}


def check_traces_match(trace1: Any, trace2: Any) -> None:
    """Check that two traces have the same sample sites with the same shapes.

    Different site sets only warn (``RuntimeWarning``); a site whose distribution
    shapes (``fn.shape(...)``) differ is an error.

    Raises:
        ValueError: naming the site and both shapes.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> tr = ppl.poutine.trace(lambda: ppl.sample("x", dist.Normal(0.0, 1.0))).get_trace()
        >>> check_traces_match(tr, tr)
    """
    names1, names2 = _sample_names(trace1), _sample_names(trace2)
    if names1 != names2:
        warnings.warn(
            f"Model vars changed: {sorted(names1)} vs {sorted(names2)}",
            RuntimeWarning,
            stacklevel=2,
        )
    for name in sorted(names1 & names2):
        site1, site2 = trace1.nodes[name], trace2.nodes[name]
        if hasattr(site1["fn"], "shape") and hasattr(site2["fn"], "shape"):
            shape1 = site1["fn"].shape(*site1["args"], **site1["kwargs"])
            shape2 = site2["fn"].shape(*site2["args"], **site2["kwargs"])
            if shape1 != shape2:
                raise ValueError(
                    f"Site dims disagree at site '{name}': {tuple(shape1)} vs {tuple(shape2)}"
                )


def check_if_enumerated(guide_trace: Any) -> None:
    """Warn when a guide marks sites for enumeration but the ELBO does not enumerate.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> tr = ppl.poutine.trace(lambda: ppl.sample("x", dist.Normal(0.0, 1.0))).get_trace()
        >>> check_if_enumerated(tr)  # nothing enumerated: silent
    """
    names = _enumerated_names(guide_trace)
    if names:
        warnings.warn(
            "Found sample sites configured for enumeration: "
            + ", ".join(names)
            + "\nIf you want to enumerate sites, you need to use TraceEnum_ELBO instead.",
            stacklevel=2,
        )


def save_visualization(trace: Any, graph_output: str) -> None:
    """Render a trace's sites and edges with graphviz to ``graph_output.pdf`` (deprecated).

    Latent non-reparameterized sites are salmon, reparameterized ones half grey and
    half salmon, observed ones green; plates' subsample sites are left out.

    Raises:
        ImportError: when the ``graphviz`` Python package is not installed.

    Example::

        tr = ppl.poutine.trace(model, graph_type="dense").get_trace()
        save_visualization(tr, "model")  # writes model.pdf
    """
    warnings.warn(
        "save_visualization is deprecated and will be removed in a future version.",
        DeprecationWarning,
        stacklevel=2,
    )
    try:
        import graphviz
    except ImportError as e:
        raise ImportError(
            "save_visualization needs the graphviz Python package: pip install graphviz"
        ) from e
    graph = graphviz.Digraph()
    stochastic = set(trace.stochastic_nodes)
    reparam = set(trace.reparameterized_nodes)
    observed = set(trace.observation_nodes)
    for name, site in trace.nodes.items():
        if site_is_subsample(site):
            continue
        if name in reparam:
            color = "lightgrey;.5:salmon"
        elif name in stochastic:
            color = "salmon"
        elif name in observed:
            color = "darkolivegreen3"
        else:
            continue
        graph.node(name, label=name, shape="ellipse", style="filled", fillcolor=color)
    for parent, child in trace.edges:
        if site_is_subsample(trace.nodes[parent]) or site_is_subsample(trace.nodes[child]):
            continue
        graph.edge(parent, child)
    graph.render(graph_output, view=False, cleanup=True)
