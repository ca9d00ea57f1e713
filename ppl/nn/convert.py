"""``to_pyro_module_`` (convert an ``nn.Module`` in place) and ``clear``.

Design notes
------------
Conversion swaps the instance's class for the cached ``PyroModule[type(m)]`` mixin and
gives it fresh Pyro state; children are converted first (when ``recurse``) and then
re-attached so they take their dotted names and share the root's context. ``clear``
deletes attributes through ``PyroModule.__delattr__``, which also removes the
ParamStore entries once the module has been called.
"""

from __future__ import annotations

from torch import nn

from .module import PyroModule, init_pyro_state, mixin_class

__all__ = ["clear", "to_pyro_module_"]


def clear(mod: PyroModule) -> None:
    """Remove the parameters, ``PyroParam`` s and sub-modules of ``mod`` and their store entries.

    Store entries are removed once the module has been called (before that, its names
    are not settled and it has put nothing in the store).

    Args:
        mod: a ``PyroModule``.

    Raises:
        TypeError: ``mod`` is not a ``PyroModule``.

    Example:
        >>> import torch, ppl
        >>> ppl.clear_param_store()
        >>> m = PyroModule()
        >>> m.w = nn.Parameter(torch.zeros(2))
        >>> m.forward = lambda: m.w
        >>> _ = m()
        >>> list(ppl.get_param_store().keys())
        ['w']
        >>> clear(m)
        >>> list(ppl.get_param_store().keys()), hasattr(m, "w")
        ([], False)
    """
    if not isinstance(mod, PyroModule):
        raise TypeError(
            f"clear: expected a PyroModule, got {type(mod).__name__}; for a plain nn.Module "
            "remove its entries with ppl.get_param_store() directly"
        )
    for name in list(mod._pyro_params):
        delattr(mod, name)
    for name in list(mod._parameters):
        delattr(mod, name)
    for name in list(mod._modules):
        delattr(mod, name)


def to_pyro_module_(m: nn.Module, recurse: bool = True) -> None:
    """Turn an ``nn.Module`` instance into a ``PyroModule`` in place (class swap).

    Lets third-party modules get Pyro effects without changing their code: after the
    call ``m`` is a ``PyroModule[type(m)]`` and its parameters may be replaced by
    ``PyroSample`` s.

    Args:
        m: the module to convert.
        recurse: also convert every sub-module.

    Raises:
        TypeError: ``m`` is not an ``nn.Module`` instance.

    Example:
        >>> net = nn.Sequential(nn.Linear(2, 3), nn.Tanh())
        >>> to_pyro_module_(net)
        >>> type(net).__name__, type(net[0]).__name__, net[0]._pyro_name
        ('PyroSequential', 'PyroLinear', '0')
    """
    if not isinstance(m, nn.Module):
        raise TypeError(
            f"to_pyro_module_: expected an nn.Module instance, got {type(m).__name__}"
            + ("; pass an instance, not the class" if isinstance(m, type) else "")
        )
    if isinstance(m, PyroModule):
        if recurse:
            for name, child in list(m._modules.items()):
                if child is not None:
                    to_pyro_module_(child)
                    setattr(m, name, child)
        return
    m.__class__ = mixin_class(type(m))
    init_pyro_state(m, "")
    context = m.__dict__["_pyro_context"]
    for name, child in list(m._modules.items()):
        if child is None:
            continue
        if recurse:
            to_pyro_module_(child)
        if isinstance(child, PyroModule):
            child._pyro_set_supermodule(name, context)
