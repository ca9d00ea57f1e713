"""Symmetric positive-definite matrices (paragami's ``PSDSymmetricMatrixPattern``).

Design notes
------------
Free map (paragami's, so the numbers match): with ``M' = M - diag_lb * I`` and
``L = cholesky(M')``, replace ``L``'s diagonal by its log and read the lower triangle
**row by row**: ``[L00, L10, L11, L20, L21, L22, ...]`` (``torch.tril_indices`` order).
The inverse builds ``L`` back, exponentiates the diagonal and returns
``L L^T + diag_lb * I``, symmetrised so the result is exactly symmetric.

The non-free flat value is the whole ``size x size`` matrix, row-major.

Folding uses only gathers (no in-place index writes), so it works under
``torch.func.vmap``/``jacrev``/``hessian`` as well as plain autograd; all leading
dims are a batch (``cholesky`` and ``matmul`` batch natively).

Validation (non-free): shape, diagonal >= ``diag_lb``, symmetry within
``64 * eps`` relative, and positive-definiteness (``cholesky_ex``) -- paragami checks
the first two only, but a non-PD matrix is outside the support, so ppl says so.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from ppl.patterns.base import ArrayPattern, index_names, value_tolerance
from ppl.patterns.registry import register_pattern_json


class _Indices(NamedTuple):
    rows: torch.Tensor  # (m,) row of each free slot, m = size*(size+1)/2, row-major
    cols: torch.Tensor  # (m,) column of each free slot
    gather: torch.Tensor  # (size*size,) matrix entry -> 1 + strictly-lower slot, else 0
    diag_pos: torch.Tensor  # (size,) free slot of each diagonal entry
    is_diag: torch.Tensor  # (m,) bool, slot is on the diagonal
    diag_of_slot: torch.Tensor  # (m,) diagonal index of a diagonal slot (0 elsewhere)


_INDEX_CACHE: dict[tuple[int, str], _Indices] = {}


def _indices(size: int, device: torch.device) -> _Indices:
    """Index tensors for the row-major lower triangle of a ``size x size`` matrix.

    Cached per (size, device) so folding/flattening is pure tensor work.
    """
    key = (size, str(device))
    if key not in _INDEX_CACHE:
        rows, cols = torch.tril_indices(size, size)
        m = rows.numel()
        gather = torch.zeros(size * size, dtype=torch.long)
        is_diag = rows == cols
        slots = torch.arange(m)
        strict = ~is_diag
        gather[rows[strict] * size + cols[strict]] = slots[strict] + 1
        diag_pos = slots[is_diag]
        diag_of_slot = torch.where(is_diag, rows, torch.zeros_like(rows))
        _INDEX_CACHE[key] = _Indices(
            *(t.to(device) for t in (rows, cols, gather, diag_pos, is_diag, diag_of_slot))
        )
    return _INDEX_CACHE[key]


class PSDSymmetricMatrixPattern(ArrayPattern):
    """A ``size x size`` symmetric positive-definite matrix with diagonal >= ``diag_lb``.

    Args:
        size: the matrix side.
        diag_lb: lower bound on the diagonal (>= 0); the free map works on
            ``M - diag_lb * I``.
        default_validate: check symmetry/diagonal/PD on non-free fold/flatten.
        free_default: default for ``free``.

    Raises:
        ValueError: if ``diag_lb < 0`` or ``size < 1``.

    Example:
        >>> p = PSDSymmetricMatrixPattern(size=2)
        >>> cov = torch.tensor([[1.1, 1.0], [1.0, 1.1]], dtype=torch.float64)
        >>> p.flatten(cov, free=True)
        tensor([ 0.0477,  0.9535, -0.8280], dtype=torch.float64)
    """

    def __init__(
        self,
        size: int,
        diag_lb: float = 0.0,
        default_validate: bool = True,
        free_default: bool | None = None,
    ) -> None:
        size = int(size)
        if size < 1:
            raise ValueError(f"PSDSymmetricMatrixPattern: size must be >= 1, got {size}")
        diag_lb = float(diag_lb)
        if not diag_lb >= 0:
            raise ValueError(
                f"PSDSymmetricMatrixPattern: the diagonal lower bound diag_lb must be >= 0, "
                f"got {diag_lb}"
            )
        self._size = size
        self._diag_lb = diag_lb
        super().__init__((size, size), size * (size + 1) // 2, default_validate, free_default)

    def __str__(self) -> str:
        return f"PSDSymmetricMatrixPattern(size={self._size}, diag_lb={self._diag_lb})"

    def size(self) -> int:
        """The matrix side."""
        return self._size

    def diag_lb(self) -> float:
        """The diagonal lower bound."""
        return self._diag_lb

    def as_dict(self) -> dict[str, Any]:
        return {
            "pattern": self.json_typename(),
            "size": self._size,
            "diag_lb": self._diag_lb,
            "default_validate": self.default_validate,
            "free_default": self.free_default,
        }

    def _valid_value(self, dtype: torch.dtype, device: Any) -> torch.Tensor:
        return torch.eye(self._size, dtype=dtype, device=device) * (self._diag_lb + 1.0)

    def _shifted(self, value: torch.Tensor) -> torch.Tensor:
        if self._diag_lb == 0.0:
            return value
        eye = torch.eye(self._size, dtype=value.dtype, device=value.device)
        return value - self._diag_lb * eye

    def _value_error(self, value: torch.Tensor, free: bool) -> str | None:
        if free:
            _, info = torch.linalg.cholesky_ex(self._shifted(value))
            if bool((info != 0).any()):
                return (
                    f"{self}: flatten(free=True) needs a positive-definite matrix "
                    f"(M - diag_lb*I must have a Cholesky factor); got {value.tolist()}"
                )
            return None
        diag = value.diagonal(dim1=-2, dim2=-1)
        if bool((diag < self._diag_lb).any()):
            return (
                f"{self}: diagonal is less than the lower bound {self._diag_lb}: "
                f"got diagonal {diag.tolist()}"
            )
        asym = (value - value.transpose(-1, -2)).abs().amax(dim=(-2, -1))
        scale = value.abs().amax(dim=(-2, -1)).clamp_min(1.0)
        if bool((asym > value_tolerance(value.dtype) * scale).any()):
            return (
                f"{self}: matrix is not symmetric (max |M - M^T| = "
                f"{asym.max().item():.3g}); got {value.tolist()}"
            )
        _, info = torch.linalg.cholesky_ex(value)
        if bool((info != 0).any()):
            return f"{self}: matrix is not positive definite; got {value.tolist()}"
        return None

    def _fold_batched(self, flat: torch.Tensor, free: bool) -> torch.Tensor:
        batch = flat.shape[:-1]
        n = self._size
        if not free:
            return flat.reshape(batch + (n, n))
        ix = _indices(n, flat.device)
        padded = torch.cat([flat.new_zeros(batch + (1,)), flat], dim=-1)
        strict_lower = padded.index_select(-1, ix.gather).reshape(batch + (n, n))
        chol = strict_lower + torch.diag_embed(flat.index_select(-1, ix.diag_pos).exp())
        mat = chol @ chol.transpose(-1, -2)
        mat = 0.5 * (mat + mat.transpose(-1, -2))
        if self._diag_lb != 0.0:
            mat = mat + self._diag_lb * torch.eye(n, dtype=flat.dtype, device=flat.device)
        return mat

    def _flatten_batched(self, value: torch.Tensor, free: bool) -> torch.Tensor:
        n = self._size
        batch = value.shape[:-2]
        if not free:
            return value.reshape(batch + (n * n,))
        chol = torch.linalg.cholesky(self._shifted(value))
        ix = _indices(n, value.device)
        vec = chol[..., ix.rows, ix.cols]
        log_diag = chol.diagonal(dim1=-2, dim2=-1).log()
        # put the log-diagonal in the diagonal slots without in-place writes
        return torch.where(ix.is_diag, log_diag.index_select(-1, ix.diag_of_slot), vec)

    def flat_names(self, free: bool | None = None) -> list[str]:
        """``'[i,j]'`` for the full matrix (non-free) or the lower-triangle Cholesky
        entries ``'chol[i,j]'`` (free; the diagonal ones are logs)."""
        if self._free_with_default(free):
            rows, cols = torch.tril_indices(self._size, self._size).tolist()
            return [f"chol[{r},{c}]" for r, c in zip(rows, cols)]
        return index_names(self._shape)


register_pattern_json(PSDSymmetricMatrixPattern)
