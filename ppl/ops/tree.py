"""Helpers over nested state ("trees" of dicts, lists and tensors), e.g. optimizer state.

Optimizer and scheduler state is a nest of dicts, lists, tuples, numbers, strings and
tensors. A few operations are needed on it, each written once here:

* ``map_tensors`` rebuilds a nest with a function applied to every tensor (clone,
  move to a device), keeping container types (``Counter``, ``OrderedDict``, tuples),
  because torch schedulers rely on them (``MultiStepLR.milestones`` is a ``Counter``).
* ``to_plain`` turns container subclasses into exact ``dict``/``tuple`` so the nest
  passes ``ppl.params.safe_file.check_plain`` (the one definition of "plain data");
  ``restore_containers`` gives scheduler attributes their ``Counter`` back on load.
* ``to_location`` applies a ``map_location`` (device, device string or a
  ``{"from": "to"}`` dict of device strings, as in ``torch.load``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import torch

#: Where loaded tensors go, as ``torch.load``'s ``map_location``: None (where they were
#: saved), a device or device string, or a ``{"from": "to"}`` dict of device strings.
#: The one definition every loader in ppl uses (callables are not accepted).
MapLocation = None | str | torch.device | Mapping[str, str]


def map_tensors(tree: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """Return a copy of ``tree`` with ``fn`` applied to every tensor leaf.

    Containers are rebuilt with their own type (``dict`` subclasses such as
    ``collections.Counter`` stay what they are); other leaves are returned unchanged.

    Example:
        >>> map_tensors({"a": [torch.ones(1)]}, lambda t: t * 2)
        {'a': [tensor([2.])]}
    """
    if isinstance(tree, torch.Tensor):
        return fn(tree)
    if isinstance(tree, dict):
        items = {k: map_tensors(v, fn) for k, v in tree.items()}
        if type(tree) is dict:
            return items
        rebuilt = copy.copy(tree)  # keeps the subclass (Counter, OrderedDict, defaultdict)
        rebuilt.clear()
        rebuilt.update(items)
        return rebuilt
    if isinstance(tree, list):
        return [map_tensors(v, fn) for v in tree]
    if isinstance(tree, tuple) and not isinstance(tree, torch.Size):
        return tuple(map_tensors(v, fn) for v in tree)
    return tree


def clone_tree(tree: Any) -> Any:
    """Deep-copy every tensor of ``tree`` (detached), so saved state never aliases live state."""
    return map_tensors(tree, lambda t: t.detach().clone())


def _resolve(device: torch.device, map_location: MapLocation) -> torch.device:
    if map_location is None:
        return device
    if isinstance(map_location, Mapping):
        target = map_location.get(str(device))
        return device if target is None else torch.device(target)
    return torch.device(map_location)


def check_map_location(map_location: object) -> None:
    """Raise ``TypeError`` unless ``map_location`` is None, a device, a string or a dict.

    Raises:
        TypeError: for any other type (callables are not supported).
    """
    if map_location is None or isinstance(map_location, (str, torch.device)):
        return
    if isinstance(map_location, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in map_location.items()
    ):
        return
    raise TypeError(
        "map_location: expected None, a torch.device, a device string such as 'cpu', or a "
        f"dict of device strings such as {{'cuda:0': 'cpu'}}, but got {map_location!r}"
    )


def to_location(tree: Any, map_location: MapLocation) -> Any:
    """Clone ``tree`` and move its tensors as ``torch.load(map_location=...)`` would.

    Example:
        >>> to_location({"m": torch.zeros(2)}, "meta")["m"].device
        device(type='meta')
    """
    check_map_location(map_location)
    return map_tensors(tree, lambda t: t.detach().clone().to(_resolve(t.device, map_location)))


def to_plain(tree: Any) -> Any:
    """Rebuild ``tree`` with plain containers: ``dict`` subclasses become ``dict`` and
    ``torch.Size`` a ``tuple`` (safe files hold only exact ``dict``/``list``/``tuple``).

    Example:
        >>> from collections import Counter
        >>> to_plain({"m": Counter({3: 1})})
        {'m': {3: 1}}
    """
    if isinstance(tree, dict):
        return {k: to_plain(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [to_plain(v) for v in tree]
    if isinstance(tree, tuple):
        return tuple(to_plain(v) for v in tree)
    return tree


def restore_containers(saved: Mapping[str, Any], live: object) -> dict[str, Any]:
    """Give each top-level value of ``saved`` the ``dict`` subclass the live object uses.

    Used for scheduler state: ``MultiStepLR.milestones`` is a ``Counter`` (missing keys
    count 0), saved as a plain dict, and must be a ``Counter`` again once loaded.
    """
    result = dict(saved)
    for key, value in result.items():
        current = getattr(live, key, None)
        if type(value) is dict and isinstance(current, dict) and type(current) is not dict:
            result[key] = type(current)(value)
    return result
