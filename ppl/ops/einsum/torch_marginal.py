"""The ``torch_marginal`` backend of :func:`ppl.ops.contract.einsum`:
log-space contraction whose backward pass gives log marginals.
"""

from __future__ import annotations

import torch

from ..contract import einsum as _plated_einsum

__all__ = ["einsum"]


def einsum(equation: str, *operands: torch.Tensor) -> torch.Tensor:
    """Unplated single-output ``einsum`` with this backend.

    Example:
        >>> import torch
        >>> out = einsum("a,a->", torch.zeros(2), torch.zeros(2))
        >>> tuple(out.shape)
        ()
    """
    return _plated_einsum(equation, *operands, backend="torch_marginal")[0]
