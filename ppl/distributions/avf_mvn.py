"""``AVFMultivariateNormal``: a Gaussian whose ``rsample`` gradients carry a learnable
control variate (adaptive velocity fields, Jankowiak & Obermeyer 2018).

Sampling is ``loc + scale_tril @ eps``. The backward pass adds to the usual
reparameterized gradient of ``scale_tril`` a divergence-free correction
``sum_l xi_ab B_la C_lb`` with ``xi = (g L)^T eps - eps^T (g L)`` (summed over draws), which
leaves the expected gradient unchanged for any ``control_var = (B, C)`` of shape
``2 x L x D``. The backward pass also gives ``control_var`` a gradient, so it can be
adapted alongside ``loc`` and ``scale_tril`` (e.g. by its own optimizer) to lower the
variance of their gradients.

Example:
    >>> import torch
    >>> d = AVFMultivariateNormal(torch.zeros(2), torch.eye(2), 0.1 * torch.ones(2, 1, 2))
    >>> d.rsample((4,)).shape
    torch.Size([4, 2])
"""

from __future__ import annotations

from typing import Any

import torch
from torch.autograd.function import once_differentiable
from torch.distributions import constraints

from ppl.distributions.omt_mvn import _check_unbatched
from ppl.distributions.torch_dists import MultivariateNormal
from ppl.distributions.util import EMPTY_SHAPE

__all__ = ["AVFMultivariateNormal"]


class AVFMultivariateNormal(MultivariateNormal):
    """Unbatched multivariate normal with adaptive-velocity-field gradients.

    Args:
        loc: mean, shape ``(D,)``.
        scale_tril: lower Cholesky factor of the covariance, ``(D, D)``.
        control_var: ``(2, L, D)`` tensor ``(B, C)`` parameterising the control variate;
            adapt it (e.g. with its own optimizer) to reduce gradient variance.
    """

    arg_constraints = {
        "loc": constraints.real,
        "scale_tril": constraints.lower_triangular,
        "control_var": constraints.real,
    }

    def __init__(self, loc: torch.Tensor, scale_tril: torch.Tensor,
                 control_var: torch.Tensor) -> None:
        _check_unbatched("AVFMultivariateNormal", loc, scale_tril)
        if control_var.dim() != 3 or control_var.size(0) != 2 or \
                control_var.size(2) != loc.size(0):
            raise ValueError(
                "control_var should be of size 2 x L x D, where D is the dimension of the "
                f"location parameter loc; got {tuple(control_var.shape)} with D={loc.size(0)}"
            )
        self.control_var = control_var
        super().__init__(loc, scale_tril=scale_tril)

    def rsample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        shape = torch.Size(sample_shape) + self.loc.shape
        return _AVFSample.apply(self.loc, self.scale_tril, self.control_var, shape)


class _AVFSample(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, loc: torch.Tensor, scale_tril: torch.Tensor,
                control_var: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        eps = torch.randn(shape, dtype=loc.dtype, device=loc.device)
        ctx.save_for_backward(scale_tril, control_var, eps)
        return loc + eps @ scale_tril.t()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        lt, cv, eps = ctx.saved_tensors
        d = lt.shape[0]
        g, eps = grad.reshape(-1, d), eps.reshape(-1, d)
        b, c = cv[0], cv[1]  # each (L, D)
        dlt = g.t() @ eps  # plain reparameterized gradient, [a, b] = sum_j g_ja eps_jb
        gl = g @ lt
        m = gl.t() @ eps
        xi = m - m.t()  # antisymmetric
        dlt = dlt + torch.einsum("ab,la,lb->ab", xi, b, c)
        lt_grad = torch.tril(dlt)
        db = torch.einsum("xy,ly,xy->lx", lt_grad, c, xi)
        dc = torch.einsum("yx,ly,yx->lx", lt_grad, b, xi)
        return g.sum(0), lt_grad, torch.stack([db, dc]), None
