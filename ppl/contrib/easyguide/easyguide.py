"""``EasyGuide``: write guides by hand, with autoguide-like helpers for the model's sites.

Design notes
------------
* **A prototype trace.** At its first call the guide runs the model once, blocked
  from outer handlers, under :class:`~ppl.infer.autoguide.initialization.InitMessenger`
  (each latent takes the value of :meth:`EasyGuide.init`), recording only latent
  sample sites. The trace tells ``group``/``map_estimate`` each site's
  distribution, support, shape and plates.
* **Parameters are module attributes.** ``map_estimate("x")`` declares the
  ``PyroParam`` attribute ``x`` (constrained to the site's support) the first time,
  so the guide is a ``PyroModule`` whose parameters live in the global ParamStore
  under ``"<GuideClass>.x"``; plain ``ppl.param`` statements in :meth:`guide` work
  as in any guide.
* **Plates.** Use :meth:`EasyGuide.plate` instead of ``ppl.plate``: it returns one
  plate object per name for a whole guide run, so helpers re-enter the plate the user
  opened (same subsample) instead of making a new one. A site whose plate the user
  did not open gets the model's plate (full size, same dim).

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> def model(x):
    ...     loc = ppl.sample("loc", dist.Normal(0.0, 10.0))
    ...     with ppl.plate("data", len(x)):
    ...         ppl.sample("x", dist.Normal(loc, 1.0), obs=x)
    >>> @easy_guide(model)
    ... def guide(self, x):
    ...     self.map_estimate("loc")
    >>> _ = guide(torch.zeros(3))
    >>> "guide.loc" in ppl.get_param_store()
    True
"""

from __future__ import annotations

import re
from abc import ABCMeta, abstractmethod
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import torch

from ppl import primitives
from ppl.distributions import Delta
from ppl.infer.autoguide.initialization import InitMessenger
from ppl.nn.module import PyroModule, PyroParam
from ppl.poutine.block_messenger import block
from ppl.poutine.plate_messenger import PlateMessenger
from ppl.poutine.runtime import CondIndepStackFrame, Message, handler_stack
from ppl.poutine.trace_messenger import trace
from ppl.poutine.trace_struct import Trace, is_subsample_site

from .group import Group

__all__ = ["EasyGuide", "Group", "easy_guide"]


def _not_a_latent(msg: Message) -> bool:
    """Hide everything but latent sample sites from the prototype trace."""
    return msg.type != "sample" or msg.is_observed or bool(is_subsample_site(msg))


class _EasyGuideMeta(type(PyroModule), ABCMeta):  # type: ignore[misc]
    pass


class EasyGuide(PyroModule, metaclass=_EasyGuideMeta):  # type: ignore[metaclass]
    """Base class of hand-written guides with helpers (Pyro's ``EasyGuide``).

    Subclass it and define :meth:`guide`, which may mix plain ``ppl.sample`` /
    ``ppl.param`` statements with:

    * ``group = self.group(match=...)``: model sites guided jointly, see :class:`Group`;
    * ``with self.plate(...):`` in place of ``ppl.plate``;
    * ``self.map_estimate(name)``: a ``Delta`` (MAP) guide for one site.

    Override :meth:`init` (or assign an init strategy to ``guide.init``) to choose the
    initial values of the model's latent sites.

    Args:
        model: the model, a callable.

    Raises:
        TypeError: if ``model`` is not callable.
    """

    def __init__(self, model: Callable[..., Any]) -> None:
        if not callable(model):
            raise TypeError(f"{type(self).__name__}: model must be callable, got {model!r}")
        super().__init__(name=type(self).__name__)
        self.__dict__["_model"] = (model,)  # a tuple: the model is not a sub-module
        self.prototype_trace: Trace | None = None
        self.frames: dict[str, CondIndepStackFrame] = {}
        self.groups: dict[str, Group] = {}
        self.plates: dict[str, PlateMessenger] = {}

    @property
    def model(self) -> Callable[..., Any]:
        """The model this guide is for."""
        return self.__dict__["_model"][0]

    def _setup_prototype(self, *args: Any, **kwargs: Any) -> None:
        model = block(InitMessenger(self.init)(self.model), hide_fn=_not_a_latent)
        prototype = block(trace(model).get_trace)(*args, **kwargs)
        for name, site in prototype.iter_stochastic_nodes():
            for frame in site.cond_indep_stack:
                if not frame.vectorized:
                    raise NotImplementedError(
                        f"EasyGuide does not support sequential plates: site {name!r} is "
                        f"in the sequential plate {frame.name!r}; use a vectorized "
                        "`with ppl.plate(...)` in the model"
                    )
                self.frames[frame.name] = frame
        self.prototype_trace = prototype

    @abstractmethod
    def guide(self, *args: Any, **kwargs: Any) -> Any:
        """The guide itself; defined by subclasses (or by :func:`easy_guide`)."""
        raise NotImplementedError

    def init(self, site: Message) -> torch.Tensor:
        """Initial value of a latent model site; default: a random draw from its prior.

        Override it, or assign any init strategy (``guide.init = init_to_median``).
        """
        return site.fn.sample()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the guide (called through ``guide(*args, **kwargs)``)."""
        if self.prototype_trace is None:
            self._setup_prototype(*args, **kwargs)
        try:
            return self.guide(*args, **kwargs)
        finally:
            self.plates.clear()

    def plate(
        self,
        name: str,
        size: int | None = None,
        subsample_size: int | None = None,
        subsample: torch.Tensor | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> PlateMessenger:
        """``ppl.plate`` for guides: one plate object per name for a whole guide run.

        Called again with the same name in the same run (by you or by ``group`` /
        ``map_estimate``), it returns the same plate, keeping its subsample. Without
        a size, a plate of the model (from the prototype trace) is recreated at full size.

        Raises:
            ValueError: if no size is given and the model has no plate ``name``.
        """
        if name not in self.plates:
            if size is None and subsample is None:
                frame = self.frames.get(name)
                if frame is None:
                    raise ValueError(
                        f"EasyGuide.plate({name!r}): give a size; the model has no plate "
                        f"named {name!r} (its plates: {sorted(self.frames)})"
                    )
                size = frame.full_size if frame.full_size is not None else frame.size
                kwargs.setdefault("dim", frame.dim)
            self.plates[name] = primitives.plate(
                name, size, subsample_size, subsample, *args, **kwargs
            )
        return self.plates[name]

    def _prototype(self, what: str) -> Trace:
        if self.prototype_trace is None:
            raise ValueError(
                f"EasyGuide.{what} is available inside guide(), after the guide has "
                "traced the model (call the guide first)"
            )
        return self.prototype_trace

    def group(self, match: str = ".*") -> Group:
        """The :class:`Group` of model sample sites whose names match the regex ``match``.

        Raises:
            ValueError: if no latent site matches.
        """
        if match not in self.groups:
            prototype = self._prototype("group()")
            sites = [
                site for name, site in prototype.iter_stochastic_nodes() if re.match(match, name)
            ]
            if not sites:
                raise ValueError(
                    f"EasyGuide.group() pattern {match!r} matched no model sites; latent "
                    f"sites are {list(prototype.stochastic_nodes)}"
                )
            self.groups[match] = Group(self, sites)
        return self.groups[match]

    def map_estimate(self, name: str) -> torch.Tensor:
        """A MAP guide for model site ``name``: a ``Delta`` at a learned point.

        The point is the ``PyroParam`` attribute ``name`` (in the site's support,
        initialised from the prototype trace; under a subsampled plate it has the
        plate's full size, the minibatch's values at their indices and periodic
        repeats of them elsewhere).

        Returns:
            The sampled (point) value.

        Raises:
            ValueError: if the model has no latent site ``name``, or ``name`` contains
                a ``.`` (not allowed in attribute names).
        """
        prototype = self._prototype("map_estimate()")
        site = prototype.nodes.get(name)
        if site is None or site.type != "sample" or site.is_observed:
            raise ValueError(
                f"EasyGuide.map_estimate({name!r}): the model has no latent site {name!r}; "
                f"latent sites are {list(prototype.stochastic_nodes)}"
            )
        if "." in name:
            raise ValueError(
                f"EasyGuide.map_estimate({name!r}): the point estimate is the module "
                "attribute named after the site, and attribute names cannot contain '.'; "
                "guide this site with group(...).sample(...) or a plain ppl.param instead"
            )
        fn = site.fn
        event_dim = fn.event_dim
        declared = name in self._pyro_params
        init_value = None if declared else site.value.detach()
        with ExitStack() as stack:
            active = handler_stack()
            for frame in site.cond_indep_stack:
                plate = self.plate(frame.name)
                if not any(h is plate for h in active):
                    stack.enter_context(plate)
                elif init_value is not None and plate.subsample_size < plate.size:
                    init_value = _tile_to_full_size(init_value, plate, event_dim)
            if init_value is not None:
                setattr(self, name, PyroParam(init_value, fn.support, event_dim))
            value = getattr(self, name)
            return primitives.sample(name, Delta(value, event_dim=event_dim))


def _tile_to_full_size(value: torch.Tensor, plate: PlateMessenger, event_dim: int) -> torch.Tensor:
    """Grow a subsampled init value to the plate's full size along its dim.

    The minibatch's own entries keep their values (at the plate's indices); the other
    entries repeat the minibatch's values periodically.
    """
    if plate.dim is None:
        return value
    dim = plate.dim - event_dim
    index = torch.arange(plate.size, device=value.device) % value.size(dim)
    full = value.index_select(dim, index)
    return full.index_copy(dim, plate.indices.to(value.device), value)


def easy_guide(model: Callable[..., Any]) -> Callable[[Callable[..., Any]], EasyGuide]:
    """Decorator: turn ``def guide(self, *args)`` into an :class:`EasyGuide` for ``model``.

    The same as subclassing ``EasyGuide`` with that ``guide`` method and instantiating
    it; the made-up class is named after the function. (Such guides cannot be
    pickled; subclass ``EasyGuide`` for that.)

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> def model():
        ...     ppl.sample("z", dist.Gamma(2.0, 1.0))
        >>> @easy_guide(model)
        ... def my_guide(self):
        ...     return self.map_estimate("z")
        >>> type(my_guide).__name__, float(my_guide()) > 0
        ('my_guide', True)
    """
    if not callable(model):
        raise TypeError(f"easy_guide: model must be callable, got {model!r}")

    def decorator(fn: Callable[..., Any]) -> EasyGuide:
        guide_class = type(fn.__name__, (EasyGuide,), {"guide": fn})
        return guide_class(model)

    return decorator
