"""Arrowhead matrices: a dense head of rows plus a diagonal tail (Pyro's ``ops.arrowhead``).

An ``n x n`` symmetric arrowhead matrix with head size ``h`` is stored as
``SymmArrowhead(top, bottom_diag)``: ``top`` is its first ``h`` rows (``h x n``) and
``bottom_diag`` the diagonal of the remaining ``(n - h) x (n - h)`` block (which is
diagonal). An upper-triangular arrowhead ``TriuArrowhead(top, bottom_diag)`` has an upper
triangular ``top[:, :h]``, arbitrary ``top[:, h:]`` and a diagonal bottom-right block.
These give ``O(h^2 n)`` square roots, inverses and products, which HMC uses for a mass
matrix that is dense on some sites and diagonal on the rest.

Example:
    >>> import torch
    >>> m = torch.tensor([[4.0, 1.0, 1.0], [1.0, 2.0, 0.0], [1.0, 0.0, 3.0]])
    >>> x = sqrt(SymmArrowhead(m[:1], m.diag()[1:]))
    >>> dense = torch.cat([x.top, torch.cat([torch.zeros(2, 1), x.bottom_diag.diag()], -1)])
    >>> torch.allclose(dense @ dense.T, m)
    True
"""

from __future__ import annotations

from collections import namedtuple

import torch

__all__ = ["SymmArrowhead", "TriuArrowhead", "sqrt", "triu_gram", "triu_inverse", "triu_matvecmul"]

SymmArrowhead = namedtuple("SymmArrowhead", ["top", "bottom_diag"])
TriuArrowhead = namedtuple("TriuArrowhead", ["top", "bottom_diag"])


def _check(x: object, cls: type, fn: str) -> None:
    if not isinstance(x, cls):
        raise TypeError(f"{fn} expects a {cls.__name__}, got {type(x).__name__}")


def sqrt(x: SymmArrowhead, max_tries: int = 6) -> TriuArrowhead:
    """Upper-triangular arrowhead ``X`` with ``X @ X.T == x``.

    With ``x = [[A, B], [B.T, D]]``: ``X = [[U, B D^{-1/2}], [0, D^{1/2}]]`` where ``U`` is
    the upper-triangular factor (``U U^T``) of the Schur complement ``A - B D^{-1} B^T``.
    If that complement is not positive definite, ``B`` is halved (up to ``max_tries``
    times), shrinking the off-diagonal coupling towards a block-diagonal matrix.

    Raises:
        RuntimeError: if the Schur complement stays singular.
    """
    _check(x, SymmArrowhead, "sqrt")
    head = x.top.size(0)
    d_sqrt = x.bottom_diag.sqrt()
    if head == 0:
        return TriuArrowhead(x.top, d_sqrt)
    a, b = x.top[:, :head], x.top[:, head:]
    for _ in range(max_tries):
        b_scaled = b / d_sqrt
        schur = a - b_scaled @ b_scaled.T
        # reversing rows and columns turns a lower Cholesky factor into an upper one
        lower, info = torch.linalg.cholesky_ex(schur.flip(-2, -1))
        if int(info) == 0:
            upper = lower.flip(-2, -1)
            return TriuArrowhead(torch.cat([upper, b_scaled], -1), d_sqrt)
        b = b / 2
    raise RuntimeError(
        "Singular schur complement in computing Cholesky of the input arrowhead matrix"
    )


def triu_inverse(x: TriuArrowhead) -> TriuArrowhead:
    """Inverse of an upper-triangular arrowhead matrix (again upper-triangular arrowhead)."""
    _check(x, TriuArrowhead, "triu_inverse")
    head = x.top.size(0)
    d_inv = x.bottom_diag.reciprocal()
    if head == 0:
        return TriuArrowhead(x.top, d_inv)
    a, b = x.top[:, :head], x.top[:, head:]
    eye = torch.eye(head, dtype=a.dtype, device=a.device)
    a_inv = torch.linalg.solve_triangular(a, eye, upper=True)
    return TriuArrowhead(torch.cat([a_inv, -(a_inv @ (b * d_inv))], -1), d_inv)


def triu_matvecmul(x: TriuArrowhead, y: torch.Tensor, transpose: bool = False) -> torch.Tensor:
    """``X @ y`` (or ``X.T @ y`` with ``transpose``) for an upper-triangular arrowhead ``X``."""
    _check(x, TriuArrowhead, "triu_matvecmul")
    head = x.top.size(0)
    if transpose:
        z = x.top.T @ y[:head]
        return torch.cat([z[:head], z[head:] + x.bottom_diag * y[head:]])
    return torch.cat([x.top @ y, x.bottom_diag * y[head:]])


def triu_gram(x: TriuArrowhead) -> torch.Tensor:
    """The dense ``X.T @ X`` (a diagonal vector when the head is empty)."""
    _check(x, TriuArrowhead, "triu_gram")
    head = x.top.size(0)
    if head == 0:
        return x.bottom_diag.pow(2)
    a, b = x.top[:, :head], x.top[:, head:]
    top = a.T @ x.top
    bottom = torch.cat([top[:, head:].T, b.T @ b + x.bottom_diag.pow(2).diag()], -1)
    return torch.cat([top, bottom])
