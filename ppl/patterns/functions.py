"""Function wrappers that fold/flatten arguments or return values (paragami's).

Design notes
------------
``FlattenFunctionInput(fn, patterns, free, argnums)`` turns a function of *folded*
arguments into one of *flat* arguments: the wrapper folds ``args[argnums[i]]`` with
``patterns[i]`` (free or not) and calls ``fn``. ``FoldFunctionInput`` is the reverse
(``fn`` takes flat vectors; the wrapper takes folded values and flattens them).
``FlattenFunctionOutput``/``FoldFunctionOutput`` do the same to return values
selected by ``retnums``. Positional arguments not listed pass through unchanged, as
do keyword arguments.

Because folding is plain differentiable torch, the wrapped function composes with
``torch.autograd.grad`` and with ``torch.func.grad``/``jacrev``/``hessian`` (free
folds never run data-dependent validation, so they are ``vmap``-safe).

``patterns``, ``free`` and ``argnums``/``retnums`` follow paragami's broadcasting: a
single pattern or a list; ``free`` one bool or one per pattern; ``argnums`` defaults
to ``0..len(patterns)-1``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ppl.patterns.base import Pattern


def _normalise(
    patterns: Pattern | Sequence[Pattern],
    free: bool | Sequence[bool],
    nums: int | Sequence[int] | None,
    what: str,
) -> tuple[list[Pattern], list[bool], list[int]]:
    pats = [patterns] if isinstance(patterns, Pattern) else list(patterns)
    for p in pats:
        if not isinstance(p, Pattern):
            raise TypeError(f"patterns must be Pattern objects, got {type(p).__name__}")
    if isinstance(free, bool):
        frees = [free] * len(pats)
    else:
        frees = [bool(f) for f in free]
        if len(frees) != len(pats):
            raise ValueError(
                f"free must be one bool or one per pattern: {len(pats)} patterns, "
                f"{len(frees)} free flags"
            )
    if nums is None:
        idx = list(range(len(pats)))
    elif isinstance(nums, int):
        idx = [nums]
    else:
        idx = [int(i) for i in nums]
    if len(idx) != len(pats):
        raise ValueError(
            f"{what} must be the same length as patterns: {len(pats)} patterns, {what}={idx}"
        )
    if len(set(idx)) != len(idx):
        raise ValueError(f"{what} must not contain duplicated values, got {idx}")
    if any(i < 0 for i in idx):
        raise ValueError(f"{what} must be non-negative, got {idx}")
    return pats, frees, idx


class _PatternWrapper:
    """Shared construction and ``repr`` of the four function wrappers.

    ``_nums_name`` is the user-facing name of the positions argument (``argnums`` or
    ``retnums``); it appears in error messages and in ``repr``.
    """

    _original_is_flat: bool
    _nums_name: str

    def __init__(
        self,
        original_fun: Callable[..., Any],
        patterns: Pattern | Sequence[Pattern],
        free: bool | Sequence[bool],
        nums: int | Sequence[int] | None = None,
    ) -> None:
        if not callable(original_fun):
            raise TypeError(f"original_fun must be callable, got {type(original_fun).__name__}")
        self._fun = original_fun
        self._patterns, self.free, self._nums = _normalise(patterns, free, nums, self._nums_name)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(fun={self._fun!r}, {self._nums_name}={self._nums}, "
            f"free={self.free}, patterns={self._patterns})"
        )


class _TransformFunctionInput(_PatternWrapper):
    _nums_name = "argnums"

    def __init__(
        self,
        original_fun: Callable[..., Any],
        patterns: Pattern | Sequence[Pattern],
        free: bool | Sequence[bool],
        argnums: int | Sequence[int] | None = None,
    ) -> None:
        super().__init__(original_fun, patterns, free, argnums)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        new_args = list(args)
        for pattern, free, i in zip(self._patterns, self.free, self._nums):
            if i >= len(args):
                raise ValueError(
                    f"{type(self).__name__}: argnums includes {i} but the call got only "
                    f"{len(args)} positional arguments"
                )
            if self._original_is_flat:
                new_args[i] = pattern.flatten(args[i], free=free)
            else:
                new_args[i] = pattern.fold(args[i], free=free)
        return self._fun(*new_args, **kwargs)


class FlattenFunctionInput(_TransformFunctionInput):
    """Wrap ``original_fun(folded...)`` as a function of flat vectors.

    Args:
        original_fun: a function taking folded values at positions ``argnums``.
        patterns: one pattern or a list, one per wrapped argument.
        free: whether the flat arguments are free (one bool or one per pattern).
        argnums: positions of the wrapped arguments (default ``0..len(patterns)-1``).

    Raises:
        ValueError: on mismatched lengths/duplicates at construction; at call time
            if a flat argument has the wrong length (from ``Pattern.fold``).

    Example:
        >>> import torch
        >>> from ppl.patterns import NumericVectorPattern
        >>> p = NumericVectorPattern(length=2, lb=0.0)
        >>> f = FlattenFunctionInput(lambda x: x.sum(), patterns=p, free=True)
        >>> f(torch.zeros(2))
        tensor(2.)
    """

    _original_is_flat = False


class FoldFunctionInput(_TransformFunctionInput):
    """Wrap ``original_fun(flat...)`` as a function of folded values (the inverse of
    :class:`FlattenFunctionInput`; same arguments).

    Example:
        >>> import torch
        >>> from ppl.patterns import NumericVectorPattern
        >>> p = NumericVectorPattern(length=2, lb=0.0)
        >>> f = FoldFunctionInput(lambda v: v, patterns=p, free=True)
        >>> f(torch.ones(2))
        tensor([0., 0.])
    """

    _original_is_flat = True


class _TransformFunctionOutput(_PatternWrapper):
    _nums_name = "retnums"

    def __init__(
        self,
        original_fun: Callable[..., Any],
        patterns: Pattern | Sequence[Pattern],
        free: bool | Sequence[bool],
        retnums: int | Sequence[int] | None = None,
    ) -> None:
        super().__init__(original_fun, patterns, free, retnums)

    def _convert(self, pattern: Pattern, free: bool, value: Any) -> Any:
        if self._original_is_flat:
            return pattern.fold(value, free=free)
        return pattern.flatten(value, free=free)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        rets = self._fun(*args, **kwargs)
        if not isinstance(rets, tuple):
            if self._nums != [0]:
                raise ValueError(
                    f"{type(self).__name__}: the function returned one value but "
                    f"retnums={self._nums}; return a tuple or use retnums=0"
                )
            return self._convert(self._patterns[0], self.free[0], rets)
        new = list(rets)
        for pattern, free, i in zip(self._patterns, self.free, self._nums):
            if i >= len(rets):
                raise ValueError(
                    f"{type(self).__name__}: retnums includes {i} but the function "
                    f"returned only {len(rets)} values"
                )
            new[i] = self._convert(pattern, free, rets[i])
        return tuple(new)


class FlattenFunctionOutput(_TransformFunctionOutput):
    """Wrap a function returning folded values so it returns flat vectors.

    Args:
        original_fun: the function.
        patterns: one pattern or a list, one per converted return value.
        free: free flat values or not (one bool or one per pattern).
        retnums: positions in the returned tuple (default ``0..len(patterns)-1``; a
            single non-tuple return value is position 0).

    Example:
        >>> import torch
        >>> from ppl.patterns import PSDSymmetricMatrixPattern
        >>> p = PSDSymmetricMatrixPattern(size=2)
        >>> f = FlattenFunctionOutput(lambda s: s * torch.eye(2), patterns=p, free=True)
        >>> f(1.0)
        tensor([0., 0., 0.])
    """

    _original_is_flat = False


class FoldFunctionOutput(_TransformFunctionOutput):
    """Wrap a function returning flat vectors so it returns folded values (the
    inverse of :class:`FlattenFunctionOutput`; same arguments).

    Example:
        >>> import torch
        >>> from ppl.patterns import PSDSymmetricMatrixPattern
        >>> p = PSDSymmetricMatrixPattern(size=2)
        >>> FoldFunctionOutput(lambda: torch.zeros(3), patterns=p, free=True)()
        tensor([[1., 0.],
                [0., 1.]])
    """

    _original_is_flat = True


class _TransformFunctionInputAndOutput:
    """An input wrapper around an output wrapper; subclasses pick the two classes."""

    _input_cls: type[_TransformFunctionInput]
    _output_cls: type[_TransformFunctionOutput]

    def __init__(
        self,
        original_fun: Callable[..., Any],
        input_patterns: Pattern | Sequence[Pattern],
        input_free: bool | Sequence[bool],
        input_argnums: int | Sequence[int] | None,
        output_patterns: Pattern | Sequence[Pattern],
        output_free: bool | Sequence[bool],
        output_retnums: int | Sequence[int] | None = None,
    ) -> None:
        out = self._output_cls(original_fun, output_patterns, output_free, output_retnums)
        self._fun = self._input_cls(out, input_patterns, input_free, input_argnums)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._fun(*args, **kwargs)


class FoldFunctionInputAndOutput(_TransformFunctionInputAndOutput):
    """``FoldFunctionInput`` of ``FoldFunctionOutput``: folded in, folded out.

    Example:
        >>> import torch
        >>> from ppl.patterns import NumericVectorPattern
        >>> p = NumericVectorPattern(length=2, lb=0.0)
        >>> f = FoldFunctionInputAndOutput(lambda v: v + 1, p, True, 0, p, True)
        >>> f(torch.ones(2))
        tensor([2.7183, 2.7183])
    """

    _input_cls = FoldFunctionInput
    _output_cls = FoldFunctionOutput


class FlattenFunctionInputAndOutput(_TransformFunctionInputAndOutput):
    """``FlattenFunctionInput`` of ``FlattenFunctionOutput``: flat in, flat out.

    Example:
        >>> import torch
        >>> from ppl.patterns import NumericVectorPattern
        >>> p = NumericVectorPattern(length=2, lb=0.0)
        >>> f = FlattenFunctionInputAndOutput(lambda x: 2 * x, p, True, 0, p, True)
        >>> f(torch.zeros(2))
        tensor([0.6931, 0.6931])
    """

    _input_cls = FlattenFunctionInput
    _output_cls = FlattenFunctionOutput
