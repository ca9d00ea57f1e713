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
