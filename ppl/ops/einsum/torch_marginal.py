"""The ``torch_marginal`` backend of :func:`ppl.ops.contract.einsum`:
log-space contraction whose backward pass gives log marginals.
"""

from . import backend_einsum

__all__ = ["einsum"]

einsum = backend_einsum("torch_marginal")
