"""Flat parameter vectors: climin views/initialisers and the store-wide flatten (seed 001)."""

import runpy
from pathlib import Path

import pytest
import torch

from ppl.distributions import constraints
from ppl.ops.layout import Layout
from ppl.params.flat import (
    bound_spectral_radius,
    empty_with_views,
    flatten_grads,
    flatten_params,
    orthogonal,
    randomize_normal,
    randomize_uniform,
    shaped_from_flat,
    unflatten_params,
)
from ppl.params.param_store import get_param_store

TUTORIAL = Path(__file__).resolve().parents[2] / "tutorial"


@pytest.fixture
def keep_default_dtype():
    """The tutorials set float64 as torch's default dtype; undo that after the test."""
    dtype = torch.get_default_dtype()
    yield
    torch.set_default_dtype(dtype)


# ----------------------------------------------------------------- climin views
def test_empty_with_views_seed_template():
    flat, (w, b) = empty_with_views([(784, 10), 10])
    assert flat.shape == (7850,) and w.shape == (784, 10) and b.shape == (10,)
    assert flat.dtype == torch.get_default_dtype()
    flat.zero_()
    w[3, 4] = 2.5
    b[...] = 7.0
    assert flat[3 * 10 + 4].item() == 2.5
    assert torch.equal(flat[-10:], torch.full((10,), 7.0))
    flat[0] = -1.0
    assert w[0, 0].item() == -1.0


def test_empty_with_views_dtype_device(device):
    flat, (m, v, s) = empty_with_views([(2, 2), 3, ()], dtype=torch.float64, device=device)
    assert flat.shape == (8,) and s.shape == ()
    assert all(t.dtype == torch.float64 and t.device.type == device.type for t in (flat, m, v))


def test_shaped_from_flat_views_and_grad():
    flat = torch.arange(9.0, requires_grad=True)
    w, b = shaped_from_flat(flat, [(2, 3), 3])
    assert torch.equal(b, torch.tensor([6.0, 7.0, 8.0]))
    (w.sum() + 10 * b.sum()).backward()
    assert torch.equal(flat.grad, torch.tensor([1.0] * 6 + [10.0] * 3))
    data = torch.zeros(9)
    w2, _ = shaped_from_flat(data, [(2, 3), 3])
    w2[1, 1] = 5.0
    assert data[4].item() == 5.0


def test_shaped_from_flat_errors():
    with pytest.raises(ValueError, match="needs a 1-D tensor of length 9, got shape \\(8,\\)"):
        shaped_from_flat(torch.zeros(8), [(2, 3), 3])
    with pytest.raises(ValueError, match="length 9, got shape \\(1, 9\\)"):
        shaped_from_flat(torch.zeros(1, 9), [(2, 3), 3])
    with pytest.raises(TypeError, match="flat must be a tensor"):
        shaped_from_flat([0.0] * 9, [(2, 3), 3])
    with pytest.raises(TypeError, match="wrap it in a list"):
        empty_with_views((2, 3))
    with pytest.raises(TypeError, match="template must be a list of shapes"):
        empty_with_views(None)


# ----------------------------------------------------------------- initialisers
def test_randomize_normal_moments_and_reproducibility():
    flat, _ = empty_with_views([(100, 100)])
    out = randomize_normal(flat, 1.0, 0.1, generator=torch.Generator().manual_seed(0))
    assert out is flat
    assert abs(flat.mean().item() - 1.0) < 0.005 and abs(flat.std().item() - 0.1) < 0.005
    again = randomize_normal(torch.empty(10000), 1.0, 0.1, torch.Generator().manual_seed(0))
    assert torch.equal(again, flat)


def test_initialisers_fill_views_of_a_leaf_in_place():
    flat = torch.zeros(6, requires_grad=True)
    randomize_uniform(flat, -1.0, 1.0, generator=torch.Generator().manual_seed(1))
    assert flat.requires_grad and flat.is_leaf
    assert ((flat > -1) & (flat < 1)).all() and flat.abs().sum() > 0


def test_orthogonal_and_spectral_radius():
    g = torch.Generator().manual_seed(0)
    w = orthogonal(torch.empty(5, 3), generator=g)
    assert torch.allclose(w.T @ w, torch.eye(3), atol=1e-5)
    flat = torch.empty(6)
    orthogonal(flat, shape=(2, 3), generator=g)
    assert torch.allclose(flat.reshape(2, 3) @ flat.reshape(2, 3).T, torch.eye(2), atol=1e-5)
    m = torch.tensor([[2.0, 1.0], [0.0, 4.0]])
    bound_spectral_radius(m, bound=1.2)
    assert torch.linalg.eigvals(m).abs().max().item() == pytest.approx(1.2)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: randomize_normal(torch.zeros(2), 0.0, -1.0), ValueError, "scale must be >= 0"),
        (lambda: randomize_normal([0.0], 0.0, 1.0), TypeError, "expected a tensor"),
        (lambda: randomize_normal(torch.zeros(2, dtype=torch.long)), TypeError, "floating"),
        (lambda: randomize_uniform(torch.zeros(2), 1.0, 1.0), ValueError, "need low < high"),
        (lambda: orthogonal(torch.zeros(6)), ValueError, "pass shape=\\(rows, cols\\)"),
        (lambda: orthogonal(torch.zeros(6), shape=(2, 2)), ValueError, "with 6 entries"),
        (lambda: bound_spectral_radius(torch.zeros(2, 3)), ValueError, "square matrix"),
        (lambda: bound_spectral_radius(torch.zeros(2, 2)), ValueError, "spectral radius 0"),
    ],
)
def test_initialiser_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ----------------------------------------------------------------- store-wide
def _fill_store():
    store = get_param_store()
    store.get_param("w", torch.arange(6.0).reshape(2, 3))
    store.get_param("s", torch.tensor(2.0), constraint=constraints.positive)
    store.get_param("b", torch.tensor([1.0, -1.0]))
    return store


def test_flatten_params_all_and_selected():
    store = _fill_store()
    vec, layout = flatten_params()
    assert layout.names == ("w", "s", "b") and layout.shapes == ((2, 3), (), (2,))
    expected = torch.cat(
        [torch.arange(6.0), torch.log(torch.tensor([2.0])), torch.tensor([1, -1.0])]
    )
    assert torch.allclose(vec, expected)
    assert not vec.requires_grad
    vec[0] = 99.0  # a copy: the store is untouched
    assert store["w"][0, 0].item() == 0.0
    vec2, layout2 = flatten_params(store, names=["b", "s"])
    assert layout2.names == ("b", "s") and torch.allclose(
        vec2, torch.tensor([1.0, -1.0, 0.6931472])
    )
    vec3, layout3 = flatten_params(store, names="s")
    assert layout3.names == ("s",) and vec3.shape == (1,)


def test_unflatten_params_writes_leaves_in_place():
    store = _fill_store()
    leaves_before = dict(store.named_parameters())
    vec, layout = flatten_params(store)
    unflatten_params(vec + 1.0, layout)
    leaves_after = dict(store.named_parameters())
    assert all(leaves_before[k] is leaves_after[k] for k in leaves_before)
    assert torch.allclose(store["s"], torch.tensor(2.0 * torch.e))
    assert torch.equal(store["b"], torch.tensor([2.0, 0.0]))
    assert leaves_after["w"].requires_grad and leaves_after["w"].is_leaf


def test_flatten_grads():
    store = _fill_store()
    _, layout = flatten_params(store)
    (store["w"].sum() * 3 + store["s"]).backward()
    g = flatten_grads(layout, store)
    assert torch.allclose(g, torch.tensor([3.0] * 6 + [2.0, 0.0, 0.0]))


def test_empty_store():
    vec, layout = flatten_params()
    assert vec.shape == (0,) and layout.size == 0
    unflatten_params(vec, layout)
    assert flatten_grads(layout).shape == (0,)


def test_store_errors():
    store = _fill_store()
    vec, layout = flatten_params(store)
    with pytest.raises(ValueError, match="\\['nope'\\] are not in the param store"):
        flatten_params(store, names=["w", "nope"])
    with pytest.raises(ValueError, match="expected a vector of shape \\(9,\\).*got \\(8,\\)"):
        unflatten_params(vec[:8], layout)
    with pytest.raises(TypeError, match="layout must be a Layout"):
        unflatten_params(vec, {"w": (2, 3)})
    with pytest.raises(TypeError, match="vector must be a tensor"):
        unflatten_params(vec.tolist(), layout)
    stale = Layout([("w", (3, 2)), ("s", ()), ("b", 2)])
    with pytest.raises(ValueError, match="'w' has shape \\(2, 3\\) in the store but \\(3, 2\\)"):
        unflatten_params(vec, stale)
    del store["b"]
    with pytest.raises(ValueError, match="\\['b'\\] are not in the param store"):
        flatten_grads(layout, store)


def test_float64_store_round_trip():
    store = get_param_store()
    store.get_param("x", torch.tensor([0.1, 0.2], dtype=torch.float64))
    vec, layout = flatten_params(store)
    assert vec.dtype == torch.float64
    unflatten_params(vec * 2, layout, store)
    assert store["x"].dtype == torch.float64 and torch.equal(
        store["x"], torch.tensor([0.2, 0.4], dtype=torch.float64)
    )


def test_lbfgs_map_over_flat_store(keep_default_dtype):
    """The seed-000 tutorial's MAP: LBFGS on the flat store reaches a stationary point."""
    ns = runpy.run_path(str(TUTORIAL / "seed000_patterns.py"), run_name="seed000")
    out = ns["section_map"]()
    assert out["grad_norm"].item() < 1e-5
    assert out["mu"].item() == pytest.approx(out["mu_given_sigma"].item(), abs=1e-6)
    assert out["mu"].item() == pytest.approx(2.967949, abs=1e-5)
    assert out["sigma"].item() == pytest.approx(2.057787, abs=1e-5)


def test_seed001_tutorial(keep_default_dtype):
    ns = runpy.run_path(str(TUTORIAL / "seed001_flat_views.py"), run_name="seed001")
    out = ns["main"]()
    assert out["grad_err"] < 1e-12 and out["grad_err_out"] < 1e-12
    assert out["losses"][-1] < 0.5 * out["losses"][0]


class _FakeStore:
    """Anything with ``named_parameters()`` works as a store (duck typing)."""

    def __init__(self, **params):
        self.params = params

    def named_parameters(self):
        return self.params.items()


def test_mixed_devices_are_rejected():
    store = _FakeStore(a=torch.zeros(2), b=torch.zeros(3, device="meta"))
    with pytest.raises(ValueError, match="several devices \\['cpu', 'meta'\\]"):
        flatten_params(store)
    vec, layout = flatten_params(store, names=["b"])
    assert vec.device.type == "meta" and layout.names == ("b",)
