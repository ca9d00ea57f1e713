"""Arrays of simplexes (paragami's ``SimplexArrayPattern``).

Design notes
------------
The folded value has shape ``array_shape + (simplex_size,)``; each slice along the
last axis is non-negative and sums to one. Free map (paragami's): the log-ratios to
the first entry, ``free[..., k-1] = log(x[..., k]) - log(x[..., 0])`` for
``k = 1..simplex_size-1``; the inverse is a softmax of ``[0, free]`` (computed with
``torch.softmax``, which is stable for large free values).

Leading batch dims in front of ``array_shape`` are just more simplexes, so the whole
thing is vectorized; a ``PatternArray`` of simplexes costs one call as well.

Validation: entries >= 0 and sums within ``max(1e-12, 64 * eps * simplex_size)`` of
one (paragami uses 1e-12, which float32 cannot meet). ``flatten(free=True)`` also
needs every entry > 0, since ``log(0)`` is not a finite free value.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ppl.patterns.base import ArrayPattern, index_names, value_tolerance
from ppl.patterns.registry import register_pattern_json


class SimplexArrayPattern(ArrayPattern):
    """An array of ``simplex_size``-dimensional probability vectors.

    Args:
        simplex_size: length of each simplex (>= 2).
        array_shape: shape of the array of simplexes (without the simplex axis).
        default_validate: check non-negativity and sums on non-free fold/flatten.
        free_default: default for ``free``.

    Note:
        The positional order ``(simplex_size, array_shape)`` is paragami's; pass
        keywords to be safe.

    Raises:
        ValueError: if ``simplex_size < 2``.

    Example:
        >>> p = SimplexArrayPattern(simplex_size=2, array_shape=(1,))
        >>> p.flatten(torch.tensor([[0.3, 0.7]], dtype=torch.float64), free=True)
        tensor([0.8473], dtype=torch.float64)
    """

    def __init__(
        self,
        simplex_size: int,
        array_shape: tuple[int, ...] | list[int],
        default_validate: bool = True,
        free_default: bool | None = None,
    ) -> None:
        simplex_size = int(simplex_size)
        if simplex_size < 2:
            raise ValueError(f"SimplexArrayPattern: simplex_size must be >= 2, got {simplex_size}")
        if isinstance(array_shape, int):
            array_shape = (array_shape,)
        self._array_shape = tuple(int(s) for s in array_shape)
        self._simplex_size = simplex_size
        free_len = math.prod(self._array_shape) * (simplex_size - 1)
        super().__init__(
            self._array_shape + (simplex_size,), free_len, default_validate, free_default
        )

    def __str__(self) -> str:
        return (
            f"SimplexArrayPattern(simplex_size={self._simplex_size}, "
            f"array_shape={self._array_shape})"
        )

    def array_shape(self) -> tuple[int, ...]:
        """Shape of the array of simplexes."""
        return self._array_shape

    def simplex_size(self) -> int:
        """Length of each simplex."""
        return self._simplex_size

    def as_dict(self) -> dict[str, Any]:
        return {
            "pattern": self.json_typename(),
            "simplex_size": self._simplex_size,
            "array_shape": list(self._array_shape),
            "default_validate": self.default_validate,
            "free_default": self.free_default,
        }

    def _valid_value(self, dtype: torch.dtype, device: Any) -> torch.Tensor:
        return torch.full(self._shape, 1.0 / self._simplex_size, dtype=dtype, device=device)

    def _value_error(self, value: torch.Tensor, free: bool) -> str | None:
        if free:
            if bool((value <= 0).any()):
                return (
                    f"{self}: flatten(free=True) needs every simplex entry > 0 (log-ratios "
                    f"of a zero are infinite); got min {value.min().item():.6g}"
                )
            return None
        if bool((value < 0).any()):
            return f"{self}: some values are negative; got min {value.min().item():.6g}"
        sums = value.sum(-1)
        tol = max(1e-12, value_tolerance(value.dtype, self._simplex_size))
        err = (sums - 1).abs()
        if bool((err > tol).any()):
            worst = int(err.reshape(-1).argmax())
            return (
                f"{self}: the simplexes do not sum to one: expected 1, got "
                f"{sums.reshape(-1)[worst].item():.12g} (at flat simplex {worst})"
            )
        return None

    def _fold_batched(self, flat: torch.Tensor, free: bool) -> torch.Tensor:
        batch = flat.shape[:-1]
        if not free:
            return flat.reshape(batch + self._shape)
        free_mat = flat.reshape(batch + self._array_shape + (self._simplex_size - 1,))
        zeros = free_mat.new_zeros(free_mat.shape[:-1] + (1,))
        return torch.softmax(torch.cat([zeros, free_mat], dim=-1), dim=-1)

    def _flatten_batched(self, value: torch.Tensor, free: bool) -> torch.Tensor:
        batch = value.shape[: value.dim() - len(self._shape)]
        if free:
            logs = value.log()
            value = logs[..., 1:] - logs[..., :1]
            return value.reshape(batch + (self._free_flat_length,))
        return value.reshape(batch + (self._flat_length,))

    def flat_names(self, free: bool | None = None) -> list[str]:
        """``'[i,...,k]'`` per entry; in the free case ``k`` runs over 1..size-1."""
        if self._free_with_default(free):
            names = index_names(self._array_shape + (self._simplex_size - 1,))
            # the free entry k-1 is the log-ratio of simplex entry k to entry 0
            out = []
            for name in names:
                head, _, last = name[1:-1].rpartition(",")
                idx = f"{head},{int(last) + 1}" if head else str(int(last) + 1)
                out.append(f"[{idx}]")
            return out
        return index_names(self._shape)


register_pattern_json(SimplexArrayPattern)
