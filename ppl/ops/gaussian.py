"""Gaussian tensor algebra (Pyro's ``pyro.ops.gaussian``).

Design notes
------------
A :class:`Gaussian` is an unnormalized, possibly rank-deficient Gaussian log-density
in information form, batched over leading dims::

    log g(x) = log_normalizer + x @ info_vec - 0.5 * x @ precision @ x

(``info_vec = precision @ mean`` when the precision is invertible). Information form
makes products of factors a sum of parameters and conditioning a slice, and it
represents flat (zero-precision) directions, which covariance form cannot. Integrals
(:meth:`Gaussian.marginalize`, :func:`gaussian_tensordot`) use the Cholesky factor of
the integrated block (``torch.linalg.cholesky_ex``, with a small diagonal jitter only
when the factorization fails) and triangular solves; nothing forms an inverse.

:class:`AffineNormal` is the conditional ``y ~ Normal(x @ matrix + loc, scale)``,
kept in that form until a dense joint is needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "AffineNormal",
    "Gaussian",
    "gaussian_tensordot",
    "matrix_and_gaussian_to_gaussian",
    "matrix_and_mvn_to_gaussian",
    "mvn_to_gaussian",
    "sequential_gaussian_filter_sample",
    "sequential_gaussian_tensordot",
]

_LOG_2PI = math.log(2 * math.pi)


def _cholesky(matrix: torch.Tensor) -> torch.Tensor:
    """Lower Cholesky factor; retries with growing diagonal jitter if not positive."""
    factor, info = torch.linalg.cholesky_ex(matrix)
    if not bool((info > 0).any()):
        return factor
    eye = torch.eye(matrix.size(-1), dtype=matrix.dtype, device=matrix.device)
    scale = matrix.diagonal(dim1=-2, dim2=-1).abs().mean(-1, keepdim=True).clamp(min=1.0)
    jitter = torch.finfo(matrix.dtype).eps * 10
    for _ in range(8):
        factor, info = torch.linalg.cholesky_ex(matrix + (jitter * scale).unsqueeze(-1) * eye)
        if not bool((info > 0).any()):
            return factor
        jitter *= 100
    raise ValueError(
        f"Gaussian: the precision block of size {matrix.size(-1)} is not positive definite "
        "(cannot integrate a flat or negative direction)"
    )


def _tril_solve(lower: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """``lower^{-1} @ rhs`` for a batch of lower-triangular ``lower``."""
    shape = torch.broadcast_shapes(lower.shape[:-2], rhs.shape[:-2])
    return torch.linalg.solve_triangular(
        lower.expand(shape + lower.shape[-2:]), rhs.expand(shape + rhs.shape[-2:]), upper=False
    )


def _mv(matrix: torch.Tensor, vec: torch.Tensor) -> torch.Tensor:
    return (matrix @ vec.unsqueeze(-1)).squeeze(-1)


class Gaussian:
    """Unnormalized batched Gaussian ``log_normalizer + x·info_vec - ½ x·precision·x``.

    Args:
        log_normalizer: batch-shaped additive constant.
        info_vec: ``batch_shape + (dim,)``, the information vector.
        precision: ``batch_shape + (dim, dim)``, symmetric positive semidefinite.

    Raises:
        ValueError: if the shapes do not agree.

    Example:
        >>> g = Gaussian(torch.zeros(()), torch.tensor([2.0]), torch.tensor([[4.0]]))
        >>> float(g.log_density(torch.tensor([0.5])))  # 0.5*2 - 0.5*0.25*4
        0.5
        >>> round(float(g.event_logsumexp()), 4)  # log(sqrt(2π/4) * exp(2²/(2*4)))
        0.7258
    """

    def __init__(
        self, log_normalizer: torch.Tensor, info_vec: torch.Tensor, precision: torch.Tensor
    ) -> None:
        if info_vec.dim() < 1 or precision.dim() < 2:
            raise ValueError(
                f"Gaussian: info_vec needs >= 1 dim and precision >= 2, got shapes "
                f"{tuple(info_vec.shape)} and {tuple(precision.shape)}"
            )
        if precision.shape[-2:] != info_vec.shape[-1:] * 2:
            raise ValueError(
                f"Gaussian: precision's event shape {tuple(precision.shape[-2:])} must be "
                f"(dim, dim) for info_vec's dim {info_vec.size(-1)}"
            )
        self.log_normalizer = log_normalizer
        self.info_vec = info_vec
        self.precision = precision

    def dim(self) -> int:
        """The event size (number of variables)."""
        return self.info_vec.size(-1)

    @property
    def batch_shape(self) -> torch.Size:
        """The broadcast batch shape of the three parameters."""
        return torch.broadcast_shapes(
            self.log_normalizer.shape, self.info_vec.shape[:-1], self.precision.shape[:-2]
        )

    def __repr__(self) -> str:
        return f"Gaussian(batch_shape={tuple(self.batch_shape)}, dim={self.dim()})"

    # ------------------------------------------------------------------ reshaping
    def expand(self, batch_shape: Sequence[int]) -> Gaussian:
        """Broadcast to ``batch_shape``."""
        shape = torch.Size(batch_shape)
        n = self.dim()
        return Gaussian(
            self.log_normalizer.expand(shape),
            self.info_vec.expand(shape + (n,)),
            self.precision.expand(shape + (n, n)),
        )

    def reshape(self, batch_shape: Sequence[int]) -> Gaussian:
        """Reshape the batch to ``batch_shape`` (parameters are broadcast first)."""
        shape = torch.Size(batch_shape)
        n = self.dim()
        full = self.expand(self.batch_shape)
        return Gaussian(
            full.log_normalizer.reshape(shape),
            full.info_vec.reshape(shape + (n,)),
            full.precision.reshape(shape + (n, n)),
        )

    def __getitem__(self, index: Any) -> Gaussian:
        """Index the batch dims (a tuple index; event dims are kept)."""
        if not isinstance(index, tuple):
            index = (index,)
        full = self.expand(self.batch_shape)
        every = slice(None)
        return Gaussian(
            full.log_normalizer[index],
            full.info_vec[index + (every,)],
            full.precision[index + (every, every)],
        )

    @staticmethod
    def cat(parts: Sequence[Gaussian], dim: int = 0) -> Gaussian:
        """Concatenate Gaussians of one event size along batch dim ``dim``."""
        batch_dim = len(parts[0].batch_shape)
        if dim < 0:
            dim += batch_dim
        full = [g.expand(g.batch_shape) for g in parts]
        return Gaussian(
            torch.cat([g.log_normalizer for g in full], dim),
            torch.cat([g.info_vec for g in full], dim),
            torch.cat([g.precision for g in full], dim),
        )

    def event_pad(self, left: int = 0, right: int = 0) -> Gaussian:
        """Add ``left``/``right`` flat (zero-precision) variables around the event."""
        return Gaussian(
            self.log_normalizer,
            F.pad(self.info_vec, (left, right)),
            F.pad(self.precision, (left, right, left, right)),
        )

    def event_permute(self, perm: torch.Tensor) -> Gaussian:
        """Reorder the variables: the new variable ``i`` is the old ``perm[i]``."""
        if not isinstance(perm, torch.Tensor) or perm.shape != (self.dim(),):
            raise ValueError(
                f"Gaussian.event_permute: expected a tensor of shape ({self.dim()},), got {perm!r}"
            )
        precision = self.precision.index_select(-1, perm).index_select(-2, perm)
        return Gaussian(self.log_normalizer, self.info_vec.index_select(-1, perm), precision)

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other: Gaussian | float | torch.Tensor) -> Gaussian:
        """Product of densities (sum of log-densities), or a constant added."""
        if isinstance(other, Gaussian):
            if other.dim() != self.dim():
                raise ValueError(
                    f"Gaussian.__add__: event sizes differ ({self.dim()} vs {other.dim()})"
                )
            return Gaussian(
                self.log_normalizer + other.log_normalizer,
                self.info_vec + other.info_vec,
                self.precision + other.precision,
            )
        if isinstance(other, (int, float, torch.Tensor)):
            return Gaussian(self.log_normalizer + other, self.info_vec, self.precision)
        raise ValueError(f"Gaussian.__add__: unsupported operand type {type(other).__name__}")

    def __sub__(self, other: float | torch.Tensor) -> Gaussian:
        """Subtract a constant from the log-density."""
        if isinstance(other, (int, float, torch.Tensor)):
            return Gaussian(self.log_normalizer - other, self.info_vec, self.precision)
        raise ValueError(f"Gaussian.__sub__: unsupported operand type {type(other).__name__}")

    # ------------------------------------------------------------------ evaluation
    def log_density(self, value: torch.Tensor) -> torch.Tensor:
        """The log-density at ``value`` (shape ``(..., dim)``)."""
        if value.size(-1) == 0:
            shape = torch.broadcast_shapes(value.shape[:-1], self.batch_shape)
            return self.log_normalizer.expand(shape)
        quad = (value * _mv(self.precision, value)).sum(-1)
        return self.log_normalizer + (value * self.info_vec).sum(-1) - 0.5 * quad

    def rsample(
        self, sample_shape: Sequence[int] = torch.Size(), noise: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Reparameterized draws ``sample_shape + batch_shape + (dim,)`` of the normalized
        Gaussian (needs a positive-definite precision); ``noise`` replaces the standard
        normal draws (zeros give the mean)."""
        lower = _cholesky(self.precision)
        # mean = P^{-1} info = L^{-T} L^{-1} info
        mean = torch.cholesky_solve(self.info_vec.unsqueeze(-1), lower).squeeze(-1)
        shape = torch.Size(sample_shape) + self.batch_shape + (self.dim(), 1)
        if noise is None:
            noise = torch.randn(shape, dtype=mean.dtype, device=mean.device)
        else:
            noise = noise.reshape(shape)
        # x = mean + L^{-T} z has covariance L^{-T} L^{-1} = P^{-1}
        shape_b = torch.broadcast_shapes(lower.shape[:-2], noise.shape[:-2])
        white = torch.linalg.solve_triangular(
            lower.expand(shape_b + lower.shape[-2:]).transpose(-1, -2),
            noise.expand(shape_b + noise.shape[-2:]),
            upper=True,
        )
        return mean + white.squeeze(-1)

    def condition(self, value: torch.Tensor) -> Gaussian:
        """Fix the trailing ``value.size(-1)`` variables at ``value`` (their density is
        kept in ``log_normalizer``): ``g.condition(x[..., n:]).log_density(x[..., :n])
        == g.log_density(x)``."""
        k = value.size(-1)
        if k > self.dim():
            raise ValueError(
                f"Gaussian.condition: value has {k} variables but the Gaussian has {self.dim()}"
            )
        n = self.dim() - k
        p_aa = self.precision[..., :n, :n]
        p_ab = self.precision[..., :n, n:]
        p_bb = self.precision[..., n:, n:]
        info_a, info_b = self.info_vec[..., :n], self.info_vec[..., n:]
        log_normalizer = (
            self.log_normalizer
            + (value * info_b).sum(-1)
            - 0.5 * (value * _mv(p_bb, value)).sum(-1)
        )
        return Gaussian(log_normalizer, info_a - _mv(p_ab, value), p_aa)

    def left_condition(self, value: torch.Tensor) -> Gaussian:
        """Fix the leading ``value.size(-1)`` variables at ``value`` (see :meth:`condition`)."""
        k = value.size(-1)
        if k > self.dim():
            raise ValueError(
                f"Gaussian.left_condition: value has {k} variables but the Gaussian has "
                f"{self.dim()}"
            )
        perm = torch.arange(self.dim(), device=value.device).roll(-k)
        return self.event_permute(perm).condition(value)

    def marginalize(self, left: int = 0, right: int = 0) -> Gaussian:
        """Integrate out the ``left`` leading or the ``right`` trailing variables (one side
        at a time); the integral's constant goes into ``log_normalizer``."""
        if left == 0 and right == 0:
            return self
        if left > 0 and right > 0:
            raise NotImplementedError(
                "Gaussian.marginalize: integrate one side at a time (left or right)"
            )
        n = self.dim()
        k = left + right
        keep = slice(left, n - right)
        gone = slice(None, left) if left else slice(n - right, None)
        lower = _cholesky(self.precision[..., gone, gone])
        # Schur complement: P_aa - P_ab P_bb^{-1} P_ba, with P_bb = L L^T
        half = _tril_solve(lower, self.precision[..., gone, keep])
        white = _tril_solve(lower, self.info_vec[..., gone].unsqueeze(-1))
        precision = self.precision[..., keep, keep] - half.transpose(-1, -2) @ half
        info_vec = self.info_vec[..., keep] - (half.transpose(-1, -2) @ white).squeeze(-1)
        log_normalizer = (
            self.log_normalizer
            + 0.5 * k * _LOG_2PI
            - lower.diagonal(dim1=-2, dim2=-1).log().sum(-1)
            + 0.5 * white.squeeze(-1).pow(2).sum(-1)
        )
        return Gaussian(log_normalizer, info_vec, precision)

    def event_logsumexp(self) -> torch.Tensor:
        """``log ∫ exp(log g(x)) dx`` over all variables (batch-shaped)."""
        lower = _cholesky(self.precision)
        white = _tril_solve(lower, self.info_vec.unsqueeze(-1)).squeeze(-1)
        return (
            self.log_normalizer
            + 0.5 * self.dim() * _LOG_2PI
            + 0.5 * white.pow(2).sum(-1)
            - lower.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        )


class AffineNormal:
    """The conditional ``y | x ~ Normal(x @ matrix + loc, scale).to_event(1)``.

    Args:
        matrix: ``batch_shape + (x_dim, y_dim)``.
        loc: ``batch_shape + (y_dim,)``.
        scale: like ``loc``, positive.

    Example:
        >>> f = AffineNormal(torch.ones(1, 1), torch.zeros(1), torch.ones(1))
        >>> round(float(f.condition(torch.tensor([1.0])).log_density(torch.tensor([1.0]))), 6)
        -0.918939
    """

    def __init__(self, matrix: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> None:
        if loc.shape != scale.shape or matrix.shape[:-2] != loc.shape[:-1]:
            raise ValueError(
                f"AffineNormal: expected matrix (..., x_dim, y_dim) and loc, scale (..., y_dim) "
                f"of one batch shape, got {tuple(matrix.shape)}, {tuple(loc.shape)}, "
                f"{tuple(scale.shape)}"
            )
        if matrix.size(-1) != loc.size(-1):
            raise ValueError(
                f"AffineNormal: matrix's y_dim {matrix.size(-1)} != loc's {loc.size(-1)}"
            )
        self.matrix = matrix
        self.loc = loc
        self.scale = scale
        self._gaussian: Gaussian | None = None

    @property
    def batch_shape(self) -> torch.Size:
        return self.matrix.shape[:-2]

    def condition(self, value: torch.Tensor) -> Gaussian:
        """Fix trailing variables; fixing all of ``y`` gives the likelihood of ``x``."""
        if value.size(-1) != self.loc.size(-1):
            return self.to_gaussian().condition(value)
        root = self.matrix / self.scale.unsqueeze(-2)  # (x_dim, y_dim): P = root root^T
        z = (value - self.loc) / self.scale
        log_normalizer = (
            -0.5 * self.loc.size(-1) * _LOG_2PI - 0.5 * z.pow(2).sum(-1) - self.scale.log().sum(-1)
        )
        return Gaussian(log_normalizer, _mv(root, z), root @ root.transpose(-1, -2))

    def left_condition(self, value: torch.Tensor) -> Any:
        """Fix leading variables; fixing all of ``x`` gives an ``AffineNormal`` with no
        ``x`` (a diagonal Normal, cheap to sample)."""
        if value.size(-1) != self.matrix.size(-2):
            return self.to_gaussian().left_condition(value)
        loc = _mv(self.matrix.transpose(-1, -2), value) + self.loc
        matrix = value.new_zeros(loc.shape[:-1] + (0, loc.size(-1)))
        return AffineNormal(matrix, loc, self.scale.expand(loc.shape))

    def rsample(
        self, sample_shape: Sequence[int] = torch.Size(), noise: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Draws of ``y`` (only once ``x`` is fixed, i.e. ``x_dim == 0``)."""
        if self.matrix.size(-2) > 0:
            raise NotImplementedError("AffineNormal.rsample: condition on x first (left_condition)")
        shape = torch.Size(sample_shape) + self.batch_shape + self.loc.shape[-1:]
        if noise is None:
            noise = torch.randn(shape, dtype=self.loc.dtype, device=self.loc.device)
        else:
            noise = noise.reshape(shape)
        return self.loc + noise * self.scale

    def to_gaussian(self) -> Gaussian:
        """The joint (x, y) log-density as a dense :class:`Gaussian`."""
        if self._gaussian is None:
            noise = torch.distributions.Independent(
                torch.distributions.Normal(self.loc, self.scale), 1
            )
            self._gaussian = matrix_and_gaussian_to_gaussian(self.matrix, mvn_to_gaussian(noise))
        return self._gaussian

    def expand(self, batch_shape: Sequence[int]) -> AffineNormal:
        shape = torch.Size(batch_shape)
        return AffineNormal(
            self.matrix.expand(shape + self.matrix.shape[-2:]),
            self.loc.expand(shape + self.loc.shape[-1:]),
            self.scale.expand(shape + self.scale.shape[-1:]),
        )

    def reshape(self, batch_shape: Sequence[int]) -> AffineNormal:
        shape = torch.Size(batch_shape)
        return AffineNormal(
            self.matrix.reshape(shape + self.matrix.shape[-2:]),
            self.loc.reshape(shape + self.loc.shape[-1:]),
            self.scale.reshape(shape + self.scale.shape[-1:]),
        )

    def __getitem__(self, index: Any) -> AffineNormal:
        if not isinstance(index, tuple):
            index = (index,)
        every = slice(None)
        return AffineNormal(
            self.matrix[index + (every, every)],
            self.loc[index + (every,)],
            self.scale[index + (every,)],
        )

    def event_permute(self, perm: torch.Tensor) -> Gaussian:
        return self.to_gaussian().event_permute(perm)

    def __add__(self, other: Any) -> Gaussian:
        return self.to_gaussian() + other

    def marginalize(self, left: int = 0, right: int = 0) -> Gaussian:
        """Integrating out all of ``y`` leaves the flat (zero) Gaussian over ``x``."""
        if left == 0 and right == self.loc.size(-1):
            n = self.matrix.size(-2)
            zeros = self.scale.new_zeros(self.batch_shape + (n,))
            return Gaussian(
                self.scale.new_zeros(self.batch_shape),
                zeros,
                self.scale.new_zeros(self.batch_shape + (n, n)),
            )
        return self.to_gaussian().marginalize(left, right)


def mvn_to_gaussian(mvn: torch.distributions.Distribution) -> Gaussian:
    """The normalized :class:`Gaussian` of a ``MultivariateNormal`` or of an
    ``Independent(Normal, 1)``.

    Raises:
        ValueError: for any other distribution.

    Example:
        >>> mvn = torch.distributions.MultivariateNormal(torch.zeros(2), torch.eye(2))
        >>> g = mvn_to_gaussian(mvn)
        >>> bool(torch.isclose(g.log_density(torch.ones(2)), mvn.log_prob(torch.ones(2))))
        True
    """
    if isinstance(mvn, torch.distributions.Independent) and isinstance(
        mvn.base_dist, torch.distributions.Normal
    ):
        if mvn.reinterpreted_batch_ndims != 1:
            raise ValueError("mvn_to_gaussian: expected Independent(Normal, 1)")
        loc, scale = mvn.base_dist.loc, mvn.base_dist.scale
        loc, scale = torch.broadcast_tensors(loc, scale)
        prec_diag = scale.pow(-2)
        precision = torch.diag_embed(prec_diag)
        info_vec = loc * prec_diag
        log_sd = scale.log().sum(-1)
    elif isinstance(mvn, torch.distributions.MultivariateNormal):
        loc = mvn.loc
        precision = mvn.precision_matrix
        info_vec = _mv(precision, loc)
        log_sd = mvn.scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    else:
        raise ValueError(
            "mvn_to_gaussian: expected a MultivariateNormal or Independent(Normal, 1), got "
            f"{type(mvn).__name__}"
        )
    n = loc.size(-1)
    log_normalizer = -0.5 * n * _LOG_2PI - 0.5 * (info_vec * loc).sum(-1) - log_sd
    return Gaussian(log_normalizer, info_vec, precision)


def matrix_and_gaussian_to_gaussian(matrix: torch.Tensor, y_gaussian: Gaussian) -> Gaussian:
    """The joint ``(x, y)`` Gaussian of ``p(y | x)`` where ``y - x @ matrix ~ y_gaussian``.

    Example:
        >>> noise = mvn_to_gaussian(torch.distributions.MultivariateNormal(
        ...     torch.zeros(1), torch.eye(1)))
        >>> g = matrix_and_gaussian_to_gaussian(2 * torch.ones(1, 1), noise)
        >>> bool(torch.isclose(g.log_density(torch.tensor([1.0, 2.0])),
        ...                    noise.log_density(torch.tensor([0.0]))))
        True
    """
    p_yy = y_gaussian.precision
    p_xy = -(matrix @ p_yy)  # d/dx of -0.5 (y - xM) P (y - xM)
    p_xx = -p_xy @ matrix.transpose(-1, -2)
    shape = torch.broadcast_shapes(p_xy.shape[:-2], p_yy.shape[:-2])
    p_xy, p_xx, p_yy = (t.expand(shape + t.shape[-2:]) for t in (p_xy, p_xx, p_yy))
    top = torch.cat([p_xx, p_xy], -1)
    bottom = torch.cat([p_xy.transpose(-1, -2), p_yy], -1)
    info_y = y_gaussian.info_vec
    info_x = -_mv(matrix, info_y)
    vshape = torch.broadcast_shapes(info_x.shape[:-1], info_y.shape[:-1])
    info_vec = torch.cat(
        [info_x.expand(vshape + info_x.shape[-1:]), info_y.expand(vshape + info_y.shape[-1:])], -1
    )
    return Gaussian(y_gaussian.log_normalizer, info_vec, torch.cat([top, bottom], -2))


def matrix_and_mvn_to_gaussian(
    matrix: torch.Tensor, mvn: torch.distributions.Distribution
) -> Gaussian | AffineNormal:
    """The joint of ``y = x @ matrix + noise``, ``noise ~ mvn``, with batch shape the
    broadcast of both and ``dim == x_dim + y_dim`` (an :class:`AffineNormal` for a
    diagonal ``Independent(Normal, 1)`` noise).

    Raises:
        ValueError: if ``mvn``'s event shape is not ``(y_dim,)``.
    """
    x_dim, y_dim = matrix.shape[-2:]
    if mvn.event_shape != (y_dim,):
        raise ValueError(
            f"matrix_and_mvn_to_gaussian: mvn's event shape {tuple(mvn.event_shape)} != "
            f"(y_dim,) = ({y_dim},)"
        )
    batch_shape = torch.broadcast_shapes(matrix.shape[:-2], mvn.batch_shape)
    matrix = matrix.expand(batch_shape + (x_dim, y_dim))
    mvn = mvn.expand(batch_shape)
    if isinstance(mvn, torch.distributions.Independent):
        return AffineNormal(matrix, mvn.base_dist.loc, mvn.base_dist.scale)  # type: ignore[attr-defined]
    return matrix_and_gaussian_to_gaussian(matrix, mvn_to_gaussian(mvn))


def gaussian_tensordot(x: Gaussian, y: Gaussian, dims: int = 0) -> Gaussian:
    """``log ∫ exp(x(a, b) + y(b, c)) db``: a Gaussian over ``(a, c)``, where ``b`` is
    the last ``dims`` variables of ``x`` and the first ``dims`` of ``y``.

    Raises:
        ValueError: if ``dims`` exceeds either event size.
    """
    na, nb, nc = x.dim() - dims, dims, y.dim() - dims
    if min(na, nb, nc) < 0:
        raise ValueError(
            f"gaussian_tensordot: cannot contract {dims} variables of Gaussians of sizes "
            f"{x.dim()} and {y.dim()}"
        )
    # the sum over (a, b, c), then b integrated
    joint = x.event_pad(right=nc) + y.event_pad(left=na)
    if nb == 0:
        return joint
    perm = torch.cat(
        [
            torch.arange(na, na + nb, device=x.info_vec.device),
            torch.arange(na, device=x.info_vec.device),
            torch.arange(na + nb, na + nb + nc, device=x.info_vec.device),
        ]
    )
    return joint.event_permute(perm).marginalize(left=nb)


def sequential_gaussian_tensordot(gaussian: Gaussian) -> Gaussian:
    """Contract a Markov chain ``g[..., 0] @ g[..., 1] @ ... @ g[..., T-1]`` whose
    rightmost batch dim is time and whose event is ``(state_t, state_t+1)``; returns
    the Gaussian over ``(state_0, state_T)`` (a parallel scan, ``log2 T`` steps).

    Raises:
        ValueError: if the event size is odd.
    """
    if gaussian.dim() % 2:
        raise ValueError(
            f"sequential_gaussian_tensordot: event size {gaussian.dim()} is not 2 * state_dim"
        )
    state_dim = gaussian.dim() // 2
    batch_shape = gaussian.batch_shape[:-1]
    while gaussian.batch_shape[-1] > 1:
        time = gaussian.batch_shape[-1]
        even = time - time % 2
        pairs = gaussian[..., :even].reshape(batch_shape + (even // 2, 2))
        merged = gaussian_tensordot(pairs[..., 0], pairs[..., 1], state_dim)
        if time > even:
            merged = Gaussian.cat([merged, gaussian[..., even:]], dim=-1)
        gaussian = merged
    return gaussian[..., 0]


def sequential_gaussian_filter_sample(
    init: Gaussian,
    trans: Gaussian,
    sample_shape: Sequence[int] = (),
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Joint reparameterized draws of a Gaussian Markov chain (parallel-scan forward
    filtering, backward sampling).

    Args:
        init: the Gaussian of the initial state (``dim == state_dim``).
        trans: transition factors over ``(state_t, state_t+1)``, time the rightmost
            batch dim (``dim == 2 * state_dim``).
        sample_shape: extra leading shape of draws.
        noise: optional standard normal noise of the result's shape (zeros give the
            mode; ``cat([z, -z])`` antithetic pairs). It is consumed one time block at
            a time, in the order the states are drawn.

    Returns:
        ``sample_shape + batch_shape + (1 + T, state_dim)``.

    Raises:
        ValueError: if ``trans.dim() != 2 * init.dim()`` or ``noise`` has another shape.
    """
    if trans.dim() != 2 * init.dim():
        raise ValueError(
            f"sequential_gaussian_filter_sample: trans.dim() = {trans.dim()} must be "
            f"2 * init.dim() = {2 * init.dim()}"
        )
    s = init.dim()
    batch_shape = torch.broadcast_shapes(trans.batch_shape[:-1], init.batch_shape)
    init = init.expand(batch_shape)
    device = trans.precision.device
    # (mid, left, right) order of each merged triple
    perm = torch.cat(
        [
            torch.arange(s, 2 * s, device=device),
            torch.arange(s, device=device),
            torch.arange(2 * s, 3 * s, device=device),
        ]
    )
    levels: list[Gaussian] = []  # each: p(mid | left, right) for every merged pair
    chain = trans
    outer = trans.batch_shape[:-1]
    while chain.batch_shape[-1] > 1:
        time = chain.batch_shape[-1]
        even = time - time % 2
        pairs = chain[..., :even].reshape(outer + (even // 2, 2))
        triple = pairs[..., 0].event_pad(right=s) + pairs[..., 1].event_pad(left=s)
        triple = triple.event_permute(perm)
        levels.append(triple)
        merged = triple.marginalize(left=s)
        if time > even:
            merged = Gaussian.cat([merged, chain[..., even:]], dim=-1)
        chain = merged
    ends = chain[..., 0] + init.event_pad(right=s)  # over (state_0, state_T)
    duration = 1 + trans.batch_shape[-1]
    shape = torch.Size(sample_shape) + batch_shape
    result_shape = shape + (duration, s)
    if noise is None:
        noise = torch.randn(result_shape, dtype=trans.precision.dtype, device=device)
    elif noise.shape != result_shape:
        raise ValueError(
            f"sequential_gaussian_filter_sample: noise has shape {tuple(noise.shape)}, "
            f"expected {tuple(result_shape)}"
        )
    used = 0

    def draw(g: Gaussian, blocks: int, extra: Sequence[int] = ()) -> torch.Tensor:
        nonlocal used
        value = g.rsample(extra, noise=noise[..., used : used + blocks, :])
        used += blocks
        return value

    states = draw(ends, 2, sample_shape).reshape(shape + (2, s))
    for triple in reversed(levels):
        num = triple.batch_shape[-1]  # states drawn between consecutive known ones
        known = states.size(-2)
        # the pairs (left, right) of known states around each missing one
        lefts = states[..., :num, :]
        rights = states[..., 1 : num + 1, :]
        middle = draw(triple.condition(torch.cat([lefts, rights], -1)), num)
        zipped = states.new_empty(shape + (known + num, s))
        zipped[..., 0 : 2 * num : 2, :] = lefts
        zipped[..., 1 : 2 * num : 2, :] = middle
        zipped[..., 2 * num :, :] = states[..., num:, :]
        states = zipped
    return states
