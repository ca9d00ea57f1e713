"""The ``torch_log`` backend of :func:`ppl.ops.contract.einsum`:
logsumexp contraction of log-space operands.
"""

from . import backend_einsum

__all__ = ["einsum"]

einsum = backend_einsum("torch_log")
