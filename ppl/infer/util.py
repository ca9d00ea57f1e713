"""Helpers shared by the ELBOs, ``SVI`` and ``Predictive``: plates, params, site checks.

Design notes
------------
* **Plate-aware sums** (:func:`sum_to_frames`). The score-function term of a site
  ``z`` only needs the part of the cost that can depend on ``z``. Sites in a
  vectorized plate are conditionally independent along the plate's dim, so a cost
  term that shares that plate with ``z`` is kept element-wise along it and every
  other dim is summed out. This is Pyro's Rao-Blackwellization by plates, written as
  one small function instead of a multi-frame tensor class.
* **Plate nesting** (:func:`guess_max_plate_nesting`). Vectorized particles and
  parallel ``Predictive`` put an extra plate left of every batch dim the model
  uses. The number of such dims is read off one prototype run: the leftmost
  vectorized plate dim and the batch rank of every sample site (a batched site
  outside any plate still occupies its dims, so counting it is the safe choice).
* **Params by name** (:func:`collect_param_names`, :func:`unconstrained_params`):
  the optimizer is handed the store's unconstrained leaves of exactly the params
  a run touched, keyed by name.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from ..params.param_store import get_param_store
from ..poutine.runtime import CondIndepStackFrame, Message
from ..poutine.trace_struct import Trace, is_subsample_site

__all__ = [
    "check_site_shape",
    "collect_param_names",
    "guess_max_plate_nesting",
    "is_sample_site",
    "sum_to_frames",
    "unconstrained_params",
]


def is_sample_site(site: Message) -> bool:
    """True for a sample site that carries a density (not a plate's subsample site)."""
    return site.type == "sample" and not is_subsample_site(site)


def vectorized_dims(frames: Iterable[CondIndepStackFrame]) -> frozenset[int]:
    """The batch dims of the vectorized plates among ``frames``."""
    return frozenset(f.dim for f in frames if f.dim is not None)


def sum_to_frames(value: torch.Tensor | float, keep_dims: frozenset[int]) -> torch.Tensor | float:
    """Sum ``value`` over every dim that is not one of ``keep_dims`` (negative dims).

    Summed dims are kept with size 1, so the result broadcasts against any tensor
    laid out on the same (right-aligned) plate dims.

    Args:
        value: a per-site cost tensor, shape ``batch_shape`` (plates right-aligned).
        keep_dims: negative plate dims to keep element-wise.

    Returns:
        A tensor of ``value``'s rank with size 1 everywhere except ``keep_dims``
        (or ``value`` itself when it is a number).

    Example:
        >>> sum_to_frames(torch.ones(2, 3), frozenset({-1})).tolist()
        [[2.0, 2.0, 2.0]]
    """
    if not isinstance(value, torch.Tensor) or value.dim() == 0:
        return value
    dims = [d for d in range(-value.dim(), 0) if d not in keep_dims and value.shape[d] != 1]
    if not dims:
        return value
    return value.sum(dim=dims, keepdim=True)


def guess_max_plate_nesting(traces: Iterable[Trace]) -> int:
    """The number of batch dims the sites of ``traces`` use (right of any particle plate).

    Args:
        traces: traces of one prototype run (e.g. guide and model).

    Returns:
        ``max(-dim of every vectorized plate, len(batch_shape) of every sample site)``.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> def model():
        ...     with ppl.plate("a", 3):
        ...         ppl.sample("x", dist.Normal(0.0, 1.0))
        >>> guess_max_plate_nesting([ppl.poutine.trace(model).get_trace()])
        1
    """
    nesting = 0
    for tr in traces:
        for site in tr.nodes.values():
            if site.type != "sample":
                continue
            for frame in site.cond_indep_stack:
                if frame.dim is not None:
                    nesting = max(nesting, -frame.dim)
            if not is_subsample_site(site):
                batch_shape = getattr(site.fn, "batch_shape", ())
                nesting = max(nesting, len(batch_shape))
    return nesting


def check_site_shape(site: Message, max_plate_nesting: int) -> None:
    """Check that a site's ``log_prob`` batch dims fit its plates (Pyro's validation).

    Args:
        site: a sample site whose ``log_prob`` has been computed.
        max_plate_nesting: the number of rightmost batch dims reserved for plates.

    Raises:
        ValueError: naming the site, when its plates need more dims than
            ``max_plate_nesting`` or a dim within them has a size no plate explains.
    """
    log_prob = site.get("log_prob")
    if not isinstance(log_prob, torch.Tensor):
        return
    expected: dict[int, int] = {}
    for frame in site.cond_indep_stack:
        if frame.dim is not None:
            expected[frame.dim] = frame.size
    if expected and -min(expected) > max_plate_nesting:
        raise ValueError(
            f"at site {site.name!r}: plate stack overflow, its plates use dim {min(expected)} "
            f"but max_plate_nesting={max_plate_nesting}. Pass max_plate_nesting="
            f"{-min(expected)} (or larger) to the ELBO."
        )
    shape = log_prob.shape
    for dim in range(-min(len(shape), max_plate_nesting), 0):
        size = shape[dim]
        want = expected.get(dim, 1)
        if size != want:
            raise ValueError(
                f"at site {site.name!r}: invalid log_prob shape {tuple(shape)}: dim {dim} has "
                f"size {size} but the site's plates expect {want} there. Enclose the batched "
                "tensor in a `with ppl.plate(...)`, use `.to_event(...)` on the distribution, "
                "or permute the data dims."
            )


def collect_param_names(
    traces: Iterable[Trace], into: dict[str, None] | None = None
) -> dict[str, None]:
    """Ordered set (a dict with None values) of the param site names in ``traces``."""
    names: dict[str, None] = {} if into is None else into
    for tr in traces:
        for name, site in tr.nodes.items():
            if site.type == "param":
                names[name] = None
    return names


def unconstrained_params(names: Iterable[str]) -> dict[str, torch.Tensor]:
    """``{name: unconstrained leaf}`` from the global ParamStore for the given names.

    Names no longer in the store (e.g. deleted by the user) are skipped.
    """
    leaves = get_param_store().unconstrained_leaves()
    out: dict[str, torch.Tensor] = {}
    for name in names:
        leaf = leaves.get(name)
        if leaf is not None:
            out[name] = leaf
    return out


def constrained_params(names: Iterable[str]) -> dict[str, torch.Tensor]:
    """``{name: detached constrained value}`` from the global ParamStore."""
    store = get_param_store()
    with torch.no_grad():
        return {name: store[name].detach() for name in names if name in store}
