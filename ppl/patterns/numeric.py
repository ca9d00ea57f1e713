"""Numeric array patterns with optional bounds (paragami's ``NumericArrayPattern``).

Design notes
------------
The free map is paragami's, entry by entry:

==================  ==========================  ===============================
bounds              free = f(x)                 x = f^-1(free)
==================  ==========================  ===============================
none                ``x``                       ``free``
``lb`` only         ``log(x - lb)``             ``lb + exp(free)``
``ub`` only         ``-log(ub - x)``            ``ub - exp(-free)``
both                ``log(x - lb) - log(ub-x)`` ``lb + (ub - lb) sigmoid(free)``
==================  ==========================  ===============================

Bounds are inclusive for non-free values (paragami's check) but the free map needs
the open interval, so flattening a value *on* a bound with ``free=True`` is a
``ValueError`` rather than a silent ``inf``. Everything is elementwise, so any number
of leading batch dims costs nothing extra.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ppl.patterns.base import ArrayPattern, index_names
from ppl.patterns.registry import register_pattern_json

_INF = float("inf")


def _as_bound(x: Any, name: str) -> float:
    if isinstance(x, torch.Tensor):
        if x.numel() != 1:
            raise ValueError(f"NumericArrayPattern: {name} must be a scalar, got shape {x.shape}")
        x = x.item()
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        try:
            x = float(x)  # numpy scalars
        except (TypeError, ValueError):
            raise TypeError(
                f"NumericArrayPattern: {name} must be a float, got {type(x).__name__}"
            ) from None
    x = float(x)
    if math.isnan(x):
        raise ValueError(f"NumericArrayPattern: {name} must not be nan")
    return x


class NumericArrayPattern(ArrayPattern):
    """An array of numbers in ``[lb, ub]`` (paragami's ``NumericArrayPattern``).

    Args:
        shape: the folded shape.
        lb: inclusive lower bound (``-inf`` for none).
        ub: inclusive upper bound (``inf`` for none).
        default_validate: check bounds on non-free fold/flatten by default.
        free_default: default for ``free``.

    Raises:
        ValueError: if ``lb >= ub``.

    Example:
        >>> p = NumericArrayPattern(shape=(2,), lb=0.0, ub=1.0)
        >>> p.flatten(torch.tensor([0.5, 0.75], dtype=torch.float64), free=True)
        tensor([0.0000, 1.0986], dtype=torch.float64)
    """

    def __init__(
        self,
        shape: tuple[int, ...] | list[int],
        lb: float = -_INF,
        ub: float = _INF,
        default_validate: bool = True,
        free_default: bool | None = None,
    ) -> None:
        if isinstance(shape, int):
            shape = (shape,)
        shape = tuple(int(s) for s in shape)
        self._lb = _as_bound(lb, "lb")
        self._ub = _as_bound(ub, "ub")
        if self._lb >= self._ub:
            raise ValueError(
                f"NumericArrayPattern: upper bound ub={self._ub} must strictly exceed "
                f"lower bound lb={self._lb}"
            )
        super().__init__(shape, math.prod(shape), default_validate, free_default)

    def __str__(self) -> str:
        return f"NumericArrayPattern(shape={self._shape}, lb={self._lb}, ub={self._ub})"

    def bounds(self) -> tuple[float, float]:
        """``(lb, ub)``."""
        return self._lb, self._ub

    def as_dict(self) -> dict[str, Any]:
        return {
            "pattern": self.json_typename(),
            "shape": list(self._shape),
            "lb": self._lb,
            "ub": self._ub,
            "default_validate": self.default_validate,
            "free_default": self.free_default,
        }

    def _valid_value(self, dtype: torch.dtype, device: Any) -> torch.Tensor:
        lb, ub = self._lb, self._ub
        if math.isfinite(lb) and math.isfinite(ub):
            fill = lb + 0.5 * (ub - lb)
        elif math.isfinite(lb):
            fill = lb + 1.0
        elif math.isfinite(ub):
            fill = ub - 1.0
        else:
            fill = 0.0
        return torch.full(self._shape, fill, dtype=dtype, device=device)

    def _value_error(self, value: torch.Tensor, free: bool) -> str | None:
        lb, ub = self._lb, self._ub
        if free:
            # the free map needs the open interval (and finite values)
            bad_lb = math.isfinite(lb) and bool((value <= lb).any())
            bad_ub = math.isfinite(ub) and bool((value >= ub).any())
            if bad_lb or bad_ub:
                return (
                    f"{self}: flatten(free=True) needs lb < value < ub strictly (a value on "
                    f"a bound maps to an infinite free value); got min "
                    f"{value.min().item():.6g}, max {value.max().item():.6g}"
                )
            return None
        if math.isfinite(lb) and bool((value < lb).any()):
            return f"{self}: value beneath lower bound lb={lb}: got min {value.min().item():.6g}"
        if math.isfinite(ub) and bool((value > ub).any()):
            return f"{self}: value above upper bound ub={ub}: got max {value.max().item():.6g}"
        return None

    def _fold_batched(self, flat: torch.Tensor, free: bool) -> torch.Tensor:
        value = flat.reshape(flat.shape[:-1] + self._shape)
        if not free:
            return value
        lb, ub = self._lb, self._ub
        lb_fin, ub_fin = math.isfinite(lb), math.isfinite(ub)
        if lb_fin and ub_fin:
            return lb + (ub - lb) * torch.sigmoid(value)
        if lb_fin:
            return lb + torch.exp(value)
        if ub_fin:
            return ub - torch.exp(-value)
        return value

    def _flatten_batched(self, value: torch.Tensor, free: bool) -> torch.Tensor:
        batch = value.shape[: value.dim() - len(self._shape)]
        if free:
            lb, ub = self._lb, self._ub
            lb_fin, ub_fin = math.isfinite(lb), math.isfinite(ub)
            if lb_fin and ub_fin:
                value = torch.log(value - lb) - torch.log(ub - value)
            elif lb_fin:
                value = torch.log(value - lb)
            elif ub_fin:
                value = -torch.log(ub - value)
        return value.reshape(batch + (self._flat_length,))

    def flat_names(self, free: bool | None = None) -> list[str]:
        """Element names ``'[i,j]'`` (the same free or not, as in paragami)."""
        return index_names(self._shape)


class NumericVectorPattern(NumericArrayPattern):
    """A bounded vector of ``length`` numbers; see :class:`NumericArrayPattern`.

    Example:
        >>> NumericVectorPattern(length=2).flatten(torch.tensor([1.0, 2.0]), free=False)
        tensor([1., 2.])
    """

    def __init__(
        self,
        length: int,
        lb: float = -_INF,
        ub: float = _INF,
        default_validate: bool = True,
        free_default: bool | None = None,
    ) -> None:
        super().__init__((int(length),), lb, ub, default_validate, free_default)

    def __str__(self) -> str:
        return f"NumericVectorPattern(length={self._shape[0]}, lb={self._lb}, ub={self._ub})"

    def length(self) -> int:
        """The vector length."""
        return self._shape[0]

    def as_dict(self) -> dict[str, Any]:
        d = super().as_dict()
        del d["shape"]
        d["length"] = self._shape[0]
        return d


class NumericScalarPattern(NumericArrayPattern):
    """A bounded scalar; like paragami its folded shape is ``(1,)``.

    Example:
        >>> NumericScalarPattern(lb=0.0).fold(torch.zeros(1), free=True)
        tensor([1.])
    """

    def __init__(
        self,
        lb: float = -_INF,
        ub: float = _INF,
        default_validate: bool = True,
        free_default: bool | None = None,
    ) -> None:
        super().__init__((1,), lb, ub, default_validate, free_default)

    def __str__(self) -> str:
        return f"NumericScalarPattern(lb={self._lb}, ub={self._ub})"

    def as_dict(self) -> dict[str, Any]:
        d = super().as_dict()
        del d["shape"]
        return d


for _cls in (NumericArrayPattern, NumericVectorPattern, NumericScalarPattern):
    register_pattern_json(_cls)
