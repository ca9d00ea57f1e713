"""Provenance tracking: which tagged tensors a computed tensor was derived from.

Design notes
------------
A :class:`ProvenanceTensor` is a plain tensor carrying a frozen set of tags (for
``TraceGraph_ELBO``: the names of the non-reparameterized sample sites a value was
computed from). Every torch operation on one goes through ``__torch_function__``: the
arguments' tags are united, the operation runs on the untagged tensors (so autograd
sees ordinary tensors; torch's own subclass handling is switched off for the call) and
each tensor result is tagged with the union. Tags follow
data flow only, not Python control flow (``if z > 0: ...`` leaves no tag), which is
also Pyro's rule.

The untagged tensor is kept on the tagged one (``.plain``), so removing tags
(:func:`detach_provenance`) returns the very tensor the operation produced, with its
autograd history; tagging never copies data.

Example:
    >>> x = track_provenance(torch.tensor([1.0, 2.0]), frozenset({"a"}))
    >>> y = track_provenance(torch.tensor(3.0), frozenset({"b"}))
    >>> sorted(get_provenance((x * y).sum()))
    ['a', 'b']
    >>> type(detach_provenance(x + 1)).__name__
    'Tensor'
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["ProvenanceTensor", "detach_provenance", "get_provenance", "track_provenance"]

_EMPTY: frozenset[str] = frozenset()


class ProvenanceTensor(torch.Tensor):
    """A tensor tagged with the set of sources it was computed from (see the module notes).

    Example:
        >>> t = ProvenanceTensor(torch.ones(2), frozenset({"z"}))
        >>> t.provenance, isinstance(t, torch.Tensor)
        (frozenset({'z'}), True)
    """

    plain: torch.Tensor
    provenance: frozenset[str]

    @staticmethod
    def __new__(cls, data: torch.Tensor, provenance: frozenset[str] = _EMPTY) -> ProvenanceTensor:
        if isinstance(data, ProvenanceTensor):
            provenance = provenance | data.provenance
            data = data.plain
        if type(data) is not torch.Tensor:  # e.g. a Parameter: tag a plain alias
            with torch._C.DisableTorchFunctionSubclass():
                data = data.view_as(data)
        out = data.as_subclass(cls)  # same storage, same autograd history
        out.plain = data
        out.provenance = frozenset(provenance)
        return out

    def __init__(self, data: torch.Tensor, provenance: frozenset[str] = _EMPTY) -> None:
        pass

    @classmethod
    def __torch_function__(
        cls, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None
    ) -> Any:
        kwargs = kwargs or {}
        with torch._C.DisableTorchFunctionSubclass():  # run as on plain tensors
            out = func(*args, **kwargs)
        if isinstance(out, torch.Size) or not isinstance(out, (torch.Tensor, tuple, list)):
            return out  # shapes, dtypes, numbers: nothing to tag
        tags = get_provenance(args)
        if kwargs:
            tags = tags | get_provenance(kwargs)
        return track_provenance(out, tags) if tags else out

    def __reduce_ex__(self, protocol: Any) -> Any:  # pickle/deepcopy as the plain tensor
        return self.plain.__reduce_ex__(protocol)


def track_provenance(x: Any, provenance: frozenset[str]) -> Any:
    """Tag every tensor in ``x`` (a tensor, or a tuple/list/dict of them) with ``provenance``.

    Example:
        >>> a, b = track_provenance((torch.ones(1), torch.zeros(1)), frozenset({"z"}))
        >>> get_provenance(b)
        frozenset({'z'})
    """
    if isinstance(x, torch.Tensor):
        return ProvenanceTensor(x, provenance)
    if isinstance(x, tuple) and not isinstance(x, torch.Size) and not hasattr(x, "_fields"):
        return tuple(track_provenance(v, provenance) for v in x)
    if isinstance(x, list):
        return [track_provenance(v, provenance) for v in x]
    if isinstance(x, dict):
        return {k: track_provenance(v, provenance) for k, v in x.items()}
    return x


def get_provenance(x: Any) -> frozenset[str]:
    """The union of the tags of every tensor in ``x`` (empty for untagged values).

    Example:
        >>> get_provenance(torch.ones(1))
        frozenset()
    """
    if isinstance(x, ProvenanceTensor):
        return x.provenance
    if isinstance(x, (tuple, list)):
        out = _EMPTY
        for v in x:
            out = out | get_provenance(v)
        return out
    if isinstance(x, dict):
        out = _EMPTY
        for v in x.values():
            out = out | get_provenance(v)
        return out
    return _EMPTY


def detach_provenance(x: Any) -> Any:
    """``x`` with every tagged tensor replaced by its untagged self (no data copy).

    Example:
        >>> t = track_provenance(torch.ones(1), frozenset({"z"}))
        >>> type(detach_provenance([t])[0]).__name__
        'Tensor'
    """
    if isinstance(x, ProvenanceTensor):
        return x.plain
    if isinstance(x, tuple):
        if not any(isinstance(v, (ProvenanceTensor, tuple, list, dict)) for v in x):
            return x
        items = [detach_provenance(v) for v in x]
        return type(x)(*items) if hasattr(x, "_fields") else tuple(items)
    if isinstance(x, list):
        return [detach_provenance(v) for v in x]
    if isinstance(x, dict):
        return {k: detach_provenance(v) for k, v in x.items()}
    return x
