"""Pyro's module path ``pyro.distributions.torch``: the wrapped torch distributions.

Same classes as :mod:`ppl.distributions.torch_dists`. Importing this submodule binds the
name ``torch`` inside :mod:`ppl.distributions` to it (as in Pyro), so any other
attribute is forwarded to the real :mod:`torch` package: ``dist.torch.zeros`` still works.

Example:
    >>> from ppl.distributions.torch import Normal
    >>> Normal(0.0, 1.0).expand_by((2,)).batch_shape
    torch.Size([2])
"""

from __future__ import annotations

from typing import Any

import torch as _torch

from ppl.distributions.torch_dists import *  # noqa: F403
from ppl.distributions.torch_dists import WRAPPED

globals().update(WRAPPED)
__all__ = sorted(WRAPPED)


def __getattr__(name: str) -> Any:
    return getattr(_torch, name)
