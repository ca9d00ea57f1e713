"""Small helpers shared by the autoguides: per-site facts and tensor reshaping.

Design notes
------------
Each guide reads the model's prototype trace once and keeps, per latent site, a
:class:`SiteInfo`: the bijection to the site's support, the event dims of the site
in constrained and unconstrained space, the vectorized plates it sits in and its
*full-size* initial value (a subsampled plate's prototype value is repeated up to the
plate's full size, so that local parameters cover the whole data set).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.distributions import Transform, biject_to
from torch.distributions.transforms import ComposeTransform, IndependentTransform

from ppl.ops.tensor import sum_rightmost
from ppl.poutine.runtime import CondIndepStackFrame, Message

__all__ = [
    "SiteInfo",
    "check_init_scale",
    "full_size",
    "is_identity",
    "log_density_of",
    "periodic_repeat",
    "site_info",
]


def check_init_scale(who: str, init_scale: Any) -> float:
    """Validate a guide's ``init_scale`` argument: a positive real number (not a bool).

    Args:
        who: the guide's class name, used to start the error message.
        init_scale: the value the user passed.

    Returns:
        ``float(init_scale)``.

    Raises:
        ValueError: if ``init_scale`` is not a positive int or float.

    Example:
        >>> check_init_scale("AutoNormal", 1)
        1.0
    """
    if (
        isinstance(init_scale, bool)
        or not isinstance(init_scale, (int, float))
        or not (init_scale > 0)
    ):
        raise ValueError(f"{who}: init_scale must be a positive number, got {init_scale!r}")
    return float(init_scale)


def is_identity(transform: Transform) -> bool:
    """True when ``transform`` is the identity (``biject_to(real)`` and its ``independent``)."""
    while isinstance(transform, IndependentTransform):
        transform = transform.base_transform
    return isinstance(transform, ComposeTransform) and not transform.parts


def periodic_repeat(value: torch.Tensor, size: int, dim: int) -> torch.Tensor:
    """Repeat ``value`` periodically along ``dim`` up to length ``size``.

    Example:
        >>> periodic_repeat(torch.tensor([1.0, 2.0]), 5, -1)
        tensor([1., 2., 1., 2., 1.])
    """
    n = value.shape[dim]
    index = torch.arange(size, device=value.device) % n
    return value.index_select(dim, index)


@dataclass(frozen=True)
class SiteInfo:
    """What a guide needs to know about one latent site of the model.

    Attributes:
        name: the site name.
        transform: ``biject_to(site support)``, unconstrained -> constrained.
        identity: whether ``transform`` is the identity.
        event_dim: event dims of the site's distribution (constrained space).
        unconstrained_event_dim: event dims of the unconstrained value.
        frames: the vectorized plates of the site, outermost first.
        init_value: full-size constrained initial value.
        init_unconstrained: ``transform.inv(init_value)``.
    """

    name: str
    transform: Transform
    identity: bool
    event_dim: int
    unconstrained_event_dim: int
    frames: tuple[CondIndepStackFrame, ...]
    init_value: torch.Tensor
    init_unconstrained: torch.Tensor

    @property
    def subsampled(self) -> bool:
        """True when the site sits in a plate that draws minibatches."""
        return any(full_size(f) != f.size for f in self.frames)


def full_size(frame: CondIndepStackFrame) -> int:
    """The size of the whole data set along ``frame``'s plate."""
    return frame.full_size if frame.full_size is not None else frame.size


class NoBijectionError(ValueError, NotImplementedError):
    """A latent site's support has no bijection from the reals. A ``ValueError`` for
    users (as Pyro's), and a ``NotImplementedError`` for handlers that fall back when
    an init strategy cannot handle a family (``poutine.reparam``)."""


def no_bijection_error(name: str, support: Any, err: Exception) -> NoBijectionError:
    """The error for a latent site whose support has no bijection from the reals
    (e.g. ``ProjectedNormal``'s sphere), naming the site and the reparametrization."""
    hint = ""
    if "sphere" in type(support).__name__.lower():
        hint = (
            " For a ProjectedNormal site, reparametrize it first: poutine.reparam(model, "
            f"config={{{name!r}: ProjectedNormalReparam()}}) (ppl.infer.reparam)."
        )
    return NoBijectionError(
        f"autoguide: latent site {name!r} has the support {support}, which has no bijection "
        f"from the real line, so an autoguide cannot cover it ({err}).{hint}"
    )


def site_info(site: Message) -> SiteInfo:
    """Build the :class:`SiteInfo` of a latent prototype site."""
    fn = site.fn
    try:
        transform = biject_to(fn.support)
    except NotImplementedError as err:
        raise no_bijection_error(str(site.name), fn.support, err) from err
    event_dim = len(fn.event_shape)
    value = site.value.detach()
    frames = tuple(f for f in site.cond_indep_stack if f.vectorized)
    for frame in frames:
        if full_size(frame) != frame.size:
            dim = frame.dim - event_dim  # type: ignore[operator]
            value = periodic_repeat(value, full_size(frame), dim)
    value = value.contiguous()
    with torch.no_grad():
        unconstrained = transform.inv(value).contiguous()
    unc_event_dim = event_dim + unconstrained.dim() - value.dim()
    return SiteInfo(
        name=site.name,  # type: ignore[arg-type]
        transform=transform,
        identity=is_identity(transform),
        event_dim=event_dim,
        unconstrained_event_dim=unc_event_dim,
        frames=frames,
        init_value=value,
        init_unconstrained=unconstrained,
    )


def log_density_of(
    info: SiteInfo, value: torch.Tensor, unconstrained: torch.Tensor
) -> torch.Tensor | float:
    """``log |d unconstrained / d value|`` summed over the site's event dims.

    It is the log-density a ``Delta`` at ``value`` carries so that the guide's density
    is the pushforward of its unconstrained density.
    """
    if info.identity:
        return 0.0
    lad = info.transform.inv.log_abs_det_jacobian(value, unconstrained)
    return sum_rightmost(lad, lad.dim() - value.dim() + info.event_dim)


def _product(shape: Any) -> int:
    """Number of elements of a tensor of ``shape`` (1 for ``()``); Pyro's private name,
    kept because Pyro's tests and some user scripts import it."""
    result = 1
    for size in shape:
        result *= int(size)
    return result


