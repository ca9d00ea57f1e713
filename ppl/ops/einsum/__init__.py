"""Backends of :func:`ppl.ops.contract.einsum`, at Pyro's module paths.

``einsum(..., backend=...)`` names one of these modules (Pyro's spelling
``"pyro.ops.einsum.torch_log"`` is accepted too):

* ``torch`` (the default): operands and results are plain (probability-space) numbers;
* ``torch_log``: operands and results are logs; sums become ``logsumexp``;
* ``torch_map``, ``torch_sample``, ``torch_marginal``: log space as ``torch_log``, and
  each result answers ``result._pyro_backward()``, which decodes the joint
  distribution defined by the operands and leaves on every operand marked with
  :func:`ppl.ops.einsum.adjoint.require_backward` its MAP values, a joint sample, or its
  log marginal (``operand._pyro_backward_result``).

Each backend module also offers an unplated ``einsum(equation, *operands)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def backend_einsum(backend: str) -> Callable[..., torch.Tensor]:
    """The unplated single-output ``einsum(equation, *operands)`` of one backend.

    Example:
        >>> import torch
        >>> einsum = backend_einsum("torch_log")
        >>> tuple(einsum("a,a->", torch.zeros(2), torch.zeros(2)).shape)
        ()
    """

    def einsum(equation: str, *operands: torch.Tensor) -> torch.Tensor:
        from ..contract import einsum as plated_einsum

        return plated_einsum(equation, *operands, backend=backend)[0]

    einsum.__doc__ = f"Unplated single-output ``einsum`` with the ``{backend}`` backend."
    return einsum
