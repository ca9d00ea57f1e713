"""Repeat a traced one-step graph ``times`` times, at the FX level.

Why
---
A K-step graph built by running the model and guide K times through the handlers costs
K times the Python of one trace (seconds for K = 16). The step's ATen graph is the same
every time, so this copies its nodes instead: copy ``i`` reads the graph inputs that copy
``i - 1`` updated in place (params, optimizer state), its own slice of the per-step
inputs (``coef[:, i]``), and the outputs of all copies are stacked. The copies keep the
original node order, so sampling ops run in the order K eager steps run them and draw
the same numbers.

Example:
    >>> import torch
    >>> from torch.fx.experimental.proxy_tensor import make_fx
    >>> def step(x, c):  # one step: x += c, return x
    ...     x.add_(c)
    ...     return (x.clone(),)
    >>> one = make_fx(step)(torch.zeros(2), torch.zeros(2))
    >>> three = repeat_graph(one, 3, per_step=1)
    >>> x = torch.zeros(2)
    >>> three(x, torch.tensor([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]]))[0]
    tensor([[1., 1.],
            [3., 2.],
            [6., 3.]])
"""

from __future__ import annotations

import torch
from torch import fx

__all__ = ["repeat_graph"]


def repeat_graph(graph: fx.GraphModule, times: int, per_step: int) -> fx.GraphModule:
    """``graph`` (one step, one tensor output) copied ``times`` times in sequence.

    Args:
        graph: a traced step ``(*inputs) -> (out,)`` that updates some inputs in place.
        times: how many copies (>= 1).
        per_step: the position of the input that differs per step: the repeated graph
            takes it with an extra dimension 1 of size ``times`` and copy ``i`` reads
            ``input[:, i]``. The other inputs are shared by all copies.

    Returns:
        ``(*inputs) -> (stacked outputs,)``, the outputs stacked along a new first dim.

    Raises:
        ValueError: ``times < 1``, or ``graph`` has no single-tensor output or no input
            ``per_step``.
    """
    if times < 1:
        raise ValueError(f"repeat_graph: times must be >= 1, got {times}")
    placeholders = [n for n in graph.graph.nodes if n.op == "placeholder"]
    if not 0 <= per_step < len(placeholders):
        raise ValueError(
            f"repeat_graph: per_step={per_step}, but the graph has {len(placeholders)} inputs"
        )
    out = fx.Graph()
    inputs = [out.placeholder(p.name) for p in placeholders]
    for new, old in zip(inputs, placeholders):
        new.meta = dict(old.meta)
    rows = []
    for i in range(times):
        env = dict(zip(placeholders, inputs))
        env[placeholders[per_step]] = out.call_function(
            torch.ops.aten.select.int, (inputs[per_step], 1, i)
        )
        result = out.graph_copy(graph.graph, env)
        if not isinstance(result, (tuple, list)) or len(result) != 1:
            raise ValueError(f"repeat_graph: the step must return one tensor, got {result!r}")
        rows.append(result[0])
    out.output((out.call_function(torch.ops.aten.stack.default, (rows,)),))
    return fx.GraphModule(graph, out)
