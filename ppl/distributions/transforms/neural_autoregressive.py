"""Neural autoregressive flow (Huang et al. 2018), the "deep sigmoidal" family.

Each output is ``y_d = T^{-1}(sum_k w_k T(a_k x_d + b_k))``, a monotone one-hidden-layer
network in ``x_d`` whose positive weights ``a = softplus(.)``, mixture weights
``w = softmax(.)`` and biases come from an autoregressive network on ``x``. ``T`` is
one of ELU, LeakyReLU, sigmoid or tanh. No inverse (neither in Pyro).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.distributions.transforms import SigmoidTransform, TanhTransform, Transform

from ppl.distributions import constraints
from ppl.distributions.conditional import ConditionalTransformModule
from ppl.distributions.torch_transform import TransformModule
from ppl.distributions.transforms._no_inverse import no_inverse
from ppl.distributions.transforms.affine_autoregressive import ConditionedNN
from ppl.distributions.transforms.basic import ELUTransform, LeakyReLUTransform

__all__ = [
    "ConditionalNeuralAutoregressive",
    "NeuralAutoregressive",
    "conditional_neural_autoregressive",
    "neural_autoregressive",
]

_ACTIVATIONS: dict[str, type[Transform]] = {
    "ELU": ELUTransform,
    "LeakyReLU": LeakyReLUTransform,
    "sigmoid": SigmoidTransform,
    "tanh": TanhTransform,
}


class NeuralAutoregressive(TransformModule):
    """Neural autoregressive flow (Pyro's ``NeuralAutoregressive``).

    Args:
        autoregressive_nn: network with ``param_dims=[W, W, W]`` returning the
            pre-softplus scales, the pre-softmax weights and the biases.
        hidden_units: ``W``, the width of each coordinate's monotone network.
        activation: ``"ELU"``, ``"LeakyReLU"``, ``"sigmoid"`` or ``"tanh"``.

    Raises:
        ValueError: for an unknown activation.

    Example:
        >>> flow = neural_autoregressive(3, width=8)
        >>> tuple(flow(torch.zeros(2, 3)).shape)
        (2, 3)
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True
    eps = 1e-8
    autoregressive = True
    _inverse_unavailable = True

    def __init__(
        self, autoregressive_nn: Any, hidden_units: int = 16, activation: str = "sigmoid"
    ) -> None:
        super().__init__(cache_size=1)
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f'Invalid activation function "{activation}"; expected one of '
                f"{sorted(_ACTIVATIONS)}"
            )
        self.T = _ACTIVATIONS[activation]()
        self.arn = autoregressive_nn
        self.hidden_units = hidden_units
        self._cached_log_df_inv_dx: torch.Tensor | None = None
        self._cached_A: torch.Tensor | None = None
        self._cached_W_pre: torch.Tensor | None = None
        self._cached_C: torch.Tensor | None = None
        self._cached_T_C: torch.Tensor | None = None

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        a_pre, w_pre, b = self.arn(x)  # each (..., W, D)
        a = F.softplus(a_pre)
        c = a * x.unsqueeze(-2) + b
        t_c = self.T(c)
        d = (F.softmax(w_pre, dim=-2) * t_c).sum(-2)
        y = self.T.inv(d)
        self._cached_log_df_inv_dx = self.T.inv.log_abs_det_jacobian(d, y)
        self._cached_A, self._cached_W_pre = a, w_pre
        self._cached_C, self._cached_T_C = c, t_c
        return y

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        raise no_inverse(type(self).__name__)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``sum_d log(dy_d/dx_d)`` via the chain rule through the mixture."""
        x_old, y_old = self._cached_x_y
        if x is not x_old or y is not y_old:
            self(x)
        a, w_pre = self._cached_A, self._cached_W_pre
        c, t_c, log_dy_dd = self._cached_C, self._cached_T_C, self._cached_log_df_inv_dx
        assert a is not None and w_pre is not None and c is not None and t_c is not None
        assert log_dy_dd is not None
        terms = torch.log(a + self.eps) + F.log_softmax(w_pre, dim=-2)
        log_dd_dx = torch.logsumexp(terms + self.T.log_abs_det_jacobian(c, t_c), dim=-2)
        return (log_dy_dd + log_dd_dx).sum(-1)


class ConditionalNeuralAutoregressive(ConditionalTransformModule):
    """:class:`NeuralAutoregressive` whose network also reads a context.

    Args:
        autoregressive_nn: e.g. :class:`ppl.nn.ConditionalAutoRegressiveNN` with
            ``param_dims=[W, W, W]``.
        **kwargs: ``hidden_units``, ``activation``.
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, autoregressive_nn: torch.nn.Module, **kwargs: Any) -> None:
        super().__init__()
        self.nn = autoregressive_nn
        self.kwargs = kwargs

    def condition(self, context: torch.Tensor) -> NeuralAutoregressive:
        """The flow for ``context``."""
        return NeuralAutoregressive(ConditionedNN(self.nn, context), **self.kwargs)


def neural_autoregressive(
    input_dim: int,
    hidden_dims: Sequence[int] | None = None,
    activation: str = "sigmoid",
    width: int = 16,
) -> NeuralAutoregressive:
    """A :class:`NeuralAutoregressive` flow with a fresh ``AutoRegressiveNN``.

    Args:
        input_dim: event size.
        hidden_dims: hidden sizes (default ``[3 * input_dim + 1]``).
        activation: see :class:`NeuralAutoregressive`.
        width: hidden units of each coordinate's monotone network.
    """
    from ppl.nn.auto_reg_nn import AutoRegressiveNN

    if hidden_dims is None:
        hidden_dims = [3 * input_dim + 1]
    arn = AutoRegressiveNN(input_dim, hidden_dims, param_dims=[width] * 3)
    return NeuralAutoregressive(arn, hidden_units=width, activation=activation)


def conditional_neural_autoregressive(
    input_dim: int,
    context_dim: int,
    hidden_dims: Sequence[int] | None = None,
    activation: str = "sigmoid",
    width: int = 16,
) -> ConditionalNeuralAutoregressive:
    """A :class:`ConditionalNeuralAutoregressive` with a fresh conditional MADE."""
    from ppl.nn.auto_reg_nn import ConditionalAutoRegressiveNN

    if hidden_dims is None:
        hidden_dims = [3 * input_dim + 1]
    arn = ConditionalAutoRegressiveNN(input_dim, context_dim, hidden_dims, param_dims=[width] * 3)
    return ConditionalNeuralAutoregressive(arn, hidden_units=width, activation=activation)
