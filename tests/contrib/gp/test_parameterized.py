"""Parameterized: priors become PyroSample with auto-guides; set_prior shim and its errors."""

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.contrib.gp.kernels import RBF
from ppl.contrib.gp.models import GPRegression
from ppl.contrib.gp.parameterized import Parameterized
from ppl.nn import PyroSample


def test_prior_gives_delta_guide_and_mode_switch():
    k = RBF(1)
    k.lengthscale = PyroSample(dist.LogNormal(0.0, 1.0))
    assert "lengthscale_map_unconstrained" in dict(k.named_parameters())
    k.lengthscale_map = torch.tensor(2.5)
    k.set_mode("guide")
    tr = ppl.poutine.trace(k).get_trace(torch.tensor([0.0]), torch.tensor([2.5]))
    assert float(tr.nodes["lengthscale"]["value"]) == pytest.approx(2.5)
    assert float(tr.nodes["_RETURN"]["value"]) == pytest.approx(torch.tensor(-0.5).exp().item())
    k.set_mode("model")
    tr = ppl.poutine.trace(k).get_trace(torch.tensor([0.0]), None)
    assert isinstance(tr.nodes["lengthscale"]["fn"], dist.LogNormal)


def test_normal_autoguide_on_constrained_support():
    m = Parameterized()
    m.s = PyroSample(dist.Gamma(2.0, 1.0))
    m.autoguide("s", dist.Normal)
    names = sorted(n for n, _ in m.named_parameters())
    assert names == ["s_loc", "s_scale_unconstrained"]
    m.s_loc.data.fill_(0.3)
    m.mode = "guide"
    m.forward = lambda: m.s
    tr = ppl.poutine.trace(m).get_trace()
    latent = tr.nodes["s_latent"]["value"]
    assert tr.nodes["s_latent"]["infer"]["is_auxiliary"]
    assert float(tr.nodes["s"]["value"]) == pytest.approx(float(latent.exp()), rel=1e-6)
    # the Delta carries log|d exp(z)/dz| = z, so q(s) is the pushed-forward density
    assert float(tr.nodes["s"]["fn"].log_prob(tr.nodes["s"]["value"])) == pytest.approx(
        -float(latent), rel=1e-5
    )


def test_set_prior_is_deprecated_shim():
    k = RBF(1)
    with pytest.warns(UserWarning, match="deprecated"):
        k.set_prior("variance", dist.LogNormal(0.0, 1.0))
    assert "variance" in k._priors and "variance_map_unconstrained" in dict(k.named_parameters())


def test_set_prior_on_unknown_name_errors():
    k = RBF(1)
    with pytest.raises(ValueError, match="'lengthscal' is not a parameter .* known parameters"):
        with pytest.warns(UserWarning):
            k.set_prior("lengthscal", dist.LogNormal(0.0, 1.0))
    with pytest.raises(ValueError, match="'variance' has no prior"):
        k.autoguide("variance", dist.Normal)
    with pytest.raises(ValueError, match="expected 'model' or 'guide'"):
        k.set_mode("train")


def test_map_with_prior_moves_towards_prior_mode():
    """A strong prior on the lengthscale dominates 3 data points: MAP ends near its mode."""
    X = torch.tensor([0.0, 1.0, 2.0])
    gpr = GPRegression(X, torch.tensor([0.1, -0.2, 0.3]), RBF(1), noise=torch.tensor(0.1))
    gpr.kernel.lengthscale = PyroSample(dist.LogNormal(torch.tensor(1.0), 0.05))
    from ppl.contrib.gp.util import train

    train(gpr, torch.optim.Adam(gpr.parameters(), lr=0.05), num_steps=300)
    assert float(gpr.kernel.lengthscale_map) == pytest.approx(
        torch.tensor(1.0).exp().item(), rel=0.1
    )


@pytest.mark.parametrize("kernel_name", ["RBF", "RationalQuadratic", "Exponential", "Cosine"])
def test_kernel_reads_lengthscale_before_variance(kernel_name):
    # Pyro computes the scaled distance first; the model then visits the sites in the
    # order the guide (_load_pyro_samples, assignment order) does, so TraceMeanField_ELBO
    # can verify its mean-field restriction, and prior draws consume the RNG as in Pyro.
    import warnings

    import ppl.contrib.gp as gp

    X = torch.linspace(0.0, 1.0, 5)
    k = getattr(gp.kernels, kernel_name)(input_dim=1)
    k.lengthscale = PyroSample(dist.LogNormal(0.0, 1.0))
    k.variance = PyroSample(dist.LogNormal(0.0, 1.0))
    model = GPRegression(X, X.sin(), k, noise=torch.tensor(0.1))
    tr = ppl.poutine.trace(model.model).get_trace()
    sites = [n for n, s in tr.nodes.items() if s["type"] == "sample" and not s["is_observed"]]
    assert sites == ["kernel.lengthscale", "kernel.variance"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gp.util.train(model, num_steps=2)


def test_integer_hyperparameter_inits_become_float():
    # Pyro's gp tutorial writes lengthscale=torch.tensor(1); Pyro's log bijection turns
    # the integer into the default float dtype, so it must work here too
    import ppl.contrib.gp as gp

    X = torch.linspace(0.0, 1.0, 4)
    k = gp.kernels.Periodic(1, variance=torch.tensor(6), lengthscale=torch.tensor(1))
    model = GPRegression(X, X.cos(), k, noise=torch.tensor(1))
    for value, expected in [(k.variance, 6.0), (k.lengthscale, 1.0), (model.noise, 1.0)]:
        assert value.dtype == torch.get_default_dtype()
        assert value.item() == pytest.approx(expected)
    losses = gp.util.train(model, num_steps=3)
    assert losses[-1] < losses[0]
