"""Sylvester flow (van den Berg et al. 2018): ``y = x + tanh(x S Q^T + b) Q R``."""

from __future__ import annotations

import torch
import torch.nn as nn

from ppl.distributions import constraints
from ppl.distributions.transforms._no_inverse import no_inverse
from ppl.distributions.transforms.householder import Householder

__all__ = ["Sylvester", "sylvester"]


class Sylvester(Householder):
    """Learnable Sylvester flow (Pyro's ``Sylvester``), orthogonal ``Q`` from Householder
    reflections and upper-triangular ``R``, ``S`` (diagonals through ``tanh``).

    Row-vector convention as Pyro: ``y = x + tanh(x S Q^T + b) Q R``. The log-Jacobian
    is computed exactly, ``log|det(I + diag(tanh'(.)) Q R S Q^T)|`` (one ``D x D``
    determinant per sample). Pyro 1.9 instead returns ``sum log(1 + tanh' R_ii S_ii)``,
    which is the determinant of the transposed construction ``x + tanh(x Q S^T + b)
    R^T Q^T`` and differs from the map it applies once ``Q`` is not diagonal; the
    forward maps of the two agree exactly. No closed-form inverse (cached values only).

    Args:
        input_dim: event size ``D``.
        count_transforms: number of Householder reflections in ``Q``.

    Example:
        >>> flow = Sylvester(3, count_transforms=2)
        >>> tuple(flow(torch.zeros(4, 3)).shape)
        (4, 3)
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True
    volume_preserving = False
    _inverse_unavailable = True

    triangular_mask: torch.Tensor

    def __init__(self, input_dim: int, count_transforms: int = 1) -> None:
        super().__init__(input_dim, count_transforms)
        self.R_dense = nn.Parameter(torch.empty(input_dim, input_dim))
        self.S_dense = nn.Parameter(torch.empty(input_dim, input_dim))
        self.R_diag = nn.Parameter(torch.empty(input_dim))
        self.S_diag = nn.Parameter(torch.empty(input_dim))
        self.b = nn.Parameter(torch.empty(input_dim))
        self.register_buffer("triangular_mask", torch.ones(input_dim, input_dim).triu(1))
        self._cached_logDetJ: torch.Tensor | None = None
        self.tanh = nn.Tanh()
        self.reset_parameters2()

    def reset_parameters2(self) -> None:
        """Every Sylvester parameter ``~ U(-0.01, 0.01)`` (so the flow starts near identity)."""
        with torch.no_grad():
            for v in (self.b, self.R_diag, self.S_diag, self.R_dense, self.S_dense):
                v.uniform_(-0.01, 0.01)

    def dtanh_dx(self, x: torch.Tensor) -> torch.Tensor:
        return 1.0 - torch.tanh(x).pow(2)

    def R(self) -> torch.Tensor:
        return self.R_dense * self.triangular_mask + torch.diag(torch.tanh(self.R_diag))

    def S(self) -> torch.Tensor:
        return self.S_dense * self.triangular_mask + torch.diag(torch.tanh(self.S_diag))

    def Q(self, x: torch.Tensor) -> torch.Tensor:
        """The orthogonal matrix: the product of the reflections ``I - 2 u u^T``."""
        u = self.u()
        eye = torch.eye(self.input_dim, dtype=x.dtype, device=x.device)
        q = eye - 2.0 * torch.outer(u[0], u[0])
        for i in range(1, u.size(-2)):
            q = q @ (eye - 2.0 * torch.outer(u[i], u[i]))
        return q

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        q, r, s = self.Q(x), self.R(), self.S()
        a = q @ r
        b = s @ q.T
        pre = x @ b + self.b
        slope = self.dtanh_dx(pre)
        # dy/dx (row convention) = b diag(slope) a; det(I + b D a) = det(I + D a b)
        m = torch.eye(self.input_dim, dtype=x.dtype, device=x.device) + slope.unsqueeze(-1) * (
            a @ b
        )
        self._cached_logDetJ = torch.linalg.slogdet(m).logabsdet
        return x + torch.tanh(pre) @ a

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        raise no_inverse(type(self).__name__)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Exact ``log|det J|`` (recomputed unless ``(x, y)`` is cached)."""
        x_old, y_old = self._cached_x_y
        if x is not x_old or y is not y_old:
            self(x)
        assert self._cached_logDetJ is not None
        return self._cached_logDetJ


def sylvester(input_dim: int, count_transforms: int | None = None) -> Sylvester:
    """A :class:`Sylvester` flow (default ``input_dim // 2 + 1`` reflections)."""
    if count_transforms is None:
        count_transforms = input_dim // 2 + 1
    return Sylvester(input_dim, count_transforms=count_transforms)
