"""Global switches of ppl: validation, and Pyro's ``pyro.settings`` registry.

**Registry.** ``get``/``set``/``context``/``register`` are Pyro's ``pyro.settings``
interface: a setting is an alias for a module-level variable (or a class attribute,
``"Class.attr"``), read and written through its module, with an optional validator
called on every ``set``. Registered here: ``module_local_params`` (False: PyroModule
parameters live in the global ParamStore, as in Pyro), and Pyro's four validation
aliases, which all name ppl's single validation flag below (``validate_poutine`` etc.
cannot be switched separately).

Example:
    >>> from ppl import settings
    >>> settings.get("module_local_params")
    False
    >>> with settings.context(module_local_params=True):
    ...     settings.get("module_local_params")
    True

Validation is one flag, read by ``ppl.sample`` on every call. When it is on, each
sample site checks its distribution's arguments against their constraints and an
observed value against the support, and a failure names the site. The check lives
at the site (not in the distribution constructor, where torch puts it) precisely so
the error can say *which* site is wrong; torch's own constructor check is therefore
switched off while ppl's validation is on, and both are off when it is off (the
fast path for benchmarks and production runs).

Example:
    >>> import ppl
    >>> ppl.enable_validation(False)
    >>> ppl.is_validation_enabled()
    False
    >>> ppl.enable_validation(True)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import import_module
from types import TracebackType
from typing import Any, TypeVar

import torch

F = TypeVar("F", bound=Callable[..., Any])

_VALIDATION_ENABLED = True
# Pyro's module_local_params: PyroModule params kept in the module, not the store.
_MODULE_LOCAL_PARAMS = False
# While a compiled estimator runs, the verdicts of validation checks are collected
# here as bool tensors instead of being read on the host one by one.
_DEFERRED_CHECKS: list[torch.Tensor] | None = None
# True while a compiled step records one run as a static graph (make_fx): code whose
# Python depends on random values (a sequential subsampled plate) must refuse.
_STATIC_TRACE = False


def enable_validation(is_validate: bool = True) -> None:
    """Turn site-level validation of distributions and observations on or off."""
    global _VALIDATION_ENABLED
    _VALIDATION_ENABLED = bool(is_validate)
    # torch's constructor-time check cannot name the site; ppl checks at the site.
    torch.distributions.Distribution.set_default_validate_args(False)


def is_validation_enabled() -> bool:
    """Whether ``ppl.sample`` validates arguments and observed values."""
    return _VALIDATION_ENABLED


@contextmanager
def validation_enabled(is_validate: bool = True) -> Iterator[None]:
    """Turn validation on (or off) inside a ``with`` block, restoring it after.

    Example:
        >>> with validation_enabled(False):
        ...     is_validation_enabled()
        False
    """
    old = is_validation_enabled()
    enable_validation(is_validate)
    try:
        yield
    finally:
        enable_validation(old)


def check(ok: torch.Tensor) -> bool:
    """Whether a validation check passed (``ok`` is a bool tensor; all must be true).

    Normally this reads ``ok.all()`` on the host. Between :func:`start_deferring` and
    :func:`stop_deferring` (a compiled estimator's graph) it records the verdict and
    returns True, so the graph needs no host read; the caller reads all verdicts at
    once afterwards and, on a failure, reruns eagerly to name the site.

    Example:
        >>> check(torch.tensor([True, True]))
        True
    """
    if _DEFERRED_CHECKS is not None:
        _DEFERRED_CHECKS.append(ok.all())
        return True
    return bool(ok.all())


def start_deferring() -> list[torch.Tensor]:
    """Collect validation verdicts (see :func:`check`) in a new list, returned."""
    global _DEFERRED_CHECKS
    checks: list[torch.Tensor] = []
    _DEFERRED_CHECKS = checks
    return checks


def stop_deferring(previous: list[torch.Tensor] | None = None) -> None:
    """Stop collecting: back to ``previous`` (an outer collection) or host reads."""
    global _DEFERRED_CHECKS
    _DEFERRED_CHECKS = previous


def is_static_tracing() -> bool:
    """Whether a run is being recorded as a static graph (``torch.jit.trace`` or a
    compiled SVI step), where Python control flow on random values would be frozen."""
    return _STATIC_TRACE or torch.jit.is_tracing()


def set_static_tracing(active: bool) -> bool:
    """Mark (or unmark) a static-graph recording; returns the previous mark."""
    global _STATIC_TRACE
    previous, _STATIC_TRACE = _STATIC_TRACE, bool(active)
    return previous


# ---------------------------------------------------------------------- registry

# alias -> (module name, dotted variable name, validator or None)
_REGISTRY: dict[str, tuple[str, str, Callable[[Any], Any] | None]] = {}


def _entry(alias: str) -> tuple[str, str, Callable[[Any], Any] | None]:
    try:
        return _REGISTRY[alias]
    except KeyError:
        raise KeyError(
            f"unknown setting {alias!r}; registered settings: {sorted(_REGISTRY)} "
            "(add one with ppl.settings.register)"
        ) from None


def get(alias: str | None = None) -> Any:
    """The value of one setting, or a dict of all of them (sorted by alias).

    Raises:
        KeyError: ``alias`` is not registered.

    Example:
        >>> get()["module_local_params"], get("auto_compile_seconds")
        (False, 15.0)
    """
    if alias is None:
        return {name: get(name) for name in sorted(_REGISTRY)}
    modulename, variable, _ = _entry(alias)
    value: Any = import_module(modulename)
    for part in variable.split("."):
        value = getattr(value, part)
    return value


def _assign(values: dict[str, Any]) -> None:
    entries = {alias: _entry(alias) for alias in values}
    for alias, (_, _, validator) in entries.items():
        if validator is not None:
            validator(values[alias])
    for alias, (modulename, variable, _) in entries.items():
        owner: Any = import_module(modulename)
        *path, last = variable.split(".")
        for part in path:
            owner = getattr(owner, part)
        setattr(owner, last, values[alias])


class _Applied:
    """What :func:`set` returns: the change is made; this can undo it.

    ``with set(...):`` restores the old values on exit. ``@set(...)`` undoes the
    change at once and instead applies it around every call of the function.
    """

    def __init__(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        self._new, self._old = new, old

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _assign(self._old)

    def __call__(self, fn: F) -> F:
        _assign(self._old)
        return context(**self._new)(fn)


def set(**kwargs: Any) -> _Applied:  # noqa: A001 - Pyro's name
    """Set one or more settings (``alias=value``), each checked by its validator first.

    The change is made at once. The result also works as a context manager (the old
    values come back at the end of the block) and as a decorator (the function runs
    with these values; the global ones are left as they were).

    Raises:
        KeyError: an alias is not registered (nothing is changed).
        Exception: whatever a validator raises (nothing is changed).

    Example:
        >>> with set(module_local_params=True):
        ...     get("module_local_params")
        True
        >>> get("module_local_params")
        False
    """
    old = {alias: get(alias) for alias in kwargs}
    _assign(dict(kwargs))
    return _Applied(dict(kwargs), old)


@contextmanager
def context(**kwargs: Any) -> Iterator[None]:
    """Override settings inside a ``with`` block (or a decorated function), then restore.

    Example:
        >>> @context(module_local_params=True)
        ... def local():
        ...     return get("module_local_params")
        >>> local(), get("module_local_params")
        (True, False)
    """
    old = {alias: get(alias) for alias in kwargs}
    try:
        _assign(dict(kwargs))
        yield
    finally:
        _assign(old)


def register(
    alias: str,
    modulename: str,
    variable: str,
    validator: Callable[[Any], Any] | None = None,
) -> Callable[..., Any]:
    """Make the variable ``modulename.variable`` a setting called ``alias``.

    Call it in the module that defines the variable. ``variable`` may be dotted
    (``"Binomial.approx_sample_thresh"`` for a class attribute). Without a validator
    it returns a decorator, so it can also decorate the validator:

    Args:
        alias: a Python identifier, e.g. ``"my_tolerance"``.
        modulename: the module holding the variable, usually ``__name__``.
        variable: the variable's (dotted) name in that module.
        validator: called with every new value; raises to refuse it.

    Returns:
        The validator, or (without one) a decorator that registers its argument.

    Raises:
        TypeError, ValueError: malformed alias, module or variable name.

    Example (in a module ``mylib.fit`` defining ``TOLERANCE = 0.1``)::

        @ppl.settings.register("fit_tolerance", __name__, "TOLERANCE")
        def _check_tolerance(value):
            if not value > 0:
                raise ValueError("fit_tolerance must be positive")
    """
    for what, value in (("alias", alias), ("modulename", modulename), ("variable", variable)):
        if not isinstance(value, str):
            raise TypeError(f"register: {what} must be a str, got {value!r}")
    if not alias.isidentifier():
        raise ValueError(f"register: alias {alias!r} is not a Python identifier")
    _REGISTRY[alias] = (modulename, variable, validator)
    if validator is None:
        return functools.partial(register, alias, modulename, variable)
    validator(get(alias))
    return validator


def _check_bool(name: str) -> Callable[[Any], None]:
    def validate(value: Any) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"setting {name!r} must be a bool, got {value!r}")

    return validate


register(
    "module_local_params", __name__, "_MODULE_LOCAL_PARAMS", _check_bool("module_local_params")
)
for _alias in (
    "validate_distributions_pyro",
    "validate_distributions_torch",
    "validate_infer",
    "validate_poutine",
):
    register(_alias, __name__, "_VALIDATION_ENABLED", _check_bool(_alias))
del _alias

# SVI's compile="auto": compile a run whose remaining eager steps would take this long
# (seconds; see ppl.infer.compile.auto).
_AUTO_COMPILE_SECONDS = 15.0


@register("auto_compile_seconds", __name__, "_AUTO_COMPILE_SECONDS")
def _check_seconds(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"setting 'auto_compile_seconds' must be a number >= 0, got {value!r}")


# ... and only if those steps also outlast compiling, which costs about the time of this
# many eager steps of the same model (0: compile cost not counted).
_AUTO_COMPILE_COST_STEPS = 3000


@register("auto_compile_cost_steps", __name__, "_AUTO_COMPILE_COST_STEPS")
def _check_cost_steps(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"setting 'auto_compile_cost_steps' must be an int >= 0, got {value!r}")


enable_validation(True)
