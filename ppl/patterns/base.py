"""The abstract :class:`Pattern`: folded values <-> flat vectors, free or not.

Design notes
------------
A *pattern* describes a parameter's folded value (a bounded array, a PSD matrix, an
array of simplexes, a dict of those) and two flat views of it:

* the **non-free** flat vector: the entries of the folded value, row-major;
* the **free** flat vector: an unconstrained reparameterisation (log/logit for
  bounds, log-Cholesky for PSD, log-ratios for simplexes) so that any real vector
  folds to a valid value. Optimisers and Hessians work in the free space.

The maps are paragami's, number for number, but run in torch: differentiable with
autograd and ``torch.func``, on the input's device and dtype.

**Batching.** Leaf patterns (numeric, PSD, simplex, pattern arrays) fold a
``(..., n)`` tensor into ``(..., *shape)`` and flatten back; leading dims are a batch.
This is what lets :class:`~ppl.patterns.PatternArray` fold all its elements with one
vectorized call instead of paragami's Python loop. Subclasses implement three
batched hooks and inherit validation, error messages and the public API:

* ``_fold_batched(flat, free)`` -- ``(..., flat_length(free))`` -> folded, no checks;
* ``_flatten_batched(value, free)`` -- folded -> ``(..., flat_length(free))``;
* ``_value_error(value, free)`` -- ``None`` or why a *well-shaped* value is outside
  the support (``free=True`` asks for the stricter, open support the free map needs).

Creation (``random``, ``empty``, non-tensor inputs) uses ``torch.get_default_dtype()``
unless a ``dtype`` is given; tensors keep their own dtype and device.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from typing import Any

import torch

Shape = tuple[int, ...]


def as_float_tensor(value: Any, what: object) -> torch.Tensor:
    """Convert ``value`` to a floating tensor, keeping tensors' dtype and device.

    Non-tensors (numpy arrays, lists, numbers) go through ``torch.as_tensor``; integer
    or boolean results are cast to ``torch.get_default_dtype()``.

    Raises:
        TypeError: if ``value`` cannot be converted (message names ``what``, which is
            only formatted on error, so passing a pattern costs nothing).
    """
    if isinstance(value, torch.Tensor):
        t = value
    else:
        try:
            t = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(
                f"{what}: expected a tensor or array-like of numbers, got {type(value).__name__}"
            ) from None
    if not (t.is_floating_point() or t.is_complex()):
        t = t.to(torch.get_default_dtype())
    return t


def value_tolerance(dtype: torch.dtype, scale: int = 1) -> float:
    """Tolerance used by validations that compare sums/symmetry: ``64 * eps * scale``."""
    return 64.0 * torch.finfo(dtype).eps * max(scale, 1)


class Pattern(ABC):
    """Base class of all patterns (paragami's ``Pattern`` in torch).

    Args:
        flat_length: length of the non-free flat vector.
        free_flat_length: length of the free flat vector.
        free_default: the ``free`` used when a method gets ``free=None``; if this is
            also ``None`` such a call raises ``ValueError``.
    """

    def __init__(
        self, flat_length: int, free_flat_length: int, free_default: bool | None = None
    ) -> None:
        self._flat_length = int(flat_length)
        self._free_flat_length = int(free_flat_length)
        self.free_default = free_default
        self.default_validate = True

    # ------------------------------------------------------------------ subclass hooks
    @abstractmethod
    def __str__(self) -> str: ...

    @abstractmethod
    def as_dict(self) -> dict[str, Any]:
        """All constructor arguments plus ``"pattern"`` (the registered type name)."""

    @abstractmethod
    def empty(self, valid: bool, dtype: torch.dtype | None = None, device: Any = None) -> Any:
        """A folded value; filled with a valid value if ``valid`` else uninitialised."""

    @abstractmethod
    def validate_folded(
        self, folded_val: Any, validate_value: bool | None = None
    ) -> tuple[bool, str]:
        """``(True, "")`` if ``folded_val`` has the right shape (and value), else
        ``(False, reason)``. ``validate_value=None`` means ``default_validate``."""

    @abstractmethod
    def fold(self, flat_val: Any, free: bool | None = None, validate_value: bool | None = None):
        """Fold a flat vector into a folded value (see subclasses)."""

    @abstractmethod
    def flatten(
        self, folded_val: Any, free: bool | None = None, validate_value: bool | None = None
    ) -> torch.Tensor:
        """Flatten a folded value into a flat vector (see subclasses)."""

    @abstractmethod
    def flat_names(self, free: bool | None = None) -> list[str]:
        """One readable name per entry of the flat vector."""

    # ------------------------------------------------------------------ shared API
    def _free_with_default(self, free: bool | None) -> bool:
        if free is not None:
            return bool(free)
        if self.free_default is None:
            raise ValueError(
                f"{self}: free=None but the pattern has free_default=None; pass "
                "free=True or free=False, or build the pattern with free_default=..."
            )
        return bool(self.free_default)

    def flat_length(self, free: bool | None = None) -> int:
        """Length of the flat vector (free or not).

        Example:
            >>> from ppl.patterns import PSDSymmetricMatrixPattern
            >>> p = PSDSymmetricMatrixPattern(size=3)
            >>> p.flat_length(free=True), p.flat_length(free=False)
            (6, 9)
        """
        return self._free_flat_length if self._free_with_default(free) else self._flat_length

    def random(
        self,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: Any = None,
    ) -> Any:
        """A valid folded value: the fold of a free vector of ``Uniform(0, 1)`` draws.

        Like paragami this is a convenience for tests, not a meaningful distribution.

        Example:
            >>> from ppl.patterns import SimplexArrayPattern
            >>> v = SimplexArrayPattern(simplex_size=3, array_shape=(2,)).random()
            >>> torch.allclose(v.sum(-1), torch.ones(2))
            True
        """
        dtype = dtype or torch.get_default_dtype()
        u = torch.rand(self._free_flat_length, generator=generator, dtype=dtype, device=device)
        return self.fold(u, free=True)

    def to_json(self) -> str:
        """A JSON string describing the pattern; see :func:`get_pattern_from_json`."""
        return json.dumps(self.as_dict())

    @classmethod
    def json_typename(cls) -> str:
        """The name under which the class is registered for JSON (its class name)."""
        return cls.__name__

    @classmethod
    def from_json(cls, json_string: str) -> Pattern:
        """Rebuild a pattern from :meth:`to_json` output.

        Raises:
            ValueError: if the JSON describes another pattern type.
        """
        data = json.loads(json_string)
        cls._check_json_type(data)
        data.pop("pattern")
        return cls(**data)

    @classmethod
    def _check_json_type(cls, data: dict[str, Any]) -> None:
        name = str(data.get("pattern", "")).rsplit(".", 1)[-1]
        if name != cls.json_typename():
            raise ValueError(
                f"{cls.__name__}.from_json got JSON for pattern {data.get('pattern')!r}; "
                "use ppl.patterns.get_pattern_from_json to dispatch on the type"
            )

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return False
        return self.as_dict() == other.as_dict()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return str(self)


class ArrayPattern(Pattern):
    """A pattern whose folded value is one tensor of shape ``shape()`` (batchable).

    Subclasses implement ``_fold_batched``, ``_flatten_batched`` and ``_value_error``;
    this class supplies checked, batched ``fold``/``flatten``/``validate_folded``.
    """

    def __init__(
        self,
        shape: Shape,
        free_shape_length: int,
        default_validate: bool = True,
        free_default: bool | None = None,
    ) -> None:
        self._shape = tuple(int(s) for s in shape)
        super().__init__(math.prod(self._shape), free_shape_length, free_default)
        self.default_validate = bool(default_validate)

    def shape(self) -> Shape:
        """The folded shape (without batch dims)."""
        return self._shape

    # -- hooks -----------------------------------------------------------------------
    @abstractmethod
    def _fold_batched(self, flat: torch.Tensor, free: bool) -> torch.Tensor: ...

    @abstractmethod
    def _flatten_batched(self, value: torch.Tensor, free: bool) -> torch.Tensor: ...

    @abstractmethod
    def _value_error(self, value: torch.Tensor, free: bool) -> str | None: ...

    @abstractmethod
    def _valid_value(self, dtype: torch.dtype, device: Any) -> torch.Tensor: ...

    # -- shared ----------------------------------------------------------------------
    def _shape_error(self, value: torch.Tensor) -> str | None:
        k = value.dim() - len(self._shape)
        if k < 0 or tuple(value.shape[k:]) != self._shape:
            return (
                f"{self}: expected a value of shape {self._shape} (with optional leading "
                f"batch dims), got shape {tuple(value.shape)}"
            )
        return None

    def validate_folded(
        self, folded_val: Any, validate_value: bool | None = None
    ) -> tuple[bool, str]:
        """Check the shape (always) and the support (if ``validate_value``).

        Returns:
            ``(is_valid, message)``; the message names the pattern, the expected and
            the actual shape or value.
        """
        value = as_float_tensor(folded_val, self)
        msg = self._shape_error(value)
        if msg is None and self._validate(validate_value):
            msg = self._value_error(value, free=False)
        return (msg is None), (msg or "")

    def support_error(self, value: torch.Tensor, free: bool = False) -> str | None:
        """Why a well-shaped (batched) ``value`` is outside the support, or ``None``.

        ``free=True`` asks for the stricter condition the free map needs (open bounds,
        positive simplex entries, a Cholesky factor).
        """
        return self._value_error(value, free)

    def _validate(self, validate_value: bool | None) -> bool:
        return self.default_validate if validate_value is None else bool(validate_value)

    def fold(
        self, flat_val: Any, free: bool | None = None, validate_value: bool | None = None
    ) -> torch.Tensor:
        """Fold a ``(..., flat_length(free))`` vector into a ``(..., *shape())`` value.

        Args:
            flat_val: the flat vector (leading dims are a batch).
            free: whether ``flat_val`` is the free parameterisation (default:
                ``free_default``).
            validate_value: check a non-free fold lies in the support (default:
                ``default_validate``). Free folds are valid by construction.

        Raises:
            ValueError: wrong length, or a non-free value outside the support.
        """
        free = self._free_with_default(free)
        flat = as_float_tensor(flat_val, self)
        n = self.flat_length(free)
        if flat.dim() == 0 or flat.shape[-1] != n:
            raise ValueError(
                f"{self}: fold(free={free}) expected a flat vector of length {n}, "
                f"got shape {tuple(flat.shape)}"
            )
        value = self._fold_batched(flat, free)
        if not free and self._validate(validate_value):
            msg = self._value_error(value, free=False)
            if msg is not None:
                raise ValueError(msg)
        return value

    def flatten(
        self, folded_val: Any, free: bool | None = None, validate_value: bool | None = None
    ) -> torch.Tensor:
        """Flatten a ``(..., *shape())`` value into a ``(..., flat_length(free))`` vector.

        Raises:
            ValueError: wrong shape; a value outside the support (when validating); or,
                for ``free=True``, a value where the free map is not finite (on a bound,
                a zero simplex entry, a non-positive-definite matrix) -- always checked.
        """
        free = self._free_with_default(free)
        value = as_float_tensor(folded_val, self)
        msg = self._shape_error(value)
        if msg is None and self._validate(validate_value):
            msg = self._value_error(value, free=False)
        if msg is None and free:
            msg = self._value_error(value, free=True)
        if msg is not None:
            raise ValueError(msg)
        return self._flatten_batched(value, free)

    def empty(self, valid: bool, dtype: torch.dtype | None = None, device: Any = None) -> Any:
        """A folded value: a valid constant (``valid=True``) or uninitialised memory."""
        dtype = dtype or torch.get_default_dtype()
        if valid:
            return self._valid_value(dtype, device)
        return torch.empty(self._shape, dtype=dtype, device=device)


def _index_str(index: tuple[int, ...]) -> str:
    return "[" + ",".join(str(i) for i in index) + "]"


def index_names(shape: Shape) -> list[str]:
    """Row-major element names ``'[i,j]'`` for an array of ``shape``."""
    import itertools

    return [_index_str(ix) for ix in itertools.product(*(range(s) for s in shape))]


__all__ = [
    "ArrayPattern",
    "Pattern",
    "as_float_tensor",
    "index_names",
    "value_tolerance",
]
