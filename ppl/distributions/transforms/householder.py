"""Householder flow (Tomczak & Welling 2016): a product of learnable reflections."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
from torch.distributions import Transform

from ppl.distributions import constraints
from ppl.distributions.conditional import ConditionalTransformModule
from ppl.distributions.torch_transform import TransformModule

__all__ = [
    "ConditionalHouseholder",
    "ConditionedHouseholder",
    "Householder",
    "conditional_householder",
    "householder",
]


def _check_count(count_transforms: int, input_dim: int) -> None:
    if count_transforms < 1:
        raise ValueError(f"Number of Householder transforms, {count_transforms}, is less than 1!")
    if count_transforms > input_dim:
        warnings.warn(
            f"Number of Householder transforms, {count_transforms}, is greater than input "
            f"dimension {input_dim}, which is an over-parametrization!",
            stacklevel=3,
        )


class ConditionedHouseholder(Transform):
    """Apply the reflections ``x -> x - 2 (u_i . x) u_i`` for each row ``u_i`` (normalized).

    Orthogonal, so ``log|det J| = 0`` and the inverse applies them in reverse order.

    Args:
        u_unnormed: ``(..., K, D)`` reflection directions, or a callable returning them.
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True
    volume_preserving = True

    def __init__(self, u_unnormed: torch.Tensor | Callable[[], torch.Tensor] | None = None) -> None:
        super().__init__(cache_size=1)
        self.u_unnormed = u_unnormed

    def u(self) -> torch.Tensor:
        """The unit reflection directions ``(..., K, D)``."""
        raw = self.u_unnormed() if callable(self.u_unnormed) else self.u_unnormed
        assert raw is not None
        return raw / torch.linalg.norm(raw, ord=2, dim=-1, keepdim=True)

    @staticmethod
    def _reflect(v: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return v - 2.0 * (u * v).sum(-1, keepdim=True) * u

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        u = self.u()
        for i in range(u.size(-2)):
            x = self._reflect(x, u[..., i, :])
        return x

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        u = self.u()
        for i in reversed(range(u.size(-2))):
            y = self._reflect(y, u[..., i, :])
        return y

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Zeros of the batch shape."""
        return x.new_zeros(x.shape[:-1])


class Householder(ConditionedHouseholder, TransformModule):
    """Learnable Householder flow (Pyro's ``Householder``); parameter ``u_unnormed (K, D)``.

    Args:
        input_dim: event size ``D``.
        count_transforms: number of reflections ``K`` (warns when ``K > D``).

    Raises:
        ValueError: if ``count_transforms < 1``.

    Example:
        >>> flow = Householder(3, count_transforms=2)
        >>> x = torch.randn(4, 3)
        >>> torch.allclose(flow(x).norm(dim=-1), x.norm(dim=-1))
        True
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True
    volume_preserving = True

    def __init__(self, input_dim: int, count_transforms: int = 1) -> None:
        super().__init__()
        self.input_dim = input_dim
        _check_count(count_transforms, input_dim)
        self.u_unnormed = nn.Parameter(torch.empty(count_transforms, input_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``u_unnormed ~ U(-1/sqrt(D), 1/sqrt(D))``."""
        param = self.u_unnormed
        assert isinstance(param, torch.Tensor)
        bound = 1.0 / math.sqrt(param.size(-1))
        with torch.no_grad():
            param.uniform_(-bound, bound)


class ConditionalHouseholder(ConditionalTransformModule):
    """Householder flow whose directions a network computes from a context.

    Args:
        input_dim: event size.
        nn: ``context -> u`` (one ``(..., D)`` output per reflection).
        count_transforms: number of reflections.
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, input_dim: int, nn: Callable[..., object], count_transforms: int = 1):
        super().__init__()
        self.nn = nn
        self.input_dim = input_dim
        _check_count(count_transforms, input_dim)
        self.count_transforms = count_transforms

    def _u_unnormed(self, context: torch.Tensor) -> torch.Tensor:
        out = self.nn(context)
        if self.count_transforms == 1:
            return out.unsqueeze(-2)  # type: ignore[attr-defined]
        return torch.stack(out, dim=-2)  # type: ignore[arg-type]

    def condition(self, context: torch.Tensor) -> ConditionedHouseholder:
        """The reflections for ``context``."""
        return ConditionedHouseholder(lambda: self._u_unnormed(context))


def householder(input_dim: int, count_transforms: int | None = None) -> Householder:
    """A :class:`Householder` flow (default ``input_dim // 2 + 1`` reflections)."""
    if count_transforms is None:
        count_transforms = input_dim // 2 + 1
    return Householder(input_dim, count_transforms=count_transforms)


def conditional_householder(
    input_dim: int,
    context_dim: int,
    hidden_dims: Sequence[int] | None = None,
    count_transforms: int = 1,
) -> ConditionalHouseholder:
    """A :class:`ConditionalHouseholder` with a fresh ``DenseNN``."""
    from ppl.nn.dense_nn import DenseNN

    if hidden_dims is None:
        hidden_dims = [input_dim * 10, input_dim * 10]
    nn = DenseNN(context_dim, hidden_dims, param_dims=[input_dim] * count_transforms)
    return ConditionalHouseholder(input_dim, nn, count_transforms)
