"""``Group``: several model sites guided jointly through one flat auxiliary sample.

Design notes
------------
* **Layout.** A group's sites are packed, in prototype-trace order, into one vector
  of length ``event_shape[0]``: each site contributes its per-site batch shape times
  its event shape, flattened, in *unconstrained* space (where the event shape may
  differ: a simplex of size 3 takes 2 numbers). The guide samples that
  vector once (an auxiliary site) and :meth:`Group.sample` unpacks it, maps each
  slice to the site's support with ``biject_to`` and replays the model site as a
  ``Delta`` carrying the log-Jacobian, so the ELBO is the right one.
* **Common plates vs per-site plates.** A plate every site of the group sits in is
  *common*: its dim is left out of the packed vector and becomes a batch dim of the
  auxiliary sample (so it can be subsampled). Plates only some sites sit in are
  folded into the vector, which is why they must lie right of every common plate.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> from ppl.contrib.easyguide import easy_guide
    >>> def model():
    ...     ppl.sample("a", dist.Normal(0.0, 1.0))
    ...     ppl.sample("b", dist.LogNormal(0.0, 1.0).expand([2]).to_event(1))
    >>> @easy_guide(model)
    ... def guide(self):
    ...     group = self.group()
    ...     return group.sample("ab", dist.Normal(torch.zeros(3), 1.0).to_event(1))
    >>> _, values = guide()
    >>> guide.group().event_shape, sorted(values)
    (torch.Size([3]), ['a', 'b'])
"""

from __future__ import annotations

import math
import weakref
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import torch
from torch.distributions import Distribution, biject_to

from ppl import primitives
from ppl.distributions import Delta
from ppl.ops.tensor import broadcast_shape, sum_rightmost
from ppl.poutine.runtime import Message, handler_stack

if TYPE_CHECKING:
    from .easyguide import EasyGuide

__all__ = ["Group"]


class Group:
    """A set of model sample sites to guide jointly (made by :meth:`EasyGuide.group`).

    Attributes:
        prototype_sites: the matching sites of the guide's prototype trace.
        common_frames: the vectorized plates shared by every site.
        event_shape: ``(n,)``, the length of the packed unconstrained vector.

    Args:
        guide: the owning :class:`~ppl.contrib.easyguide.EasyGuide` (kept by weak
            reference, so a guide and its groups do not form a cycle).
        sites: the prototype sites, a non-empty list.

    Raises:
        ValueError: if ``sites`` is empty, or a site has a plate of its own left of a
            common plate.
    """

    def __init__(self, guide: EasyGuide, sites: list[Message]) -> None:
        if not isinstance(sites, list) or not sites:
            raise ValueError("Group needs a non-empty list of model sites")
        self._guide = weakref.ref(guide)
        self.prototype_sites = sites
        self.common_frames = frozenset.intersection(
            *(frozenset(f for f in site.cond_indep_stack if f.vectorized) for site in sites)
        )
        common_dims = [f.dim for f in self.common_frames if f.dim is not None]
        # how many batch dims, counted from the right, a site may keep for itself
        room = -max(common_dims) - 1 if common_dims else math.inf
        self._site_batch_shapes: dict[str, torch.Size] = {}
        self._site_event_shapes: dict[str, torch.Size] = {}
        self._site_sizes: dict[str, int] = {}
        for site in sites:
            fn = site.fn
            shape = list(fn.batch_shape)
            for frame in self.common_frames:
                if frame.dim is not None and -frame.dim <= len(shape):
                    shape[frame.dim] = 1
            while shape and shape[0] == 1:
                shape.pop(0)
            if len(shape) > room:
                raise ValueError(
                    "Group expects all per-site plates to be right of all common plates, "
                    f"but site {site.name!r} has batch dims of its own at dim {-len(shape)} "
                    f"while a common plate sits at dim {max(common_dims)}; put the plates "
                    "shared by the group left of the per-site ones (smaller dim)"
                )
            batch_shape = torch.Size(shape)
            unconstrained_event = _unconstrained_event_shape(fn)
            self._site_batch_shapes[str(site.name)] = batch_shape
            self._site_event_shapes[str(site.name)] = unconstrained_event
            self._site_sizes[str(site.name)] = batch_shape.numel() * unconstrained_event.numel()
        self.event_shape = torch.Size([sum(self._site_sizes.values())])

    # a weak reference cannot be pickled: store the guide itself, restore the reference
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_guide"] = self._guide()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._guide = weakref.ref(state["_guide"])

    @property
    def guide(self) -> EasyGuide:
        """The owning guide."""
        guide = self._guide()
        if guide is None:
            raise ValueError("Group: its EasyGuide no longer exists")
        return guide

    def sample(
        self, guide_name: str, fn: Distribution, infer: dict[str, Any] | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Sample the packed vector from ``fn`` and replay every model site from it.

        Args:
            guide_name: name of the auxiliary guide site (must differ from model sites).
            fn: a distribution with ``event_shape == self.event_shape``; its batch shape
                covers the common plates.
            infer: optional ``infer`` dict of the auxiliary site (``is_auxiliary`` is set).

        Returns:
            ``(guide_z, model_zs)``: the packed unconstrained sample and a dict from
            model site name to its constrained value.

        Raises:
            ValueError: if ``fn.event_shape`` differs from :attr:`event_shape`.
        """
        if fn.event_shape != self.event_shape:
            raise ValueError(
                f"at guide site {guide_name!r}: invalid fn.event_shape for the group, "
                f"expected {tuple(self.event_shape)}, actual {tuple(fn.event_shape)}"
            )
        infer = {} if infer is None else infer
        infer["is_auxiliary"] = True
        guide_z = primitives.sample(guide_name, fn, infer=infer)
        common_batch_shape = guide_z.shape[:-1]
        model_zs: dict[str, torch.Tensor] = {}
        start = 0
        for site in self.prototype_sites:
            name = str(site.name)
            site_fn = site.fn
            size = self._site_sizes[name]
            shape = broadcast_shape(common_batch_shape, self._site_batch_shapes[name])
            unconstrained = guide_z[..., start : start + size].reshape(
                shape + self._site_event_shapes[name]
            )
            start += size
            transform = biject_to(site_fn.support)
            value = transform(unconstrained)
            log_density = transform.inv.log_abs_det_jacobian(value, unconstrained)
            # sum the Jacobian over the site's event dims (and any the transform adds)
            log_density = sum_rightmost(
                log_density, log_density.dim() - value.dim() + site_fn.event_dim
            )
            delta = Delta(value, log_density=log_density, event_dim=site_fn.event_dim)
            with ExitStack() as stack:
                active = handler_stack()
                for frame in site.cond_indep_stack:  # the guide's plates of this site
                    plate = self.guide.plate(frame.name)
                    if not any(h is plate for h in active):
                        stack.enter_context(plate)
                model_zs[name] = primitives.sample(name, delta)
        return guide_z, model_zs

    def map_estimate(self) -> dict[str, torch.Tensor]:
        """A MAP (``Delta``) guide for every site of the group: ``{name: value}``."""
        return {
            str(site.name): self.guide.map_estimate(str(site.name)) for site in self.prototype_sites
        }


def _unconstrained_event_shape(fn: Distribution) -> torch.Size:
    """Event shape of ``fn`` in unconstrained space (a simplex of 3 is a vector of 2)."""
    transform = biject_to(fn.support)
    return torch.Size(transform.inverse_shape(fn.event_shape))
