"""AutoGuideList composition, AutoContinuous base/transform API, sample_latent."""

import pytest
import torch
from autoguide_models import mixed_model

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.infer.autoguide import (
    AutoCallable,
    AutoDelta,
    AutoDiagonalNormal,
    AutoGuideList,
    AutoLaplaceApproximation,
    AutoLowRankMultivariateNormal,
    AutoMultivariateNormal,
    AutoNormal,
    LowerCholeskyAffine,
)

DATA = torch.tensor([0.5, 1.0, 1.5])


def discrete_model(data):
    c = ppl.sample("c", dist.Bernoulli(0.3))
    mu = ppl.sample("mu", dist.Normal(0.0, 1.0))
    with ppl.plate("data", 20, subsample_size=4) as idx:
        ppl.sample("x", dist.Normal(mu + c, 1.0), obs=data[idx])


def c_guide(data):
    p = ppl.param("c_probs", torch.tensor(0.5), constraint=dist.constraints.unit_interval)
    return {"c": ppl.sample("c", dist.Bernoulli(p))}


def test_guide_list_covers_a_discrete_site_with_a_custom_guide():
    data = torch.randn(20)
    guide = AutoGuideList(discrete_model)
    guide.append(AutoNormal(poutine.block(discrete_model, hide=["c"])))
    guide.append(
        AutoCallable(discrete_model, c_guide, median=lambda data: {"c": torch.tensor(0.0)})
    )
    assert len(guide) == 2 and isinstance(guide[1], AutoCallable)
    tr = poutine.trace(guide).get_trace(data)
    # one minibatch for the whole guide, replayed by the model
    assert [n for n in tr.nodes if n == "data"] == ["data"]
    model_tr = poutine.trace(poutine.replay(discrete_model, trace=tr)).get_trace(data)
    assert torch.equal(model_tr.nodes["data"]["value"], tr.nodes["data"]["value"])
    assert sorted(guide.median(data)) == ["c", "mu"]
    assert sorted(guide.quantiles([0.5], data)) == ["mu"]
    assert sorted(guide.sample_latent(data)) == ["0", "1"]
    assert "c_probs" in ppl.get_param_store()


def test_guide_list_shares_subsampled_plates_between_parts():
    def model(data):
        mu = ppl.sample("mu", dist.Normal(0.0, 1.0))
        with ppl.plate("data", 20, subsample_size=4) as idx:
            z = ppl.sample("z", dist.Normal(mu, 1.0))
            w = ppl.sample("w", dist.Normal(mu, 1.0))
            ppl.sample("x", dist.Normal(z + w, 1.0), obs=data[idx])

    data = torch.randn(20)
    guide = AutoGuideList(model)
    guide.append(AutoNormal(poutine.block(model, hide=["w"])))
    guide.append(AutoDelta(poutine.block(model, expose=["w"])))
    tr = poutine.trace(guide).get_trace(data)
    idx = tr.nodes["data"]["value"]
    med = guide.median(data)
    assert torch.equal(tr.nodes["w"]["value"], med["w"][idx])
    assert torch.equal(tr.nodes["z"]["fn"].loc, med["z"][idx])


def test_plain_callable_is_wrapped():
    guide = AutoGuideList(discrete_model)
    guide.append(c_guide)
    assert isinstance(guide[0], AutoCallable)
    assert guide.quantiles([0.5], torch.randn(20)) == {}


def test_guide_list_errors():
    with pytest.raises(ValueError, match="AutoGuideList has no parts"):
        AutoGuideList(mixed_model).setup(DATA)
    used = AutoNormal(mixed_model).setup(DATA)
    with pytest.raises(ValueError, match="part was already set up"):
        AutoGuideList(mixed_model).append(used)
    part = AutoNormal(mixed_model)
    AutoGuideList(mixed_model).append(part)
    with pytest.raises(ValueError, match="already in an AutoGuideList"):
        AutoGuideList(mixed_model).append(part)
    with pytest.raises(TypeError, match="expected an autoguide or a callable guide"):
        AutoGuideList(mixed_model).append(3)
    with pytest.raises(TypeError, match="AutoCallable: guide must be callable"):
        AutoCallable(mixed_model, 3)
    with pytest.raises(TypeError, match="AutoCallable: median must be callable"):
        AutoCallable(mixed_model, c_guide, median=3)


@pytest.mark.parametrize(
    "cls",
    [AutoDiagonalNormal, AutoMultivariateNormal, AutoLowRankMultivariateNormal],
    ids=lambda c: c.__name__,
)
def test_base_dist_and_transform_reproduce_the_posterior(cls):
    guide = cls(mixed_model).setup(DATA)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _, p in guide.named_parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen))
        base, transform, post = guide.get_base_dist(), guide.get_transform(), guide.get_posterior()
        z = base.sample((7,))
        x = transform(z)
        # change of variables: log q(x) = log base(z) - log|det dx/dz|
        expected = base.log_prob(z) - transform.log_abs_det_jacobian(z, x)
        assert torch.allclose(post.log_prob(x), expected, atol=1e-4)
        assert torch.allclose(transform.inv(x), z, atol=1e-4)


def test_laplace_has_no_bijection_and_sample_latent_is_packed():
    guide = AutoLaplaceApproximation(mixed_model).setup(DATA)
    with pytest.raises(NotImplementedError, match="no bijection from a standard Normal"):
        guide.get_transform()
    assert guide.sample_latent(DATA).shape == (5,)
    assert torch.equal(guide.sample_latent(DATA), guide.loc)


def test_sample_latent_of_per_site_guides_is_unconstrained():
    guide = AutoNormal(mixed_model).setup(DATA)
    latent = guide.sample_latent(DATA)
    assert {k: tuple(v.shape) for k, v in latent.items()} == {"mu": (), "s": (), "p": (3,)}
    delta = AutoDelta(mixed_model, init_loc_fn="feasible").setup(DATA)
    assert delta.sample_latent()["s"].item() == pytest.approx(0.0)


def test_lower_cholesky_affine_checks_shapes():
    with pytest.raises(ValueError, match=r"expected loc \(..., D\) and scale_tril \(..., D, D\)"):
        LowerCholeskyAffine(torch.zeros(3), torch.eye(2))


def test_repr_says_whether_set_up():
    guide = AutoNormal(mixed_model)
    assert repr(guide) == "AutoNormal(mixed_model, not set up)"
    assert repr(guide.setup(DATA)) == "AutoNormal(mixed_model, 3 latent sites)"
