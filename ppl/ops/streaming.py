"""Statistics updated one sample at a time and mergeable across streams (Pyro's ``ops.streaming``).

Each statistic has ``update(sample)`` (mutates), ``merge(other)`` (returns a new statistic
as if it had seen both streams) and ``get()`` (a dict of results). ``StreamingMCMC`` keeps
one per ``(chain, site)`` instead of storing every draw.

Example:
    >>> import torch
    >>> s = StatsOfDict(default=CountMeanStats)
    >>> s.update({"x": torch.tensor([1.0, 3.0])})
    >>> s.update({"x": torch.tensor([3.0, 5.0])})
    >>> s.get()["x"]["mean"].tolist()
    [2.0, 4.0]
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import torch

__all__ = [
    "CountMeanStats",
    "CountMeanVarianceStats",
    "CountStats",
    "StackStats",
    "StatsOfDict",
    "StreamingStats",
]


class StreamingStats(ABC):
    """A statistic of a stream of samples: ``update``, ``merge``, ``get``."""

    @abstractmethod
    def update(self, sample: Any) -> None:
        """Account for one more sample (in place)."""
        raise NotImplementedError

    @abstractmethod
    def merge(self, other: Any) -> StreamingStats:
        """A new statistic of the union of this stream and ``other``'s (inputs unchanged)."""
        raise NotImplementedError

    @abstractmethod
    def get(self) -> Any:
        """The current value of the statistic."""
        raise NotImplementedError


def _check_same_type(self: StreamingStats, other: Any) -> None:
    if not isinstance(other, type(self)):
        raise TypeError(f"cannot merge {type(self).__name__} with {type(other).__name__}")


class CountStats(StreamingStats):
    """Counts samples (of any type)."""

    def __init__(self) -> None:
        self.count = 0

    def update(self, sample: Any) -> None:
        self.count += 1

    def merge(self, other: CountStats) -> CountStats:
        _check_same_type(self, other)
        result = CountStats()
        result.count = self.count + other.count
        return result

    def get(self) -> dict[str, int]:
        return {"count": self.count}


class StatsOfDict(StreamingStats):
    """One statistic per key of dict-valued samples.

    Args:
        types: key -> factory of the statistic for that key.
        default: factory for keys not in ``types`` (default :class:`CountStats`).
    """

    def __init__(
        self,
        types: Mapping[Hashable, Callable[[], StreamingStats]] = {},  # noqa: B006 (Pyro's signature)
        default: Callable[[], StreamingStats] = CountStats,
    ) -> None:
        self.stats: defaultdict[Hashable, StreamingStats] = defaultdict(default)
        for key, factory in types.items():
            self.stats[key] = factory()

    def update(self, sample: Mapping[Hashable, Any]) -> None:
        for key, value in sample.items():
            self.stats[key].update(value)

    def merge(self, other: StatsOfDict) -> StatsOfDict:
        _check_same_type(self, other)
        result = copy.deepcopy(self)
        for key, stat in other.stats.items():
            result.stats[key] = (
                self.stats[key].merge(stat) if key in self.stats else copy.deepcopy(stat)
            )
        return result

    def get(self) -> dict[Hashable, Any]:
        return {key: stat.get() for key, stat in self.stats.items()}


class StackStats(StreamingStats):
    """Keeps every tensor sample; ``get()["samples"]`` stacks them along a new dim 0."""

    def __init__(self) -> None:
        self.samples: list[torch.Tensor] = []

    def update(self, sample: torch.Tensor) -> None:
        if not isinstance(sample, torch.Tensor):
            raise TypeError(f"StackStats expects tensors, got {type(sample).__name__}")
        self.samples.append(sample)

    def merge(self, other: StackStats) -> StackStats:
        _check_same_type(self, other)
        result = StackStats()
        result.samples = self.samples + other.samples
        return result

    def get(self) -> dict[str, Any]:
        if not self.samples:
            return {"count": 0}
        return {"count": len(self.samples), "samples": torch.stack(self.samples)}


class CountMeanStats(StreamingStats):
    """Count and running mean of tensor samples of one shape."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: torch.Tensor | None = None

    def update(self, sample: torch.Tensor) -> None:
        sample = sample.detach()
        self.count += 1
        self.mean = (
            sample.clone() if self.mean is None else self.mean + (sample - self.mean) / self.count
        )

    def merge(self, other: CountMeanStats) -> CountMeanStats:
        _check_same_type(self, other)
        if other.mean is None:
            return copy.deepcopy(self)
        if self.mean is None:
            return copy.deepcopy(other)
        result = CountMeanStats()
        result.count = self.count + other.count
        result.mean = (self.count * self.mean + other.count * other.mean) / result.count
        return result

    def get(self) -> dict[str, Any]:
        if self.mean is None:
            return {"count": 0}
        return {"count": self.count, "mean": self.mean}


class CountMeanVarianceStats(StreamingStats):
    """Count, mean and elementwise (unbiased) variance of tensor samples, by Welford's method."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: torch.Tensor | None = None
        self.m2: torch.Tensor | None = None

    def update(self, sample: torch.Tensor) -> None:
        sample = sample.detach()
        if self.mean is None or self.m2 is None:
            self.count, self.mean, self.m2 = 1, sample.clone(), torch.zeros_like(sample)
            return
        if sample.shape != self.mean.shape:
            raise ValueError(
                f"sample shape {tuple(sample.shape)} differs from earlier {tuple(self.mean.shape)}"
            )
        self.count += 1
        delta = sample - self.mean
        self.mean = self.mean + delta / self.count
        self.m2 = self.m2 + delta * (sample - self.mean)

    def merge(self, other: CountMeanVarianceStats) -> CountMeanVarianceStats:
        _check_same_type(self, other)
        if other.mean is None or other.m2 is None:
            return copy.deepcopy(self)
        if self.mean is None or self.m2 is None:
            return copy.deepcopy(other)
        result = CountMeanVarianceStats()
        n = self.count + other.count
        delta = other.mean - self.mean
        result.count = n
        result.mean = self.mean + delta * (other.count / n)
        result.m2 = self.m2 + other.m2 + delta**2 * (self.count * other.count / n)
        return result

    def get(self) -> dict[str, Any]:
        if self.mean is None or self.m2 is None:
            return {"count": 0}
        variance = (
            self.m2 / (self.count - 1) if self.count > 1 else torch.full_like(self.m2, float("nan"))
        )
        return {"count": self.count, "mean": self.mean, "variance": variance}
