"""Container and RNN fixes for ``PyroModule[...]`` mixins.

Design notes
------------
* Slicing ``nn.Sequential``/``nn.ModuleList`` builds a new container of the same
  class. For a ``PyroModule`` container that new object would be a fresh root that
  re-names and re-contexts the *shared* children, so the Pyro versions return a plain
  torch container for a slice.
* torch RNNs cache their weights in ``_flat_weights``; the ``PyroModule[nn.RNNBase]``
  mixin reads them afresh on every access, so ``PyroSample``/``PyroParam`` weights
  take effect in each call.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from torch import nn

from .module import MIXIN_CACHE, PyroModule, mixin_class, reduce_mixin_instance

__all__ = ["PyroModuleList"]


class PyroModuleList(nn.ModuleList, PyroModule):
    """``PyroModule[nn.ModuleList]``; a slice is a plain ``nn.ModuleList`` view.

    Slicing must not build a new ``PyroModule`` root: that would re-name (and
    re-context) the shared children.
    """

    def __init__(self, modules: Any = None) -> None:
        super().__init__(modules)

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return nn.ModuleList(list(self._modules.values())[idx])
        return super().__getitem__(idx)


class _PyroSequential(nn.Sequential, PyroModule):
    """``PyroModule[nn.Sequential]``; a slice is a plain ``nn.Sequential`` (see above)."""

    _pyro_mixin_of = nn.Sequential
    __reduce__ = reduce_mixin_instance

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return nn.Sequential(OrderedDict(list(self._modules.items())[idx]))
        return super().__getitem__(idx)


_PyroSequential.__name__ = _PyroSequential.__qualname__ = "PyroSequential"
MIXIN_CACHE[nn.ModuleList] = PyroModuleList
MIXIN_CACHE[nn.Sequential] = _PyroSequential


class _FlatWeights:
    """Data descriptor for ``PyroModule[nn.RNNBase]._flat_weights``: re-read every time.

    torch RNNs cache their weight tensors in a list; reading them afresh lets
    ``PyroSample``/``PyroParam`` weights take effect on each call. Writes are ignored.
    """

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return [getattr(obj, name) for name in obj._flat_weights_names]

    def __set__(self, obj: Any, value: Any) -> None:
        pass


mixin_class(nn.RNNBase)._flat_weights = _FlatWeights()  # type: ignore[attr-defined]
