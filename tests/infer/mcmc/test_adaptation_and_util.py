"""Warmup schedule, mass-matrix algebra, arrowhead ops, streaming stats, potential energy."""

import math

import pytest
import torch
from scipy import stats as sps

import ppl
import ppl.distributions as dist
from ppl.infer.mcmc.adaptation import (
    ArrowheadMassMatrix,
    BlockMassMatrix,
    WarmupAdapter,
    adapt_window,
)
from ppl.infer.mcmc.util import initialize_model
from ppl.ops.arrowhead import SymmArrowhead, sqrt, triu_gram, triu_inverse, triu_matvecmul
from ppl.ops.integrator import potential_grad
from ppl.ops.streaming import CountMeanStats, CountMeanVarianceStats, StackStats, StatsOfDict


@pytest.mark.parametrize(
    "adapt_step_size, adapt_mass, warmup_steps, expected",
    [
        (False, False, 100, []),
        (True, True, 18, [(0, 17)]),
        (True, False, 150, [(0, 74), (75, 99), (100, 149)]),
        (False, True, 50, [(0, 6), (7, 44), (45, 49)]),
        (True, True, 1000, [(0, 74), (75, 99), (100, 149), (150, 249), (250, 449), (450, 949),
                            (950, 999)]),
    ],
)  # fmt: skip
def test_adaptation_schedule(adapt_step_size, adapt_mass, warmup_steps, expected):
    adapter = WarmupAdapter(0.1, adapt_step_size=adapt_step_size, adapt_mass_matrix=adapt_mass)
    adapter.configure(warmup_steps, mass_matrix_shape={("z",): (5,)})
    assert adapter.adaptation_schedule == [adapt_window(*w) for w in expected]


def test_adaptation_schedule_matches_pyro():
    pyro_adaptation = pytest.importorskip("pyro.infer.mcmc.adaptation")
    for n in [19, 20, 57, 149, 150, 151, 400, 777]:
        ours = WarmupAdapter(adapt_step_size=True, adapt_mass_matrix=True)
        theirs = pyro_adaptation.WarmupAdapter(adapt_step_size=True, adapt_mass_matrix=True)
        ours.configure(n, mass_matrix_shape={("z",): (2,)})
        theirs.configure(n, mass_matrix_shape={("z",): (2,)})
        assert [tuple(w) for w in ours.adaptation_schedule] == [
            tuple(w) for w in theirs.adaptation_schedule
        ]


@pytest.mark.parametrize("dense", [False, True])
def test_block_mass_matrix_algebra(dense):
    m = BlockMassMatrix()
    m.configure({("a", "b"): (3, 3) if dense else (3,)})
    a = torch.randn(3, 3)
    inv_mass = a @ a.T + torch.eye(3) if dense else torch.rand(3) + 0.5
    m.inverse_mass_matrix = {("a", "b"): inv_mass}
    dense_inv = inv_mass if dense else inv_mass.diag()
    proto = {"a": torch.zeros(2), "b": torch.zeros(())}
    e = torch.randn(3)
    r = m.scale({("a", "b"): e}, proto)
    assert r["a"].shape == (2,) and r["b"].shape == ()
    r_flat = torch.cat([r["a"], r["b"].reshape(1)])
    # unscale inverts scale, the kinetic energy is 0.5 r^T M^{-1} r, velocity is M^{-1} r
    assert torch.allclose(m.unscale(r)[("a", "b")], e, atol=1e-5)
    assert torch.allclose(e @ e, r_flat @ dense_inv @ r_flat, rtol=1e-4)
    v = m.kinetic_grad(r)
    assert torch.allclose(torch.cat([v["a"], v["b"].reshape(1)]), dense_inv @ r_flat, atol=1e-5)


def test_block_mass_matrix_adapts_to_sample_covariance():
    m = BlockMassMatrix()
    m.configure({("z",): (2, 2)})
    cov = torch.tensor([[2.0, 0.6], [0.6, 0.5]])
    samples = torch.distributions.MultivariateNormal(torch.zeros(2), cov).sample((4000,))
    for s in samples:
        m.update({"z": s}, None)
    m.end_adaptation()
    assert torch.allclose(m.inverse_mass_matrix[("z",)], cov, atol=0.12)


def test_arrowhead_ops_against_dense():
    n, head = 5, 2
    a = torch.randn(n, n)
    full = a @ a.T + n * torch.eye(n)
    # arrowhead: zero the off-diagonal part of the tail block
    full[head:, head:] = full[head:, head:].diag().diag()
    x = SymmArrowhead(full[:head], full.diag()[head:])
    root = sqrt(x)
    dense_root = torch.zeros(n, n)
    dense_root[:head] = root.top
    dense_root[head:, head:] = root.bottom_diag.diag()
    assert torch.allclose(dense_root @ dense_root.T, full, atol=1e-4)
    assert torch.allclose(dense_root.triu(), dense_root)
    inv = triu_inverse(root)
    y = torch.randn(n)
    assert torch.allclose(triu_matvecmul(root, y), dense_root @ y, atol=1e-5)
    assert torch.allclose(triu_matvecmul(root, y, transpose=True), dense_root.T @ y, atol=1e-5)
    assert torch.allclose(triu_matvecmul(inv, triu_matvecmul(root, y)), y, atol=1e-4)
    assert torch.allclose(triu_gram(inv), torch.linalg.inv(full), atol=1e-4)


def test_arrowhead_mass_matrix_is_consistent():
    m = ArrowheadMassMatrix()
    m.configure({("w",): (2, 2), ("z",): (1,)})
    proto = {"w": torch.zeros(2), "z": torch.zeros(1)}
    grads = torch.randn(200, 3) * torch.tensor([1.0, 2.0, 3.0])
    for g in grads:
        m.update({}, {"w": g[:2], "z": g[2:]})
    m.end_adaptation()
    inv = m.inverse_mass_matrix[("w", "z")]
    e = torch.randn(3)
    r = m.scale({("w", "z"): e}, proto)
    r_flat = torch.cat([r["w"], r["z"]])
    assert torch.allclose(m.unscale(r)[("w", "z")], e, atol=1e-4)
    v = m.kinetic_grad(r)
    assert torch.allclose(torch.cat([v["w"], v["z"]]), inv @ r_flat, atol=1e-4)


def test_streaming_stats_merge_equals_one_stream():
    xs = torch.randn(9, 2)
    one, left, right = CountMeanVarianceStats(), CountMeanVarianceStats(), CountMeanVarianceStats()
    for i, x in enumerate(xs):
        one.update(x)
        (left if i < 4 else right).update(x)
    merged = left.merge(right).get()
    assert merged["count"] == 9
    assert torch.allclose(merged["mean"], xs.mean(0), atol=1e-6)
    assert torch.allclose(merged["variance"], xs.var(0), atol=1e-5)
    assert torch.allclose(one.get()["variance"], xs.var(0), atol=1e-5)
    stats = StatsOfDict({"m": CountMeanStats}, default=StackStats)
    for x in xs:
        stats.update({"m": x, "s": x[0]})
    got = stats.get()
    assert torch.allclose(got["m"]["mean"], xs.mean(0), atol=1e-6)
    assert torch.equal(got["s"]["samples"], xs[:, 0])


def _model(data):
    scale = ppl.sample("scale", dist.Gamma(2.0, 3.0))
    loc = ppl.sample("loc", dist.Normal(0.0, 2.0))
    with ppl.plate("data", len(data)):
        ppl.sample("obs", dist.Normal(loc, scale), obs=data)


def test_potential_energy_closed_form():
    data = torch.tensor([0.1, -0.4, 0.9])
    params, potential_fn, transforms, trace = initialize_model(_model, (data,))
    assert sorted(params) == ["loc", "scale"] and "obs" in trace.nodes
    u = {"loc": torch.tensor(0.3), "scale": torch.tensor(-0.2)}  # scale = exp(-0.2)
    s = math.exp(-0.2)
    log_joint = (
        sps.gamma(2.0, scale=1 / 3.0).logpdf(s)
        + sps.norm(0.0, 2.0).logpdf(0.3)
        + sps.norm(0.3, s).logpdf(data.numpy()).sum()
        + (-0.2)  # log |d exp(u) / du|
    )
    assert abs(float(potential_fn(u)) + log_joint) < 1e-4
    assert abs(float(transforms["scale"].inv(torch.tensor(-0.2))) - s) < 1e-6


def test_potential_energy_matches_pyro():
    pyro = pytest.importorskip("pyro")
    import pyro.distributions as pdist
    from pyro.infer.mcmc.util import initialize_model as pyro_initialize_model

    def pyro_model(data):
        scale = pyro.sample("scale", pdist.Gamma(2.0, 3.0))
        loc = pyro.sample("loc", pdist.Normal(0.0, 2.0))
        with pyro.plate("data", len(data)):
            pyro.sample("obs", pdist.Normal(loc, scale), obs=data)

    data = torch.tensor([0.1, -0.4, 0.9])
    _, ours, _, _ = initialize_model(_model, (data,))
    _, theirs, _, _ = pyro_initialize_model(pyro_model, (data,))
    for _ in range(3):
        u = {"loc": torch.randn(()), "scale": torch.randn(())}
        assert torch.allclose(ours(u), theirs(u), atol=1e-5)
        g_ours, _ = potential_grad(ours, u)
        g_theirs, _ = potential_grad(theirs, u)
        for k in u:
            assert torch.allclose(g_ours[k], g_theirs[k], atol=1e-5)


def test_jit_potential_equals_eager():
    data = torch.tensor([0.1, -0.4, 0.9])
    _, eager, _, _ = initialize_model(_model, (data,))
    _, jitted, _, _ = initialize_model(_model, (data,), jit_compile=True, skip_jit_warnings=True)
    u = {"loc": torch.tensor(0.2), "scale": torch.tensor(0.1)}
    assert torch.allclose(eager(u), jitted(u), atol=1e-6)
    g_eager, _ = potential_grad(eager, u)
    g_jit, _ = potential_grad(jitted, u)
    assert torch.allclose(g_eager["scale"], g_jit["scale"], atol=1e-5)


def test_potential_grad_turns_singular_matrix_into_nan():
    grads, energy = potential_grad(
        lambda z: torch.linalg.cholesky(z["m"]).sum(), {"m": -torch.eye(2)}
    )
    assert torch.isnan(energy)
    assert torch.equal(grads["m"], torch.zeros(2, 2))
