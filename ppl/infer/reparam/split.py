"""``SplitReparam``: split a site along an event dim into independent-looking parts.

The parts ``<site>_split_0``, ``<site>_split_1``, ... are drawn from improper uniform
distributions (they carry no density); the site is their concatenation and carries
the whole log-density of the original distribution (a ``Delta`` with that
``log_density``). The joint density is unchanged, but each part is now its own site:
different parts can get different reparameterizers, guides or mass-matrix blocks
(e.g. the low frequencies of a DCT-reparameterized series in a dense mass matrix).

The support of each part is derived by ``support_fn(fn, slice, dim)``:
:func:`default_support` (slices ``stack``/``cat`` constraints, else the site's support),
:func:`same_support` or :func:`real_support`.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> from ppl.infer.autoguide.initialization import InitMessenger, init_to_sample
    >>> model = lambda: ppl.sample("x", dist.Normal(torch.zeros(5), 1.0).to_event(1))
    >>> rmodel = ppl.poutine.reparam(model, {"x": SplitReparam([2, 3], -1)})
    >>> with InitMessenger(init_to_sample):  # the parts are improper: start them somewhere
    ...     tr = ppl.poutine.trace(rmodel).get_trace()
    >>> tr.stochastic_nodes, tuple(tr.nodes["x_split_1"]["value"].shape)
    (['x_split_0', 'x_split_1'], (3,))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.distributions import Distribution, constraints

from ... import poutine, primitives
from ...distributions import Delta, ImproperUniform
from ...ops.tensor_utils import broadcast_tensors_without_dim
from .reparam import Reparam, ReparamMessage, ReparamResult

__all__ = ["SplitReparam", "default_support", "real_support", "same_support"]


def same_support(fn: Distribution, *args: Any) -> constraints.Constraint:
    """The site's own support, for every part."""
    support: constraints.Constraint = fn.support  # type: ignore[assignment]
    return support


def real_support(fn: Distribution, *args: Any) -> constraints.Constraint:
    """The reals, with the site's number of event dims."""
    return constraints.independent(constraints.real, len(fn.event_shape))


def default_support(fn: Distribution, slice: slice, dim: int) -> constraints.Constraint:
    """The site's support, sliced when it is a ``stack``/``cat`` along ``dim``."""
    support: Any = fn.support
    wrappers = []
    while isinstance(support, constraints.independent):
        wrappers.append(support.reinterpreted_batch_ndims)
        support = support.base_constraint
    if isinstance(support, constraints.stack) and support.dim == dim:
        support = constraints.stack(support.cseq[slice], dim)
    elif isinstance(support, constraints.cat) and support.dim == dim:
        support = constraints.cat(support.cseq[slice], dim, support.lengths[slice])
    for ndims in reversed(wrappers):
        support = constraints.independent(support, ndims)
    return support


class SplitReparam(Reparam):
    """Split a site into parts along the event dim ``dim`` (like :func:`torch.split`).

    Args:
        sections: the sizes of the parts (summing to the size along ``dim``).
        dim: a negative dim, counted from the right, that must be an event dim.
        support_fn: ``(fn, slice, dim) -> constraint`` giving each part's support.

    Raises:
        ValueError: for a non-negative ``dim`` or non-int sections; at a site whose
            event dims do not include ``dim``.
    """

    def __init__(
        self,
        sections: Sequence[int],
        dim: int,
        support_fn: Callable[..., constraints.Constraint] = default_support,
    ) -> None:
        if not (isinstance(dim, int) and dim < 0):
            raise ValueError(f"SplitReparam: dim must be a negative int, got {dim!r}")
        if isinstance(sections, int) or not all(isinstance(s, int) for s in sections):
            raise ValueError(f"SplitReparam: sections must be a list of ints, got {sections!r}")
        self.event_dim = -dim
        self.sections = list(sections)
        self.support_fn = support_fn

    def apply(self, msg: ReparamMessage) -> ReparamResult:
        name = msg["name"]
        fn: Any = msg["fn"]
        value = msg["value"]
        site_event_dim = len(fn.event_shape)
        if site_event_dim < self.event_dim:
            raise ValueError(
                f"at site {name!r}: SplitReparam splits along dim {-self.event_dim}, which "
                f"must be an event dim, but the site has event shape {tuple(fn.event_shape)}"
            )
        split_dim = -self.event_dim
        parts: list[Any] = [None] * len(self.sections)
        if value is not None:
            parts = list(value.split(self.sections, split_dim))

        i0 = site_event_dim - self.event_dim
        left, right = fn.event_shape[:i0], fn.event_shape[i0 + 1 :]
        start = 0
        for i, size in enumerate(self.sections):
            part_fn = ImproperUniform(
                self.support_fn(fn, slice(start, start + size), split_dim),
                fn.batch_shape,
                left + (size,) + right,
            )
            parts[i] = primitives.sample(
                f"{name}_split_{i}",
                part_fn,
                obs=parts[i],
                infer={"is_observed": msg["is_observed"]},
            )
            start += size

        if value is None:
            value = torch.cat(broadcast_tensors_without_dim(parts, split_dim), dim=split_dim)

        log_density = 0.0 if poutine.get_mask() is False else fn.log_prob(value)
        new_fn = Delta(value, log_density=log_density, event_dim=site_event_dim)
        return {"fn": new_fn, "value": value, "is_observed": True}
