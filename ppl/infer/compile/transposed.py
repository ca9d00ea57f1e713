"""Cached transposes of large data inputs: the compiled step's layout pass for matmuls.

Why
---
On a memory-bound model (a regression over a large design matrix ``X``, N x D) a step
is two passes over ``X``: ``X @ w`` forward and ``X.T @ g`` backward. The backward pass
reads ``X`` through a transposed *view*, and a matrix-vector product over a strided view
is up to twice as slow as over a contiguous matrix (measured with one thread, N=200,000,
D=256: 29 ms against 14 ms; the forward ``X @ w`` takes 13 ms once compiled). ``X`` is
data, the same tensor every step, so its transpose can be made contiguous once and
reused: the graph then reads two contiguous matrices, at the price of a second copy of
``X`` in memory.

What the pass does
------------------
:func:`cache_transposes` rewrites a traced joint graph (``torch.fx``, ATen ops, as
``make_fx`` records it): each 2-D transpose (``aten.t``, ``aten.transpose`` of the two
dims, ``aten.permute`` with ``[1, 0]``) of a graph input that is a *data* argument
(not a param) with at least ``min_numel`` elements is replaced by a new trailing graph
input. The returned :class:`TransposedInputs` appends, at each call, the contiguous
transposes of those arguments, computed once and kept while the argument is the same
tensor object at the same in-place version (``tensor._version``); a new tensor, or an
in-place write through torch (``X.add_(1)``, ``X[0] = 0``, a view's write), makes a
fresh copy. Writes that torch cannot see (through a NumPy array sharing the memory, or
``.data``) are not noticed: turn the pass off with ``compile={"cache_transposes":
False}`` for data mutated that way.

The values are the same tensors either way; only the kernel reading them changes, so
the results agree with the uncached graph to rounding (a different summation order).

Example:
    >>> import torch
    >>> from torch.fx.experimental.proxy_tensor import make_fx
    >>> gm = make_fx(lambda x, g: x.t() @ g)(torch.ones(4, 3), torch.ones(4))
    >>> cached = cache_transposes(gm, first_data_input=0, min_numel=1)
    >>> cached.sources
    (0,)
    >>> x, g = torch.arange(12.0).reshape(4, 3), torch.ones(4)
    >>> torch.equal(gm(*cached.inputs([x, g])), x.t() @ g)
    True
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import torch

__all__ = ["DEFAULT_MIN_NUMEL", "TransposedInputs", "cache_transposes"]

#: below this many elements (4 MB of float32) a strided read costs little: no copy
DEFAULT_MIN_NUMEL = 1 << 20

_aten = torch.ops.aten


def _is_matrix_transpose(node: torch.fx.Node) -> bool:
    if node.op != "call_function":
        return False
    if node.target is _aten.t.default:
        return True
    if node.target is _aten.permute.default:
        return list(node.args[1]) == [1, 0]  # type: ignore[arg-type]
    if node.target is _aten.transpose.int:
        return sorted(int(d) % 2 for d in node.args[1:3]) == [0, 1]  # type: ignore[arg-type]
    return False


class TransposedInputs:
    """The graph inputs :func:`cache_transposes` added, and their cached values.

    Attributes:
        sources: positions (in the original inputs) of the arguments whose contiguous
            transposes the graph now takes as trailing inputs, in that order.
    """

    def __init__(self, sources: Sequence[int]) -> None:
        self.sources = tuple(sources)
        # per source: (weak reference to the argument, its version, its transpose)
        self._cache: dict[int, tuple[weakref.ref, int, torch.Tensor]] = {}

    def inputs(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        """``inputs`` followed by the (cached) contiguous transposes the graph needs."""
        if not self.sources:
            return inputs
        return [*inputs, *(self._transpose(i, inputs[i]) for i in self.sources)]

    def _transpose(self, position: int, value: torch.Tensor) -> torch.Tensor:
        hit = self._cache.get(position)
        if hit is not None:
            ref, version, cached = hit
            if ref() is value and value._version == version:
                return cached
        cached = value.detach().t().contiguous()
        self._cache[position] = (weakref.ref(value), value._version, cached)
        return cached

    def clear(self) -> None:
        """Drop the cached copies (their memory is freed)."""
        self._cache.clear()


def cache_transposes(
    graph: torch.fx.GraphModule, first_data_input: int, min_numel: int | None = None
) -> TransposedInputs:
    """Make the large 2-D data inputs' transposes inputs of ``graph`` (in place).

    Args:
        graph: a ``make_fx`` graph whose placeholders are the call's inputs in order.
        first_data_input: the position of the first data argument; earlier inputs
            (params) are left alone, since they change every step.
        min_numel: the smallest argument (in elements) worth a cached copy (default:
            :data:`DEFAULT_MIN_NUMEL`, read at each call).

    Returns:
        What to append to the inputs at each call (:meth:`TransposedInputs.inputs`);
        its ``sources`` is empty when the graph was left unchanged.
    """
    if min_numel is None:
        min_numel = DEFAULT_MIN_NUMEL
    placeholders = [n for n in graph.graph.nodes if n.op == "placeholder"]
    sources: list[int] = []
    last = placeholders[-1] if placeholders else None
    for position, node in enumerate(placeholders):
        value = node.meta.get("val")
        if position < first_data_input or not isinstance(value, torch.Tensor):
            continue
        if value.dim() != 2 or value.numel() < min_numel or value.requires_grad:
            continue
        transposes = [user for user in node.users if _is_matrix_transpose(user)]
        if not transposes:
            continue
        with graph.graph.inserting_after(last):
            replacement = graph.graph.placeholder(f"{node.name}_transposed")
        replacement.meta["val"] = transposes[0].meta.get("val")
        last = replacement
        for transpose in transposes:
            transpose.replace_all_uses_with(replacement)
            graph.graph.erase_node(transpose)
        sources.append(position)
    if sources:
        graph.graph.lint()
        graph.recompile()
    return TransposedInputs(sources)
