"""SVGD and its Stein kernels: kernel maths, posterior moments, shapes and errors."""

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.infer.kernels import (
    IMQSteinKernel,
    RBFSteinKernel,
    get_kernel,
    median_bandwidth,
    register_kernel,
)
from ppl.infer.svgd import PARTICLES, SVGD
from ppl.optim import Adam

W = torch.tensor([0.2, 0.8])


def mixture():
    comps = [dist.Normal(0.3, 0.1), dist.Normal(0.5, 0.1)]
    ppl.sample("x", dist.MixtureGeneral(dist.Categorical(W), comps))


def run(model, num_particles, steps, mode="univariate", kernel=None, *args):
    svgd = SVGD(model, kernel or RBFSteinKernel(), Adam({"lr": 0.05}), num_particles, None, mode)
    for _ in range(steps):
        svgd.step(*args)
    return svgd


def _reference_log_kernel(kernel, x, h):
    sq = (x.unsqueeze(0) - x.unsqueeze(1)).square()
    if isinstance(kernel, IMQSteinKernel):
        return kernel.beta * torch.log(kernel.alpha + sq / h)
    return -sq / h


@pytest.mark.parametrize("kernel", [RBFSteinKernel(), IMQSteinKernel(), RBFSteinKernel(2.0)])
def test_kernel_grad_is_minus_the_gradient_of_log_kernel_wrt_the_other_particle(kernel):
    x = torch.randn(4, 3, dtype=torch.float64)
    log_k, k_grad = kernel.log_kernel_and_grad(x)
    assert log_k.shape == k_grad.shape == (4, 4, 3)
    sq = (x.unsqueeze(0) - x.unsqueeze(1)).square()
    h = median_bandwidth(sq, kernel.bandwidth_factor)  # held fixed, as SVGD does
    xr = x.clone().requires_grad_(True)
    ref = _reference_log_kernel(kernel, xr, h)
    assert torch.allclose(ref.detach(), log_k)
    n, m = 1, 2
    (grad_m,) = torch.autograd.grad(ref[n, m].sum(), xr)
    assert torch.allclose(-grad_m[m], k_grad[n, m])  # minus d log k[n, m] / d x_m
    assert torch.allclose(log_k, log_k.transpose(0, 1))  # symmetric kernel
    assert torch.all(log_k.diagonal(dim1=0, dim2=1) == 0) or isinstance(kernel, IMQSteinKernel)


def test_rbf_kernel_values_and_bandwidth():
    x = torch.tensor([[0.0], [1.0], [3.0]])
    log_k, grad = RBFSteinKernel().log_kernel_and_grad(x)
    # squared distances 1, 9, 4 -> median 4; h = 4 / log(4)
    h = 4.0 / torch.log(torch.tensor(4.0))
    assert torch.allclose(log_k[0, 1, 0], -1.0 / h)
    assert torch.allclose(grad[0, 2, 0], 2.0 * 3.0 / h)


def test_kernel_registry_and_errors():
    assert isinstance(get_kernel("imq"), IMQSteinKernel)
    register_kernel("rbf_wide")(lambda: RBFSteinKernel(bandwidth_factor=5.0))
    assert get_kernel("rbf_wide").bandwidth_factor == 5.0
    with pytest.raises(KeyError, match="unknown Stein kernel 'nope'"):
        get_kernel("nope")
    with pytest.raises(TypeError, match="log_kernel_and_grad"):
        get_kernel(3)
    with pytest.raises(ValueError, match="beta must lie in"):
        IMQSteinKernel(beta=0.5)
    with pytest.raises(ValueError, match="bandwidth_factor must be > 0"):
        RBFSteinKernel(bandwidth_factor=0.0)
    with pytest.raises(ValueError, match="N >= 2"):
        RBFSteinKernel().log_kernel_and_grad(torch.zeros(1, 2))


def test_svgd_mixture_mean_and_std():
    # True moments: mean .2*.3 + .8*.5 = 0.46, std sqrt(.01 + .2*.09 + .8*.25 - .46**2) = 0.128.
    # 100 particles: an iid sample of 100 would estimate the mean to +-0.013 (1 s.e.) and
    # the std to +-0.009; SVGD particles are a better-than-iid quadrature, so 0.015 / 0.012
    # are tolerances an iid sample would meet most of the time and SVGD always should.
    svgd = run(mixture, 100, 150)
    x = svgd.get_named_particles()["x"]
    assert x.shape == (100,)
    assert abs(float(x.mean()) - 0.46) < 0.015
    assert abs(float(x.std(correction=0)) - 0.128) < 0.012
    # both modes are populated: about 20% of the mass lies below the dip at ~0.37
    assert 0.1 < float((x < 0.37).float().mean()) < 0.35


def test_svgd_constrained_site_uses_the_jacobian():
    # Gamma(3, 2): mean 1.5, std 0.866. Without the log-Jacobian the particles would
    # follow the density in the constrained coordinates (mode 1.0) and land lower.
    svgd = run(lambda: ppl.sample("s", dist.Gamma(3.0, 2.0)), 100, 250)
    s = svgd.get_named_particles()["s"]
    assert bool((s > 0).all())
    assert abs(float(s.mean()) - 1.5) < 0.05
    assert abs(float(s.std(correction=0)) - 0.866) < 0.06


def test_svgd_plates_multivariate_mode_and_flat_particles():
    def model(loc):
        with ppl.plate("p", 3):
            ppl.sample("z", dist.Normal(loc, 1.0))
        ppl.sample("w", dist.Normal(torch.zeros(2), 0.5).to_event(1))

    loc = torch.tensor([0.0, 1.0, 2.0])
    svgd = run(model, 40, 200, "multivariate", None, loc)
    named = svgd.get_named_particles()
    assert named["z"].shape == (40, 3) and named["w"].shape == (40, 1, 2)  # padded as Pyro
    assert svgd.particles.shape == (40, 5)  # one flat tensor, layout z | w
    assert ppl.get_param_store()[PARTICLES].shape == (40, 5)
    assert svgd.layout.names == ("z", "w")
    assert torch.allclose(named["z"].mean(0), loc, atol=0.15)
    assert torch.allclose(named["w"].mean(0), torch.zeros(2), atol=0.1)


def test_svgd_step_returns_pyro_style_diagnostics():
    svgd = SVGD(mixture, "rbf", Adam({"lr": 0.05}), 10, 0)
    out = svgd.step()
    assert set(out) == {"x"} and out["x"] > 0
    assert isinstance(svgd.loss, float)


def test_svgd_errors():
    with pytest.raises(ValueError, match="num_particles must be >= 2"):
        SVGD(mixture, "rbf", Adam({}), 1)
    with pytest.raises(ValueError, match="mode must be"):
        SVGD(mixture, "rbf", Adam({}), 5, mode="joint")
    with pytest.raises(TypeError, match="model must be callable"):
        SVGD(3, "rbf", Adam({}), 5)
    with pytest.raises(ValueError, match="no particles yet"):
        _ = SVGD(mixture, "rbf", Adam({}), 5).particles

    def discrete():
        ppl.sample("k", dist.Bernoulli(0.5))

    with pytest.raises(ValueError, match="latent site 'k' is discrete"):
        SVGD(discrete, "rbf", Adam({}), 5).step()

    def subsampled():
        with ppl.plate("data", 10, subsample_size=2):
            ppl.sample("z", dist.Normal(0.0, 1.0))

    with pytest.raises(ValueError, match="subsampled plate 'data'"):
        SVGD(subsampled, "rbf", Adam({}), 5).step()

    def no_latent():
        ppl.sample("y", dist.Normal(0.0, 1.0), obs=torch.tensor(0.0))

    with pytest.raises(ValueError, match="no latent sample sites"):
        SVGD(no_latent, "rbf", Adam({}), 5).step()


def test_svgd_uniform_init_and_improper_prior():
    def model():
        ppl.sample("a", dist.ImproperUniform(dist.constraints.real, (), (2,)))
        ppl.sample("b", dist.Normal(0.0, 100.0))

    svgd = SVGD(model, "rbf", Adam({"lr": 0.05}), 20, init="uniform")
    svgd.setup()
    named = svgd.get_named_particles()
    assert named["a"].shape == (20, 2)
    assert bool((named["b"].abs() < 2).all())  # uniform(-2, 2), not Normal(0, 100) draws
    with pytest.raises(ValueError, match="init must be one of"):
        SVGD(model, "rbf", Adam({}), 5, init="zeros")


def test_svgd_detects_particles_broadcast_against_data():
    x = torch.randn(6, 2)

    def bad_model():
        w = ppl.sample("w", dist.Normal(0.0, 1.0).expand([2]).to_event(1))
        b = ppl.sample("b", dist.Normal(0.0, 1.0).expand([2]).to_event(1))
        with ppl.plate("rows", 6):
            # (N, 1, 2) + (6, 2) -> (N, 6, 2) is fine, but w @ b-like cross broadcasting is not:
            loc = (x * w).sum(-1) + b.sum(-1, keepdim=True).unsqueeze(-1)
            ppl.sample("y", dist.Normal(loc, 1.0), obs=torch.zeros(6))

    with pytest.raises(ValueError, match="at site 'y' the log_prob has shape"):
        SVGD(bad_model, "rbf", Adam({"lr": 0.1}), 4).step()


def test_svgd_named_particles_are_padded_to_max_plate_nesting():
    # Pyro's shape: (N,) + ones up to max_plate_nesting + the site's own shape.
    def model():
        with ppl.plate("rates", 3, dim=-1):
            ppl.sample("latent", dist.Gamma(torch.ones(3), 1.0))
        ppl.sample("w", dist.Normal(torch.zeros(2), 1.0).to_event(1))

    svgd = SVGD(model, "rbf", Adam({"lr": 0.0}), 6, 2)
    svgd.step()
    named = svgd.get_named_particles()
    assert named["latent"].shape == (6, 1, 3)
    assert named["w"].shape == (6, 1, 1, 2)
    assert svgd.particles.shape == (6, 5)
