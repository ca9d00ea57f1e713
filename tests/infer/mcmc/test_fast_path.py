"""The HMC/NUTS fast path (``jit_compile=True``): one traced graph for energy and gradient.

The graph runs the same ATen ops as eager mode, so a seeded run draws exactly what the
eager run draws; a model whose structure depends on latent values falls back to eager.
"""

import math
import warnings

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.infer.mcmc import HMC, MCMC, NUTS
from ppl.infer.mcmc.fast import CompiledPotential
from ppl.ops.stats import effective_sample_size

SIGMA = torch.tensor([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
Y = torch.tensor([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])


def schools(sigma, y):
    mu = ppl.sample("mu", dist.Normal(0.0, 5.0))
    tau = ppl.sample("tau", dist.HalfCauchy(5.0))
    with ppl.plate("J", len(sigma)):
        theta_raw = ppl.sample("theta_raw", dist.Normal(0.0, 1.0))
        ppl.sample("obs", dist.Normal(mu + tau * theta_raw, sigma), obs=y)


def branchy(data):
    # the likelihood's scale depends on the sign of a latent: a frozen trace would be wrong
    loc = ppl.sample("loc", dist.Normal(0.0, 1.0))
    scale = 1.0 if bool(loc > 0) else 2.0
    with ppl.plate("data", len(data)):
        ppl.sample("obs", dist.Normal(loc, scale), obs=data)


def _draws(kernel_cls, model, args, jit, num_samples=60, warmup_steps=40, **kw):
    ppl.set_rng_seed(3)
    kernel = kernel_cls(model, jit_compile=jit, **kw)
    mcmc = MCMC(kernel, num_samples=num_samples, warmup_steps=warmup_steps, disable_progbar=True)
    mcmc.run(*args)
    return kernel, mcmc.get_samples()


@pytest.mark.parametrize(
    "kernel_cls, kw",
    [(NUTS, {}), (NUTS, {"full_mass": True}), (NUTS, {"full_mass": [("mu", "tau")]}),
     (NUTS, {"use_multinomial_sampling": False}), (HMC, {"num_steps": 5}),
     (HMC, {"num_steps": 3, "full_mass": [("mu",)]})],
)  # fmt: skip
def test_compiled_draws_equal_eager(kernel_cls, kw, monkeypatch):
    size = {"num_samples": 25, "warmup_steps": 25}
    _, eager = _draws(kernel_cls, schools, (SIGMA, Y), False, **size, **kw)
    flat_steps = []
    flat_sample = kernel_cls._flat_sample

    def counted(self, *args):
        flat_steps.append(1)
        return flat_sample(self, *args)

    monkeypatch.setattr(kernel_cls, "_flat_sample", counted)
    kernel, fast = _draws(kernel_cls, schools, (SIGMA, Y), True, **size, **kw)
    assert isinstance(kernel.potential_fn, CompiledPotential)
    assert kernel.potential_fn.compiled
    # trajectories run on flat vectors when one mass-matrix block covers all sites
    one_block = kw.get("full_mass") in (None, True)
    assert len(flat_steps) == (50 if one_block else 0)
    for name in eager:
        assert torch.allclose(eager[name], fast[name], rtol=1e-5, atol=1e-6), name


def test_value_dependent_model_falls_back_to_eager():
    data = torch.tensor([0.3, -1.2, 0.8])
    _, eager = _draws(NUTS, branchy, (data,), False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kernel, fast = _draws(NUTS, branchy, (data,), True)
    assert any("runs eagerly" in str(w.message) for w in caught)
    assert not kernel.potential_fn.compiled
    assert torch.equal(eager["loc"], fast["loc"])


def test_grad_and_value_matches_autograd():
    loc = torch.tensor([0.5, -1.0, 2.0])

    def energy(z):
        return 0.5 * ((z["a"] - loc) ** 2).sum() + torch.nn.functional.softplus(z["b"]).sum()

    pe = CompiledPotential(energy)
    z = {"a": torch.tensor([1.0, 2.0, 3.0]), "b": torch.tensor([[0.0, 1.0], [-1.0, 2.0]])}
    grads, value = pe.grad_and_value(z)
    assert pe.compiled
    assert grads["a"].tolist() == pytest.approx([0.5, 3.0, 1.0])
    assert torch.allclose(grads["b"], torch.sigmoid(z["b"]))
    expected = 0.5 * (0.25 + 9.0 + 1.0) + float(torch.nn.functional.softplus(z["b"]).sum())
    assert float(value) == pytest.approx(expected, rel=1e-6)
    # a second point reuses the graph
    z2 = {"a": torch.zeros(3), "b": torch.zeros(2, 2)}
    grads2, _ = pe.grad_and_value(z2)
    assert grads2["a"].tolist() == pytest.approx((-loc).tolist())
    assert torch.allclose(grads2["b"], torch.full((2, 2), 0.5))


def test_jit_options_reach_the_tracer(monkeypatch):
    seen = {}
    real_trace = torch.jit.trace

    def spy(fn, example, **options):
        seen.update(options)
        return real_trace(fn, example, **options)

    monkeypatch.setattr(torch.jit, "trace", spy)

    def model():
        ppl.sample("x", dist.Normal(0.0, 1.0))

    kernel = NUTS(model, jit_compile=True, jit_options={"check_trace": True, "strict": False})
    MCMC(kernel, num_samples=5, warmup_steps=5, disable_progbar=True).run()
    assert seen == {"check_trace": True, "strict": False}
    assert kernel.potential_fn.compiled


def test_compiled_nuts_recovers_conjugate_posterior():
    # loc ~ N(0, 1), x_i ~ N(loc, 1): posterior N(sum x / (n + 1), 1 / (n + 1))
    data = torch.tensor([0.5, 1.5, 2.0, 1.0])

    def model(data):
        loc = ppl.sample("loc", dist.Normal(0.0, 1.0))
        with ppl.plate("data", len(data)):
            ppl.sample("obs", dist.Normal(loc, 1.0), obs=data)

    kernel, samples = _draws(NUTS, model, (data,), True, num_samples=400, warmup_steps=200)
    assert kernel.potential_fn.compiled
    draws = samples["loc"]
    n = len(data)
    exact_mean, exact_std = float(data.sum()) / (n + 1), 1 / math.sqrt(n + 1)
    n_eff = float(effective_sample_size(draws.reshape(1, -1)))
    assert n_eff > 50
    assert abs(float(draws.mean()) - exact_mean) < 4 * exact_std / math.sqrt(n_eff)
    # the std's standard error from the squared deviations' n_eff
    sq = ((draws - draws.mean()) ** 2).reshape(1, -1)
    n_eff_sq = min(float(effective_sample_size(sq)), draws.numel())
    mcse_std = float(sq.std()) / math.sqrt(n_eff_sq) / (2 * exact_std)
    assert abs(float(draws.std()) - exact_std) < 4 * mcse_std


def test_mixed_dtypes_run_eagerly():
    def energy(z):
        return (z["a"] ** 2).sum() + (z["b"] ** 2).sum().float()

    pe = CompiledPotential(energy)
    z = {"a": torch.tensor([1.0, 2.0]), "b": torch.tensor([3.0], dtype=torch.float64)}
    with pytest.warns(RuntimeWarning, match="several dtypes"):
        grads, value = pe.grad_and_value(z)
    assert not pe.compiled
    assert grads["b"].dtype == torch.float64
    assert grads["a"].tolist() == [2.0, 4.0] and grads["b"].tolist() == [6.0]
    assert float(value) == 14.0
