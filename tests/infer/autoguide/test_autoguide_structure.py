"""Autoguide structure: names, shapes, eager setup, plates and subsampling, dtype, errors."""

import pytest
import torch
from autoguide_models import mixed_model

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.infer.autoguide import (
    AutoDelta,
    AutoDiagonalNormal,
    AutoGuideList,
    AutoLaplaceApproximation,
    AutoLowRankMultivariateNormal,
    AutoMultivariateNormal,
    AutoNormal,
)

DATA = torch.tensor([0.5, 1.0, 1.5])

# guide class -> {param name: shape} for mixed_model (latent_dim = 1 + 1 + 3 = 5)
EXPECTED_PARAMS = {
    AutoNormal: {
        "AutoNormal.locs.mu": (),
        "AutoNormal.scales.mu": (),
        "AutoNormal.locs.s": (),
        "AutoNormal.scales.s": (),
        "AutoNormal.locs.p": (3,),
        "AutoNormal.scales.p": (3,),
    },
    AutoDelta: {"AutoDelta.mu": (), "AutoDelta.s": (), "AutoDelta.p": (3,)},
    AutoDiagonalNormal: {"AutoDiagonalNormal.loc": (5,), "AutoDiagonalNormal.scale": (5,)},
    AutoMultivariateNormal: {
        "AutoMultivariateNormal.loc": (5,),
        "AutoMultivariateNormal.scale": (5,),
        "AutoMultivariateNormal.scale_tril": (5, 5),
    },
    AutoLowRankMultivariateNormal: {
        "AutoLowRankMultivariateNormal.loc": (5,),
        "AutoLowRankMultivariateNormal.scale": (5,),
        "AutoLowRankMultivariateNormal.cov_factor": (5, 2),
    },
    AutoLaplaceApproximation: {"AutoLaplaceApproximation.loc": (5,)},
}


@pytest.mark.parametrize("cls", list(EXPECTED_PARAMS), ids=lambda c: c.__name__)
def test_setup_creates_every_param_eagerly_with_pyro_names(cls):
    guide = cls(mixed_model)
    assert guide.setup(DATA) is guide
    expected = EXPECTED_PARAMS[cls]
    store = ppl.get_param_store()
    assert sorted(store.keys()) == sorted(expected)
    # the module names the same leaves as Pyro's PyroParams: "<attr>_unconstrained"
    assert {n: tuple(p.shape) for n, p in guide.named_parameters()} == {
        name.split(".", 1)[1] + "_unconstrained": shape for name, shape in expected.items()
    }
    leaves = dict(store.named_parameters())
    for name, p in guide.named_parameters():
        assert p is leaves[f"{cls.__name__}.{name[: -len('_unconstrained')]}"]
    assert all(p.requires_grad and p.is_leaf for p in guide.parameters())
    # a guide run creates nothing new and returns every latent, constrained
    values = guide(DATA)
    assert sorted(store.keys()) == sorted(expected)
    assert sorted(values) == ["mu", "p", "s"]
    assert float(values["s"].detach()) > 0 and bool(((values["p"] > 0) & (values["p"] < 1)).all())


@pytest.mark.parametrize("cls", list(EXPECTED_PARAMS), ids=lambda c: c.__name__)
def test_guide_trace_replays_into_the_model(cls):
    guide = cls(mixed_model)
    guide_tr = poutine.trace(guide).get_trace(DATA)
    model_tr = poutine.trace(poutine.replay(mixed_model, trace=guide_tr)).get_trace(DATA)
    for name in ("mu", "s", "p"):
        assert torch.equal(model_tr.nodes[name]["value"], guide_tr.nodes[name]["value"])
    assert torch.isfinite(torch.as_tensor(guide_tr.log_prob_sum() - model_tr.log_prob_sum()))


def test_plain_torch_optimizer_sees_all_params_before_the_first_step():
    guide = AutoMultivariateNormal(mixed_model).setup(DATA)
    params = list(guide.parameters())
    before = [p.detach().clone() for p in params]
    opt = torch.optim.Adam(params, lr=0.01)
    for _ in range(3):
        opt.zero_grad()
        guide_tr = poutine.trace(guide).get_trace(DATA)
        model_tr = poutine.trace(poutine.replay(mixed_model, trace=guide_tr)).get_trace(DATA)
        (guide_tr.log_prob_sum() - model_tr.log_prob_sum()).backward()
        opt.step()
    assert all(not torch.equal(b, p) for b, p in zip(before, params))


def test_attribute_access_to_params():
    guide = AutoNormal(mixed_model).setup(DATA)
    assert guide.locs.p.shape == (3,)
    assert float(guide.scales.mu.detach()) == pytest.approx(0.1)
    assert guide.locs["mu"].shape == ()
    mvn = AutoMultivariateNormal(mixed_model, init_scale=0.2).setup(DATA)
    assert torch.allclose(mvn.scale, torch.full((5,), 0.2))
    assert torch.allclose(mvn.scale_tril, torch.eye(5))  # Pyro's unit-diagonal factor
    assert torch.allclose(mvn.covariance_factor(), 0.2 * torch.eye(5))
    with pytest.raises(AttributeError, match="has no attribute or parameter 'nope'"):
        _ = guide.nope
    with pytest.raises(AttributeError, match="not set up yet"):
        _ = AutoNormal(mixed_model).loc


def test_init_loc_fn_sets_the_starting_point():
    guide = AutoNormal(mixed_model, init_loc_fn="feasible").setup(DATA)
    med = guide.median()
    assert float(med["mu"]) == 0.0 and float(med["s"]) == 1.0
    assert med["p"].tolist() == [0.5, 0.5, 0.5]


# --------------------------------------------------------------------- subsampling
def local_model(data):
    mu = ppl.sample("mu", dist.Normal(0.0, 1.0))
    with ppl.plate("data", 20, subsample_size=5) as idx:
        z = ppl.sample("z", dist.Normal(mu, 1.0))
        ppl.sample("x", dist.Normal(z, 0.5), obs=data[idx])


@pytest.mark.parametrize("cls", [AutoNormal, AutoDelta], ids=lambda c: c.__name__)
def test_subsampled_plate_minibatches_local_params(cls):
    data = torch.arange(20.0)
    guide = cls(local_model, init_loc_fn="uniform").setup(data)
    names = {n: tuple(p.shape) for n, p in guide.named_parameters()}
    assert all(shape == (20,) for n, shape in names.items() if n.endswith("z"))
    guide_tr = poutine.trace(guide).get_trace(data)
    idx = guide_tr.nodes["data"]["value"]
    assert idx.shape == (5,) and len(set(idx.tolist())) == 5
    z_site = guide_tr.nodes["z"]
    assert z_site["value"].shape == (5,) and z_site["scale"] == 4.0
    point = guide.median()["z"]
    if cls is AutoDelta:
        assert torch.equal(z_site["value"], point[idx])
    else:
        assert torch.equal(z_site["fn"].loc, point[idx])
    model_tr = poutine.trace(poutine.replay(local_model, trace=guide_tr)).get_trace(data)
    assert torch.equal(model_tr.nodes["x"]["value"], data[idx])


def test_create_plates_supplies_the_minibatch():
    data = torch.arange(20.0)
    batch = torch.tensor([3, 7, 11, 19, 0])

    def model(data, idx):
        with ppl.plate("data", 20, subsample=idx):
            z = ppl.sample("z", dist.Normal(0.0, 1.0))
            ppl.sample("x", dist.Normal(z, 0.5), obs=data[idx])

    guide = AutoNormal(model, create_plates=lambda data, idx: ppl.plate("data", 20, subsample=idx))
    tr = poutine.trace(guide).get_trace(data, batch)
    assert torch.equal(tr.nodes["z"]["fn"].loc, guide.median(data, batch)["z"][batch])


def test_continuous_guides_refuse_subsampled_latents():
    with pytest.raises(ValueError, match="latent site 'z' is inside a subsampled plate"):
        AutoDiagonalNormal(local_model).setup(torch.arange(20.0))


def test_continuous_guide_with_subsampled_observations_only():
    def model(data):
        mu = ppl.sample("mu", dist.Normal(0.0, 1.0))
        with ppl.plate("data", 20, subsample_size=5) as idx:
            ppl.sample("x", dist.Normal(mu, 1.0), obs=data[idx])

    data = torch.arange(20.0)
    guide = AutoMultivariateNormal(model)
    guide_tr = poutine.trace(guide).get_trace(data)
    model_tr = poutine.trace(poutine.replay(model, trace=guide_tr)).get_trace(data)
    assert torch.equal(model_tr.nodes["data"]["value"], guide_tr.nodes["data"]["value"])


# --------------------------------------------------------------------- device / dtype
@pytest.mark.parametrize("cls", list(EXPECTED_PARAMS), ids=lambda c: c.__name__)
def test_params_follow_the_model_dtype(cls):
    data = DATA.double()
    guide = cls(mixed_model).setup(data)
    assert all(p.dtype == torch.float64 for p in guide.parameters())
    assert all(v.dtype == torch.float64 for v in guide(data).values())
    assert all(v.dtype == torch.float64 for v in guide.quantiles([0.5], data).values())


def test_guide_list_params_follow_the_model_dtype():
    data = DATA.double()
    guide = AutoGuideList(mixed_model)
    guide.append(AutoDiagonalNormal(poutine.block(mixed_model, hide=["p"])))
    guide.append(AutoNormal(poutine.block(mixed_model, expose=["p"])))
    names = [n for n, _ in guide.setup(data).named_parameters()]
    assert names == [
        "0.loc_unconstrained",
        "0.scale_unconstrained",
        "1.locs.p_unconstrained",
        "1.scales.p_unconstrained",
    ]
    assert list(ppl.get_param_store()) == [
        "AutoGuideList.0.loc",
        "AutoGuideList.0.scale",
        "AutoGuideList.1.locs.p",
        "AutoGuideList.1.scales.p",
    ]
    assert all(p.dtype == torch.float64 for p in guide.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("cls", list(EXPECTED_PARAMS), ids=lambda c: c.__name__)
def test_params_follow_the_model_device_cuda(cls):
    data = DATA.cuda()
    guide = cls(mixed_model).setup(data)
    assert all(p.device.type == "cuda" for p in guide.parameters())
    assert all(v.device.type == "cuda" for v in guide(data).values())
    lst = AutoGuideList(mixed_model)
    lst.append(cls(poutine.block(mixed_model, hide=["p"])))
    lst.append(AutoNormal(poutine.block(mixed_model, expose=["p"])))
    assert all(p.device.type == "cuda" for p in lst.setup(data).parameters())


# --------------------------------------------------------------------- errors
def discrete_model():
    c = ppl.sample("c", dist.Bernoulli(0.3))
    ppl.sample("x", dist.Normal(c, 1.0), obs=torch.tensor(0.5))


@pytest.mark.parametrize("cls", list(EXPECTED_PARAMS), ids=lambda c: c.__name__)
def test_discrete_latent_is_a_clear_error(cls):
    with pytest.raises(
        ValueError, match=r"latent site 'c' has the discrete support.*poutine\.block"
    ):
        cls(discrete_model).setup()


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: AutoNormal(mixed_model, init_scale=0.0), "init_scale must be a positive number"),
        (lambda: AutoDiagonalNormal(mixed_model, init_scale=-1), "init_scale must be a positive"),
        (lambda: AutoMultivariateNormal(mixed_model, init_scale=True), "init_scale must be"),
        (lambda: AutoLowRankMultivariateNormal(mixed_model, rank=0), "rank must be a positive int"),
        (lambda: AutoLaplaceApproximation(mixed_model, jitter=-1.0), "jitter must be a number"),
        (lambda: AutoNormal(mixed_model, init_loc_fn="bogus"), "not a registered init strategy"),
    ],
)
def test_constructor_value_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_constructor_type_errors():
    with pytest.raises(TypeError, match="model must be callable"):
        AutoNormal(3)
    with pytest.raises(TypeError, match="create_plates must be callable"):
        AutoNormal(mixed_model, create_plates=3)


def test_create_plates_must_return_plates():
    guide = AutoNormal(mixed_model, create_plates=lambda data: [3])
    with pytest.raises(TypeError, match="create_plates must return ppl.plate objects"):
        guide(DATA)


def test_parameters_before_setup_are_none():
    # as Pyro's: an nn.Module with no parameters yet
    assert list(AutoNormal(mixed_model).parameters()) == []


def test_existing_param_with_another_shape_is_an_error():
    AutoDiagonalNormal(mixed_model).setup(DATA)
    with pytest.raises(ValueError, match=r"'AutoDiagonalNormal.loc' is already in the ParamStore"):
        AutoDiagonalNormal(lambda: ppl.sample("a", dist.Normal(0.0, 1.0))).setup()


@pytest.mark.parametrize("levels", [[0.0, 0.5], [1.5], [[0.5]]])
def test_quantile_levels_are_checked(levels):
    guide = AutoNormal(mixed_model).setup(DATA)
    with pytest.raises(ValueError, match="expected a 1-D sequence of levels in \\(0, 1\\)"):
        guide.quantiles(levels)
