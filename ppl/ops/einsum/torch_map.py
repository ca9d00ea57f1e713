"""The ``torch_map`` backend of :func:`ppl.ops.contract.einsum`:
log-space contraction whose backward pass gives MAP values.
"""

from . import backend_einsum

__all__ = ["einsum"]

einsum = backend_einsum("torch_map")
