"""An array of one base pattern (paragami's ``PatternArray``), vectorized.

Design notes
------------
The folded value has shape ``array_shape + base.shape()``; element ``[i, j]`` is a
valid value of the base pattern. The flat vector is the elements' flat vectors in
row-major order of ``array_shape`` (paragami's order, so the numbers match).

paragami loops over the elements in Python; ppl does not. Every array-valued base
pattern folds a ``(..., n)`` tensor into ``(..., *shape)`` in one call (see
:mod:`ppl.patterns.base`), so ``PatternArray`` only reshapes:

* fold:    ``(..., A*n)`` -> ``(..., *array_shape, n)`` -> base fold (batched);
* flatten: ``(..., *array_shape, *base_shape)`` -> base flatten -> ``(..., A*n)``.

A ``PatternArray`` of ``PatternArray`` works the same way. A base whose folded value
is not a single tensor (a ``PatternDict``) raises ``NotImplementedError`` at
construction, like paragami; use a ``PatternDict`` of ``PatternArray`` instead.
"""

from __future__ import annotations

import json
import math
from typing import Any

import torch

from ppl.patterns.base import ArrayPattern, Pattern, index_names
from ppl.patterns.registry import get_pattern_from_json, register_pattern_json


class PatternArray(ArrayPattern):
    """An array of ``array_shape`` values of ``base_pattern``.

    Args:
        array_shape: the shape of the array (not including the base value's shape).
        base_pattern: an array-valued pattern (numeric, PSD, simplex or PatternArray).
        free_default: default for ``free``.

    Raises:
        NotImplementedError: if ``base_pattern``'s folded values are not tensors
            (e.g. a ``PatternDict``).
        TypeError: if ``base_pattern`` is not a pattern.

    Example:
        >>> from ppl.patterns import PSDSymmetricMatrixPattern
        >>> covs = PatternArray(array_shape=(4,), base_pattern=PSDSymmetricMatrixPattern(2))
        >>> covs.shape(), covs.flat_length(free=True)
        ((4, 2, 2), 12)
    """

    def __init__(
        self,
        array_shape: tuple[int, ...] | list[int],
        base_pattern: Pattern,
        free_default: bool | None = None,
    ) -> None:
        if not isinstance(base_pattern, Pattern):
            raise TypeError(
                f"PatternArray: base_pattern must be a Pattern, got {type(base_pattern).__name__}"
            )
        if not isinstance(base_pattern, ArrayPattern):
            raise NotImplementedError(
                "PatternArray does not support patterns whose folded values are not "
                f"tensors; got a {type(base_pattern).__name__}. Use a PatternDict of "
                "PatternArrays instead."
            )
        if isinstance(array_shape, int):
            array_shape = (array_shape,)
        self._array_shape = tuple(int(s) for s in array_shape)
        self._base = base_pattern
        self._count = math.prod(self._array_shape)
        super().__init__(
            self._array_shape + base_pattern.shape(),
            self._count * base_pattern.flat_length(free=True),
            default_validate=base_pattern.default_validate,
            free_default=free_default,
        )
        self._flat_length = self._count * base_pattern.flat_length(free=False)

    def __str__(self) -> str:
        return f"PatternArray(array_shape={self._array_shape}, base_pattern={self._base})"

    def array_shape(self) -> tuple[int, ...]:
        """Shape of the array of base values."""
        return self._array_shape

    def base_pattern(self) -> ArrayPattern:
        """The base pattern."""
        return self._base

    def as_dict(self) -> dict[str, Any]:
        return {
            "pattern": self.json_typename(),
            "array_shape": list(self._array_shape),
            "base_pattern": self._base.to_json(),
            "free_default": self.free_default,
        }

    @classmethod
    def from_json(cls, json_string: str) -> PatternArray:
        data = json.loads(json_string)
        cls._check_json_type(data)
        return cls(
            array_shape=tuple(data["array_shape"]),
            base_pattern=get_pattern_from_json(data["base_pattern"]),
            free_default=data.get("free_default"),
        )

    def _valid_value(self, dtype: torch.dtype, device: Any) -> torch.Tensor:
        one = self._base.empty(True, dtype=dtype, device=device)
        return one.expand(self._array_shape + one.shape).clone()

    def _value_error(self, value: torch.Tensor, free: bool) -> str | None:
        msg = self._base.support_error(value, free)
        return None if msg is None else f"{self}: bad element value: {msg}"

    def _fold_batched(self, flat: torch.Tensor, free: bool) -> torch.Tensor:
        n = self._base.flat_length(free)
        elems = flat.reshape(flat.shape[:-1] + self._array_shape + (n,))
        return self._base.fold(elems, free=free, validate_value=False)

    def _flatten_batched(self, value: torch.Tensor, free: bool) -> torch.Tensor:
        batch = value.shape[: value.dim() - len(self._shape)]
        flat = self._base.flatten(value, free=free, validate_value=False)
        return flat.reshape(batch + (self.flat_length(free),))

    def flat_names(self, free: bool | None = None) -> list[str]:
        """``'[i,j]'`` of the array element followed by the base pattern's name."""
        free = self._free_with_default(free)
        base = self._base.flat_names(free)
        return [f"{a}{b}" for a in index_names(self._array_shape) for b in base]


register_pattern_json(PatternArray)
