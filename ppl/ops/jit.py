"""``ppl.ops.jit.trace``: ``torch.jit.trace`` for functions that read ``ppl.param``.

Why: ``torch.jit.trace`` records the operations applied to its *input* tensors; a
function that reads a parameter from the ParamStore would bake the parameter's value
into the graph as a constant, and its gradient would be lost. This wrapper finds the
params the function reads on a first, untraced run, passes their unconstrained leaves
to ``torch.jit.trace`` as extra inputs and, inside the traced run, lets
``ppl.param(name)`` compute the constrained value from exactly those leaf objects, so the
recorded graph depends on them and gradients flow to the store.

One traced graph is kept per call signature: the number of positional arguments and
the (hashable) keyword arguments, as Pyro does. Tensor *values* may change between
calls; shapes, Python control flow and the set of params may not: the traced graph
no longer runs Python, so a param the function would create later is never created.

This module sits at Pyro's path ``pyro.ops.jit`` but in the primitives' layer: it uses
the ParamStore and the poutine handlers.

Example:
    >>> import torch, ppl, ppl.ops.jit
    >>> import ppl.distributions as dist
    >>> ppl.clear_param_store()
    >>> def log_prob(y):
    ...     loc = ppl.param("loc", torch.tensor(0.5))
    ...     return dist.Normal(loc, 1.0).log_prob(y).sum()
    >>> fast = ppl.ops.jit.trace(log_prob)
    >>> bool(torch.allclose(fast(torch.ones(3)), log_prob(torch.ones(3))))
    True
"""

from __future__ import annotations

import argparse
import time
import warnings
import weakref
from collections.abc import Callable, Hashable
from typing import Any

import torch

from ppl.params import get_param_store
from ppl.poutine import block
from ppl.poutine import trace as trace_handler
from ppl.settings import validation_enabled

__all__ = ["CompiledFunction", "trace"]


def _hashable(value: Any, allow_id: bool) -> Hashable:
    """A hashable stand-in for ``value`` (lists, dicts, sets, argparse namespaces)."""
    try:
        hash(value)
        return value
    except TypeError:
        if isinstance(value, list):
            return tuple(_hashable(x, allow_id) for x in value)
        if isinstance(value, dict):
            return tuple(
                sorted((_hashable(k, allow_id), _hashable(v, allow_id)) for k, v in value.items())
            )
        if isinstance(value, set):
            return frozenset(_hashable(x, allow_id) for x in value)
        if isinstance(value, argparse.Namespace):
            return str(value)
        if allow_id:
            return id(value)
        raise


def signature_key(args: tuple, kwargs: dict) -> tuple:
    """The cache key of a call: ``(len(args), sorted hashable kwargs)``.

    Keyword values that cannot be hashed by value are keyed by identity, with a warning.
    """
    items = sorted(kwargs.items())
    try:
        keyed = tuple((k, _hashable(v, False)) for k, v in items)
        hash(keyed)
    except TypeError:
        warnings.warn("ppl.ops.jit.trace: could not hash kwargs by value; keying them by id")
        keyed = tuple((k, _hashable(v, True)) for k, v in items)
    return len(args), keyed


class CompiledFunction:
    """The callable :func:`trace` returns.

    Attributes:
        fn: the wrapped Python function.
        compiled: ``{signature key: torch.jit.ScriptFunction}``; call diagnostics
            (``.graph``, ``.code``) on its values.
        compile_time: seconds the last tracing took, when ``jit_options`` held
            ``time_compilation=True``; else ``None``.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        ignore_warnings: bool = False,
        jit_options: dict[str, Any] | None = None,
    ) -> None:
        self.fn = fn
        self.compiled: dict[tuple, Any] = {}
        self.ignore_warnings = ignore_warnings
        self.jit_options = dict(jit_options or {})
        self.jit_options.setdefault("check_trace", False)
        self.compile_time: float | None = None
        self._param_names: dict[tuple, list[str]] = {}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        key = signature_key(args, kwargs)
        if key not in self.compiled:
            self._trace(key, args, kwargs)
        names = self._param_names[key]
        leaves = dict(get_param_store().named_parameters())
        missing = [n for n in names if n not in leaves]
        if missing:
            raise KeyError(
                f"ppl.ops.jit.trace: param {missing[0]!r} was traced into "
                f"{getattr(self.fn, '__name__', self.fn)!r} but is no longer in the ParamStore"
            )
        return self.compiled[key](*[leaves[n] for n in names], *args)

    def _trace(self, key: tuple, args: tuple, kwargs: dict) -> None:
        with block(), trace_handler(param_only=True) as first:
            self.fn(*args, **kwargs)
        names = list(dict.fromkeys(first.trace.nodes))
        self._param_names[key] = names
        store = get_param_store()
        leaves = dict(store.named_parameters())
        inputs = tuple(leaves[n] for n in names) + tuple(args)
        owner = weakref.ref(self)
        n_params = len(names)

        def with_params_as_inputs(*params_and_args: Any) -> Any:
            me = owner()
            assert me is not None
            given = params_and_args[:n_params]
            current = dict(get_param_store().named_parameters())
            for name, leaf in zip(names, given):
                if current[name] is not leaf:  # the traced graph must read these objects
                    raise RuntimeError(f"ppl.ops.jit.trace: param {name!r} was replaced")
            return me.fn(*params_and_args[n_params:], **kwargs)

        options = dict(self.jit_options)
        time_it = bool(options.pop("time_compilation", False))
        start = time.perf_counter()
        with warnings.catch_warnings(), validation_enabled(False):
            if self.ignore_warnings:
                warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            self.compiled[key] = torch.jit.trace(with_params_as_inputs, inputs, **options)
        if time_it:
            self.compile_time = time.perf_counter() - start


def trace(
    fn: Callable[..., Any] | None = None,
    ignore_warnings: bool = False,
    jit_options: dict[str, Any] | None = None,
) -> Any:
    """Trace ``fn`` lazily with ``torch.jit.trace``, passing the params it reads as inputs.

    Usable as ``trace(fn)``, ``@trace`` or ``@trace(ignore_warnings=True)``.

    Args:
        fn: the function; it may call ``ppl.param`` (params must exist or be created
            on the first call) and run poutine handlers.
        ignore_warnings: silence ``torch.jit.TracerWarning`` while tracing.
        jit_options: keyword arguments for ``torch.jit.trace`` (``check_trace``
            defaults to False), plus ``time_compilation=True`` to record
            ``compile_time``.

    Returns:
        A :class:`CompiledFunction` (or a decorator making one, when ``fn`` is None).
    """
    if fn is None:
        return lambda f: trace(f, ignore_warnings=ignore_warnings, jit_options=jit_options)
    return CompiledFunction(fn, ignore_warnings=ignore_warnings, jit_options=jit_options)
