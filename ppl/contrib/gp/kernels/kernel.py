"""The ``Kernel`` base class and the kernel algebra built on it.

A kernel is a covariance function ``k(X, Z)`` written as a
:class:`~ppl.contrib.gp.parameterized.Parameterized` module: hyperparameters are
``PyroParam`` attributes (point estimates fitted by SVI/MAP) or, once assigned
``PyroSample(prior)``, random variables with automatic guides, so MCMC and VI over
hyperparameters need no extra code.

New kernels come from old ones by ``Sum``/``Product`` (also spelled ``k0 + k1``,
``2 * k``), ``Exponent`` (``exp k``), ``VerticalScaling`` (``g(x) k(x, z) g(z)``) and
``Warping`` (input warping ``k(f(x), f(z))`` and/or a polynomial ``sum_i c_i k^i`` of
the output). All of these preserve positive semi-definiteness.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..parameterized import Parameterized

__all__ = [
    "Combination",
    "Exponent",
    "Kernel",
    "Product",
    "Sum",
    "Transforming",
    "VerticalScaling",
    "Warping",
]


class Kernel(Parameterized):
    """Base class of covariance functions acting on the ``active_dims`` of the input.

    Subclasses implement ``forward(X, Z=None, diag=False)``: ``X`` is ``(N, D)`` (or
    ``(N,)`` for one feature), ``Z`` is ``(M, D)`` (default ``X``); the result is the
    ``(N, M)`` matrix ``k(X, Z)``, or its diagonal ``(N,)`` if ``diag`` (then ``Z`` is
    ignored and taken to be ``X``).

    Args:
        input_dim: number of input features the kernel looks at.
        active_dims: which columns of ``X`` to use (default: the first ``input_dim``).

    Raises:
        ValueError: ``active_dims`` does not have ``input_dim`` entries.

    Example:
        >>> import torch
        >>> from ppl.contrib.gp.kernels import RBF
        >>> RBF(input_dim=2)(torch.zeros(3, 2)).shape
        torch.Size([3, 3])
    """

    def __init__(self, input_dim: int, active_dims: Sequence[int] | None = None) -> None:
        super().__init__()
        if active_dims is None:
            active_dims = list(range(input_dim))
        elif len(active_dims) != input_dim:
            raise ValueError(
                f"{type(self).__name__}: active_dims {list(active_dims)} has "
                f"{len(active_dims)} entries but input_dim is {input_dim}; give one active "
                "dimension per input feature"
            )
        self.input_dim = input_dim
        self.active_dims = active_dims

    def forward(
        self, X: torch.Tensor, Z: torch.Tensor | None = None, diag: bool = False
    ) -> torch.Tensor:
        """Covariance matrix ``k(X, Z)`` (``(N, M)``), or its diagonal if ``diag``."""
        raise NotImplementedError

    def _slice_input(self, X: torch.Tensor) -> torch.Tensor:
        """The active columns of ``X`` as a 2-D ``(N, input_dim)`` tensor.

        A 1-D ``X`` is one feature per point and becomes ``(N, 1)``.
        """
        if X.dim() == 2:
            dims = list(self.active_dims)
            if dims and max(int(d) for d in dims) >= X.size(1):
                raise ValueError(
                    f"{type(self).__name__}: input has {X.size(1)} columns (shape "
                    f"{tuple(X.shape)}) but active_dims is {dims}; pass X with at least "
                    f"{max(int(d) for d in dims) + 1} columns or change active_dims"
                )
            return X[:, self.active_dims]
        if X.dim() == 1:
            return X.unsqueeze(1)
        raise ValueError(
            f"{type(self).__name__}: input must be 1-D (N,) or 2-D (N, D), got shape "
            f"{tuple(X.shape)}"
        )

    def __add__(self, other: Any) -> Sum:
        return Sum(self, other)

    def __radd__(self, other: Any) -> Sum:
        return Sum(self, other)

    def __mul__(self, other: Any) -> Product:
        return Product(self, other)

    def __rmul__(self, other: Any) -> Product:
        return Product(self, other)


class Combination(Kernel):
    """Base of ``Sum``/``Product``: two kernels (or a kernel and a number).

    The combined kernel acts on the union of the components' ``active_dims``.

    Raises:
        TypeError: ``kern0`` is not a Kernel, or ``kern1`` is neither a Kernel nor a number.
    """

    def __init__(self, kern0: Kernel, kern1: Kernel | float) -> None:
        if not isinstance(kern0, Kernel):
            raise TypeError(
                f"{type(self).__name__}: the first component must be a Kernel, got "
                f"{type(kern0).__name__}"
            )
        if not isinstance(kern1, (Kernel, numbers.Number)):
            raise TypeError(
                f"{type(self).__name__}: the second component must be a Kernel or a number, "
                f"got {type(kern1).__name__}"
            )
        dims = set(kern0.active_dims)
        if isinstance(kern1, Kernel):
            dims |= set(kern1.active_dims)
        active_dims = sorted(dims)
        super().__init__(len(active_dims), active_dims)
        self.kern0 = kern0
        self.kern1 = kern1

    def _second(self, X: torch.Tensor, Z: torch.Tensor | None, diag: bool) -> Any:
        if isinstance(self.kern1, Kernel):
            return self.kern1(X, Z, diag=diag)
        return self.kern1


class Sum(Combination):
    """``k0(X, Z) + k1(X, Z)`` (``k1`` may be a constant).

    Example:
        >>> import torch
        >>> from ppl.contrib.gp.kernels import RBF
        >>> (RBF(1) + 1)(torch.zeros(2), diag=True).tolist()
        [2.0, 2.0]
    """

    def forward(
        self, X: torch.Tensor, Z: torch.Tensor | None = None, diag: bool = False
    ) -> torch.Tensor:
        return self.kern0(X, Z, diag=diag) + self._second(X, Z, diag)


class Product(Combination):
    """``k0(X, Z) * k1(X, Z)`` (``k1`` may be a constant).

    Example:
        >>> import torch
        >>> from ppl.contrib.gp.kernels import RBF
        >>> (2 * RBF(1))(torch.zeros(2), diag=True).tolist()
        [2.0, 2.0]
    """

    def forward(
        self, X: torch.Tensor, Z: torch.Tensor | None = None, diag: bool = False
    ) -> torch.Tensor:
        return self.kern0(X, Z, diag=diag) * self._second(X, Z, diag)


class Transforming(Kernel):
    """Base of kernels made by transforming one kernel ``kern``."""

    def __init__(self, kern: Kernel) -> None:
        super().__init__(kern.input_dim, kern.active_dims)
        self.kern = kern


class Exponent(Transforming):
    """``exp(k(X, Z))``.

    Example:
        >>> import torch
        >>> from ppl.contrib.gp.kernels import RBF
        >>> round(Exponent(RBF(1))(torch.zeros(1)).item(), 4)
        2.7183
    """

    def forward(
        self, X: torch.Tensor, Z: torch.Tensor | None = None, diag: bool = False
    ) -> torch.Tensor:
        return self.kern(X, Z, diag=diag).exp()


class VerticalScaling(Transforming):
    """``g(X)[:, None] * k(X, Z) * g(Z)[None, :]`` for a function ``g: (N, ...) -> (N,)``.

    Example:
        >>> import torch
        >>> from ppl.contrib.gp.kernels import RBF
        >>> k = VerticalScaling(RBF(1), vscaling_fn=lambda x: 2 * x.new_ones(x.size(0)))
        >>> k(torch.zeros(2), diag=True).tolist()
        [4.0, 4.0]
    """

    def __init__(self, kern: Kernel, vscaling_fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__(kern)
        self.vscaling_fn = vscaling_fn

    def forward(
        self, X: torch.Tensor, Z: torch.Tensor | None = None, diag: bool = False
    ) -> torch.Tensor:
        gX = self.vscaling_fn(X)
        if diag:
            return gX * self.kern(X, diag=True) * gX
        gZ = gX if Z is None else self.vscaling_fn(Z)
        return gX.unsqueeze(1) * self.kern(X, Z) * gZ.unsqueeze(0)


class Warping(Transforming):
    """Input warping ``k(f(X), f(Z))`` and/or output warping ``sum_i c_i k^i``.

    Args:
        kern: the base kernel.
        iwarping_fn: input warping function ``f`` (default identity).
        owarping_coef: non-negative integer coefficients ``[c_0, c_1, ...]`` of the
            output polynomial (default: no output warping); its degree must be >= 1.

    Raises:
        ValueError: a negative coefficient, or all coefficients zero.

    Example:
        >>> import torch
        >>> from ppl.contrib.gp.kernels import RBF
        >>> Warping(RBF(1), owarping_coef=[1, 0, 2])(torch.zeros(1)).item()
        3.0
    """

    def __init__(
        self,
        kern: Kernel,
        iwarping_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
        owarping_coef: Sequence[int] | None = None,
    ) -> None:
        super().__init__(kern)
        self.iwarping_fn = iwarping_fn
        if owarping_coef is not None:
            coefs = list(owarping_coef)
            if any(not isinstance(c, numbers.Real) or c < 0 for c in coefs):
                raise ValueError(
                    f"Warping: owarping_coef must hold non-negative numbers (so the "
                    f"result stays positive semi-definite), got {coefs}"
                )
            if not any(coefs):
                raise ValueError(
                    f"Warping: the output warping polynomial {coefs} is identically zero; "
                    "give at least one positive coefficient"
                )
            owarping_coef = list(owarping_coef)
        self.owarping_coef = owarping_coef

    def forward(
        self, X: torch.Tensor, Z: torch.Tensor | None = None, diag: bool = False
    ) -> torch.Tensor:
        if self.iwarping_fn is not None:
            X = self.iwarping_fn(X)
            Z = None if Z is None else self.iwarping_fn(Z)
        K = self.kern(X, Z, diag=diag)
        if self.owarping_coef is None:
            return K
        result = torch.zeros_like(K) + self.owarping_coef[-1]  # Horner's scheme
        for coef in reversed(self.owarping_coef[:-1]):
            result = result * K + coef
        return result
