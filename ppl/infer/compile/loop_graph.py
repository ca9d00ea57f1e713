"""Run a traced step ``n`` times inside ONE graph, with torch's ``while_loop``.

Why
---
A compiled graph call costs tens of microseconds of Python before and after its kernels
(guards, the AOT runtime wrappers, size asserts, output allocation). On a small model
that is most of a step, however many steps a Python loop of graph calls takes in a row.
Putting the loop inside the graph removes it: ``while_loop`` runs the step's subgraph
``n`` times, so a call pays that cost once for ``n`` steps, and with inductor's C++
wrapper (``cpp_wrapper``) the loop itself runs in C++ (no Python between steps at all).

The step reads its inputs and updates some of them in place (params, optimizer state).
``while_loop`` wants a functional body, so the loop carries those inputs as values: each
iteration runs the step on copies of the carried values and returns the copies; after
the loop the graph writes the final values back into the inputs. Iteration ``i`` reads
row ``i`` of the per-step input, and its output goes to row ``i`` of the result. Random
ops run in the loop body in order, iteration by iteration, so with ``fallback_random``
the draws are those of ``n`` calls of the step.

Example:
    >>> import torch
    >>> from torch.fx.experimental.proxy_tensor import make_fx
    >>> def step(x, c):  # one step: x += c, return x
    ...     x.add_(c)
    ...     return (x.clone(),)
    >>> one = make_fx(step)(torch.zeros(2), torch.zeros(2))
    >>> looped = loop_graph(one, [torch.zeros(2), torch.zeros(3, 2)], carried=1, per_step=1)
    >>> x = torch.zeros(2)
    >>> looped(x, torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]), torch.tensor(2))[0]
    tensor([[1., 1.],
            [3., 3.],
            [0., 0.]])
    >>> x
    tensor([3., 3.])
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import fx

__all__ = ["loop_graph"]


def loop_graph(
    step: fx.GraphModule,
    example: Sequence[torch.Tensor],
    carried: int,
    per_step: int,
) -> fx.GraphModule:
    """``step`` run ``n`` times in one graph (see the module notes).

    Args:
        step: a traced step ``(*inputs) -> (out,)`` that may update ``inputs[:carried]``
            in place and reads no other input's new value.
        example: example inputs of the looped graph (without ``n``): as ``step``'s, but
            ``example[per_step]`` with a new first dim, the most steps of a call.
        carried: how many leading inputs the step updates (carried from step to step).
        per_step: the position of the input that differs per step (``>= carried``).

    Returns:
        ``(*inputs, n) -> (outs,)``: ``n`` (an int64 scalar tensor, at most
        ``example[per_step].shape[0]``) steps; ``outs[i]`` is step ``i``'s output
        (rows from ``n`` on are zeros), and ``inputs[:carried]`` hold the last step's
        values.

    Raises:
        ValueError: ``per_step`` is a carried input or out of range, or ``step`` does
            not return one tensor with a traced value.
    """
    from torch._higher_order_ops.while_loop import while_loop_op
    from torch.fx.experimental.proxy_tensor import make_fx

    if not carried <= per_step < len(example):
        raise ValueError(
            f"loop_graph: per_step={per_step} must index a non-carried input "
            f"(carried={carried}, {len(example)} inputs)"
        )
    out = _step_output(step, example, per_step)
    step, constants = _lift_constants(step)

    def looped(*inputs: torch.Tensor) -> tuple[torch.Tensor]:
        *inputs_, n = inputs
        n_values = carried + 1  # the carried inputs, then the output rows
        # every tensor the loop reads goes in as an input of the HOP (no closures)
        shared = (n, *inputs_[carried:], *constants)

        def cond(i: torch.Tensor, *values: torch.Tensor) -> torch.Tensor:
            return i < values[n_values]

        def body(i: torch.Tensor, *values: torch.Tensor) -> tuple[torch.Tensor, ...]:
            state = [value.clone() for value in values[:carried]]
            outs, data = values[carried], list(values[n_values + 1 :])
            # data: the step's non-carried inputs, then its constants
            rows = data[per_step - carried]
            data[per_step - carried] = torch.index_select(rows, 0, i.view(1)).squeeze(0)
            (value,) = step(*state, *data)
            return (i + 1, *state, outs.index_copy(0, i.view(1), value.unsqueeze(0)))

        rows = inputs_[per_step]
        start = torch.zeros((), dtype=torch.int64, device=n.device)
        outs = rows.new_zeros((rows.shape[0], *out.shape), dtype=out.dtype)
        # the operator itself, not the ``while_loop`` function: that one captures the
        # body with dynamo, whose code cache keys on the (shared) code of ``body``
        carry = (start, *inputs_[:carried], outs)
        final = while_loop_op(cond, body, carry, shared)  # type: ignore[arg-type]
        for target, value in zip(inputs_[:carried], final[1:-1]):
            target.copy_(value)
        return (final[-1],)

    device = example[per_step].device
    n = torch.tensor(example[per_step].shape[0], dtype=torch.int64, device=device)
    # fake tracing: the step's real constants (if any) may meet the fake inputs
    return make_fx(looped, tracing_mode="fake", _allow_non_fake_inputs=True)(*example, n)


def _step_output(
    step: fx.GraphModule, example: Sequence[torch.Tensor], per_step: int
) -> torch.Tensor:
    """A fake tensor with the shape and dtype of ``step``'s one output."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.passes.fake_tensor_prop import FakeTensorProp

    result = step.graph.find_nodes(op="output")[0].args[0]
    if not isinstance(result, (tuple, list)) or len(result) != 1:
        raise ValueError(f"loop_graph: the step must return one tensor, got {result!r}")
    if "val" in result[0].meta:
        return result[0].meta["val"]
    inputs = list(example)
    inputs[per_step] = inputs[per_step][0]
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    fake = [mode.from_tensor(t) for t in inputs]
    (out,) = FakeTensorProp(step, mode).propagate_dont_convert_inputs(*fake)
    return out


def _lift_constants(step: fx.GraphModule) -> tuple[fx.GraphModule, list[torch.Tensor]]:
    """``step`` with its tensor constants as trailing inputs, and their values: the loop
    passes them into its body as inputs (a subgraph's own constants do not survive the
    compilers' functionalization of the loop)."""
    graph = copy.deepcopy(step.graph)
    first_op = next(node for node in graph.nodes if node.op != "placeholder")
    values: list[torch.Tensor] = []
    for node in list(graph.find_nodes(op="get_attr")):
        value = getattr(step, str(node.target))
        if not isinstance(value, torch.Tensor):
            continue
        with graph.inserting_before(first_op):  # after the inputs, in order
            lifted = graph.placeholder(f"constant_{len(values)}")
        lifted.meta = dict(node.meta)
        node.replace_all_uses_with(lifted)
        graph.erase_node(node)
        values.append(value)
    return fx.GraphModule(step, graph), values
