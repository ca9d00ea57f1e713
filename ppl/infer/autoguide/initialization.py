"""Initialization strategies for autoguides, and the handler that applies them.

Design notes
------------
An *init strategy* is a function ``strategy(site) -> tensor`` that, given a latent
sample site of the model (a :class:`~ppl.poutine.runtime.Message`, read like Pyro's
site dict: ``site["fn"]``, ``site["name"]``), returns an initial value in the site's
*constrained* support, with the site's full shape (``site["fn"].shape()``), on the
device and dtype of the site's distribution. Autoguides run their model once under
:class:`InitMessenger` (the *prototype trace*): every latent site takes the value the
strategy proposes, and the guide's parameters start there.

As in Pyro, each strategy called without a site returns a configured copy of itself
(``init_to_median(num_samples=31)``), so it can be passed as ``init_loc_fn=``. The
strategies are also kept in a small name registry (:func:`register`,
:func:`get_init_strategy`), so a guide accepts ``init_loc_fn="median"`` and a user can
add a strategy under a new name; an unknown name is a ``ValueError`` listing the known
ones (STYLE.md item 10: registries, not ``isinstance`` ladders).

``init_to_median`` (the default of every ``ppl`` autoguide) and ``init_to_mean`` fall
back to ``init_to_feasible`` for distributions that cannot be sampled or have no mean
(``ImproperUniform``), and when the statistic falls outside the support (the
coordinate-wise median of simplex draws is not on the simplex).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch.distributions import Distribution, biject_to, transform_to

from ppl.infer.autoguide.utils import no_bijection_error
from ppl.poutine.messenger import Messenger
from ppl.poutine.runtime import Message, broadcast_to_plates

__all__ = [
    "InitMessenger",
    "InitStrategy",
    "get_init_strategy",
    "init_to_feasible",
    "init_to_generated",
    "init_to_mean",
    "init_to_median",
    "init_to_sample",
    "init_to_uniform",
    "init_to_value",
    "register",
    "registered_init_strategies",
]

InitStrategy = Callable[[Message], torch.Tensor]

_REGISTRY: dict[str, Callable[..., Any]] = {}


def register(name: str, strategy: Callable[..., Any] | None = None) -> Any:
    """Register an init strategy under ``name`` (usable as a decorator).

    Args:
        name: the key for ``init_loc_fn=name`` and :func:`get_init_strategy`.
        strategy: a function ``strategy(site=None, **options)``; when None, returns a
            decorator.

    Returns:
        ``strategy`` itself (or the decorator).

    Raises:
        TypeError: if ``name`` is not a str or ``strategy`` is not callable.
        ValueError: if ``name`` is already registered.

    Example:
        >>> @register("zeros_for_doc")
        ... def init_to_zero(site=None):
        ...     return init_to_feasible(site) if site is not None else init_to_zero
        >>> get_init_strategy("zeros_for_doc") is init_to_zero
        True
    """
    if not isinstance(name, str):
        raise TypeError(f"register: the name must be a str, got {type(name).__name__}")

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(fn):
            raise TypeError(f"register({name!r}): the strategy must be callable, got {fn!r}")
        if name in _REGISTRY:
            raise ValueError(
                f"register: an init strategy named {name!r} is already registered; "
                "pick another name"
            )
        _REGISTRY[name] = fn
        return fn

    return decorator(strategy) if strategy is not None else decorator


def registered_init_strategies() -> list[str]:
    """The names of all registered init strategies, sorted."""
    return sorted(_REGISTRY)


def get_init_strategy(name_or_fn: str | Callable[..., Any]) -> Callable[..., Any]:
    """Resolve ``init_loc_fn``: a registered name or a callable strategy.

    Raises:
        ValueError: for an unknown name (the message lists the known names).
        TypeError: for anything that is neither a str nor callable.

    Example:
        >>> get_init_strategy("median") is init_to_median
        True
    """
    if isinstance(name_or_fn, str):
        try:
            return _REGISTRY[name_or_fn]
        except KeyError:
            raise ValueError(
                f"init_loc_fn={name_or_fn!r} is not a registered init strategy; known: "
                f"{registered_init_strategies()} (or pass a callable site -> value)"
            ) from None
    if callable(name_or_fn):
        return name_or_fn
    raise TypeError(
        f"init_loc_fn must be a strategy name or a callable site -> value, "
        f"got {type(name_or_fn).__name__}"
    )


# ------------------------------------------------------------------------ helpers
def _site_fn(site: Message) -> Distribution:
    fn = site["fn"]
    if not isinstance(fn, Distribution):
        raise TypeError(f"at site {site['name']!r}: init strategies need a distribution")
    return fn


def _reference(fn: Distribution) -> torch.Tensor | None:
    """A floating tensor held by ``fn`` (or its base), giving the site's device/dtype."""
    stack: list[Any] = [fn]
    while stack:
        d = stack.pop()
        for v in vars(d).values():
            if isinstance(v, torch.Tensor) and v.is_floating_point():
                return v
            if isinstance(v, Distribution):
                stack.append(v)
    return None


def site_device_dtype(fn: Distribution) -> tuple[torch.device, torch.dtype]:
    """The device and dtype of a distribution's parameters (torch's defaults if it has none)."""
    ref = _reference(fn)
    if ref is None:
        return torch.get_default_device(), torch.get_default_dtype()
    return ref.device, ref.dtype


def _in_support(fn: Distribution, value: torch.Tensor) -> bool:
    support = fn.support
    if support is None:
        return False
    try:
        return bool(support.check(value).all()) and bool(torch.isfinite(value).all())
    except (NotImplementedError, RuntimeError):
        return False


def _generic(value: torch.Tensor) -> torch.Tensor:
    """Mark ``value`` as made by a generic strategy (Pyro's ``_pyro_custom_init = False``).

    A reparameterizer that cannot keep an initial value (``poutine.reparam``) warns only
    when the value was a user's choice, not when a generic strategy made it up.
    """
    value._pyro_custom_init = False  # type: ignore[attr-defined]
    return value


# ------------------------------------------------------------------------ strategies
@register("feasible")
def init_to_feasible(site: Message | None = None) -> Any:
    """The point of the support that ``transform_to(support)`` maps 0 to (e.g. 1 for positive).

    Works for every continuous distribution, improper ones included.
    """
    if site is None:
        return init_to_feasible
    fn = _site_fn(site)
    # transform_to (as Pyro): it also covers supports without a bijection (the sphere)
    transform = transform_to(fn.support)
    device, dtype = site_device_dtype(fn)
    shape = transform.inverse_shape(fn.batch_shape + fn.event_shape)
    return _generic(transform(torch.zeros(shape, device=device, dtype=dtype)).detach())


@register("sample")
def init_to_sample(site: Message | None = None) -> Any:
    """A draw from the site's prior."""
    if site is None:
        return init_to_sample
    return _generic(_site_fn(site).sample().detach())


@register("median")
def init_to_median(
    site: Message | None = None,
    num_samples: int = 15,
    *,
    fallback: Callable[..., Any] | None = init_to_feasible,
) -> Any:
    """The coordinate-wise median of ``num_samples`` prior draws (the default strategy).

    Args:
        site: the latent site (None returns a configured strategy).
        num_samples: number of prior draws.
        fallback: used when the prior cannot be sampled or the median is outside the
            support; None re-raises.

    Raises:
        ValueError: if ``num_samples`` is not a positive int.
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"init_to_median: num_samples must be a positive int, got {num_samples!r}")
    if site is None:
        return functools.partial(init_to_median, num_samples=num_samples, fallback=fallback)
    fn = _site_fn(site)
    try:
        samples = fn.sample((num_samples,)).detach()
    except NotImplementedError:
        if fallback is None:
            raise
        return fallback(site)
    value = samples.median(dim=0).values if samples.is_floating_point() else samples[0]
    if _in_support(fn, value):
        return _generic(value)
    return fallback(site) if fallback is not None else _generic(samples[0])


@register("mean")
def init_to_mean(
    site: Message | None = None, *, fallback: Callable[..., Any] | None = init_to_median
) -> Any:
    """The prior mean (falls back when it is undefined, infinite or outside the support)."""
    if site is None:
        return functools.partial(init_to_mean, fallback=fallback)
    fn = _site_fn(site)
    try:
        value = fn.mean.detach()
        if value.shape != fn.batch_shape + fn.event_shape:
            value = value.expand(fn.batch_shape + fn.event_shape).clone()
    except NotImplementedError:
        value = None
    if value is not None and _in_support(fn, value):
        return _generic(value)
    if fallback is None:
        raise ValueError(
            f"init_to_mean: site {site['name']!r} has no finite mean inside its support; "
            "pass a fallback strategy"
        )
    return fallback(site)


@register("uniform")
def init_to_uniform(site: Message | None = None, radius: float = 2.0) -> Any:
    """Uniform on ``(-radius, radius)`` in unconstrained space, mapped to the support.

    Raises:
        ValueError: if ``radius`` is not a positive number.
    """
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not radius > 0:
        raise ValueError(f"init_to_uniform: radius must be a positive number, got {radius!r}")
    if site is None:
        return functools.partial(init_to_uniform, radius=radius)
    fn = _site_fn(site)
    transform = biject_to(fn.support)
    device, dtype = site_device_dtype(fn)
    shape = transform.inverse_shape(fn.batch_shape + fn.event_shape)
    u = torch.rand(shape, device=device, dtype=dtype).mul_(2 * radius).sub_(radius)
    return _generic(transform(u).detach())


@register("value")
def init_to_value(
    site: Message | None = None,
    values: Mapping[str, Any] | None = None,
    *,
    fallback: Callable[..., Any] | None = init_to_uniform,
) -> Any:
    """User-given values for the named sites, ``fallback`` for the others.

    A value is converted to the site's device and dtype and broadcast to its shape.

    Raises:
        ValueError: if a value does not broadcast to the site's shape, is outside the
            support, or a site has no value and ``fallback`` is None.
    """
    values = {} if values is None else dict(values)
    if site is None:
        return functools.partial(init_to_value, values=values, fallback=fallback)
    name = site["name"]
    if name not in values:
        if fallback is None:
            raise ValueError(
                f"init_to_value: no value for site {name!r} and fallback=None; add "
                f"{name!r} to values= or give a fallback strategy"
            )
        return fallback(site)
    fn = _site_fn(site)
    device, dtype = site_device_dtype(fn)
    value = torch.as_tensor(values[name], device=device, dtype=dtype).detach()
    shape = fn.batch_shape + fn.event_shape
    try:
        value = value.expand(shape).clone()
    except RuntimeError:
        raise ValueError(
            f"init_to_value: the value for site {name!r} has shape {tuple(value.shape)}, "
            f"which does not broadcast to the site's shape {tuple(shape)}"
        ) from None
    if not _in_support(fn, value):
        raise ValueError(
            f"init_to_value: the value for site {name!r} is outside the support "
            f"{fn.support} of its distribution; give a value inside the support"
        )
    return value


class _PerRunStrategy:
    """The strategy behind :func:`init_to_generated`: ``generate()`` once per model run.

    A run is recognised without help from the handler: a site name seen before in the
    current run means a new run has started (site names are unique within one run).
    """

    def __init__(self, generate: Callable[[], Callable[..., Any]]) -> None:
        self.generate = generate
        self._strategy: Callable[..., Any] | None = None
        self._names: set[str | None] = set()

    def __call__(self, site: Message) -> Any:
        if self._strategy is None or site.name in self._names:
            self._strategy = self.generate()
            self._names = set()
        self._names.add(site.name)
        return self._strategy(site)

    def __repr__(self) -> str:
        return f"init_to_generated(generate={self.generate!r})"


def init_to_generated(
    site: Message | None = None,
    generate: Callable[[], Callable[..., Any]] = lambda: init_to_uniform,
) -> Any:
    """A fresh strategy ``generate()`` for each model run (Pyro's ``init_to_generated``).

    Why: restarts (e.g. ``init_to_value`` with newly drawn values) need a strategy that
    is shared by all sites of one run but differs between runs. The returned strategy
    calls ``generate()`` at the first site of every run (a run ends when a site name
    comes round again), so it works inside one long-lived :class:`InitMessenger` too.

    Args:
        site: the sample site (when called directly, the generated strategy is used once).
        generate: zero-argument callable returning an init strategy.

    Returns:
        The strategy (``site=None``) or the initial value of ``site``.

    Raises:
        TypeError: if ``generate`` is not callable.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> draws = iter([1.0, 2.0])
        >>> fn = init_to_generated(generate=lambda: init_to_value(values={"x": next(draws)}))
        >>> with InitMessenger(fn):
        ...     first = ppl.sample("x", dist.Normal(0.0, 1.0))
        ...     second = ppl.sample("x", dist.Normal(0.0, 1.0))  # a new run: same name again
        >>> float(first), float(second)
        (1.0, 2.0)
    """
    if not callable(generate):
        raise TypeError(
            f"init_to_generated: generate must be a zero-argument callable, got {generate!r}"
        )
    strategy = _PerRunStrategy(generate)
    return strategy if site is None else strategy(site)


# ------------------------------------------------------------------------ the handler
class InitMessenger(Messenger):
    """Give every latent sample site the value ``init_fn(site)`` (Pyro's ``InitMessenger``).

    Observed sites, plate subsample sites and sites already given a value are left
    alone. The site's distribution is broadcast to its plates first, so the strategy
    sees the site's full shape.

    Raises:
        ValueError: naming the site, if the strategy returns a value of the wrong shape.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> with InitMessenger(init_to_feasible):
        ...     x = ppl.sample("x", dist.LogNormal(0.0, 1.0))
        >>> float(x)
        1.0
    """

    def __init__(self, init_fn: Callable[..., Any]) -> None:
        super().__init__()
        self.init_fn = get_init_strategy(init_fn)

    def process_message(self, msg: Message) -> None:
        if msg.type == "get_init_messengers":  # asked by poutine.reparam: apply me early
            msg.value.append(self)
            return
        if (
            msg.type != "sample"
            or msg.is_observed
            or msg.done
            or msg.value is not None
            or msg.infer.get("is_subsample", False)
        ):
            return
        if msg.cond_indep_stack:
            broadcast_to_plates(msg)
        try:
            value = self.init_fn(msg)
        except NotImplementedError as err:
            support = getattr(msg.fn, "support", None)
            if support is None:
                raise
            if not getattr(support, "is_discrete", False):
                raise no_bijection_error(str(msg.name), support, err) from err
            raise ValueError(
                f"latent site {msg.name!r} has the discrete support {support}, which the "
                f"init strategy cannot handle ({err}); autoguides handle continuous latents "
                "only: hide the site with poutine.block and guide it yourself, or marginalize "
                "it out (see https://pyro.ai/examples/enumeration.html)"
            ) from err
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"at site {msg.name!r}: the init strategy returned a "
                f"{type(value).__name__}, expected a tensor"
            )
        expected = msg.fn.batch_shape + msg.fn.event_shape
        shape = msg.kwargs.get("sample_shape", ())
        expected = torch.Size(shape) + expected
        if value.shape != expected:
            raise ValueError(
                f"at site {msg.name!r}: the init strategy returned shape {tuple(value.shape)} "
                f"but the site has shape {tuple(expected)}"
            )
        msg.value = value
        msg.done = True
