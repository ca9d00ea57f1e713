"""``MultivariateStudentT(df, loc, scale_tril)``: a Gaussian scale mixture with Chi2 mixing.

``X = loc + scale_tril @ z / sqrt(w / df)`` with ``z ~ Normal(0, I)`` and
``w ~ Chi2(df)``. Its density is
``Gamma((df+n)/2) / (Gamma(df/2) (df pi)^(n/2) |L|) (1 + |L^-1 (x - loc)|^2 / df)^(-(df+n)/2)``.

Example:
    >>> import torch
    >>> d = MultivariateStudentT(3.0, torch.zeros(2), torch.eye(2))
    >>> round(float(d.log_prob(torch.zeros(2))), 4)  # log(1 / (2 pi)) + log(... ) for df=3
    -1.8379
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.distributions import constraints
from torch.distributions.utils import lazy_property

from ppl.distributions.torch_distribution import TorchDistribution
from ppl.distributions.torch_dists import Chi2
from ppl.distributions.util import EMPTY_SHAPE, check_event_shape
from ppl.ops.tensor import broadcast_shape

__all__ = ["MultivariateStudentT"]


class MultivariateStudentT(TorchDistribution):
    """Multivariate Student's t with ``df`` degrees of freedom.

    Args:
        df: positive degrees of freedom (batch shape).
        loc: location vector, shape ``batch + (n,)``.
        scale_tril: lower-triangular scale with positive diagonal, ``batch + (n, n)``.

    Note: ``covariance_matrix`` is ``scale_tril @ scale_tril.T`` (as in Pyro), not the
    covariance ``df / (df - 2)`` times that.
    """

    arg_constraints = {
        "df": constraints.positive,
        "loc": constraints.real_vector,
        "scale_tril": constraints.lower_cholesky,
    }
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, df: Any, loc: torch.Tensor, scale_tril: torch.Tensor,
                 validate_args: bool | None = None) -> None:
        n = loc.size(-1)
        if scale_tril.shape[-2:] != (n, n):
            raise ValueError(
                f"MultivariateStudentT: scale_tril must end in ({n}, {n}) to match loc "
                f"{tuple(loc.shape)}, got {tuple(scale_tril.shape)}"
            )
        if not isinstance(df, torch.Tensor):
            df = loc.new_tensor(df)
        batch_shape = torch.broadcast_shapes(df.shape, loc.shape[:-1], scale_tril.shape[:-2])
        event_shape = torch.Size((n,))
        self.df = df.expand(batch_shape)
        self.loc = loc.expand(batch_shape + event_shape)
        self._unbroadcasted_scale_tril = scale_tril
        self._chi2 = Chi2(self.df)
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    def _matrix_shape(self) -> torch.Size:
        return self._batch_shape + self._event_shape + self._event_shape

    @lazy_property
    def scale_tril(self) -> torch.Tensor:
        return self._unbroadcasted_scale_tril.expand(self._matrix_shape())

    @lazy_property
    def covariance_matrix(self) -> torch.Tensor:
        lt = self._unbroadcasted_scale_tril
        return (lt @ lt.transpose(-1, -2)).expand(self._matrix_shape())

    @lazy_property
    def precision_matrix(self) -> torch.Tensor:
        eye = torch.eye(self.loc.size(-1), dtype=self.loc.dtype, device=self.loc.device)
        return torch.cholesky_solve(eye, self._unbroadcasted_scale_tril).expand(
            self._matrix_shape())

    @staticmethod
    def infer_shapes(  # type: ignore[override]
        df: Any, loc: Any, scale_tril: Any
    ) -> tuple[torch.Size, torch.Size]:
        batch = broadcast_shape(tuple(df), tuple(loc)[:-1], tuple(scale_tril)[:-2])
        return batch, torch.Size(tuple(loc)[-1:])

    def expand(self, batch_shape: Any, _instance: Any = None) -> MultivariateStudentT:
        new = self._get_checked_instance(MultivariateStudentT, _instance)
        batch_shape = torch.Size(batch_shape)
        matrix_shape = batch_shape + self.event_shape + self.event_shape
        new.df = self.df.expand(batch_shape)
        new.loc = self.loc.expand(batch_shape + self.event_shape)
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril
        for name in ("scale_tril", "covariance_matrix", "precision_matrix"):
            if name in self.__dict__:
                setattr(new, name, self.__dict__[name].expand(matrix_shape))
        new._chi2 = self._chi2.expand(batch_shape)
        TorchDistribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape: Any = EMPTY_SHAPE) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        z = torch.randn(shape, dtype=self.df.dtype, device=self.df.device)
        w = self._chi2.rsample(sample_shape)
        y = z * torch.rsqrt(w / self.df).unsqueeze(-1)
        return self.loc + (self.scale_tril @ y.unsqueeze(-1)).squeeze(-1)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        check_event_shape(self, value)
        if self._validate_args:
            self._validate_sample(value)
        n = self.loc.size(-1)
        diff = (value - self.loc).unsqueeze(-1)
        lt = self.scale_tril.expand(diff.shape[:-2] + (n, n))
        y = torch.linalg.solve_triangular(lt, diff, upper=False).squeeze(-1)
        df = self.df
        log_norm = (
            self.scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
            + 0.5 * n * (df.log() + math.log(math.pi))
            + torch.lgamma(0.5 * df)
            - torch.lgamma(0.5 * (df + n))
        )
        return -0.5 * (df + n) * torch.log1p(y.pow(2).sum(-1) / df) - log_norm

    @property
    def mean(self) -> torch.Tensor:
        nan = self.loc.new_tensor(math.nan)
        return torch.where((self.df <= 1).unsqueeze(-1), nan, self.loc)

    @property
    def variance(self) -> torch.Tensor:
        df = self.df.unsqueeze(-1)
        var = self.scale_tril.pow(2).sum(-1) * (df / (df - 2))
        var = torch.where((df <= 2) & (df > 1), var.new_tensor(math.inf), var)
        return torch.where(df <= 1, var.new_tensor(math.nan), var)
