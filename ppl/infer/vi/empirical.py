"""``Empirical``: an approximation made of given samples (MCMC draws, another tool's output).

Design notes
------------
An :class:`Empirical` holds ``{site: (n, *shape)}`` tensors, one row per draw, all with
the same ``n``. ``sample(k)`` picks ``k`` rows uniformly *with replacement* (the same
row index for every site, so joint structure is kept). ``mean`` and ``std`` are the
exact moments of the held samples (``std`` with no Bessel correction, i.e. the
standard deviation of the empirical distribution itself).

:class:`ParticleApproximation` is an ``Empirical`` whose rows are the live SVGD
particles: it reads them from the ParamStore at every call, so it follows the fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..svgd import PARTICLES, SVGD
from .approximation import Approximation

__all__ = ["Empirical", "ParticleApproximation"]


def _check_samples(samples: Any) -> dict[str, torch.Tensor]:
    if not isinstance(samples, Mapping) or not samples:
        raise TypeError(
            "Empirical: samples must be a non-empty dict {site: tensor (num_draws, ...)}, got "
            f"{type(samples).__name__}"
        )
    out: dict[str, torch.Tensor] = {}
    count: int | None = None
    for name, value in samples.items():
        if not isinstance(value, torch.Tensor):
            try:
                value = torch.as_tensor(value)
            except (TypeError, ValueError, RuntimeError):
                raise TypeError(
                    f"Empirical: samples[{name!r}] must be a tensor or array, got "
                    f"{type(value).__name__}"
                ) from None
        if value.dim() == 0:
            raise ValueError(
                f"Empirical: samples[{name!r}] is a scalar; expected a leading draws dim, "
                "e.g. shape (num_draws,)"
            )
        if count is None:
            count = value.shape[0]
        elif value.shape[0] != count:
            raise ValueError(
                f"Empirical: samples[{name!r}] has {value.shape[0]} draws but the other sites "
                f"have {count}; every site needs the same number of draws"
            )
        out[str(name)] = value.detach()
    if count == 0:
        raise ValueError("Empirical: samples have 0 draws; give at least one")
    return out


def _moment_dtype(value: torch.Tensor) -> torch.Tensor:
    return value if value.is_floating_point() else value.to(torch.get_default_dtype())


class Empirical(Approximation):
    """An approximation over given samples, with the API of a fitted approximation.

    Args:
        samples: ``{site: tensor or array of shape (num_draws, *site_shape)}``, e.g. MCMC
            output; every site must have the same ``num_draws``.

    Raises:
        TypeError: ``samples`` is not a non-empty dict of tensors/arrays.
        ValueError: a scalar entry, zero draws, or sites with different numbers of draws.

    Example:
        >>> approx = Empirical({"x": torch.tensor([0.0, 1.0, 2.0, 3.0])})
        >>> approx.mean["x"], approx.std["x"]
        (tensor(1.5000), tensor(1.1180))
    """

    def __init__(self, samples: Mapping[str, Any]) -> None:
        super().__init__()
        self.histogram = _check_samples(samples)

    def _samples(self) -> dict[str, torch.Tensor]:
        return self.histogram

    @property
    def num_draws(self) -> int:
        """Number of rows held."""
        return next(iter(self._samples().values())).shape[0]

    def _draw(self, n: int) -> dict[str, torch.Tensor]:
        samples = self._samples()
        first = next(iter(samples.values()))
        index = torch.randint(first.shape[0], (n,), device=first.device)
        return {k: v.index_select(0, index.to(v.device)) for k, v in samples.items()}

    def _moments(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        samples = self._samples()
        with torch.no_grad():
            means = {k: _moment_dtype(v).mean(0) for k, v in samples.items()}
            stds = {k: _moment_dtype(v).std(0, correction=0) for k, v in samples.items()}
        return means, stds

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.num_draws} draws of {list(self._samples())}>"


class ParticleApproximation(Empirical):
    """The live particles of an :class:`~ppl.infer.svgd.SVGD` run as an ``Empirical``.

    Args:
        svgd: the SVGD object; its particles are read at every call.
    """

    def __init__(self, svgd: SVGD) -> None:
        Approximation.__init__(self)
        self.svgd = svgd
        self.histogram = {}
        self.guide = None

    def _samples(self) -> dict[str, torch.Tensor]:
        return self.svgd.get_named_particles()

    def param_names(self) -> list[str]:
        return [PARTICLES]
