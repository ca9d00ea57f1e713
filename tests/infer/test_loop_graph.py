"""``loop_graph``: a traced step run ``n`` times inside one graph equals ``n`` calls of
the step: the same draws, the same in-place updates, one output row per step."""

import pytest
import torch
from torch.fx.experimental.proxy_tensor import make_fx

from ppl.infer.compile.loop_graph import loop_graph


def noisy_step(x, m, c, data):
    """x += c[0] * (noise + data), m tracks a running max; returns (sum x, c[1])."""
    noise = torch.randn(x.shape)
    x.add_(c[0] * (noise + data))
    m.copy_(torch.maximum(m, x))
    return (torch.stack([x.sum(), c[1]]),)


def traced():
    example = [torch.zeros(3), torch.zeros(3), torch.ones(2), torch.ones(3)]
    return make_fx(noisy_step)(*example)


@pytest.mark.parametrize("n", [0, 1, 3, 5])
def test_loop_equals_repeated_calls(n):
    step = traced()
    coef = torch.arange(10.0).reshape(5, 2)
    data = torch.tensor([0.5, -1.0, 2.0])
    looped = loop_graph(step, [torch.zeros(3), torch.zeros(3), coef, data], carried=2, per_step=2)

    x, m = torch.zeros(3), torch.full((3,), -1.0)
    torch.manual_seed(3)
    (out,) = looped(x, m, coef, data, torch.tensor(n))
    after = torch.randn(())  # where the generator stands after the loop

    x_ref, m_ref = torch.zeros(3), torch.full((3,), -1.0)
    torch.manual_seed(3)
    rows = [step(x_ref, m_ref, coef[i], data)[0] for i in range(n)]
    assert torch.equal(torch.randn(()), after)  # the loop drew exactly n steps' noise
    assert out.shape == (5, 2)
    if n:
        assert torch.allclose(out[:n], torch.stack(rows), rtol=1e-6)
    assert torch.equal(out[n:], torch.zeros(5 - n, 2))
    assert torch.allclose(x, x_ref, rtol=1e-6) and torch.allclose(m, m_ref, rtol=1e-6)


def test_looped_graph_compiles_with_aot_eager():
    step = traced()
    coef = torch.ones(4, 2)
    data = torch.zeros(3)
    looped = loop_graph(step, [torch.zeros(3), torch.zeros(3), coef, data], carried=2, per_step=2)
    compiled = torch.compile(looped, backend="aot_eager", dynamic=False)
    x, m = torch.zeros(3), torch.zeros(3)
    torch.manual_seed(0)
    (out,) = compiled(x, m, coef, data, torch.tensor(4))
    x_ref, m_ref = torch.zeros(3), torch.zeros(3)
    torch.manual_seed(0)
    rows = torch.stack([step(x_ref, m_ref, coef[i], data)[0] for i in range(4)])
    assert torch.allclose(out, rows, rtol=1e-6) and torch.allclose(x, x_ref, rtol=1e-6)


def test_per_step_must_not_be_carried():
    step = traced()
    example = [torch.zeros(3), torch.zeros(3), torch.ones(4, 2), torch.zeros(3)]
    with pytest.raises(ValueError, match="per_step=1 must index a non-carried input"):
        loop_graph(step, example, carried=2, per_step=1)


def test_step_constants_become_loop_inputs():
    offset = torch.tensor([1.0, 2.0, 3.0])  # a tensor the step reads: a graph constant

    def step(x, c):
        x.add_(c * offset)
        return (x.sum().reshape(1),)

    one = make_fx(step)(torch.zeros(3), torch.ones(()))
    assert one.graph.find_nodes(op="get_attr")
    looped = loop_graph(one, [torch.zeros(3), torch.ones(4)], carried=1, per_step=1)
    x = torch.zeros(3)
    (out,) = torch.compile(looped, backend="aot_eager")(x, torch.ones(4), torch.tensor(3))
    assert torch.equal(x, 3 * offset)
    assert torch.equal(out[:, 0], torch.tensor([6.0, 12.0, 18.0, 0.0]))
