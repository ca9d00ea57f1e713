"""AutoGaussian (dense): factor-structured parameters and the exact posterior density."""

from __future__ import annotations

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.infer import Trace_ELBO
from ppl.infer.autoguide import AutoGaussian, AutoNormal, AutoNormalMessenger, AutoStructured
from ppl.infer.autoguide.gaussian import AutoGaussianDense
from ppl.infer.reparam import ProjectedNormalReparam

from .test_structured import conjugate_model, exact_posterior


def test_parameters_follow_the_factor_graph() -> None:
    def model() -> None:
        a = ppl.sample("a", dist.Normal(0.0, 1.0))
        with ppl.plate("p", 3):
            b = ppl.sample("b", dist.LogNormal(a, 1.0))
            ppl.sample("y", dist.Normal(b, 1.0), obs=torch.ones(3))

    ppl.clear_param_store()
    guide = AutoGaussian(model).setup()
    assert isinstance(guide, AutoGaussianDense)
    assert guide.dependencies == {
        "a": {"a": set()},
        "b": {"b": set(), "a": set()},
        "y": {"y": set(), "b": set()},
    }
    shapes = {k: tuple(v.shape) for k, v in ppl.get_param_store().items()}
    assert shapes == {
        "AutoGaussianDense.locs.a": (),
        "AutoGaussianDense.scales.a": (),
        "AutoGaussianDense.locs.b": (3,),
        "AutoGaussianDense.scales.b": (3,),
        "AutoGaussianDense.white_vecs.a": (1,),
        "AutoGaussianDense.prec_sqrts.a": (1, 1),
        "AutoGaussianDense.white_vecs.b": (3, 1),
        "AutoGaussianDense.prec_sqrts.b": (3, 2, 1),
        "AutoGaussianDense.white_vecs.y": (3, 1),
        "AutoGaussianDense.prec_sqrts.y": (3, 1, 1),
    }
    tr = poutine.trace(guide).get_trace()
    tr.compute_log_prob()
    assert tr.nodes["b"]["value"].shape == (3,) and bool((tr.nodes["b"]["value"] > 0).all())
    assert tr.nodes["_AutoGaussianDense_latent"]["infer"]["is_auxiliary"]
    # the scattered precision couples a with each b_i and nothing else
    precision = guide._dense_get_mvn().precision_matrix
    assert torch.count_nonzero(precision[1:, 1:] - torch.diag(precision.diagonal()[1:])) == 0
    assert guide.median()["b"].shape == (3,)
    flat = guide._dense_get_mvn().sample()
    assert torch.equal(guide._dense_flatten(guide._dense_unflatten(flat)), flat)


def test_exact_parameters_give_zero_variance_elbo() -> None:
    # posterior precision L and info h = L @ mean, in the (a, b) coordinates; with
    # loc 0 and scale 1 the auxiliary values are the latents themselves
    ppl.clear_param_store()
    mean, cov, log_evidence = exact_posterior()
    lam = torch.linalg.inv(cov)
    h = lam @ mean
    guide = AutoGaussian(conjugate_model, init_scale=1.0).setup()
    assert list(guide.dependencies["y1"]) == ["y1", "a", "b"]
    assert list(guide.dependencies["b"]) == ["b", "a"]
    # factor b spans (b, a) with column c = (x, y); factor a adds p**2 at (a, a)
    x = lam[1, 1].sqrt()
    y = lam[0, 1] / x
    p = (lam[0, 0] - y**2).sqrt()
    w_b = h[1] / x
    w_a = (h[0] - y * w_b) / p
    store = ppl.get_param_store()
    d = torch.float64
    with torch.no_grad():
        store["AutoGaussianDense.locs.a"] = torch.tensor(0.0, dtype=d)
        store["AutoGaussianDense.locs.b"] = torch.tensor(0.0, dtype=d)
        store["AutoGaussianDense.prec_sqrts.a"] = p.reshape(1, 1).clone()
        store["AutoGaussianDense.white_vecs.a"] = w_a.reshape(1).clone()
        store["AutoGaussianDense.prec_sqrts.b"] = torch.stack([x, y]).reshape(2, 1)
        store["AutoGaussianDense.white_vecs.b"] = w_b.reshape(1).clone()
        store["AutoGaussianDense.prec_sqrts.y1"] = torch.zeros(2, 1, dtype=d)
        store["AutoGaussianDense.prec_sqrts.y2"] = torch.zeros(1, 1, dtype=d)
    mvn = guide._dense_get_mvn()
    assert torch.allclose(mvn.covariance_matrix, cov, atol=1e-12)
    assert torch.allclose(mvn.mean, mean, atol=1e-12)
    ppl.set_rng_seed(0)
    for _ in range(3):
        loss = Trace_ELBO().loss(conjugate_model, guide)
        assert loss == pytest.approx(-log_evidence, abs=1e-10)
    med = guide.median()
    assert float(med["a"]) == pytest.approx(float(mean[0]), abs=1e-12)


def test_backend_errors() -> None:
    with pytest.raises(ValueError, match="unknown backend 'sparse'"):
        AutoGaussian(conjugate_model, backend="sparse")
    try:
        import funsor  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="requires the funsor package"):
            AutoGaussian(conjugate_model, backend="funsor")


def _sphere_model() -> None:
    x = ppl.sample("x", dist.Normal(0.0, 1.0).expand([3]).to_event(1))
    y = ppl.sample("y", dist.ProjectedNormal(x))
    ppl.sample("obs", dist.Normal(y, 1.0).to_event(1), obs=torch.tensor([1.0, 0.0, 0.0]))


@pytest.mark.parametrize(
    "auto_class", [AutoGaussian, AutoStructured, AutoNormal, AutoNormalMessenger]
)
def test_sphere_site_needs_reparam(auto_class: type) -> None:
    ppl.clear_param_store()
    with pytest.raises(ValueError, match="site 'y' .*ProjectedNormalReparam"):
        auto_class(_sphere_model)()
    ppl.clear_param_store()
    model = poutine.reparam(_sphere_model, {"y": ProjectedNormalReparam()})
    tr = poutine.trace(auto_class(model)).get_trace()
    tr.compute_log_prob()
    assert tr.nodes["y_normal"]["value"].shape == (3,)
