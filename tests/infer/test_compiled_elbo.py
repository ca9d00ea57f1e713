"""CompiledTrace_ELBO / JitTraceMeanField_ELBO: same numbers as the eager estimators.

Most tests use torch.compile's ``aot_eager`` back end: it runs dynamo over ppl's
handlers and AOTAutograd exactly as inductor does, without generating C++ (seconds
saved per test). One test compiles with inductor for real.
"""

import shutil

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.distributions import constraints
from ppl.infer import SVI
from ppl.infer.compile import (
    CompiledTrace_ELBO,
    CompiledTraceMeanField_ELBO,
    JitTraceMeanField_ELBO,
)
from ppl.infer.trace_elbo import Trace_ELBO
from ppl.infer.trace_mean_field_elbo import TraceMeanField_ELBO
from ppl.optim import Adam

DATA = torch.cat([torch.ones(6), torch.zeros(4)])


def coin_model(data):
    f = ppl.sample("f", dist.Uniform(0.0, 1.0))
    with ppl.plate("n", data.shape[0]):
        ppl.sample("obs", dist.Bernoulli(f), obs=data)


def coin_guide(data):
    a = ppl.param("a", torch.tensor(3.0), constraint=constraints.positive)
    b = ppl.param("b", torch.tensor(2.0), constraint=constraints.positive)
    ppl.sample("f", dist.Beta(a, b))


def run_svi(elbo, steps, *args, seed=0, model=coin_model, guide=coin_guide):
    ppl.clear_param_store()
    ppl.set_rng_seed(seed)
    svi = SVI(model, guide, Adam({"lr": 0.05}), elbo)
    result = svi.run(steps, *args, progress_bar=False)
    return result.losses, {k: v.clone() for k, v in result.params.items()}


@pytest.fixture(autouse=True)
def _graph_break_counter():
    from torch._dynamo.utils import counters

    counters.clear()
    yield counters


@pytest.mark.parametrize("validation", [False, True])
@pytest.mark.parametrize("particles", [1, 8])
def test_compiled_matches_eager_step_for_step(validation, particles, _graph_break_counter):
    ppl.enable_validation(validation)
    options = {"num_particles": particles, "vectorize_particles": particles > 1}
    eager_losses, eager_params = run_svi(Trace_ELBO(**options), 25, DATA)
    elbo = CompiledTrace_ELBO(backend="aot_eager", **options)
    losses, params = run_svi(elbo, 25, DATA)
    # same seed, same draws: the estimates agree to rounding at every step
    assert torch.allclose(losses, eager_losses, rtol=1e-5, atol=1e-5)
    for name in ("a", "b"):
        assert float(params[name]) == pytest.approx(float(eager_params[name]), rel=1e-5)
    # the whole estimator, validation checks included, is one graph
    assert sum(_graph_break_counter["graph_break"].values()) == 0
    assert elbo._graphs.states() == ["running"]


@pytest.mark.skipif(shutil.which("g++") is None, reason="inductor needs a C++ compiler")
def test_inductor_matches_eager_and_recovers_the_posterior():
    eager_losses, _ = run_svi(Trace_ELBO(), 10, DATA)
    losses, _ = run_svi(CompiledTrace_ELBO(), 10, DATA)
    assert torch.allclose(losses, eager_losses, rtol=1e-5, atol=1e-5)
    # Beta(1 + 6, 1 + 4) posterior: mean 7/12
    _, params = run_svi(CompiledTrace_ELBO(num_particles=8, vectorize_particles=True), 600, DATA)
    mean = params["a"] / (params["a"] + params["b"])
    assert float(mean) == pytest.approx(7 / 12, abs=0.03)


def test_deferred_validation_names_the_site():
    elbo = CompiledTrace_ELBO(backend="aot_eager")
    svi = SVI(coin_model, coin_guide, Adam({"lr": 0.05}), elbo)
    svi.run(3, DATA, progress_bar=False)  # eager, then compiled calls
    bad = DATA.clone()
    bad[-1] = 2.0  # same layout, so the compiled graph runs and its check fails
    before = {k: v.clone() for k, v in ppl.get_param_store().items()}
    with pytest.raises(ValueError, match="at site 'obs': observed value is outside the support"):
        svi.step(bad)
    for name, value in ppl.get_param_store().items():
        assert torch.equal(value, before[name])


def test_bad_argument_found_by_deferred_check():
    def guide(scale):
        ppl.sample("z", dist.Normal(ppl.param("m", torch.tensor(0.0)), scale))

    def model(scale):
        ppl.sample("z", dist.Normal(0.0, 1.0))

    elbo = CompiledTrace_ELBO(backend="aot_eager")
    good = torch.tensor(1.0)
    for _ in range(3):
        elbo.differentiable_loss(model, guide, good)
    with pytest.raises(ValueError, match="at site 'z': argument 'scale' of Normal"):
        elbo.differentiable_loss(model, guide, torch.tensor(-1.0))


def test_broken_backend_falls_back_to_eager_with_a_warning():
    def broken_backend(graph_module, example_inputs):
        raise RuntimeError("no code generator here")

    elbo = CompiledTrace_ELBO(backend=broken_backend)
    eager_losses, _ = run_svi(Trace_ELBO(), 5, DATA)
    with pytest.warns(RuntimeWarning, match="could not compile.*falling back to the eager"):
        losses, _ = run_svi(elbo, 5, DATA)
    assert torch.allclose(losses, eager_losses)
    assert elbo._graphs.states() == ["failed"]


def test_new_param_store_contents_recompile():
    elbo = CompiledTrace_ELBO(backend="aot_eager")
    first, _ = run_svi(elbo, 4, DATA)
    # clear_param_store inside run_svi drops the leaves the compiled layout read:
    # the estimator notices, recompiles, and gives the eager numbers again
    again, _ = run_svi(elbo, 4, DATA)
    assert torch.allclose(first, again)


def test_subsampled_plate_compiled_matches_eager():
    torch.manual_seed(0)
    x = torch.randn(200) + 3.0

    def model(x):
        loc = ppl.sample("loc", dist.Normal(0.0, 10.0))
        with ppl.plate("data", 200, subsample_size=20) as idx:
            ppl.sample("obs", dist.Normal(loc, 1.0), obs=x[idx])

    def guide(x):
        m = ppl.param("m", torch.tensor(0.0))
        s = ppl.param("s", torch.tensor(1.0), constraint=constraints.positive)
        ppl.sample("loc", dist.Normal(m, s))

    eager_losses, eager_params = run_svi(Trace_ELBO(), 20, x, model=model, guide=guide)
    losses, params = run_svi(
        CompiledTrace_ELBO(backend="aot_eager"), 20, x, model=model, guide=guide
    )
    assert torch.allclose(losses, eager_losses, rtol=1e-5, atol=1e-4)
    assert float(params["m"]) == pytest.approx(float(eager_params["m"]), abs=1e-5)


@pytest.mark.parametrize(
    "make",
    [
        lambda: JitTraceMeanField_ELBO(ignore_jit_warnings=True),
        lambda: CompiledTraceMeanField_ELBO(backend="aot_eager"),
    ],
)
def test_mean_field_variants_give_the_analytic_kl(make):
    def model():
        ppl.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        ppl.sample("z", dist.Normal(ppl.param("m", torch.tensor(1.0)), 1.0))

    elbo = make()
    want = TraceMeanField_ELBO().loss(model, guide)  # KL(N(1,1) || N(0,1)) = 0.5
    assert [elbo.loss(model, guide) for _ in range(3)] == pytest.approx([want] * 3)
    assert want == pytest.approx(0.5)


def test_compiled_on_cuda_matches_eager(device):
    if device.type != "cuda":
        pytest.skip("CUDA only (the CPU case is tested above)")
    data = DATA.to(device)

    def guide(data):
        a = ppl.param("a", torch.tensor(3.0, device=device), constraint=constraints.positive)
        b = ppl.param("b", torch.tensor(2.0, device=device), constraint=constraints.positive)
        ppl.sample("f", dist.Beta(a, b))

    eager_losses, _ = run_svi(Trace_ELBO(), 10, data, guide=guide)
    losses, params = run_svi(CompiledTrace_ELBO(), 10, data, guide=guide)
    assert torch.allclose(losses, eager_losses, rtol=1e-4, atol=1e-4)
    assert params["a"].device.type == "cuda"


def test_nonfinite_step_is_replayed_to_name_the_site():
    from ppl.infer import NonFiniteLossError

    def model(scale):
        ppl.sample("z", dist.Normal(0.0, 1.0))

    def guide(scale):
        m = ppl.param("m", torch.tensor(0.0))
        ppl.sample("z", dist.Normal(m, 1.0))
        ppl.factor("boom", torch.log(scale) * m.abs().clamp(min=1.0))

    ppl.enable_validation(False)
    svi = SVI(model, guide, Adam({"lr": 0.1}), CompiledTrace_ELBO(backend="aot_eager"))
    for _ in range(3):
        svi.step(torch.tensor(1.0))
    with pytest.raises(NonFiniteLossError, match=r"SVI step 4.*guide sites \['boom'\]"):
        svi.step(torch.tensor(0.0))


def test_two_beta_draws_with_equal_parameters_stay_independent():
    # AOTAutograd's CSE would merge the two sampler calls into one draw
    def model():
        ppl.sample("p1", dist.Uniform(0.0, 1.0))
        ppl.sample("p2", dist.Uniform(0.0, 1.0))

    def guide():
        a = ppl.param("a", torch.tensor(2.0), constraint=constraints.positive)
        p1 = ppl.sample("p1", dist.Beta(a, a))
        p2 = ppl.sample("p2", dist.Beta(a, a))
        ppl.deterministic("same", (p1 == p2).float())

    elbo = CompiledTrace_ELBO(backend="aot_eager")
    eager = Trace_ELBO()
    for seed in range(4):
        ppl.set_rng_seed(seed)
        compiled_loss = float(elbo.differentiable_loss(model, guide))
        ppl.set_rng_seed(seed)
        assert compiled_loss == pytest.approx(float(eager.differentiable_loss(model, guide)))


def test_jit_tracing_run_uses_up_no_draws():
    from ppl.infer.compile import JitTrace_ELBO

    eager_losses, _ = run_svi(Trace_ELBO(), 6, DATA)
    jit_losses, _ = run_svi(JitTrace_ELBO(ignore_jit_warnings=True), 6, DATA)
    assert torch.allclose(jit_losses, eager_losses, rtol=1e-5, atol=1e-5)
