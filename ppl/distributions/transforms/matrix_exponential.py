"""Matrix-exponential flow (Hoogeboom et al. 2020): ``y = exp(M) x``, ``log|det| = tr(M)``."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
from torch.distributions import Transform

from ppl.distributions import constraints
from ppl.distributions.conditional import ConditionalTransformModule
from ppl.distributions.torch_transform import TransformModule

__all__ = [
    "ConditionalMatrixExponential",
    "ConditionedMatrixExponential",
    "MatrixExponential",
    "conditional_matrix_exponential",
    "matrix_exponential",
]


def _check(iterations: int, normalization: str) -> None:
    if iterations < 1:
        raise ValueError(f"iterations must be positive, got {iterations}")
    if normalization in ("weight", "spectral"):
        raise NotImplementedError("Normalization is currently not implemented.")
    if normalization != "none":
        raise ValueError(f"Unknown normalization method: {normalization}")


class ConditionedMatrixExponential(Transform):
    """``y = exp(M) x`` by a truncated power series; the inverse uses ``exp(-M)``.

    Args:
        weights: ``(..., D, D)`` matrix ``M`` or a callable returning it.
        iterations: number of series terms after the identity.
        normalization: only ``"none"`` (as in Pyro).
        bound: unused (kept for Pyro's signature).
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(
        self,
        weights: torch.Tensor | Callable[[], torch.Tensor] | None = None,
        iterations: int = 8,
        normalization: str = "none",
        bound: float | None = None,
    ) -> None:
        super().__init__(cache_size=1)
        _check(iterations, normalization)
        self.weights = weights
        self.iterations = iterations
        self.normalization = normalization
        self.bound = bound

    def _matrix(self) -> torch.Tensor:
        m = self.weights() if callable(self.weights) else self.weights
        assert m is not None
        return m

    def _exp(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        term = x.unsqueeze(-1)
        total = term
        for k in range(self.iterations):
            term = torch.matmul(m, term) / (k + 1)
            total = total + term
        return total.squeeze(-1)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return self._exp(x, self._matrix())

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return self._exp(y, -self._matrix())

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``trace(M)``, broadcast to the batch shape of ``x``."""
        tr = self._matrix().diagonal(dim1=-2, dim2=-1).sum(-1)
        return tr.expand(torch.broadcast_shapes(tr.shape, x.shape[:-1]))


class MatrixExponential(ConditionedMatrixExponential, TransformModule):
    """Learnable matrix-exponential flow (Pyro's ``MatrixExponential``); ``weights (D, D)``.

    Example:
        >>> flow = MatrixExponential(3)
        >>> x = torch.randn(4, 3)
        >>> torch.allclose(flow.inv(flow(x).clone()), x, atol=1e-4)
        True
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(
        self,
        input_dim: int,
        iterations: int = 8,
        normalization: str = "none",
        bound: float | None = None,
    ) -> None:
        super().__init__(iterations=iterations, normalization=normalization, bound=bound)
        self.weights = nn.Parameter(torch.empty(input_dim, input_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``weights ~ U(-1/sqrt(D), 1/sqrt(D))``."""
        w = self.weights
        assert isinstance(w, torch.Tensor)
        bound = 1.0 / math.sqrt(w.size(0))
        with torch.no_grad():
            w.uniform_(-bound, bound)


class ConditionalMatrixExponential(ConditionalTransformModule):
    """Matrix-exponential flow whose ``M`` a network computes from a context."""

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(
        self,
        input_dim: int,
        nn: Callable[[torch.Tensor], torch.Tensor],
        iterations: int = 8,
        normalization: str = "none",
        bound: float | None = None,
    ) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.nn = nn
        self.iterations = iterations
        self.normalization = normalization
        self.bound = bound

    def _params(self, context: torch.Tensor) -> torch.Tensor:
        return self.nn(context)

    def condition(self, context: torch.Tensor) -> ConditionedMatrixExponential:
        """The flow for ``context``."""

        def weights() -> torch.Tensor:
            w = self.nn(context)
            return w.view(w.shape[:-1] + (self.input_dim, self.input_dim))

        return ConditionedMatrixExponential(
            weights, iterations=self.iterations, normalization=self.normalization, bound=self.bound
        )


def matrix_exponential(
    input_dim: int, iterations: int = 8, normalization: str = "none", bound: float | None = None
) -> MatrixExponential:
    """A :class:`MatrixExponential` flow."""
    return MatrixExponential(
        input_dim, iterations=iterations, normalization=normalization, bound=bound
    )


def conditional_matrix_exponential(
    input_dim: int,
    context_dim: int,
    hidden_dims: Sequence[int] | None = None,
    iterations: int = 8,
    normalization: str = "none",
    bound: float | None = None,
) -> ConditionalMatrixExponential:
    """A :class:`ConditionalMatrixExponential` with a fresh ``DenseNN``."""
    from ppl.nn.dense_nn import DenseNN

    if hidden_dims is None:
        hidden_dims = [input_dim * 10, input_dim * 10]
    nn = DenseNN(context_dim, hidden_dims, param_dims=[input_dim * input_dim])
    return ConditionalMatrixExponential(
        input_dim, nn, iterations=iterations, normalization=normalization, bound=bound
    )
