"""The compiled step's cached transposes of large data inputs (ppl.infer.compile.transposed).

The pass must change which kernel reads the data, never the values: graphs give the
same numbers with and without it, SVI(compile=True) with it equals eager SVI step for
step, and an in-place write to the data between steps is seen.
"""

import pytest
import torch
from torch.fx.experimental.proxy_tensor import make_fx

import ppl
import ppl.distributions as dist
from ppl.infer import SVI, Trace_ELBO
from ppl.infer.compile import step as compiled_step
from ppl.infer.compile import transposed
from ppl.infer.compile.transposed import TransposedInputs, cache_transposes
from ppl.optim import Adam

FAST = {"backend": "aot_eager"}


@pytest.mark.parametrize(
    "transpose",
    [
        lambda x: x.t(),
        lambda x: x.transpose(0, 1),
        lambda x: x.transpose(-1, -2),
        lambda x: x.permute(1, 0),
        lambda x: x.T,
    ],
    ids=["t", "transpose01", "transpose-1-2", "permute", "T"],
)
def test_every_spelling_of_a_matrix_transpose_becomes_an_input(transpose):
    x, g = torch.randn(6, 4), torch.randn(6)
    graph = make_fx(lambda x, g: (x @ g[:4], transpose(x) @ g))(x, g)
    cached = cache_transposes(graph, first_data_input=0, min_numel=1)
    assert cached.sources == (0,)
    names = [n.name for n in graph.graph.nodes if n.op == "placeholder"]
    assert len(names) == 3 and names[-1].endswith("_transposed")
    forward, backward = graph(*cached.inputs([x, g]))
    assert torch.allclose(forward, x @ g[:4]) and torch.allclose(backward, x.t() @ g)


def test_params_small_and_one_dimensional_inputs_are_left_alone():
    w, x, v = torch.randn(5, 5), torch.randn(5, 5), torch.randn(5)
    graph = make_fx(lambda w, x, v: (w.t() @ v, x.t() @ v, v.unsqueeze(0).t()))(w, x, v)
    before = str(graph.graph)
    assert cache_transposes(graph, first_data_input=1, min_numel=26).sources == ()
    assert str(graph.graph) == before  # x has 25 < 26 elements; w is a param
    assert cache_transposes(graph, first_data_input=1, min_numel=25).sources == (1,)


def test_the_copy_is_kept_for_the_same_tensor_and_renewed_after_a_write():
    cached = TransposedInputs([0])
    x = torch.arange(6.0).reshape(2, 3)
    first = cached.inputs([x])[1]
    assert first.is_contiguous() and torch.equal(first, x.t())
    assert cached.inputs([x])[1] is first  # same tensor, same version: no new copy
    x[0, 0] = 100.0  # an in-place write bumps the version counter
    second = cached.inputs([x])[1]
    assert second is not first and float(second[0, 0]) == 100.0
    x.t()[1, 1] = -1.0  # a write through a view is seen too
    assert float(cached.inputs([x])[1][1, 1]) == -1.0
    other = x.clone()
    assert cached.inputs([other])[1] is not cached.inputs([x])[1]
    cached.clear()
    assert cached._cache == {}


def _regression(n=300, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = torch.bernoulli(torch.sigmoid(x @ torch.randn(d, generator=g)), generator=g)
    return x, y


def model(x, y):
    w = ppl.sample("w", dist.Normal(torch.zeros(x.shape[1]), 1.0).to_event(1))
    with ppl.plate("data", x.shape[0]):
        ppl.sample("y", dist.Bernoulli(logits=x @ w), obs=y)


def guide(x, y):
    loc = ppl.param("loc", torch.zeros(x.shape[1]))
    ppl.sample("w", dist.Normal(loc, 0.1).to_event(1))


def _losses(compile, x, y, steps=8, write_at=None):
    ppl.clear_param_store()
    ppl.set_rng_seed(0)
    svi = SVI(model, guide, Adam({"lr": 0.05}), Trace_ELBO(), compile=compile)
    losses = []
    for i in range(steps):
        if i == write_at:
            x.mul_(0.5)  # the data change in place between steps
        losses.append(svi.step(x, y))
    return torch.tensor(losses, dtype=torch.float64), ppl.get_param_store()["loc"].detach()


def test_svi_with_cached_transposes_equals_eager_and_sees_in_place_writes(monkeypatch):
    made: list[TransposedInputs] = []

    def spy(graph, first, min_numel=None):
        made.append(cache_transposes(graph, first, min_numel))
        return made[-1]

    monkeypatch.setattr(transposed, "DEFAULT_MIN_NUMEL", 100)  # x has 2,400 elements
    monkeypatch.setattr(compiled_step, "cache_transposes", spy)
    x, y = _regression()
    eager, eager_loc = _losses(False, x.clone(), y, write_at=5)
    fast, fast_loc = _losses(FAST, x.clone(), y, write_at=5)
    assert made and made[-1].sources == (1,)  # inputs: (loc, x, y)
    assert torch.allclose(fast, eager, rtol=1e-6)
    assert torch.allclose(fast_loc, eager_loc, rtol=1e-5, atol=1e-7)
    off, off_loc = _losses({**FAST, "cache_transposes": False}, x.clone(), y, write_at=5)
    assert torch.allclose(off, eager, rtol=1e-6)


def test_k_step_graph_takes_the_cached_transposes_too(monkeypatch):
    from ppl.infer.compile import multistep

    made: list[TransposedInputs] = []

    def spy(graph, first, min_numel=None):
        made.append(cache_transposes(graph, first, min_numel))
        return made[-1]

    monkeypatch.setattr(transposed, "DEFAULT_MIN_NUMEL", 100)
    monkeypatch.setattr(multistep, "cache_transposes", spy)
    x, y = _regression()

    def run(compile):
        ppl.clear_param_store()
        ppl.set_rng_seed(0)
        svi = SVI(model, guide, Adam({"lr": 0.05}), Trace_ELBO(), compile=compile)
        result = svi.run(33, x, y, progress_bar=False)
        return result.losses, ppl.get_param_store()["loc"].detach()

    eager, eager_loc = run(False)
    fast, fast_loc = run({**FAST, "steps_per_call": 8})
    # inputs of the one-step graph: loc, Adam's two moments of loc, the coefficients, x, y
    assert made and made[-1].sources == (4,)
    assert torch.allclose(fast, eager, rtol=1e-6)
    assert torch.allclose(fast_loc, eager_loc, rtol=1e-5, atol=1e-7)
