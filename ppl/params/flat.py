"""Flat parameter vectors with shaped views (climin) and the store-wide flatten.

Design notes
------------
*climin side.* ``empty_with_views(template)`` allocates one contiguous 1-D tensor and
returns shaped views into it; ``shaped_from_flat(flat, template)`` builds the same
views over an existing vector. A template is a list of shapes, an int meaning a
vector (``[(784, 10), 10]``). The views come from :class:`ppl.ops.layout.Layout`
(``narrow`` + ``unflatten``), so they always share memory: writing into ``w[...]``
changes ``flat`` and vice versa. Initialisers (``randomize_normal`` & co.) fill a
tensor in place under ``no_grad`` and return it; they take an optional
``torch.Generator`` for reproducibility and work on any device/dtype.

*Store side.* ``flatten_params`` concatenates the *unconstrained* leaves of the
ParamStore (all, or the chosen names, in store order) into one detached vector and
returns it with the :class:`Layout` that produced it; ``unflatten_params`` copies a
vector back into those leaves under ``no_grad`` (the leaves keep their identity, so
optimizers holding them stay valid); ``flatten_grads`` gathers the leaves' ``.grad``
into one vector (zeros where a leaf has no gradient). Together they let
``torch.optim.LBFGS``, Newton steps, Hessians and Laplace approximations treat the
whole store as one vector. Only the store's public API is used:
``get_param_store()`` and ``named_parameters()`` -> ``(name, unconstrained leaf)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import torch

from ppl.ops.layout import Layout

Template = Sequence[int | Sequence[int] | torch.Size]


class _NamedParameters(Protocol):
    def named_parameters(self) -> Iterable[tuple[str, torch.Tensor]]: ...


# ---------------------------------------------------------------------- climin views
def _template_layout(template: Template) -> Layout:
    if isinstance(template, (int, torch.Size)) or (
        isinstance(template, tuple) and all(isinstance(s, int) for s in template)
    ):
        raise TypeError(
            "template must be a list of shapes (e.g. [(784, 10), 10]), got a single "
            f"shape {template!r}; wrap it in a list"
        )
    try:
        entries = [(str(i), shape) for i, shape in enumerate(template)]
    except TypeError:
        raise TypeError(
            f"template must be a list of shapes, got {type(template).__name__}"
        ) from None
    return Layout(entries)


def empty_with_views(
    template: Template, dtype: torch.dtype | None = None, device: Any = None
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Allocate one flat tensor and shaped views into it (climin's ``empty_with_views``).

    Args:
        template: list of shapes; an int means a vector of that length.
        dtype: dtype of the flat tensor (default ``torch.get_default_dtype()``).
        device: its device (default: the current default device).

    Returns:
        ``(flat, views)``: ``flat`` is 1-D of length ``sum(prod(shape))`` and
        uninitialised; ``views[i]`` has shape ``template[i]`` and shares its memory.

    Raises:
        TypeError: if ``template`` is not a list of shapes.

    Example:
        >>> flat, (w, b) = empty_with_views([(2, 3), 3])
        >>> _ = flat.zero_(); _ = b.fill_(1.0)
        >>> flat
        tensor([0., 0., 0., 0., 0., 0., 1., 1., 1.])
    """
    layout = _template_layout(template)
    flat = torch.empty(layout.size, dtype=dtype, device=device)
    return flat, layout.views(flat)


def shaped_from_flat(flat: torch.Tensor, template: Template) -> list[torch.Tensor]:
    """Shaped views into an existing 1-D ``flat`` (climin's ``shaped_from_flat``).

    Args:
        flat: a 1-D tensor of length ``sum(prod(shape))``.
        template: list of shapes; an int means a vector.

    Returns:
        Views of ``flat`` (they share memory and, if ``flat`` requires grad,
        carry gradients back to it).

    Raises:
        ValueError: if ``flat`` is not 1-D or has the wrong length.
        TypeError: if ``flat`` is not a tensor or ``template`` not a list of shapes.

    Example:
        >>> w, b = shaped_from_flat(torch.arange(9.0), [(2, 3), 3])
        >>> b
        tensor([6., 7., 8.])
    """
    if not isinstance(flat, torch.Tensor):
        raise TypeError(f"shaped_from_flat: flat must be a tensor, got {type(flat).__name__}")
    layout = _template_layout(template)
    if flat.dim() != 1 or flat.shape[0] != layout.size:
        raise ValueError(
            f"shaped_from_flat: template {list(layout.shapes)} needs a 1-D tensor of "
            f"length {layout.size}, got shape {tuple(flat.shape)}"
        )
    return layout.views(flat)


# ---------------------------------------------------------------------- initialisers
def _check_tensor(arr: Any, fn: str) -> torch.Tensor:
    if not isinstance(arr, torch.Tensor):
        raise TypeError(f"{fn}: expected a tensor to fill in place, got {type(arr).__name__}")
    if not arr.is_floating_point():
        raise TypeError(f"{fn}: expected a floating tensor, got dtype {arr.dtype}")
    return arr


def randomize_normal(
    arr: torch.Tensor,
    loc: float = 0.0,
    scale: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Fill ``arr`` in place with ``Normal(loc, scale)`` draws; returns ``arr``.

    Raises:
        ValueError: if ``scale < 0``.

    Example:
        >>> flat, _ = empty_with_views([3])
        >>> _ = randomize_normal(flat, 0.0, 0.1, generator=torch.Generator().manual_seed(0))
        >>> flat.abs().max() < 1
        tensor(True)
    """
    _check_tensor(arr, "randomize_normal")
    if scale < 0:
        raise ValueError(f"randomize_normal: scale must be >= 0, got {scale}")
    with torch.no_grad():
        arr.normal_(loc, scale, generator=generator)
    return arr


def randomize_uniform(
    arr: torch.Tensor,
    low: float = 0.0,
    high: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Fill ``arr`` in place with ``Uniform(low, high)`` draws; returns ``arr``.

    Raises:
        ValueError: if ``low >= high``.
    """
    _check_tensor(arr, "randomize_uniform")
    if not low < high:
        raise ValueError(f"randomize_uniform: need low < high, got low={low}, high={high}")
    with torch.no_grad():
        arr.uniform_(low, high, generator=generator)
    return arr


def orthogonal(
    arr: torch.Tensor,
    shape: tuple[int, int] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Fill ``arr`` in place with a random matrix with orthonormal rows or columns.

    Args:
        arr: the tensor to fill (any shape; ``shape`` says how to see it as a matrix).
        shape: the 2-D shape to use (default: ``arr.shape`` if ``arr`` is 2-D).
        generator: optional random generator.

    Raises:
        ValueError: if ``arr`` is not 2-D and no ``shape`` with ``arr.numel()``
            entries is given.

    Example:
        >>> w = orthogonal(torch.empty(3, 3), generator=torch.Generator().manual_seed(0))
        >>> torch.allclose(w @ w.T, torch.eye(3), atol=1e-5)
        True
    """
    _check_tensor(arr, "orthogonal")
    if shape is None:
        if arr.dim() != 2:
            raise ValueError(
                f"orthogonal: arr has shape {tuple(arr.shape)}; pass shape=(rows, cols)"
            )
        shape = (arr.shape[0], arr.shape[1])
    if len(shape) != 2 or math.prod(shape) != arr.numel():
        raise ValueError(f"orthogonal: shape {tuple(shape)} must be 2-D with {arr.numel()} entries")
    rows, cols = shape
    g = torch.randn(max(rows, cols), min(rows, cols), generator=generator, dtype=arr.dtype)
    q, r = torch.linalg.qr(g)
    d = torch.diagonal(r)
    q = q * torch.where(d < 0, -torch.ones_like(d), torch.ones_like(d))
    if rows < cols:
        q = q.T
    with torch.no_grad():
        arr.copy_(q.reshape(arr.shape).to(arr.device))
    return arr


def bound_spectral_radius(arr: torch.Tensor, bound: float = 1.2) -> torch.Tensor:
    """Scale the square matrix ``arr`` in place so its spectral radius is ``bound``.

    Raises:
        ValueError: if ``arr`` is not a square matrix or is all zeros.

    Example:
        >>> m = bound_spectral_radius(torch.eye(2) * 3.0, bound=1.5)
        >>> m.diagonal()
        tensor([1.5000, 1.5000])
    """
    _check_tensor(arr, "bound_spectral_radius")
    if arr.dim() != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(
            f"bound_spectral_radius: expected a square matrix, got shape {tuple(arr.shape)}"
        )
    with torch.no_grad():
        radius = torch.linalg.eigvals(arr).abs().max()
        if radius == 0:
            raise ValueError("bound_spectral_radius: the matrix has spectral radius 0")
        arr.mul_(bound / radius.to(arr.dtype))
    return arr


# ---------------------------------------------------------------------- store-wide
def _store(store: _NamedParameters | None) -> _NamedParameters:
    if store is not None:
        return store
    from ppl.params.param_store import get_param_store

    return get_param_store()


def _leaves(store: _NamedParameters, names: Iterable[str] | None) -> dict[str, torch.Tensor]:
    params = dict(store.named_parameters())
    if names is None:
        return params
    if isinstance(names, str):
        names = [names]
    names = list(names)
    missing = [n for n in names if n not in params]
    if missing:
        raise ValueError(
            f"parameters {missing} are not in the param store; known names: {list(params)}"
        )
    return {n: params[n] for n in names}


def flatten_params(
    store: _NamedParameters | None = None, names: Iterable[str] | None = None
) -> tuple[torch.Tensor, Layout]:
    """Concatenate the store's unconstrained parameters into one detached vector.

    Args:
        store: a ParamStore (default: the global ``get_param_store()``).
        names: the parameters to include, in this order (default: all, store order).

    Returns:
        ``(vector, layout)``: ``vector`` is a new 1-D tensor (a copy, detached) of
        length ``layout.size``; ``layout`` records names and shapes for
        :func:`unflatten_params`/:func:`flatten_grads`.

    Raises:
        ValueError: if a name is not in the store, or parameters live on different
            devices.

    Example:
        >>> from ppl.params.param_store import get_param_store
        >>> store = get_param_store(); store.clear()
        >>> _ = store.get_param("w", torch.zeros(2, 2)); _ = store.get_param("b", torch.ones(2))
        >>> vec, layout = flatten_params(store)
        >>> vec, layout.names
        (tensor([0., 0., 0., 0., 1., 1.]), ('w', 'b'))
    """
    leaves = _leaves(_store(store), names)
    devices = {str(t.device) for t in leaves.values()}
    if len(devices) > 1:
        raise ValueError(
            f"flatten_params: parameters live on several devices {sorted(devices)}; "
            "pass names= on one device or move them"
        )
    layout = Layout.from_tensors(leaves)
    if not leaves:
        return torch.zeros(0), layout
    with torch.no_grad():
        vector = layout.flatten({k: v.detach() for k, v in leaves.items()})
        if len(leaves) == 1:
            vector = vector.clone()
    return vector, layout


def _check_layout(vector: torch.Tensor, layout: Layout, fn: str) -> None:
    if not isinstance(layout, Layout):
        raise TypeError(f"{fn}: layout must be a Layout, got {type(layout).__name__}")
    if not isinstance(vector, torch.Tensor):
        raise TypeError(f"{fn}: vector must be a tensor, got {type(vector).__name__}")
    if vector.shape != (layout.size,):
        raise ValueError(
            f"{fn}: expected a vector of shape ({layout.size},) for parameters "
            f"{list(layout.names)}, got {tuple(vector.shape)}"
        )


def _matching_leaves(store: _NamedParameters, layout: Layout, fn: str) -> dict[str, torch.Tensor]:
    leaves = _leaves(store, layout.names)
    for name, shape in zip(layout.names, layout.shapes):
        if tuple(leaves[name].shape) != shape:
            raise ValueError(
                f"{fn}: parameter {name!r} has shape {tuple(leaves[name].shape)} in the store "
                f"but {shape} in the layout; flatten the store again"
            )
    return leaves


def unflatten_params(
    vector: torch.Tensor, layout: Layout, store: _NamedParameters | None = None
) -> None:
    """Copy ``vector`` into the store's unconstrained leaves, in place, under no_grad.

    The leaves keep their identity (optimizers and autograd graphs built later
    still see them); values are cast to each leaf's dtype and device.

    Args:
        vector: a 1-D tensor of length ``layout.size``.
        layout: the layout returned by :func:`flatten_params`.
        store: the ParamStore (default: the global one).

    Raises:
        ValueError: wrong vector shape, a name missing from the store, or a
            parameter whose shape changed since the flatten.

    Example:
        >>> from ppl.params.param_store import get_param_store
        >>> store = get_param_store(); store.clear()
        >>> _ = store.get_param("b", torch.ones(2))
        >>> vec, layout = flatten_params(store)
        >>> unflatten_params(vec * 3, layout, store)
        >>> dict(store.named_parameters())["b"].detach()
        tensor([3., 3.])
    """
    _check_layout(vector, layout, "unflatten_params")
    leaves = _matching_leaves(_store(store), layout, "unflatten_params")
    pieces = layout.fold(vector.detach())
    with torch.no_grad():
        for name, leaf in leaves.items():
            leaf.copy_(pieces[name])


def flatten_grads(layout: Layout, store: _NamedParameters | None = None) -> torch.Tensor:
    """The ``.grad`` of the store's leaves named by ``layout``, as one vector.

    Leaves without a gradient contribute zeros. Use it in an L-BFGS closure to
    hand the flat optimiser the gradient computed through ``ppl.param``.

    Raises:
        ValueError: a name missing from the store or a changed shape.

    Example:
        >>> from ppl.params.param_store import get_param_store
        >>> store = get_param_store(); store.clear()
        >>> b = store.get_param("b", torch.ones(2))
        >>> _, layout = flatten_params(store)
        >>> (b ** 2).sum().backward()
        >>> flatten_grads(layout, store)
        tensor([2., 2.])
    """
    leaves = _matching_leaves(_store(store), layout, "flatten_grads")
    grads = {k: (v.grad if v.grad is not None else torch.zeros_like(v)) for k, v in leaves.items()}
    if not grads:
        return torch.zeros(0)
    return layout.flatten({k: g.detach() for k, g in grads.items()}).clone()
