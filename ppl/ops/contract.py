"""Sum-product contraction of log-space factors over named dims and plates.

This is the tensor engine behind exact enumeration (``TraceEnum_ELBO``,
``infer_discrete``). A factor is a :class:`Packed` tensor: a tensor whose every dim
has a name (only dims of size > 1 are kept). Names are of two kinds:

* **sum dims**: enumerated discrete variables; contracting one means ``logsumexp``
  over it (or ``max`` for MAP inference);
* **plate dims**: conditionally independent copies; contracting one means a
  *product* of the copies, i.e. a ``sum`` of log-factors.

Factors are grouped in a *tensor tree* keyed by *ordinal*: the frozenset of plate
names a factor sits in. :func:`contract_tensor_tree` eliminates every sum dim by
variable elimination, always working from the most deeply plated leaf upwards: it
sums out the sum dims local to the leaf, then takes the product over the plates the
result no longer needs, and hands the result to the parent ordinal (the plates
still shared with its pending sum dims). This is exact as long as the plates form a
tree (Obermeyer et al. 2019, "Tensor variable elimination for plated factor graphs").

Example (a two-state variable ``z`` and three plated observations depending on it):
    >>> import torch
    >>> prior = Packed(torch.tensor([0.3, 0.7]).log(), ("z",))
    >>> lik = Packed(torch.tensor([[0.1, 0.2, 0.3], [0.5, 0.5, 0.5]]).log(), ("z", "i"))
    >>> tree = {frozenset(): [prior], frozenset({"i"}): [lik]}
    >>> out = contract_tensor_tree(tree, {"z"})
    >>> round(float(out[frozenset()][0].tensor.exp()), 4)  # 0.3*0.006 + 0.7*0.125
    0.0893
"""

from __future__ import annotations

import heapq
import math
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from .special import safe_log

__all__ = [
    "Packed",
    "contract_tensor_tree",
    "gather",
    "pack",
    "product",
    "query_marginal",
    "sumproduct",
    "unpack",
]

Ordinal = frozenset
TensorTree = dict  # ordinal -> list[Packed]


class Packed:
    """A tensor with one name per dim (``tensor.dim() == len(dims)``), hashed by identity.

    Example:
        >>> p = Packed(torch.zeros(2, 3), ("z", "i"))
        >>> p.dims, tuple(p.shape)
        (('z', 'i'), (2, 3))
    """

    __slots__ = ("tensor", "dims")

    def __init__(self, tensor: torch.Tensor, dims: tuple[str, ...]) -> None:
        if tensor.dim() != len(dims):
            raise ValueError(
                f"Packed: tensor of shape {tuple(tensor.shape)} needs {tensor.dim()} dim "
                f"names, got {dims}"
            )
        self.tensor = tensor
        self.dims = tuple(dims)

    @property
    def shape(self) -> torch.Size:
        return self.tensor.shape

    def sizes(self) -> dict[str, int]:
        """``{name: size}`` of every dim."""
        return dict(zip(self.dims, self.tensor.shape))

    def __repr__(self) -> str:
        return f"Packed(dims={self.dims}, shape={tuple(self.tensor.shape)})"


def pack(value: Any, dim_to_name: Mapping[int, str], site: str | None = None) -> Packed:
    """Name the dims of a batch tensor (counted from the right) and drop size-1 dims.

    Args:
        value: a tensor (or number) of batch shape only.
        dim_to_name: negative dim -> name, for every dim of size > 1.
        site: a site name for the error message.

    Raises:
        ValueError: naming the site, the dim and the shape, if a dim of size > 1
            has no name (a tensor broadcast over a dim nobody allocated).
    """
    if not isinstance(value, torch.Tensor):
        value = torch.as_tensor(value)
    shift = value.dim()
    names = []
    sizes = []
    for i, size in enumerate(value.shape):
        if size == 1:
            continue
        name = dim_to_name.get(i - shift)
        if name is None:
            where = f"at site {site!r}: " if site is not None else ""
            raise ValueError(
                f"{where}invalid tensor shape {tuple(value.shape)}: dim {i - shift} has size "
                f"{size} but is neither a plate dim nor an enumeration dim (allowed dims: "
                f"{sorted(dim_to_name)}). Check the shapes of sample values and distribution "
                "parameters, and max_plate_nesting."
            )
        names.append(name)
        sizes.append(size)
    if len(sizes) != shift:  # drop the size-1 dims (a no-op reshape would add a view)
        value = value.reshape(sizes)
    return Packed(value, tuple(names))


def unpack(packed: Packed, name_to_dim: Mapping[str, int]) -> torch.Tensor:
    """The dense tensor of ``packed``: each named dim at its negative position."""
    if not packed.dims:
        return packed.tensor
    dims = [name_to_dim[n] for n in packed.dims]
    order = sorted(range(len(dims)), key=lambda k: dims[k])
    tensor = packed.tensor.permute(order)
    rank = -min(dims)
    shape = [1] * rank
    for k in order:
        shape[dims[k]] = packed.tensor.shape[k]
    return tensor.reshape(shape)


def _align(
    packed: Packed,
    dims: tuple[str, ...],
    sizes: Mapping[str, int] | None = None,
    leading: bool = True,
) -> torch.Tensor:
    """``packed.tensor`` permuted to the order of ``dims`` (a superset), size 1 where absent.

    With ``leading=False``, dims absent in front are left out (no reshape) when the
    present ones are already in order: for an operand of a broadcasting op. ``sizes``
    (name -> size, at least ``packed``'s) saves a look-up.
    """
    own = packed.dims
    if own == dims:
        return packed.tensor
    present = [d for d in dims if d in own]
    tensor = packed.tensor
    if tuple(present) != own:
        tensor = tensor.permute([own.index(d) for d in present])
    k = len(dims) - len(own)
    if not leading and dims[k:] == tuple(present):  # broadcasting adds the leading dims
        return tensor
    if sizes is None:
        sizes = packed.sizes()
    return tensor.reshape([sizes[d] if d in own else 1 for d in dims])


def _product_all(factors: list[Packed]) -> Packed:
    """The broadcast sum (a product in log space) of log-factors."""
    if len(factors) == 1:
        return factors[0]
    sizes: dict[str, int] = {}
    for f in factors:
        sizes.update(zip(f.dims, f.tensor.shape))
    out_dims = tuple(sizes)
    total = _align(factors[0], out_dims, sizes, leading=False)
    for f in factors[1:]:
        total = total + _align(f, out_dims, sizes, leading=False)
    if total.dim() != len(out_dims) or any(n != sizes[d] for n, d in zip(total.shape, out_dims)):
        total = total.expand([sizes[d] for d in out_dims])
    return Packed(total, out_dims)


class _ExpSavingInput(torch.autograd.Function):
    """``exp`` whose backward recomputes ``exp(input)`` instead of saving the output.

    ``torch.jit.trace`` records a backward pass run inside the traced function
    (``query_marginal`` under a traced ``infer_discrete`` or einsum) only when no op
    saves its own output for backward (``exp``, ``logsumexp`` and ``amax`` do).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.exp()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad * x.exp()


class _LogSumExp(torch.autograd.Function):
    """``torch.logsumexp`` over ``dims`` (kept, size 1) as one autograd node whose
    gradient is zero, not NaN, on a slice that is all ``-inf``.

    One fused forward op and a five-op backward, instead of the eight recorded ops of
    the shift-exp-sum-log formula: the contraction of a long chain records one of these
    per step, so the saving is a good part of the backward pass's node count there.
    """

    # (``forward(ctx, ...)`` rather than ``setup_context``: torch binds the arguments of
    # the latter with ``inspect.signature`` on every call, a third of this op's cost)
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
        out = torch.logsumexp(x, dim=dims, keepdim=True)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        x, out = ctx.saved_tensors
        # softmax weights; an all -inf slice (out = -inf) gets exp(-inf - 0) = 0
        weights = (x - out.masked_fill(out == -math.inf, 0.0)).exp()
        return grad * weights, None


def _safe_logsumexp(x: torch.Tensor, dims: list[int]) -> torch.Tensor:
    """``logsumexp`` over ``dims`` whose gradient is zero, not NaN, on a slice that is all
    ``-inf`` (a combination the model rules out; ``torch.logsumexp``'s backward gives
    ``exp(-inf - -inf)`` there, which poisons every gradient upstream).

    Eagerly and under ``make_fx``/``torch.compile`` this is :class:`_LogSumExp`. Under
    ``torch.jit.trace`` with gradients (which records a backward pass only when no op
    saves its own output, and drops custom backward formulas) it is the explicit
    shift-exp-sum-log formula: after the shift by the slice's maximum each finite slice
    sums to at least 1, so ``safe_log``'s clamp only ever acts on the empty slices, and
    ``exp`` is one that saves its input (see :class:`_ExpSavingInput`).
    """
    if not torch.jit.is_tracing():
        out = _LogSumExp.apply(x, tuple(dims))
        return out.reshape([n for i, n in enumerate(out.shape) if i not in dims])
    shift = x.detach().amax(dim=dims, keepdim=True)
    shift = shift.masked_fill(~torch.isfinite(shift), 0.0)
    shifted = x - shift
    tracing = torch.is_grad_enabled() and x.requires_grad
    exp = _ExpSavingInput.apply(shifted) if tracing else shifted.exp()
    out = safe_log(exp.sum(dims))
    return out + shift.reshape(out.shape)


def _reduce(packed: Packed, dims: set[str], semiring: str) -> Packed:
    if not dims:
        return packed
    positions = [i for i, d in enumerate(packed.dims) if d in dims]
    if semiring == "log":
        if packed.tensor.requires_grad:
            tensor = _safe_logsumexp(packed.tensor, positions)
        else:
            tensor = torch.logsumexp(packed.tensor, dim=positions)
    elif semiring == "max":
        tensor = torch.amax(packed.tensor, dim=positions)
    else:
        raise ValueError(f"semiring must be 'log' or 'max', got {semiring!r}")
    return Packed(tensor, tuple(d for d in packed.dims if d not in dims))


def sumproduct(factors: Iterable[Packed], sum_dims: Iterable[str], semiring: str = "log") -> Packed:
    """Multiply log-factors and sum (or maximise) out ``sum_dims``, by variable elimination.

    Each step eliminates the sum dim whose factors make the smallest joint tensor (a
    heap keyed by that size, refreshed only around the factors a step touched), so a
    chain of ``T`` variables costs ``O(T log T)`` bookkeeping and ``T`` small
    contractions: memory and time are linear in the chain's length.

    Args:
        factors: log-space factors (at least one).
        sum_dims: names to eliminate (names absent from every factor are ignored).
        semiring: ``"log"`` (logsumexp) or ``"max"`` (MAP).

    Example:
        >>> a = Packed(torch.zeros(2, 3), ("x", "y"))
        >>> b = Packed(torch.zeros(3), ("y",))
        >>> out = sumproduct([a, b], {"y"})
        >>> out.dims, round(float(out.tensor[0]), 4)  # log 3
        (('x',), 1.0986)
    """
    store: dict[int, Packed] = dict(enumerate(factors))
    if not store:
        raise ValueError("sumproduct needs at least one factor")
    sizes: dict[str, int] = {}
    for f in store.values():
        sizes.update(f.sizes())
    remaining = set(sum_dims) & set(sizes)
    where: dict[str, set[int]] = {d: set() for d in remaining}
    for i, f in store.items():
        for d in f.dims:
            if d in where:
                where[d].add(i)

    def joint_size(dim: str) -> int:
        union: set[str] = set()
        for i in where[dim]:
            union.update(store[i].dims)
        return math.prod(sizes[u] for u in union)

    heap = [(joint_size(d), d) for d in remaining]
    heapq.heapify(heap)
    next_id = len(store)
    while remaining:
        size, dim = heapq.heappop(heap)
        if dim not in remaining or joint_size(dim) != size:
            continue  # a stale entry: a fresher one is on the heap
        ids = where.pop(dim)
        joint = _product_all([store.pop(i) for i in sorted(ids)])
        done = {dim}
        for d in joint.dims:
            if d != dim and d in remaining and where[d] <= ids:
                done.add(d)
        for d in done - {dim}:
            del where[d]
        remaining -= done
        new = _reduce(joint, done, semiring)
        store[next_id] = new
        for d in new.dims:
            if d in remaining:
                where[d] -= ids
                where[d].add(next_id)
        next_id += 1
        for d in new.dims:
            if d in remaining:
                heapq.heappush(heap, (joint_size(d), d))
    return _product_all(list(store.values()))


def product(packed: Packed, plate_dims: Iterable[str]) -> Packed:
    """Take the product (sum of log-factors) over ``plate_dims`` present in ``packed``."""
    positions = [i for i, d in enumerate(packed.dims) if d in set(plate_dims)]
    if not positions:
        return packed
    return Packed(
        packed.tensor.sum(positions),
        tuple(d for i, d in enumerate(packed.dims) if i not in positions),
    )


def gather(packed: Packed, index: Packed, dim: str) -> Packed:
    """Select ``packed`` along ``dim`` at ``index`` (an integer tensor over other dims).

    The result has ``packed``'s dims without ``dim``, plus any dim of ``index``.

    Example:
        >>> p = Packed(torch.tensor([[0.0, 1.0], [2.0, 3.0]]), ("z", "i"))
        >>> gather(p, Packed(torch.tensor([1, 0]), ("i",)), "z").tensor
        tensor([2., 1.])
    """
    if dim not in packed.dims:
        return packed
    sizes = packed.sizes()
    sizes.update(index.sizes())
    out_dims = tuple(d for d in packed.dims if d != dim) + tuple(
        d for d in index.dims if d not in packed.dims
    )
    full = (dim,) + out_dims
    source = _align(packed, full).expand([sizes[d] for d in full])
    idx = _align(index, full[1:]).expand([sizes[d] for d in full[1:]])
    return Packed(torch.gather(source, 0, idx.unsqueeze(0).long()).squeeze(0), out_dims)


def _partition(terms: list[Packed], dims: set[str]) -> list[tuple[list[Packed], set[str]]]:
    """Split ``terms`` into groups connected through shared ``dims`` (union-find; groups
    in order of first appearance, terms in their given order)."""
    parent: dict[str, str] = {}

    def find(d: str) -> str:
        root = d
        while parent[root] != root:
            root = parent[root]
        while parent[d] != root:  # path compression
            parent[d], d = root, parent[d]
        return root

    mines = []
    for term in terms:
        mine = [d for d in term.dims if d in dims]
        for d in mine:
            parent.setdefault(d, d)
        for d in mine[1:]:
            a, b = find(mine[0]), find(d)
            if a != b:
                parent[b] = a
        mines.append(mine)
    groups: dict[Any, tuple[list[Packed], set[str]]] = {}
    for k, (term, mine) in enumerate(zip(terms, mines)):
        key: Any = find(mine[0]) if mine else ("alone", k)
        group = groups.setdefault(key, ([], set()))
        group[0].append(term)
        group[1].update(mine)
    return list(groups.values())


def _contract_component(
    tree: dict[frozenset, list[Packed]], sum_dims: set[str], semiring: str
) -> tuple[frozenset, Packed]:
    """Contract one connected component down to one factor at its smallest ordinal."""
    dim_to_ordinal: dict[str, frozenset] = {}
    for t, terms in tree.items():
        for term in terms:
            for d in sum_dims.intersection(term.dims):
                dim_to_ordinal[d] = dim_to_ordinal.get(d, t) & t
    dims_tree: dict[frozenset, set[str]] = {}
    for d, t in dim_to_ordinal.items():
        dims_tree.setdefault(t, set()).add(d)
    min_ordinal = frozenset.intersection(*tree)
    while any(dims_tree.values()):
        leaf = max(tree, key=len)
        leaf_terms = tree.pop(leaf)
        leaf_dims = dims_tree.pop(leaf, set())
        for terms, dims in _partition(leaf_terms, leaf_dims):
            term = sumproduct(terms, dims, semiring)
            if leaf == min_ordinal:
                parent = leaf
            else:
                pending = sum_dims.intersection(term.dims)
                parents = [t for t, d in dims_tree.items() if d & pending]
                parent = frozenset().union(*parents) if parents else min_ordinal
                if parent == leaf:
                    raise NotImplementedError(
                        "Expected tree-structured plate nesting, but found dependencies on "
                        f"independent plates [{', '.join(sorted(leaf))}]. Make one of the "
                        "vectorized plates sequential (at a cost exponential in its size)."
                    )
                term = product(term, leaf - parent)
            tree.setdefault(parent, []).append(term)
    if len(tree) != 1:  # components with no sum dims at all
        ordinal = min_ordinal
        terms = [t for ts in tree.values() for t in ts]
        return ordinal, _product_all(terms)
    ordinal, terms = tree.popitem()
    return ordinal, (terms[0] if len(terms) == 1 else _product_all(terms))


def contract_tensor_tree(
    tensor_tree: Mapping[frozenset, list[Packed]], sum_dims: set[str], semiring: str = "log"
) -> dict[frozenset, list[Packed]]:
    """Eliminate ``sum_dims`` from a tree of log-factors (see the module notes).

    Args:
        tensor_tree: ordinal (frozenset of plate names) -> log-factors in those plates.
        sum_dims: names of the enumerated dims to sum (or maximise) out.
        semiring: ``"log"`` or ``"max"``.

    Returns:
        ordinal -> factors, one factor per connected component (terms that share no
        sum dim stay as they are). Each result keeps the plate dims of its ordinal
        and any dim not in ``sum_dims``; summing every result over all its dims gives
        the log of the total sum-product.

    Raises:
        NotImplementedError: if the plates do not nest as a tree.
    """
    ordinals = {id(term): t for t, terms in tensor_tree.items() for term in terms}
    all_terms = [term for terms in tensor_tree.values() for term in terms]
    out: dict[frozenset, list[Packed]] = {}
    for terms, dims in _partition(all_terms, set(sum_dims)):
        component: dict[frozenset, list[Packed]] = {}
        for term in terms:
            component.setdefault(ordinals[id(term)], []).append(term)
        if not dims:
            for t, ts in component.items():
                out.setdefault(t, []).extend(ts)
            continue
        ordinal, term = _contract_component(component, dims, semiring)
        out.setdefault(ordinal, []).append(term)
    return out


def query_marginal(
    tree: dict[frozenset, list[Packed]],
    sum_dims: set[str],
    query_dims: tuple[str, ...],
    query_sizes: list[int],
    query_ordinal: frozenset,
    semiring: str = "log",
) -> torch.Tensor:
    """Posterior weights over ``query_dims`` of the factor graph ``tree``.

    The gradient of the contracted total with respect to a zero factor over the
    query dims is the posterior marginal (``semiring="log"``) or the indicator of the
    maximising values (``"max"``), per element of the query's plates.
    """
    factor_dims = set().union(*(f.dims for fs in tree.values() for f in fs))
    like = next(f.tensor for fs in tree.values() for f in fs)
    with torch.enable_grad():
        query = torch.zeros(query_sizes, dtype=like.dtype, device=like.device, requires_grad=True)
        local = {t: [Packed(f.tensor.detach(), f.dims) for f in fs] for t, fs in tree.items()}
        local.setdefault(query_ordinal, []).append(Packed(query, query_dims))
        keep = sum_dims & (factor_dims | set(query_dims))
        out = contract_tensor_tree(local, keep, semiring=semiring)
        total: Any = 0.0
        for terms in out.values():
            for term in terms:
                total = total + term.tensor.sum()
        (grad,) = torch.autograd.grad(total, [query])
    return grad


# ------------------------------------------------------------------------ plated einsum
_BACKENDS = {
    # name -> (operands in log space, decoding mode of the backward pass)
    "torch": (False, None),
    "torch_log": (True, None),
    "torch_map": (True, "map"),
    "torch_sample": (True, "sample"),
    "torch_marginal": (True, "marginal"),
}


def _backend(backend: str) -> tuple[bool, str | None]:
    short = backend.rsplit(".", 1)[-1]
    if short not in _BACKENDS:
        raise ValueError(
            f"einsum: unknown backend {backend!r}; expected one of {sorted(_BACKENDS)} "
            "(optionally prefixed 'pyro.ops.einsum.' or 'ppl.ops.einsum.')"
        )
    return _BACKENDS[short]


def _einsum_tree(
    inputs: list[str], operands: tuple[torch.Tensor, ...], plates: set[str], log_space: bool
) -> tuple[dict[frozenset, list[Packed]], dict[str, int]]:
    """The operands as a tensor tree of log-factors (size-1 dims dropped), and all sizes."""
    sizes: dict[str, int] = {}
    tree: dict[frozenset, list[Packed]] = {}
    for k, (names, x) in enumerate(zip(inputs, operands)):
        if x.dim() != len(names):
            raise ValueError(
                f"einsum: operand {k} has shape {tuple(x.shape)} but its subscripts "
                f"{names!r} name {len(names)} dims"
            )
        if len(set(names)) != len(names):
            raise ValueError(f"einsum: operand {k} repeats a subscript in {names!r}")
        for d, n in zip(names, x.shape):
            if n != 1 and sizes.setdefault(d, n) != n:
                raise ValueError(
                    f"einsum: dim {d!r} has size {sizes[d]} in one operand and {n} in operand {k}"
                )
        keep = [i for i, n in enumerate(x.shape) if n != 1]
        tensor = x if log_space else x.log()
        tensor = tensor.reshape([x.shape[i] for i in keep])
        dims = tuple(names[i] for i in keep)
        tree.setdefault(frozenset(d for d in dims if d in plates), []).append(Packed(tensor, dims))
    for names in inputs:
        for d in names:
            sizes.setdefault(d, 1)
    return tree, sizes


def einsum(
    equation: str,
    *operands: torch.Tensor,
    plates: str = "",
    backend: str = "torch",
    modulo_total: bool = False,
    cache: Any = None,
) -> tuple[torch.Tensor, ...]:
    """Plated sum-product contraction (Pyro's ``pyro.ops.contract.einsum``).

    ``equation`` is ``"<inputs>-><outputs>"`` with comma-separated subscripts on both
    sides (several outputs allowed). Letters in ``plates`` are *plate* dims: reducing
    one takes the product of its slices; every other letter is a *sum* dim. A sum dim
    that appears together with a plate is a separate variable per plate slice (the
    plates must nest as a tree). Each output keeps its own letters, the others are
    summed (or, for plates, multiplied) out by :func:`contract_tensor_tree`.

    With ``backend="torch"`` operands are nonnegative numbers (contracted in log space
    when there are plates); the other backends (see :mod:`ppl.ops.einsum`) take and
    return logs, and the adjoint ones (``torch_map``, ``torch_sample``,
    ``torch_marginal``) give each result a ``_pyro_backward()`` that decodes the joint
    distribution of all sum dims onto the operands marked with
    :func:`ppl.ops.einsum.adjoint.require_backward`.

    Args:
        equation: e.g. ``"a,ai,abi->"``.
        operands: one tensor per input subscript string.
        plates: the plate letters, e.g. ``"ij"``.
        backend: ``"torch"``, ``"torch_log"``, ``"torch_map"``, ``"torch_sample"`` or
            ``"torch_marginal"`` (Pyro's module paths accepted).
        modulo_total: Pyro's permission to rescale each result; results here are
            always exact, so this only exists for compatibility.
        cache: accepted for compatibility (intermediates are not shared).

    Returns:
        A tuple with one tensor per output, its dims in the output's letter order.

    Example:
        >>> x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # dims a, i
        >>> (z,) = einsum("ai->", x, plates="i")  # prod_i sum_a x[a, i]
        >>> float(z)
        24.0
    """
    del modulo_total, cache
    with warnings.catch_warnings():
        if torch.jit.is_tracing():  # sizes are constants of a trace: do not warn on them
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        return _einsum(equation, operands, plates, backend)


def _einsum(
    equation: str, operands: tuple[torch.Tensor, ...], plates: str, backend: str
) -> tuple[torch.Tensor, ...]:
    log_space, mode = _backend(backend)
    semiring = "max" if mode == "map" else "log"
    if "->" not in equation:
        raise ValueError(f"einsum: equation {equation!r} needs '->' and explicit outputs")
    lhs, rhs = equation.replace(" ", "").split("->")
    inputs = lhs.split(",") if lhs else []
    outputs = rhs.split(",")
    if len(inputs) != len(operands):
        raise ValueError(
            f"einsum: equation {equation!r} has {len(inputs)} inputs but got "
            f"{len(operands)} operands"
        )
    plate_set = set(plates)
    all_dims = set("".join(inputs))
    for out in outputs:
        missing = set(out) - all_dims
        if missing:
            raise ValueError(
                f"einsum: output {out!r} uses dims {sorted(missing)} absent from the inputs"
            )
    if not plate_set and not log_space:
        results = tuple(torch.einsum(f"{lhs}->{out}", *operands) for out in outputs)
    else:
        tree, sizes = _einsum_tree(inputs, operands, plate_set, log_space)
        results = tuple(
            _contract_output(tree, sizes, out, plate_set, log_space, semiring) for out in outputs
        )
    if mode is not None:
        decoder = _Decoder(inputs, operands, plate_set, mode)
        for r in results:
            r._pyro_backward = decoder  # type: ignore[attr-defined]
    return results


def _contract_output(
    tree: dict[frozenset, list[Packed]],
    sizes: dict[str, int],
    output: str,
    plates: set[str],
    log_space: bool,
    semiring: str,
) -> torch.Tensor:
    sum_dims = {d for d in sizes if d not in plates and d not in output}
    out_dims = tuple(output)
    total: torch.Tensor | None = None
    for t, terms in contract_tensor_tree(tree, sum_dims, semiring).items():
        for term in terms:
            term = product(term, set(t) - set(output))
            aligned = _align(term, out_dims)
            total = aligned if total is None else total + aligned
    assert total is not None
    total = total.expand([sizes[d] for d in out_dims])
    return total if log_space else total.exp()


class _Decoder:
    """The backward pass of an adjoint einsum: MAP, a joint sample, or log marginals of
    the sum dims, left on each operand marked by ``require_backward``."""

    def __init__(
        self, inputs: list[str], operands: tuple[torch.Tensor, ...], plates: set[str], mode: str
    ) -> None:
        self.inputs = inputs
        self.operands = operands
        self.plates = plates
        self.mode = mode

    def __call__(self) -> None:
        with warnings.catch_warnings():
            if torch.jit.is_tracing():
                warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            self._backward()

    def _backward(self) -> None:
        from .einsum.adjoint import SAMPLE_SYMBOL, wants_backward

        targets = [k for k, x in enumerate(self.operands) if wants_backward(x)]
        if not targets:
            return
        tree, sizes = _einsum_tree(self.inputs, self.operands, self.plates, True)
        tree = {t: [Packed(f.tensor.detach(), f.dims) for f in fs] for t, fs in tree.items()}
        sum_dims = {d for d in sizes if d not in self.plates and sizes[d] > 1}
        if self.mode == "marginal":
            for k in targets:
                names = self.inputs[k]
                qdims = tuple(d for d in names if sizes[d] > 1)
                t = frozenset(d for d in qdims if d in self.plates)
                probs = query_marginal(tree, sum_dims, qdims, [sizes[d] for d in qdims], t)
                marginal = _align(Packed(probs.clamp(min=0).log(), qdims), tuple(names))
                marginal._pyro_dims = names  # type: ignore[attr-defined]
                self.operands[k]._pyro_backward_result = marginal  # type: ignore[attr-defined]
            return
        values = self._decode(tree, sum_dims, sizes)
        for k in targets:
            names = self.inputs[k]
            batch = tuple(d for d in names if d in self.plates)
            shape = [sizes[d] for d in batch]
            device = self.operands[k].device
            rows = []
            for d in names:
                if d in self.plates:
                    continue
                if d in values:
                    rows.append(_align(values[d], batch).expand(shape))
                else:  # a size-1 dim: its only value is 0
                    rows.append(torch.zeros(shape, dtype=torch.long, device=device))
            result = (
                torch.stack(rows)
                if rows
                else torch.zeros([0] + shape, dtype=torch.long, device=device)
            )
            result._pyro_dims = SAMPLE_SYMBOL + "".join(batch)  # type: ignore[attr-defined]
            self.operands[k]._pyro_backward_result = result  # type: ignore[attr-defined]

    def _decode(
        self, tree: dict[frozenset, list[Packed]], sum_dims: set[str], sizes: dict[str, int]
    ) -> dict[str, Packed]:
        """Values of every sum dim, most global first, each conditioned on the ones before."""
        home: dict[str, frozenset] = {}
        for t, fs in tree.items():
            for f in fs:
                for d in sum_dims.intersection(f.dims):
                    home[d] = home.get(d, t) & t
        semiring = "max" if self.mode == "map" else "log"
        remaining = set(sum_dims)
        values: dict[str, Packed] = {}
        for d in sorted(home, key=lambda d: (len(home[d]), d)):
            # Every more global variable is fixed already, so given them the factors
            # touching ``d`` split into independent slices of ``d``'s plates: contract the
            # other free dims away, keep ``d`` and its plates (no autograd, so this
            # traces under torch.jit.trace).
            t = home[d]
            qdims = (d,) + tuple(sorted(t))
            terms = []
            for o, fs in contract_tensor_tree(tree, remaining - {d}, semiring).items():
                for f in fs:
                    if d in f.dims:
                        terms.append(product(f, set(o) - t))
            weights = _align(_product_all(terms), qdims).expand([sizes[q] for q in qdims])
            if self.mode == "map":
                index = weights.argmax(0)
            else:
                logits = weights.movedim(0, -1)
                index = torch.distributions.Categorical(logits=logits).sample()
            value = Packed(index, qdims[1:])
            tree = {o: [gather(f, value, d) for f in fs] for o, fs in tree.items()}
            remaining.discard(d)
            values[d] = value
        return values
