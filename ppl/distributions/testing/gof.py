"""Goodness-of-fit tests: does a distribution's ``sample`` agree with its ``log_prob``?

Each test turns samples (and their densities) into a p-value that is ``Uniform(0, 1)``
when samples and density agree and near 0 when they do not. Continuous samples are
mapped to ``Exponential(1)`` variables -- via gaps between sorted 1-d samples, or
nearest-neighbour balls in ``d`` dims, scaled by the density -- then to ``Uniform(0, 1)``
by ``exp(-x)``, binned, and scored with Pearson's chi-squared test.

Use a failure threshold below ``1 / number_of_tests``::

    samples = d.sample((20000,))
    assert auto_goodness_of_fit(samples, d.log_prob(samples).exp()) > 1 / 50

A test with too few samples to be accurate raises :class:`InvalidTest`.
"""

from __future__ import annotations

import math
import warnings

import torch

from ppl.distributions.testing.special import chi2sf

__all__ = [
    "InvalidTest",
    "auto_goodness_of_fit",
    "density_goodness_of_fit",
    "exp_goodness_of_fit",
    "multinomial_goodness_of_fit",
    "print_histogram",
    "unif01_goodness_of_fit",
    "vector_density_goodness_of_fit",
    "volume_of_sphere",
    "get_nearest_neighbor_distances",
]

HISTOGRAM_WIDTH = 60


class InvalidTest(ValueError):
    """The test cannot be accurate with these inputs (usually: too few samples)."""


def print_histogram(probs: torch.Tensor, counts: torch.Tensor) -> None:
    """Print expected probabilities next to observed counts, largest first, with bars."""
    top = max(int(c) for c in counts) or 1
    print(f"{'Prob':>8} {'Count':>8}")
    for p, c in sorted(zip(probs.tolist(), counts.tolist()), reverse=True):
        print(f"{p:>8.3f} {int(c):>8d} {'-' * round(HISTOGRAM_WIDTH * int(c) / top)}")


@torch.no_grad()
def multinomial_goodness_of_fit(
    probs: torch.Tensor,
    counts: torch.Tensor,
    *,
    total_count: int | None = None,
    plot: bool = False,
) -> float:
    """Pearson's chi-squared p-value of ``counts`` against cell ``probs``.

    Args:
        probs: 1-d cell probabilities.
        counts: 1-d observed counts, same shape.
        total_count: the number of draws when ``counts`` covers only some cells
            (truncated data); by default ``counts.sum()`` and one degree of freedom
            is lost to the constraint.
        plot: print a histogram.

    Raises:
        InvalidTest: if a cell's expected variance is <= 1 (use more samples).
    """
    if probs.dim() != 1 or probs.shape != counts.shape:
        raise ValueError(
            f"multinomial_goodness_of_fit: expected 1-d probs and counts of one shape, "
            f"got {tuple(probs.shape)} and {tuple(counts.shape)}"
        )
    truncated = total_count is not None
    n = int(counts.sum()) if total_count is None else total_count
    if truncated and n < float(counts.sum()):
        raise ValueError("multinomial_goodness_of_fit: total_count is less than counts.sum()")
    if plot:
        print_histogram(probs, counts)
    stat, dof = 0.0, 0
    for p, c in zip(probs.tolist(), counts.tolist()):
        if abs(p - 1) < 1e-8:
            return 1.0 if c == n else 0.0
        if p <= 0:
            warnings.warn("Zero probability in goodness-of-fit test", stacklevel=2)
            if c > 0:
                return math.inf
            continue
        var = n * p * (1 - p)
        if not var > 1:
            raise InvalidTest("Goodness of fit is inaccurate; use more samples")
        stat += (c - n * p) ** 2 / var
        dof += 1
    if not truncated:
        dof -= 1
    return chi2sf(stat, dof)


@torch.no_grad()
def unif01_goodness_of_fit(samples: torch.Tensor, *, plot: bool = False) -> float:
    """p-value that 1-d ``samples`` are ``Uniform(0, 1)``, from ``~n^(1/3)`` equal bins.

    Raises:
        InvalidTest: with fewer than 7 bins (about 300 samples).
    """
    if bool((samples < 0).any()) or bool((samples > 1).any()):
        raise ValueError("unif01_goodness_of_fit: samples must lie in [0, 1]")
    bins = int(round(len(samples) ** 0.333))
    if bins < 7:
        raise InvalidTest("imprecise test, use more samples")
    index = samples.mul(bins).long().clamp(0, bins - 1).cpu()
    counts = torch.bincount(index, minlength=bins).double()
    probs = torch.full((bins,), 1.0 / bins, dtype=torch.float64)
    return multinomial_goodness_of_fit(probs, counts, plot=plot)


@torch.no_grad()
def exp_goodness_of_fit(samples: torch.Tensor, plot: bool = False) -> float:
    """p-value that 1-d ``samples`` are ``Exponential(1)`` (tested as ``exp(-x)`` uniform)."""
    return unif01_goodness_of_fit(samples.neg().exp(), plot=plot)


@torch.no_grad()
def density_goodness_of_fit(samples: torch.Tensor, probs: torch.Tensor,
                            plot: bool = False) -> float:
    """p-value that 1-d continuous ``samples`` have density ``probs`` (given at the samples).

    The gap between neighbouring sorted samples, times ``n`` and the density there, is
    approximately ``Exponential(1)``.

    Raises:
        InvalidTest: with 100 samples or fewer.
    """
    if samples.shape != probs.shape:
        raise ValueError(
            f"density_goodness_of_fit: samples {tuple(samples.shape)} and probs "
            f"{tuple(probs.shape)} must have one shape"
        )
    if len(samples) <= 100:
        raise InvalidTest("imprecision; use more samples")
    sorted_x, order = samples.sort(0)
    p = probs[order]
    mean_spacing = 0.5 * (p[1:].reciprocal() + p[:-1].reciprocal())
    return exp_goodness_of_fit(len(samples) / mean_spacing * sorted_x.diff(), plot=plot)


def volume_of_sphere(dim: int, radius: torch.Tensor | float) -> torch.Tensor | float:
    """Volume of a ``dim``-ball of the given radius."""
    return radius**dim * math.pi ** (0.5 * dim) / math.gamma(0.5 * dim + 1)


def get_nearest_neighbor_distances(samples: torch.Tensor) -> torch.Tensor:
    """Distance from each row of ``samples`` to its nearest other row."""
    try:
        from scipy.spatial import cKDTree
    except ImportError:
        return torch.cdist(samples, samples).kthvalue(k=2).values
    arr = samples.cpu().numpy()
    dist, _ = cKDTree(arr).query(arr, k=2)
    return torch.from_numpy(dist[:, 1])


@torch.no_grad()
def vector_density_goodness_of_fit(samples: torch.Tensor, probs: torch.Tensor, *,
                                   dim: int | None = None, plot: bool = False) -> float:
    """p-value that vector ``samples`` (``n x d``) have density ``probs``.

    ``n * p(x) * volume(ball to the nearest neighbour)`` is about ``Exponential(1)``.
    ``dim`` is the dimension of the manifold the data lie on (default ``d``).

    Raises:
        InvalidTest: with ``1000 * dim`` samples or fewer.
    """
    if samples.dim() < 1 or probs.shape != samples.shape[:1]:
        raise ValueError(
            f"vector_density_goodness_of_fit: probs {tuple(probs.shape)} must be one per "
            f"sample of {tuple(samples.shape)}"
        )
    dim = samples.shape[-1] if dim is None else dim
    if len(samples) <= 1000 * dim:
        raise InvalidTest("imprecision; use more samples")
    radii = get_nearest_neighbor_distances(samples).to(probs)
    exp_samples = len(samples) * probs * volume_of_sphere(dim, radii)
    return exp_goodness_of_fit(exp_samples, plot=plot)


@torch.no_grad()
def auto_goodness_of_fit(samples: torch.Tensor, probs: torch.Tensor, *,
                         dim: int | None = None, plot: bool = False) -> float:
    """p-value of ``samples`` (stacked on dim 0) against their densities ``probs``.

    Scalars go to :func:`density_goodness_of_fit`, vectors (flattened) to
    :func:`vector_density_goodness_of_fit`; 0-size events always pass.
    """
    if samples.dim() < 1 or probs.shape != samples.shape[:1]:
        raise ValueError(
            f"auto_goodness_of_fit: probs {tuple(probs.shape)} must be one per sample of "
            f"{tuple(samples.shape)}"
        )
    flat = samples.reshape(samples.shape[0], -1)
    ambient = flat.shape[1]
    if ambient == 0:
        return 1.0
    if ambient == 1:
        return density_goodness_of_fit(flat.reshape(-1), probs, plot=plot)
    return vector_density_goodness_of_fit(flat, probs, dim=ambient if dim is None else dim,
                                          plot=plot)
