"""The statements a model or guide is written in: ``sample``, ``param``, ``plate`` ...

Each statement builds one :class:`~ppl.poutine.runtime.Message` and sends it
through the active effect handlers. With no handler active, ``sample`` and
``param`` take a fast path and simply draw / read the value.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> def model(data):
    ...     p = ppl.sample("p", dist.Beta(1.0, 1.0))
    ...     with ppl.plate("data", len(data)):
    ...         ppl.sample("obs", dist.Bernoulli(p), obs=data)
    >>> tr = ppl.poutine.trace(model).get_trace(torch.tensor([1.0, 0.0]))
    >>> tr.stochastic_nodes, tr.observation_nodes
    (['p', 'data'], ['obs'])
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from copy import deepcopy
from typing import Any, TypeVar

import torch
from torch.distributions import Distribution, constraints
from torch.distributions.utils import lazy_property

from . import settings
from .distributions import Delta, Unit
from .params.param_store import (
    MODULE_NAMESPACE_DIVIDER,
    ParamStoreDict,
    get_param_store,
    param_with_module_name,
)
from .poutine.lift_messenger import lift
from .poutine.plate_messenger import PlateMessenger
from .poutine.runtime import Message, am_i_wrapped, apply_stack

# torch's ``constraints.is_dependent`` is this isinstance test; calling the class
# directly keeps validation traceable by ``torch.compile`` (dynamo skips the function).
_DEPENDENT = constraints._Dependent

__all__ = [
    "deterministic",
    "factor",
    "module",
    "random_module",
    "param",
    "plate",
    "plate_stack",
    "sample",
    "subsample",
]

ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)


def _draw(fn: Distribution, sample_shape: Any = ()) -> torch.Tensor:
    return fn.rsample(sample_shape) if fn.has_rsample else fn.sample(sample_shape)


def sample(
    name: str,
    fn: Distribution,
    *args: Any,
    obs: torch.Tensor | None = None,
    obs_mask: torch.Tensor | None = None,
    infer: dict[str, Any] | None = None,
    sample_shape: tuple[int, ...] | torch.Size = (),
    **kwargs: Any,
) -> torch.Tensor:
    """Draw (or observe) a random variable named ``name`` from distribution ``fn``.

    Args:
        name: site name, unique within one run of the model.
        fn: a distribution (ppl's or torch's).
        obs: observed value; the site contributes ``log p(obs)`` and returns ``obs``.
        obs_mask: bool tensor (batch shape) for partly observed data: where True the
            value is observed, where False it is sampled (sites ``name_observed`` and
            ``name_unobserved`` are recorded and ``name`` holds the merged value).
        infer: inference hints, e.g. ``{"is_auxiliary": True}``.
        sample_shape: extra leading shape of the draw.

    Returns:
        The sampled or observed value (a tensor).

    Raises:
        TypeError: if ``fn`` is not a distribution.
        ValueError: with validation on, if ``obs`` lies outside the support or a
            distribution argument violates its constraint (naming the site).
    """
    if not isinstance(fn, Distribution):
        return _sample_other(name, fn, args, kwargs, obs, infer)
    if obs_mask is not None:
        return _sample_partly_observed(name, fn, obs, obs_mask, infer)
    validate = settings._VALIDATION_ENABLED
    if validate:
        _validate_arguments(name, fn)
    if not am_i_wrapped():
        if obs is None:
            return _draw(fn, sample_shape)
        if not (infer or {}).get("_deterministic"):
            # as Pyro: an observation with no inference around it is usually a mistake
            warnings.warn(
                f"trying to observe a value outside of inference at {name}", RuntimeWarning
            )
        if validate:
            _validate_observation(name, fn, obs, None)
        return obs
    # as in Pyro, infer={"is_observed": False} with obs= gives a latent site an initial
    # value (reparameterizers pass an initialized value on to their auxiliary sites)
    is_observed = obs is not None
    if infer is not None and "is_observed" in infer:
        infer = dict(infer)
        is_observed = bool(infer.pop("is_observed"))
    msg = Message(
        type="sample",
        name=name,
        fn=fn,
        args=args,
        kwargs={"sample_shape": sample_shape} if sample_shape else {},
        value=obs,
        is_observed=is_observed,
        infer=infer if infer is not None else {},
    )
    apply_stack(msg)
    if validate and msg.is_observed:
        _validate_observation(name, msg.fn, msg.value, msg.mask)
    return msg.value


def _sample_other(
    name: str, fn: Any, args: tuple, kwargs: dict, obs: Any, infer: dict[str, Any] | None
) -> Any:
    """A sample statement whose ``fn`` is not a distribution, as Pyro runs it.

    Outside handlers a callable is simply called; inside handlers the message goes up
    the stack unchanged, so a handler may supply the value (Pyro's effect-handler
    tutorial samples from lazily evaluated expressions this way). Anything else is a
    mistake and raises (see :func:`~ppl.poutine.runtime.default_process_message`).
    """
    if not am_i_wrapped():
        if callable(fn):
            return fn(*args, **kwargs)
        raise TypeError(
            f"at site {name!r}: expected a distribution, got {type(fn).__name__}. "
            "Use e.g. ppl.sample(name, ppl.distributions.Normal(0., 1.))."
        )
    msg = Message(
        type="sample",
        name=name,
        fn=fn,
        args=args,
        kwargs=kwargs,
        value=obs,
        is_observed=obs is not None,
        infer=infer if infer is not None else {},
    )
    apply_stack(msg)
    return msg.value


def _sample_partly_observed(
    name: str,
    fn: Distribution,
    obs: torch.Tensor | None,
    obs_mask: torch.Tensor,
    infer: dict[str, Any] | None,
) -> torch.Tensor:
    if obs is None:
        raise ValueError(f"at site {name!r}: obs_mask needs obs as well")
    if not (isinstance(obs_mask, torch.Tensor) and obs_mask.dtype == torch.bool):
        raise TypeError(f"at site {name!r}: obs_mask must be a bool tensor, got {obs_mask!r}")
    event_dim = len(fn.event_shape)
    obs_batch = torch.as_tensor(obs).shape
    obs_batch = obs_batch[: max(len(obs_batch) - event_dim, 0)]
    try:  # the mask covers batch dims only (one flag per event), as in Pyro
        torch.broadcast_shapes(obs_mask.shape, obs_batch, fn.batch_shape)
    except RuntimeError:
        raise ValueError(
            f"at site {name!r}: Invalid obs_mask shape {tuple(obs_mask.shape)}; it must "
            f"broadcast with the batch shape {tuple(obs_batch)} of obs (event dims "
            f"{event_dim} excluded: the mask has one entry per event, not per element)"
        ) from None
    from .poutine.mask_messenger import MaskMessenger

    with MaskMessenger(obs_mask):
        observed = sample(f"{name}_observed", fn, obs=obs, infer=infer)
    with MaskMessenger(~obs_mask):
        unobserved = sample(f"{name}_unobserved", fn, infer=infer)
    mask = obs_mask.reshape(obs_mask.shape + (1,) * event_dim)
    value = torch.where(mask, observed, unobserved)
    return deterministic(name, value, event_dim=event_dim)


def _validate_arguments(name: str, fn: Distribution) -> None:
    """Check ``fn``'s arguments against their constraints, naming the site."""
    base: Any = fn
    while base is not None:
        try:
            arg_constraints = getattr(base, "arg_constraints", {})
        except NotImplementedError:  # torch's default for a subclass that declares none
            arg_constraints = {}
        for arg_name, constraint in arg_constraints.items():
            if isinstance(constraint, _DEPENDENT):
                continue
            if arg_name in _lazy_attributes(type(base)) and arg_name not in base.__dict__:
                continue  # a lazily derived parameterisation that was never computed
            value = getattr(base, arg_name)
            if not isinstance(value, torch.Tensor) or value.device.type == "meta":
                continue
            if not settings.check(constraint.check(value)):
                raise ValueError(
                    f"at site {name!r}: argument {arg_name!r} of {type(base).__name__} must "
                    f"satisfy {constraint}, but got {value}"
                )
        base = getattr(base, "base_dist", None)


_LAZY_ATTRIBUTES: dict[type, frozenset[str]] = {}


def _lazy_attributes(cls: type) -> frozenset[str]:
    """Names of ``cls``'s ``lazy_property`` attributes (cached per class; a plain dict
    look-up, which ``torch.compile`` can trace, unlike the descriptor objects)."""
    names = _LAZY_ATTRIBUTES.get(cls)
    if names is None:
        names = frozenset(
            name
            for klass in cls.__mro__
            for name, attr in vars(klass).items()
            if isinstance(attr, lazy_property)
        )
        _LAZY_ATTRIBUTES[cls] = names
    return names


def _validate_observation(name: str, fn: Distribution, obs: Any, mask: Any) -> None:
    """Check an observed value against the support where the site is not masked out."""
    if not isinstance(obs, torch.Tensor) or obs.device.type == "meta":
        return
    try:
        support = fn.support
    except NotImplementedError:  # torch's default for a subclass that declares none
        return
    if support is None or isinstance(support, _DEPENDENT):
        return
    if obs.dim() < support.event_dim:
        # a low-dim obs broadcasts against the event (Pyro accepts a scalar obs on a
        # .to_event() site): check its broadcast instead
        try:
            obs = obs.expand(fn.batch_shape + fn.event_shape)
        except RuntimeError:
            return  # left for log_prob to report
    inside = support.check(obs)
    if mask is not None and mask is not True:
        if mask is False:
            return
        inside = inside | ~mask
    if not settings.check(inside):
        raise ValueError(
            f"at site {name!r}: observed value is outside the support {support} of "
            f"{type(fn).__name__}: {obs}"
        )


def param(
    name: str,
    init_tensor: torch.Tensor | Callable[[], torch.Tensor] | float | None = None,
    constraint: constraints.Constraint = constraints.real,
    event_dim: int | None = None,
    *,
    store: ParamStoreDict | None = None,
) -> torch.Tensor:
    """Read (creating on first use) the learnable parameter ``name`` from the ParamStore.

    Args:
        name: parameter name.
        init_tensor: initial *constrained* value (or a zero-argument callable giving
            it), used only when the name is new.
        constraint: the support of the parameter; it is stored unconstrained and
            mapped through ``biject_to(constraint)``.
        event_dim: rightmost dims that belong to one event (used by subsampled plates
            to slice local parameters).
        store: a :class:`~ppl.params.ParamStoreDict` to use instead of the current one
            (the same as running the statement inside ``with store:``).

    Returns:
        The constrained value, differentiable w.r.t. the stored unconstrained tensor.

    Example:
        >>> import ppl, torch
        >>> from ppl.distributions import constraints
        >>> ppl.clear_param_store()
        >>> float(ppl.param("s", torch.tensor(2.0), constraint=constraints.positive))
        2.0
    """
    if store is not None:
        if not isinstance(store, ParamStoreDict):
            raise TypeError(
                f"param {name!r}: store must be a ParamStoreDict, got {type(store).__name__}"
            )
        with store:
            return param(name, init_tensor, constraint, event_dim)
    store = get_param_store()
    if not am_i_wrapped():
        return store.get_param(name, init_tensor, constraint, event_dim)
    msg = Message(
        type="param",
        name=name,
        fn=store.get_param,
        args=(name,),
        kwargs={"init_tensor": init_tensor, "constraint": constraint, "event_dim": event_dim},
    )
    apply_stack(msg)
    return msg.value


def plate(
    name: str,
    size: int | None = None,
    subsample_size: int | None = None,
    subsample: torch.Tensor | None = None,
    dim: int | None = None,
    use_cuda: bool | None = None,
    device: torch.device | str | None = None,
) -> PlateMessenger:
    """A plate of conditionally independent sites (context manager or iterator).

    See :class:`~ppl.poutine.plate_messenger.PlateMessenger` for the arguments.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> with ppl.plate("data", 5):
        ...     x = ppl.sample("x", dist.Normal(0.0, 1.0))
        >>> tuple(x.shape)
        (5,)
    """
    return PlateMessenger(name, size, subsample_size, subsample, dim, use_cuda, device)


def factor(name: str, log_factor: torch.Tensor | float, has_rsample: bool | None = None) -> None:
    """Add ``log_factor`` to the model's log-density (an observed ``Unit`` site).

    Example:
        >>> import ppl, torch
        >>> tr = ppl.poutine.trace(lambda: ppl.factor("f", torch.tensor(-1.5))).get_trace()
        >>> float(tr.log_prob_sum())
        -1.5
    """
    log_factor = torch.as_tensor(log_factor)
    unit = Unit(log_factor, has_rsample=has_rsample)
    sample(name, unit, obs=unit.sample(), infer={"is_auxiliary": True})


def deterministic(name: str, value: torch.Tensor, event_dim: int | None = None) -> torch.Tensor:
    """Record a deterministic function of other sites under ``name`` (no density).

    ``Predictive`` returns deterministic sites with the latent ones.
    """
    if not am_i_wrapped():
        return value
    event_dim = value.dim() if event_dim is None else event_dim
    fn = Delta(value, event_dim=event_dim).mask(False)
    return sample(name, fn, obs=value, infer={"_deterministic": True})


@contextmanager
def plate_stack(prefix: str, sizes: Sequence[int], rightmost_dim: int = -1) -> Iterator[None]:
    """Enter one plate per entry of ``sizes`` (a batch shape), named ``prefix_0``, ...

    The last size gets ``rightmost_dim``, the one before it the dim to its left, so
    a site inside has batch shape ``sizes``.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> with ppl.plate_stack("p", (2, 3)):
        ...     x = ppl.sample("x", dist.Normal(0.0, 1.0))
        >>> tuple(x.shape)
        (2, 3)
    """
    with ExitStack() as stack:
        for i, size in enumerate(reversed(tuple(sizes))):
            stack.enter_context(plate(f"{prefix}_{i}", size, dim=rightmost_dim - i))
        yield


def subsample(data: torch.Tensor, event_dim: int) -> torch.Tensor:
    """Slice ``data`` to the minibatch of every enclosing subsampled plate.

    Args:
        data: full-size data whose dims left of its ``event_dim`` rightmost dims line
            up with the plates' dims.
        event_dim: number of rightmost dims of one datum.

    Example:
        >>> import torch, ppl
        >>> with ppl.plate("data", 10, subsample=torch.tensor([2, 7])):
        ...     ppl.subsample(torch.arange(10.0), event_dim=0).tolist()
        [2.0, 7.0]
    """
    if not am_i_wrapped():
        return data
    msg = Message(
        type="subsample",
        name=None,
        fn=_identity,
        args=(data,),
        kwargs={"event_dim": event_dim},
    )
    apply_stack(msg)
    return msg.value


def _identity(data: torch.Tensor, event_dim: int) -> torch.Tensor:
    return data


# ------------------------------------------------------------------ nn.Module parameters
def module(name: str, nn_module: ModuleT, update_module_params: bool = False) -> ModuleT:
    """Register the parameters of ``nn_module`` with the ParamStore under ``name``.

    Args:
        name: the module's name in the store; may not contain ``"$$$"``.
        nn_module: an ``nn.Module`` instance. Parameters with ``requires_grad=False``
            are skipped (with a warning while the module is in training mode).
        update_module_params: copy parameters already in the store (e.g. just loaded
            from a file) into the module, replacing the module's own.

    Returns:
        ``nn_module`` itself.

    Raises:
        TypeError: ``name`` is not a str, or ``nn_module`` is a class or not an ``nn.Module``.
        ValueError: ``name`` contains ``"$$$"``.

    Example:
        >>> import ppl
        >>> ppl.clear_param_store()
        >>> net = module("net", torch.nn.Linear(2, 1))
        >>> sorted(ppl.get_param_store().keys())
        ['net$$$bias', 'net$$$weight']
    """
    if not isinstance(name, str):
        raise TypeError(f"module: name must be a str, got {name!r}")
    if MODULE_NAMESPACE_DIVIDER in name:
        raise ValueError(
            f"module: name {name!r} contains {MODULE_NAMESPACE_DIVIDER!r}, which separates "
            "module and parameter names in the store; choose another name"
        )
    if isinstance(nn_module, type):
        raise TypeError(
            f"module {name!r}: got the class {nn_module.__name__}; pass an instance, "
            f"e.g. ppl.module({name!r}, {nn_module.__name__}(...))"
        )
    if not isinstance(nn_module, torch.nn.Module):
        raise TypeError(
            f"module {name!r}: expected a torch.nn.Module, got {type(nn_module).__name__}"
        )

    stored: dict[str, torch.Tensor] = {}
    for param_name, value in nn_module.named_parameters():
        if not value.requires_grad:
            if nn_module.training:
                warnings.warn(
                    f"module {name!r}: parameter {param_name!r} has requires_grad=False and "
                    "is not registered in the ParamStore; call .train(False) on the module "
                    "to silence this warning",
                    stacklevel=2,
                )
            continue
        returned = param(param_with_module_name(name, param_name), value)
        if returned is not value:
            stored[param_name] = returned

    if update_module_params:
        for param_name, new_value in stored.items():
            _install(nn_module, param_name, new_value, param_with_module_name(name, param_name))
    return nn_module


def _install(root: torch.nn.Module, param_name: str, value: torch.Tensor, full_name: str) -> None:
    """Make ``value`` the module's parameter ``param_name`` (a dotted path)."""
    owner_path, _, leaf_name = param_name.rpartition(".")
    owner = root.get_submodule(owner_path) if owner_path else root
    store = get_param_store()
    if not isinstance(value, torch.nn.Parameter) and store.param_name(value) == full_name:
        # The store's own leaf: promote it to a Parameter and keep store and module sharing it.
        promoted = torch.nn.Parameter(value.detach(), requires_grad=True)
        store[full_name] = promoted
        value = promoted
    if isinstance(value, torch.nn.Parameter):
        setattr(owner, leaf_name, value)
    else:
        # A substituted or constrained value (not a leaf): install it as Pyro does.
        owner._parameters[leaf_name] = value  # type: ignore[assignment]


def random_module(
    name: str, nn_module: torch.nn.Module, prior: Any, *args: Any, **kwargs: Any
) -> Callable[[], torch.nn.Module]:
    """A prior over ``nn_module``'s parameters (Pyro's deprecated ``random_module``).

    Returns a function that, on each call, registers a fresh copy of the module under
    ``name`` with its parameters lifted to sample sites drawn from ``prior`` (a
    distribution, a dict from parameter name to distribution or stochastic function,
    or one stochastic function), and returns that copy. Warns ``FutureWarning``: build
    Bayesian modules with :class:`ppl.nn.PyroModule` instead.

    Example:
        >>> import warnings, torch, ppl, ppl.distributions as dist
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore", FutureWarning)
        ...     draw = random_module("lin", torch.nn.Linear(2, 1), dist.Normal(0.0, 1.0))
        >>> tr = ppl.poutine.trace(draw).get_trace()
        >>> sorted(n for n, s in tr.nodes.items() if s["type"] == "sample")
        ['lin$$$bias', 'lin$$$weight']
    """
    warnings.warn(
        "random_module is deprecated (as in Pyro) and will be removed; use "
        "ppl.nn.PyroModule to create Bayesian modules from torch.nn.Module instances.",
        FutureWarning,
        stacklevel=2,
    )
    if not hasattr(nn_module, "parameters"):
        raise TypeError(f"random_module {name!r}: expected an nn.Module, got {nn_module!r}")
    lifted = lift(module, prior=prior)

    def draw() -> torch.nn.Module:
        # update_module_params: the copy must take the lifted (sampled) values
        return lifted(name, deepcopy(nn_module), *args, update_module_params=True, **kwargs)

    return draw
