"""``ppl.module``: register an ``nn.Module``'s parameters in the ParamStore.

Design notes
------------
Each trainable parameter ``fc.weight`` of a module registered as ``"net"`` becomes
the store entry ``"net$$$fc.weight"`` through ``ppl.param``, so handlers (``trace``,
``substitute``, ``replay``, ``block``) see it like any other parameter. The store
keeps the module's own ``nn.Parameter`` object (an unconstrained parameter is stored
as the very init tensor), so an optimizer that updates the store updates the module.

When the store already holds a *different* tensor under that name (typically after
``get_param_store().load(...)``), the module keeps its own values unless
``update_module_params=True``; then the stored values are put into the module. A
stored plain leaf is first promoted to an ``nn.Parameter`` that becomes the store's
entry, so module and store keep sharing one object.
"""

from __future__ import annotations

import warnings
from typing import TypeVar

import torch

from ppl.params.param_store import (
    MODULE_NAMESPACE_DIVIDER,
    get_param_store,
    param_with_module_name,
)

ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)


def module(name: str, nn_module: ModuleT, update_module_params: bool = False) -> ModuleT:
    """Register the parameters of ``nn_module`` with the ParamStore under ``name``.

    Args:
        name: the module's name in the store; may not contain ``"$$$"``.
        nn_module: an ``nn.Module`` instance. Parameters with ``requires_grad=False``
            are skipped (with a warning while the module is in training mode).
        update_module_params: copy parameters already in the store (e.g. just loaded
            from a file) into the module, replacing the module's own.

    Returns:
        ``nn_module`` itself.

    Raises:
        TypeError: ``name`` is not a str, or ``nn_module`` is a class or not an ``nn.Module``.
        ValueError: ``name`` contains ``"$$$"``.

    Example:
        >>> import ppl
        >>> from ppl.module import module
        >>> ppl.clear_param_store()
        >>> net = module("net", torch.nn.Linear(2, 1))
        >>> sorted(ppl.get_param_store().keys())
        ['net$$$bias', 'net$$$weight']
    """
    from ppl.primitives import param  # lazy: primitives may import this module

    if not isinstance(name, str):
        raise TypeError(f"module: name must be a str, got {name!r}")
    if MODULE_NAMESPACE_DIVIDER in name:
        raise ValueError(
            f"module: name {name!r} contains {MODULE_NAMESPACE_DIVIDER!r}, which separates "
            "module and parameter names in the store; choose another name"
        )
    if isinstance(nn_module, type):
        raise TypeError(
            f"module {name!r}: got the class {nn_module.__name__}; pass an instance, "
            f"e.g. ppl.module({name!r}, {nn_module.__name__}(...))"
        )
    if not isinstance(nn_module, torch.nn.Module):
        raise TypeError(
            f"module {name!r}: expected a torch.nn.Module, got {type(nn_module).__name__}"
        )

    stored: dict[str, torch.Tensor] = {}
    for param_name, value in nn_module.named_parameters():
        if not value.requires_grad:
            if nn_module.training:
                warnings.warn(
                    f"module {name!r}: parameter {param_name!r} has requires_grad=False and "
                    "is not registered in the ParamStore; call .train(False) on the module "
                    "to silence this warning",
                    stacklevel=2,
                )
            continue
        returned = param(param_with_module_name(name, param_name), value)
        if returned is not value:
            stored[param_name] = returned

    if update_module_params:
        for param_name, new_value in stored.items():
            _install(nn_module, param_name, new_value, param_with_module_name(name, param_name))
    return nn_module


def _install(root: torch.nn.Module, param_name: str, value: torch.Tensor, full_name: str) -> None:
    """Make ``value`` the module's parameter ``param_name`` (a dotted path)."""
    owner_path, _, leaf_name = param_name.rpartition(".")
    owner = root.get_submodule(owner_path) if owner_path else root
    store = get_param_store()
    if not isinstance(value, torch.nn.Parameter) and store.param_name(value) == full_name:
        # The store's own leaf: promote it to a Parameter and keep store and module sharing it.
        promoted = torch.nn.Parameter(value.detach(), requires_grad=True)
        store[full_name] = promoted
        value = promoted
    if isinstance(value, torch.nn.Parameter):
        setattr(owner, leaf_name, value)
    else:
        # A substituted or constrained value (not a leaf): install it as Pyro does.
        owner._parameters[leaf_name] = value  # type: ignore[assignment]
