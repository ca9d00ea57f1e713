"""SVI(compile=True): loss and gradients in one compiled graph, same steps as eager SVI.

The ``aot_eager`` back end exercises make_fx tracing, the joint graph and dynamo
without generating C++; one test uses inductor.
"""

import math
import shutil

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.distributions import constraints
from ppl.infer import SVI, NonFiniteLossError
from ppl.infer.autoguide import AutoNormal
from ppl.infer.compile import CompiledTrace_ELBO
from ppl.infer.trace_elbo import Trace_ELBO
from ppl.optim import Adam

FAST = {"backend": "aot_eager"}
DATA = torch.cat([torch.ones(6), torch.zeros(4)])


def coin_model(data):
    f = ppl.sample("f", dist.Uniform(0.0, 1.0))
    with ppl.plate("n", data.shape[0]):
        ppl.sample("obs", dist.Bernoulli(f), obs=data)


def coin_guide(data):
    a = ppl.param("a", torch.tensor(3.0), constraint=constraints.positive)
    b = ppl.param("b", torch.tensor(2.0), constraint=constraints.positive)
    ppl.sample("f", dist.Beta(a, b))


def run(steps, *args, compile=False, elbo=None, model=coin_model, guide=coin_guide, lr=0.05):
    ppl.clear_param_store()
    ppl.set_rng_seed(0)
    svi = SVI(model, guide, Adam({"lr": lr}), elbo or Trace_ELBO(), compile=compile)
    result = svi.run(steps, *args, progress_bar=False)
    return svi, result.losses, {k: v.clone() for k, v in result.params.items()}


@pytest.mark.parametrize("validation", [False, True])
@pytest.mark.parametrize("particles", [1, 8])
def test_compiled_step_matches_eager_step_for_step(validation, particles):
    ppl.enable_validation(validation)
    options = {"num_particles": particles, "vectorize_particles": particles > 1}
    _, eager_losses, eager_params = run(30, DATA, elbo=Trace_ELBO(**options))
    svi, losses, params = run(30, DATA, elbo=Trace_ELBO(**options), compile=FAST)
    assert torch.allclose(losses, eager_losses, rtol=1e-5, atol=1e-5)
    for name in ("a", "b"):
        assert float(params[name]) == pytest.approx(float(eager_params[name]), rel=1e-5)
    assert svi.estimator._graphs.states() == ["running"]  # the compiled graph really ran


def test_compiled_elbo_inside_compiled_step_uses_the_eager_estimator():
    _, eager_losses, _ = run(10, DATA)
    _, losses, _ = run(10, DATA, elbo=CompiledTrace_ELBO(**FAST), compile=FAST)
    assert torch.allclose(losses, eager_losses, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(shutil.which("g++") is None, reason="inductor needs a C++ compiler")
def test_inductor_step_recovers_the_beta_posterior():
    # Beta(1 + 6, 1 + 4) posterior: mean 7/12, and the guide is in the same family
    elbo = Trace_ELBO(num_particles=8, vectorize_particles=True)
    _, _, params = run(600, DATA, elbo=elbo, compile=True)
    mean = params["a"] / (params["a"] + params["b"])
    assert float(mean) == pytest.approx(7 / 12, abs=0.03)


def test_score_function_gradients_match_eager():
    def model():
        z = ppl.sample("z", dist.Bernoulli(0.3))
        ppl.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(0.8))

    def guide():
        p = ppl.param("p", torch.tensor(0.5), constraint=constraints.unit_interval)
        ppl.sample("z", dist.Bernoulli(p))

    _, eager_losses, eager_params = run(20, model=model, guide=guide)
    _, losses, params = run(20, model=model, guide=guide, compile=FAST)
    assert torch.allclose(losses, eager_losses, atol=1e-6)
    assert float(params["p"]) == pytest.approx(float(eager_params["p"]), rel=1e-5)


def test_subsampling_and_autonormal_match_eager():
    torch.manual_seed(0)
    x = torch.randn(300, 3)
    y = torch.bernoulli(torch.sigmoid(x @ torch.tensor([1.0, -2.0, 0.5])))

    def model(x, y):
        w = ppl.sample("w", dist.Normal(torch.zeros(3), 1.0).to_event(1))
        with ppl.plate("data", 300, subsample_size=50) as idx:
            ppl.sample("y", dist.Bernoulli(logits=x[idx] @ w), obs=y[idx])

    guides = [AutoNormal(model), AutoNormal(model)]
    _, eager_losses, eager_params = run(25, x, y, model=model, guide=guides[0])
    _, losses, params = run(25, x, y, model=model, guide=guides[1], compile=FAST)
    assert torch.allclose(losses, eager_losses, rtol=1e-5, atol=1e-3)
    for name, value in eager_params.items():
        assert torch.allclose(params[name], value, atol=1e-5), name


def test_deferred_validation_error_names_the_site_and_keeps_params():
    svi, _, _ = run(3, DATA, compile=FAST)
    before = {k: v.clone() for k, v in ppl.get_param_store().items()}
    bad = DATA.clone()
    bad[0] = 3.0
    with pytest.raises(ValueError, match="at site 'obs': observed value is outside the support"):
        svi.step(bad)
    for name, value in ppl.get_param_store().items():
        assert torch.equal(value, before[name])


def test_nonfinite_loss_raises_and_keeps_params():
    def model(scale):
        ppl.sample("z", dist.Normal(0.0, 1.0))

    def guide(scale):
        m = ppl.param("m", torch.tensor(0.0))
        ppl.sample("z", dist.Normal(m, 1.0))
        ppl.factor("boom", torch.log(scale) * m.abs().clamp(min=1.0))

    ppl.enable_validation(False)
    svi = SVI(model, guide, Adam({"lr": 0.1}), Trace_ELBO(), compile=FAST)
    for _ in range(3):
        svi.step(torch.tensor(1.0))
    m_before = float(ppl.param("m"))
    # the step is replayed eagerly with the same draws to name the site
    with pytest.raises(NonFiniteLossError, match=r"SVI step 4.*guide sites \['boom'\]"):
        svi.step(torch.tensor(0.0))  # log(0) = -inf
    assert float(ppl.param("m")) == m_before


def test_broken_backend_falls_back_to_eager():
    def broken(graph_module, example_inputs):
        raise RuntimeError("no code generator here")

    _, eager_losses, _ = run(6, DATA)
    with pytest.warns(RuntimeWarning, match="could not compile.*falling back to eager steps"):
        svi, losses, _ = run(6, DATA, compile={"backend": broken})
    assert torch.allclose(losses, eager_losses)
    assert svi.estimator._graphs.states() == ["failed"]


def test_reloaded_store_is_read_by_the_compiled_step(tmp_path):
    svi, _, _ = run(5, DATA, compile=FAST)
    store = ppl.get_param_store()
    path = tmp_path / "params.pt"
    store.save(path)
    svi.run(5, DATA, progress_bar=False)
    store.load(path)  # new leaf tensors: the compiled graph must use them
    ppl.set_rng_seed(1)
    expected = Trace_ELBO().loss(coin_model, coin_guide, DATA)
    ppl.set_rng_seed(1)
    after_load = svi.step(DATA)
    assert after_load == pytest.approx(expected, rel=1e-5)


def test_compile_needs_an_elbo():
    with pytest.raises(TypeError, match="compile=True needs a ppl ELBO"):
        SVI(coin_model, coin_guide, Adam({"lr": 0.1}), lambda m, g, *a: 0.0, compile=True)


def test_compiled_step_on_cuda(device):
    if device.type != "cuda":
        pytest.skip("CUDA only (the CPU case is tested above)")
    data = DATA.to(device)

    def guide(data):
        a = ppl.param("a", torch.tensor(3.0, device=device), constraint=constraints.positive)
        b = ppl.param("b", torch.tensor(2.0, device=device), constraint=constraints.positive)
        ppl.sample("f", dist.Beta(a, b))

    _, eager_losses, _ = run(10, data, guide=guide)
    _, losses, params = run(10, data, guide=guide, compile=True)
    assert torch.allclose(losses, eager_losses, rtol=1e-4, atol=1e-4)
    assert params["a"].device.type == "cuda"
    assert all(math.isfinite(v) for v in losses.tolist())


def test_compile_steps_with_fused_kernels_unless_optim_args_choose():
    svi, _, _ = run(3, DATA, compile=FAST)
    (group,) = svi.optim.optimizer.param_groups
    probe_ok = svi.optim._fused_available(torch.device("cpu"))
    assert group["fused"] is probe_ok
    ppl.clear_param_store()
    chosen = Adam({"lr": 0.05, "foreach": False})
    svi = SVI(coin_model, coin_guide, chosen, Trace_ELBO(), compile=FAST)
    svi.run(3, DATA, progress_bar=False)
    (group,) = chosen.optimizer.param_groups
    assert not group["fused"] and group["foreach"] is False


def test_modules_registered_or_pyro_modules_train_as_in_eager():
    from ppl.nn import PyroModule, PyroSample

    torch.manual_seed(0)
    x = torch.randn(60, 3)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(60)

    class Regression(PyroModule):
        def __init__(self):
            super().__init__()
            self.linear = PyroModule[torch.nn.Linear](3, 1)
            self.linear.weight = PyroSample(dist.Normal(0.0, 1.0).expand([1, 3]).to_event(2))

        def forward(self, x, y=None):
            mean = self.linear(x).squeeze(-1)  # the weight is global: sample it outside
            with ppl.plate("data", x.shape[0]):
                ppl.sample("obs", dist.Normal(mean, 0.1), obs=y)

    def fit(compile):
        ppl.clear_param_store()
        ppl.set_rng_seed(0)
        torch.manual_seed(1)
        model = Regression()
        svi = SVI(model, AutoNormal(model), Adam({"lr": 0.05}), Trace_ELBO(), compile=compile)
        return svi.run(40, x, y, progress_bar=False)

    eager, compiled = fit(False), fit(FAST)
    assert torch.allclose(compiled.losses, eager.losses, rtol=1e-4, atol=1e-2)
    # the nn.Parameter bias is read by the module directly, not through ppl.param
    assert torch.allclose(compiled.params["linear.bias"], eager.params["linear.bias"], atol=1e-5)
    assert not torch.equal(eager.params["linear.bias"], torch.zeros(1))


def test_plain_module_registered_with_ppl_module():
    net = torch.nn.Linear(2, 1)

    def model():
        ppl.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        ppl.module("net", net)
        ppl.sample("z", dist.Normal(net(torch.ones(2)).squeeze(-1), 0.5))

    def fit(compile):
        ppl.clear_param_store()
        ppl.set_rng_seed(0)
        with torch.no_grad():
            net.weight.fill_(0.5)
            net.bias.fill_(0.5)
        SVI(model, guide, Adam({"lr": 0.05}), Trace_ELBO(), compile=compile).run(
            30, progress_bar=False
        )
        return net.weight.detach().clone(), net.bias.detach().clone()

    (w_eager, b_eager), (w, b) = fit(False), fit(FAST)
    assert torch.allclose(w, w_eager, atol=1e-6) and torch.allclose(b, b_eager, atol=1e-6)
    assert float(b_eager) < 0.45  # it moved toward the prior mean 0


def test_fit_api_takes_compile():
    from ppl.infer import fit

    def model(data):
        mu = ppl.sample("mu", dist.Normal(0.0, 10.0))
        with ppl.plate("data", len(data)):
            ppl.sample("obs", dist.Normal(mu, 1.0), obs=data)

    data = torch.tensor([0.9, 1.1, 1.3, 0.7])
    common = {"num_steps": 500, "progress_bar": False, "random_seed": 0}
    eager = fit(model, data, optimizer=Adam({"lr": 0.1}), **common)
    compiled = fit(model, data, optimizer=Adam({"lr": 0.1}), inf_kwargs={"compile": FAST}, **common)
    assert type(compiled.inference.svi.estimator).__name__ == "CompiledStep"
    assert torch.allclose(torch.tensor(compiled.hist), torch.tensor(eager.hist), rtol=1e-5)
    # conjugate posterior: mean sum(data) / (n + 1/100), sd 1/2; within half an sd
    assert float(compiled.mean["mu"]) == pytest.approx(4.0 / 4.01, abs=0.25)


# --------------------------------------------------------------------------- review cases
def test_expanded_gradient_is_stored_densely_for_fused_adam():
    # w enters the loss only through a sum: its traced gradient is an expanded tensor
    def model():
        ppl.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        w = ppl.param("w", torch.zeros(5))
        ppl.sample("z", dist.Normal(0.0, 1.0))
        ppl.factor("shift", 0.5 * w.sum())

    ppl.enable_validation(False)
    _, eager_losses, eager_params = run(20, model=model, guide=guide)
    svi, losses, params = run(20, model=model, guide=guide, compile=FAST)
    assert torch.allclose(params["w"], eager_params["w"], atol=1e-6)
    assert torch.allclose(params["w"], torch.full((5,), params["w"][0].item()))
    assert svi.optim.get_state()  # stepped with state for w


def test_unused_param_keeps_no_gradient():
    def model():
        ppl.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        m = ppl.param("m", torch.tensor(0.5))
        c = ppl.param("c", torch.tensor(1.0))  # read, but the loss does not depend on it
        ppl.deterministic("c_logged", c.detach())
        ppl.sample("z", dist.Normal(m, 1.0))

    for compile in (False, FAST):
        ppl.clear_param_store()
        ppl.set_rng_seed(0)
        optim = ppl.optim.AdamW({"lr": 0.05, "weight_decay": 0.1})
        SVI(model, guide, optim, Trace_ELBO(), compile=compile).run(20, progress_bar=False)
        # weight decay must not move c: it never gets a gradient
        assert float(ppl.param("c")) == 1.0


def test_param_first_used_on_a_later_step_is_trained():
    calls = []

    def model():
        ppl.sample("z", dist.Normal(3.0, 1.0))

    def guide():
        calls.append(1)
        loc = ppl.param("a", torch.tensor(0.0))
        if len(calls) > 1:  # from the second call on, a second param joins
            loc = loc + ppl.param("b", torch.tensor(0.0))
        ppl.sample("z", dist.Normal(loc, 1.0))

    svi, losses, params = run(200, model=model, guide=guide, lr=0.05, compile=FAST)
    calls.clear()
    _, eager_losses, eager_params = run(200, model=model, guide=guide, lr=0.05)
    assert float(params["b"]) == pytest.approx(float(eager_params["b"]), abs=1e-5)
    assert float(params["b"]) > 1.0  # it really trained


def test_sequential_subsampled_plate_falls_back_to_eager():
    x = torch.arange(40.0)

    def model(x):
        loc = ppl.sample("loc", dist.Normal(0.0, 100.0))
        for i in ppl.plate("data", 40, subsample_size=4):
            ppl.sample(f"obs_{i}", dist.Normal(loc, 1.0), obs=x[i])

    def guide(x):
        ppl.sample("loc", dist.Normal(ppl.param("m", torch.tensor(0.0)), 1.0))

    _, eager_losses, _ = run(8, x, model=model, guide=guide)
    with pytest.warns(RuntimeWarning, match="sequential plate with a random subsample"):
        _, losses, _ = run(8, x, model=model, guide=guide, compile=FAST)
    assert torch.allclose(losses, eager_losses)  # a fresh minibatch every step


def test_draw_dependent_validation_failure_is_named_on_replay():
    def model():
        ppl.sample("y", dist.Normal(0.0, 1.0))

    def guide():
        m = ppl.param("m", torch.tensor(0.0))
        s = ppl.sample("s", dist.Normal(m, 1.0), infer={"is_auxiliary": True})
        ppl.sample("y", dist.Normal(0.0, s.exp() - 0.2))  # invalid scale in 5% of draws

    svi = SVI(model, guide, Adam({"lr": 0.0}), Trace_ELBO(), compile=FAST)
    with pytest.raises(ValueError, match="at site 'y': argument 'scale' of Normal"):
        for _ in range(300):
            svi.step()
    assert svi.step_count >= 1  # a compiled step (2nd on) failed; the replay named the site


def test_containers_of_tensors_run_eagerly_with_one_warning():
    def model(batch):
        x, y = batch
        ppl.sample("z", dist.Normal(0.0, 1.0))

    def guide(batch):
        ppl.sample("z", dist.Normal(ppl.param("m", torch.tensor(0.0)), 1.0))

    svi = SVI(model, guide, Adam({"lr": 0.1}), Trace_ELBO(), compile=FAST)
    with pytest.warns(RuntimeWarning, match="container"):
        for _ in range(3):
            svi.step((torch.randn(2), torch.randn(2)))
    assert svi.estimator._graphs.states() == []
