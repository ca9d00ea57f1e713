"""Neural building blocks of the CEVAE: MLPs and conditional distribution networks.

Each ``<Name>Net`` maps an input to the (constrained) parameters of one family and
builds the distribution from them with ``make_dist``; :meth:`DistributionNet.get_class`
finds a net by the family's lower-case name (``"normal"`` -> :class:`NormalNet`).
Outputs are clamped to moderate ranges so that a badly initialised net cannot produce
infinite log-densities.

Example:
    >>> import torch
    >>> net = NormalNet([3, 4])
    >>> loc, scale = net(torch.randn(5, 3))
    >>> net.make_dist(loc, scale).batch_shape
    torch.Size([5])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.functional import softplus

import ppl.distributions as dist

__all__ = [
    "BernoulliNet",
    "DiagNormalNet",
    "DistributionNet",
    "ExponentialNet",
    "FullyConnected",
    "LaplaceNet",
    "NormalNet",
    "PreWhitener",
    "StudentTNet",
]


def _check_sizes(who: str, sizes: Sequence[int], minimum: int) -> list[int]:
    sizes = list(sizes)
    if len(sizes) < minimum or not all(isinstance(s, int) and s > 0 for s in sizes):
        raise ValueError(f"{who}: sizes must be at least {minimum} positive ints, got {sizes!r}")
    return sizes


class FullyConnected(nn.Sequential):
    """Linear layers of the given ``sizes`` with ELU between them (none after the last,
    unless ``final_activation`` is given)."""

    def __init__(self, sizes: Sequence[int], final_activation: nn.Module | None = None) -> None:
        sizes = _check_sizes("FullyConnected", sizes, 1)
        layers: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            if i:
                layers.append(nn.ELU())
            layers.append(nn.Linear(n_in, n_out))
        if final_activation is not None:
            layers.append(final_activation)
        super().__init__(*layers)

    def append(self, layer: nn.Module) -> FullyConnected:  # type: ignore[override]
        """Add ``layer`` at the end."""
        if not isinstance(layer, nn.Module):
            raise TypeError(f"FullyConnected.append: expected an nn.Module, got {layer!r}")
        self.add_module(str(len(self)), layer)
        return self


def _positive(raw: torch.Tensor, low: float = 1e-3) -> torch.Tensor:
    return softplus(raw).clamp(min=low, max=1e6)


class DistributionNet(nn.Module):
    """Base class of the conditional distribution networks."""

    @staticmethod
    def get_class(dtype: str) -> type[DistributionNet]:
        """The subclass named ``<dtype>Net`` (case-insensitive), e.g. ``"bernoulli"``.

        Raises:
            ValueError: for an unknown family (listing the known ones).
        """
        known = {
            cls.__name__.lower()[: -len("net")]: cls for cls in DistributionNet.__subclasses__()
        }
        try:
            return known[dtype]
        except KeyError:
            raise ValueError(f"dtype not supported: {dtype!r}; known: {sorted(known)}") from None


class BernoulliNet(DistributionNet):
    """An MLP ``sizes + [1]`` giving the ``logits`` of a Bernoulli (clamped to ±10)."""

    def __init__(self, sizes: Sequence[int]) -> None:
        super().__init__()
        self.fc = FullyConnected(_check_sizes("BernoulliNet", sizes, 1) + [1])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.fc(x).squeeze(-1).clamp(min=-10, max=10),)

    @staticmethod
    def make_dist(logits: torch.Tensor) -> dist.Bernoulli:
        return dist.Bernoulli(logits=logits)


class ExponentialNet(DistributionNet):
    """An MLP ``sizes + [1]`` giving the ``rate`` of an Exponential (via its scale)."""

    def __init__(self, sizes: Sequence[int]) -> None:
        super().__init__()
        self.fc = FullyConnected(_check_sizes("ExponentialNet", sizes, 1) + [1])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (_positive(self.fc(x).squeeze(-1)).reciprocal(),)

    @staticmethod
    def make_dist(rate: torch.Tensor) -> dist.Exponential:
        return dist.Exponential(rate)


def _loc_scale(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return out[..., 0].clamp(min=-1e6, max=1e6), _positive(out[..., 1])


class LaplaceNet(DistributionNet):
    """An MLP ``sizes + [2]`` giving ``(loc, scale)`` of a Laplace."""

    def __init__(self, sizes: Sequence[int]) -> None:
        super().__init__()
        self.fc = FullyConnected(_check_sizes("LaplaceNet", sizes, 1) + [2])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return _loc_scale(self.fc(x))

    @staticmethod
    def make_dist(loc: torch.Tensor, scale: torch.Tensor) -> dist.Laplace:
        return dist.Laplace(loc, scale)


class NormalNet(DistributionNet):
    """An MLP ``sizes + [2]`` giving ``(loc, scale)`` of a Normal."""

    def __init__(self, sizes: Sequence[int]) -> None:
        super().__init__()
        self.fc = FullyConnected(_check_sizes("NormalNet", sizes, 1) + [2])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return _loc_scale(self.fc(x))

    @staticmethod
    def make_dist(loc: torch.Tensor, scale: torch.Tensor) -> dist.Normal:
        return dist.Normal(loc, scale)


class StudentTNet(DistributionNet):
    """An MLP giving ``(df, loc, scale)`` of a Student's t; ``df > 1`` is one learned scalar."""

    def __init__(self, sizes: Sequence[int]) -> None:
        super().__init__()
        self.fc = FullyConnected(_check_sizes("StudentTNet", sizes, 1) + [2])
        self.df_unconstrained = nn.Parameter(torch.tensor(0.0))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        loc, scale = _loc_scale(self.fc(x))
        df = (softplus(self.df_unconstrained) + 1).expand_as(loc)
        return df, loc, scale

    @staticmethod
    def make_dist(df: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> dist.StudentT:
        return dist.StudentT(df, loc, scale)


class DiagNormalNet(nn.Module):
    """An MLP giving ``(loc, scale)`` of a ``sizes[-1]``-dimensional diagonal Normal.

    Used for the latent ``z`` and the whitened features ``x``; ``loc`` is clamped to
    ``±100`` and ``scale`` to ``[1e-3, 100]``.
    """

    def __init__(self, sizes: Sequence[int]) -> None:
        sizes = _check_sizes("DiagNormalNet", sizes, 2)
        super().__init__()
        self.dim = sizes[-1]
        self.fc = FullyConnected(sizes[:-1] + [2 * self.dim])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.fc(x)
        loc = out[..., : self.dim].clamp(min=-1e2, max=1e2)
        scale = (softplus(out[..., self.dim :]) + 1e-3).clamp(max=1e2)
        return loc, scale


class PreWhitener(nn.Module):
    """Standardise features with the mean and (population) std of ``data``; a zero std
    column is left unscaled."""

    loc: torch.Tensor
    inv_scale: torch.Tensor

    def __init__(self, data: torch.Tensor) -> None:
        super().__init__()
        with torch.no_grad():
            loc = data.mean(0)
            scale = data.std(0, unbiased=False)
            scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        self.register_buffer("loc", loc)
        self.register_buffer("inv_scale", scale.reciprocal())

    def forward(self, data: torch.Tensor) -> torch.Tensor:
        return (data - self.loc) * self.inv_scale
