"""Grid hashing of low-dimensional points: neighbour queries, approximate sets, merging.

A point ``p`` hashes to the integer cell ``round(p / radius)`` (one int per
coordinate). Points in the same or adjacent cells (every coordinate differing by at
most one) are *nearby*: this finds every point closer than ``radius`` in each
coordinate, and never one farther than ``2 * radius`` in some coordinate.

Example:
    >>> import torch
    >>> lsh = LSH(1.0)
    >>> lsh.add("a", torch.tensor([0.0, 0.0]))
    >>> lsh.add("b", torch.tensor([0.9, 0.2]))
    >>> lsh.add("c", torch.tensor([3.0, 0.0]))
    >>> sorted(lsh.nearby("a"))
    ['b']
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from collections.abc import Hashable
from numbers import Number

import torch

__all__ = ["LSH", "ApproxSet", "merge_points"]

Cell = tuple[int, ...]


def _check_radius(who: str, radius: object) -> float:
    if isinstance(radius, bool) or not isinstance(radius, Number) or not radius > 0:  # type: ignore[operator]
        raise ValueError(f"{who}: radius must be a number greater than 0, given: {radius!r}")
    return float(radius)  # type: ignore[arg-type]


def _cell(point: torch.Tensor, radius: float) -> Cell:
    return tuple(int(c) for c in torch.round(point / radius).tolist())


class LSH:
    """Locality-sensitive hashing of points in low-dimensional euclidean space.

    Args:
        radius: the cell size; see the module notes for what "nearby" guarantees.

    Raises:
        ValueError: if ``radius`` is not a positive number.
    """

    def __init__(self, radius: float) -> None:
        self._radius = _check_radius("LSH", radius)
        self._hash_to_key: defaultdict[Cell, set[Hashable]] = defaultdict(set)
        self._key_to_hash: dict[Hashable, Cell] = {}

    def _hash(self, point: torch.Tensor) -> Cell:
        return _cell(point, self._radius)

    def add(self, key: Hashable, point: torch.Tensor) -> None:
        """Store ``point`` under ``key`` (replacing the key's previous point, if any)."""
        if key in self._key_to_hash:
            self.remove(key)
        cell = self._hash(point)
        self._key_to_hash[key] = cell
        self._hash_to_key[cell].add(key)

    def remove(self, key: Hashable) -> None:
        """Forget ``key``; raises ``KeyError`` if it is not stored."""
        cell = self._key_to_hash.pop(key)
        keys = self._hash_to_key[cell]
        keys.discard(key)
        if not keys:
            del self._hash_to_key[cell]

    def nearby(self, key: Hashable) -> set[Hashable]:
        """The other keys whose points lie in ``key``'s cell or an adjacent one."""
        cell = self._key_to_hash[key]
        found: set[Hashable] = set()
        for offset in itertools.product((-1, 0, 1), repeat=len(cell)):
            neighbour = tuple(c + o for c, o in zip(cell, offset))
            found |= self._hash_to_key.get(neighbour, set())
        found.discard(key)
        return found


class ApproxSet:
    """A set of points up to resolution ``radius``: at most one point per grid cell.

    Args:
        radius: the cell size.

    Raises:
        ValueError: if ``radius`` is not a positive number.

    Example:
        >>> import torch
        >>> s = ApproxSet(1.0)
        >>> s.try_add(torch.tensor([0.1, 0.1])), s.try_add(torch.tensor([0.2, -0.3]))
        (True, False)
    """

    def __init__(self, radius: float) -> None:
        self._radius = _check_radius("ApproxSet", radius)
        self._bins: set[Cell] = set()

    def _hash(self, point: torch.Tensor) -> Cell:
        return _cell(point, self._radius)

    def try_add(self, point: torch.Tensor) -> bool:
        """Add ``point`` unless its cell is taken; True if it was added."""
        cell = self._hash(point)
        if cell in self._bins:
            return False
        self._bins.add(cell)
        return True


def merge_points(points: torch.Tensor, radius: float) -> tuple[torch.Tensor, list[tuple[int, ...]]]:
    """Greedily merge the closest pairs of points nearer than ``radius`` into their midpoint.

    Candidate pairs come from an :class:`LSH`, so the cost is linear in the number of
    points (quadratic only within a merged cluster). Points exactly ``radius`` apart
    (a grid) are not merged.

    Args:
        points: a ``(K, D)`` tensor.
        radius: the merge distance.

    Returns:
        ``(merged, groups)``: a ``(J, D)`` tensor (``J <= K``) and, for each merged
        point, the tuple of indices of the original points it stands for. Unmerged
        points come first, in their original order.

    Raises:
        ValueError: if ``points`` is not 2-dimensional or ``radius`` is not positive.

    Example:
        >>> import torch
        >>> merged, groups = merge_points(torch.tensor([[0.0], [0.5], [5.0]]), 1.0)
        >>> merged.flatten().tolist(), groups
        ([5.0, 0.25], [(2,), (0, 1)])
    """
    if points.dim() != 2:
        raise ValueError(
            f"merge_points: expected points.shape == (K, D), got {tuple(points.shape)}"
        )
    radius = 0.99 * _check_radius("merge_points", radius)
    threshold = radius**2
    index = LSH(radius)
    queue: list[tuple[float, int, int]] = []

    def push_close_pairs(key: int, point: torch.Tensor) -> None:
        for neighbour in index.nearby(key):
            other = int(neighbour)  # type: ignore[call-overload]  # keys here are ints
            d2 = float((point - current[other]).pow(2).sum())
            if d2 < threshold:
                heapq.heappush(queue, (d2, other, key))

    current: dict[int, torch.Tensor] = {}
    members: dict[int, tuple[int, ...]] = {}
    for i, point in enumerate(points):
        current[i] = point
        members[i] = (i,)
        index.add(i, point)
        push_close_pairs(i, point)
    if not queue:
        return points, [members[i] for i in range(len(points))]
    next_key = len(points)
    while queue:
        _, i, j = heapq.heappop(queue)
        if i not in current or j not in current:
            continue  # one of them was merged already
        merged = (current.pop(i) + current.pop(j)) / 2
        group = members.pop(i) + members.pop(j)
        index.remove(i)
        index.remove(j)
        k, next_key = next_key, next_key + 1
        current[k] = merged
        members[k] = group
        index.add(k, merged)
        push_close_pairs(k, merged)
    keys = sorted(current)
    return torch.stack([current[k] for k in keys]), [members[k] for k in keys]
