"""The ``torch_sample`` backend of :func:`ppl.ops.contract.einsum`:
log-space contraction whose backward pass draws a joint sample.
"""

from . import backend_einsum

__all__ = ["einsum"]

einsum = backend_einsum("torch_sample")
