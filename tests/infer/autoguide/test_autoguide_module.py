"""Autoguides are torch modules (Pyro's PyroModules) sharing leaves with the ParamStore."""

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.infer.autoguide import (
    AutoDelta,
    AutoDiagonalNormal,
    AutoGuideList,
    AutoMultivariateNormal,
    AutoNormal,
)
from ppl.nn import PyroModule

DATA = torch.tensor([1.0, 2.0, 3.0])


def model(data=DATA):
    z = ppl.sample("z", dist.Normal(0.0, 1.0))
    with ppl.plate("data", len(data)):
        ppl.sample("x", dist.Normal(z, 1.0), obs=data)


def other_model():
    ppl.sample("w", dist.Normal(torch.zeros(2), 1.0).to_event(1))


@pytest.fixture(autouse=True)
def _clear():
    ppl.clear_param_store()
    yield
    ppl.clear_param_store()


def _leaf(name):
    return ppl.get_param_store().get_unconstrained(name)


def test_module_and_store_hold_the_same_leaves():
    guide = AutoNormal(model).setup()
    assert isinstance(guide, PyroModule) and isinstance(guide, torch.nn.Module)
    named = dict(guide.named_parameters())
    assert sorted(named) == ["locs.z_unconstrained", "scales.z_unconstrained"]
    assert named["locs.z_unconstrained"] is _leaf("AutoNormal.locs.z")
    assert named["scales.z_unconstrained"] is _leaf("AutoNormal.scales.z")
    assert isinstance(named["locs.z_unconstrained"], torch.nn.Parameter)
    # the model is not a sub-module, and attribute reads give constrained values
    assert [n for n, _ in guide.named_children()] == ["locs", "scales"]
    assert guide.scales.z.item() == pytest.approx(0.1)
    assert guide.locs["z"] is not None and torch.equal(guide.locs["z"], guide.locs.z)


def test_torch_adam_on_guide_parameters_finds_the_conjugate_posterior():
    ppl.set_rng_seed(0)
    guide = AutoNormal(model).setup()
    opt = torch.optim.Adam(guide.parameters(), lr=0.1)
    elbo = ppl.infer.Trace_ELBO(num_particles=8, vectorize_particles=True)
    for _ in range(250):
        opt.zero_grad()
        elbo.differentiable_loss(model, guide).backward()
        opt.step()
    # Normal(0, 1) prior, three unit-variance observations: N(6/4, 1/4)
    assert guide.locs.z.item() == pytest.approx(1.5, abs=0.1)
    assert guide.scales.z.item() == pytest.approx(0.5, abs=0.1)


def test_state_dict_round_trip_into_a_fresh_guide():
    guide = AutoDiagonalNormal(model).setup()
    with torch.no_grad():
        guide.loc_unconstrained.fill_(2.5)
    state = {k: v.clone() for k, v in guide.state_dict().items()}
    assert sorted(state) == ["loc_unconstrained", "scale_unconstrained"]
    ppl.clear_param_store()
    fresh = AutoDiagonalNormal(model).setup()
    assert fresh.loc.item() != 2.5
    fresh.load_state_dict(state)
    assert fresh.loc.item() == 2.5
    assert ppl.param("AutoDiagonalNormal.loc").item() == 2.5  # the store sees it


def test_load_state_dict_with_assign_hands_new_leaves_to_the_store():
    guide = AutoDelta(model).setup()
    new = {"z_unconstrained": torch.nn.Parameter(torch.tensor(4.0))}
    guide.load_state_dict(new, assign=True)
    assert _leaf("AutoDelta.z") is guide.z_unconstrained
    assert guide.median()["z"].item() == 4.0


def test_state_dict_of_another_model_is_refused_and_changes_nothing():
    guide = AutoNormal(model).setup()
    before = {k: v.clone() for k, v in guide.state_dict().items()}
    ppl.clear_param_store()
    foreign = AutoNormal(other_model).setup().state_dict()
    ppl.clear_param_store()
    guide.setup()
    guide()  # re-adopt the (recreated) store leaves
    before = {k: v.clone() for k, v in guide.state_dict().items()}
    with pytest.raises(RuntimeError, match=r"key 'locs.z_unconstrained' is missing"):
        guide.load_state_dict(foreign)
    wrong_shape = {k: torch.zeros(2) for k in before}
    with pytest.raises(RuntimeError, match=r"key 'locs.z_unconstrained' has shape \(2,\)"):
        guide.load_state_dict(wrong_shape)
    extra = dict(before, **{"locs.w_unconstrained": torch.zeros(())})
    with pytest.raises(RuntimeError, match=r"'locs.w_unconstrained' is not a parameter"):
        guide.load_state_dict(extra)
    for key, value in guide.state_dict().items():
        assert torch.equal(value, before[key])
    # non-strict loading skips unknown keys (torch's meaning)
    guide.load_state_dict({"locs.z_unconstrained": torch.tensor(1.0)}, strict=False)
    assert guide.locs.z.item() == 1.0


def test_requires_grad_to_and_train_eval_act_on_store_leaves():
    guide = AutoMultivariateNormal(model).setup()
    guide.requires_grad_(False)
    assert not _leaf("AutoMultivariateNormal.loc").requires_grad
    guide.requires_grad_(True)
    guide.to(torch.float64)
    assert _leaf("AutoMultivariateNormal.loc").dtype == torch.float64
    assert _leaf("AutoMultivariateNormal.loc") is guide.loc_unconstrained
    assert guide.eval().training is False and guide.train().training is True


def test_guide_adopts_store_leaves_after_the_store_is_refilled():
    guide = AutoNormal(model).setup()
    old = guide.locs.z_unconstrained
    ppl.clear_param_store()
    guide()  # the run recreates the store entries; the module follows them
    new = dict(guide.named_parameters())["locs.z_unconstrained"]
    assert new is not old and new is _leaf("AutoNormal.locs.z")
    # a leaf put in the store from elsewhere (a loaded file) wins as well
    ppl.get_param_store()["AutoNormal.locs.z"] = torch.tensor(7.0)
    assert dict(guide.named_parameters())["locs.z_unconstrained"].item() == 7.0
    assert dict(guide.named_parameters())["locs.z_unconstrained"] is _leaf("AutoNormal.locs.z")


def test_guide_list_is_a_module_list():
    guide = AutoGuideList(model)
    guide.append(AutoNormal(poutine.block(model, expose=["z"])))
    guide.setup()
    assert isinstance(guide[0], torch.nn.Module) and len(guide) == 1
    assert sorted(guide.state_dict()) == ["0.locs.z_unconstrained", "0.scales.z_unconstrained"]
    assert sorted(ppl.get_param_store()) == [
        "AutoGuideList.0.locs.z",
        "AutoGuideList.0.scales.z",
    ]
    assert dict(guide.named_parameters())["0.locs.z_unconstrained"] is _leaf(
        "AutoGuideList.0.locs.z"
    )
    # the parts follow a refilled store too
    ppl.clear_param_store()
    guide()
    assert dict(guide.named_parameters())["0.locs.z_unconstrained"] is _leaf(
        "AutoGuideList.0.locs.z"
    )


def test_missing_attribute_is_a_clear_error():
    guide = AutoNormal(model).setup()
    with pytest.raises(AttributeError, match="has no attribute or parameter 'nope'"):
        _ = guide.nope
    with pytest.raises(AttributeError, match="nope"):
        _ = guide.locs.nope


def test_guide_pickles_after_runs_and_named_pyro_params():
    import io

    guide = AutoNormal(model)
    guide()
    ppl.param("AutoNormal.locs.z")  # a real leaf now refers to itself (unconstrained)
    buffer = io.BytesIO()
    torch.save(guide, buffer)
    buffer.seek(0)
    clone = torch.load(buffer, weights_only=False)
    assert torch.equal(clone.locs.z_unconstrained, guide.locs.z_unconstrained)
    # PyroParam-style names, as Pyro's named_pyro_params
    assert sorted(n for n, _ in guide.named_pyro_params()) == ["locs.z", "scales.z"]


def test_guide_list_parts_assigned_as_attributes_and_call():
    class GuideZ(AutoNormal):
        pass

    guide = AutoGuideList(model)
    guide.custom = GuideZ(poutine.block(model, expose=["z"]))
    assert len(guide) == 1 and guide[0] is guide.custom
    values = guide()
    assert sorted(values) == ["z"]
    assert sorted(ppl.get_param_store()) == [
        "AutoGuideList.custom.locs.z",
        "AutoGuideList.custom.scales.z",
    ]
    # Pyro's call(): the values as a tuple sorted by site name
    ppl.set_rng_seed(0)
    (z,) = guide.call()
    assert z.shape == ()


def test_discrete_site_under_an_init_strategy_is_a_helpful_error():
    def discrete():
        ppl.sample("c", dist.Bernoulli(0.5))

    with pytest.raises(ValueError, match=r"'c'.*discrete.*enumeration\.html"):
        AutoNormal(discrete, init_loc_fn="feasible").setup()


def test_continuous_guide_round_trips_through_torch_save():
    import io

    guide = AutoDiagonalNormal(model)
    guide()
    buffer = io.BytesIO()
    torch.save(guide, buffer)
    buffer.seek(0)
    clone = torch.load(buffer, weights_only=False)
    assert clone.layout.names == guide.layout.names  # the (immutable) Layout pickles
    assert torch.equal(clone.loc_unconstrained, guide.loc_unconstrained)
    assert sorted(clone.state_dict()) == ["loc_unconstrained", "scale_unconstrained"]
