"""poutine.reparam: config forms, the unknown-site warning, args side channel, init commuting."""

import warnings

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.infer.autoguide.initialization import InitMessenger, init_to_uniform, init_to_value
from ppl.infer.reparam import LocScaleReparam, Reparam


def model():
    loc = ppl.sample("loc", dist.Normal(0.0, 1.0))
    return ppl.sample("x", dist.Normal(loc, 2.0))


class Resample(Reparam):
    """Ignores any initial value (so it cannot commute with initialization)."""

    def apply(self, msg):
        value = ppl.sample(f"{msg['name']}_noise", dist.Normal(0.0, 1.0)) + 100.0
        return {"fn": dist.Delta(value).mask(False), "value": value, "is_observed": True}


class Spy(Reparam):
    def __init__(self):
        self.seen = None

    def apply(self, msg):
        self.seen = self.args_kwargs
        return {"fn": msg["fn"], "value": msg["value"], "is_observed": msg["is_observed"]}


def test_dict_and_callable_config_give_the_same_sites():
    by_dict = poutine.trace(poutine.reparam(model, {"x": LocScaleReparam(0.0)})).get_trace()
    by_fn = poutine.trace(
        poutine.reparam(model, lambda msg: LocScaleReparam(0.0) if msg["name"] == "x" else None)
    ).get_trace()
    assert by_dict.stochastic_nodes == by_fn.stochastic_nodes == ["loc", "x_decentered"]
    assert by_dict.nodes["x"]["is_observed"]


def test_unknown_site_warns_with_its_name():
    with pytest.warns(UserWarning, match=r"\['y'\]"):
        poutine.reparam(model, {"x": LocScaleReparam(0.0), "y": LocScaleReparam(0.0)})()


def test_known_sites_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        poutine.reparam(model, {"x": LocScaleReparam(0.0)})()


def test_bad_config_type_raises():
    with pytest.raises(TypeError, match="config must be a dict"):
        poutine.reparam(model, config=3)
    with pytest.raises(TypeError, match="expected a ppl.infer.reparam.Reparam"):
        poutine.reparam(model, {"x": "not a reparam"})()
    with pytest.raises(TypeError, match="needs config"):
        poutine.reparam(model)


def test_model_args_reach_the_reparameterizer_only_when_wrapping():
    spy = Spy()

    def m(a, b=0):
        ppl.sample("x", dist.Normal(0.0, 1.0))

    poutine.reparam(m, {"x": spy})(1, b=2)
    assert spy.seen == ((1,), {"b": 2})
    with poutine.reparam(config={"x": spy}):
        m(1)
    assert spy.seen is None


def test_custom_init_is_pulled_back_to_auxiliary_site():
    # x = loc + scale * x_decentered with centered=0: x_decentered = (3 - loc) / 2
    with InitMessenger(init_to_value(values={"loc": 1.0, "x": 3.0})):
        tr = poutine.trace(poutine.reparam(model, {"x": LocScaleReparam(0.0)})).get_trace()
    assert tr.nodes["x"]["value"].item() == 3.0
    assert tr.nodes["x_decentered"]["value"].item() == pytest.approx(1.0)
    assert not tr.nodes["x_decentered"]["is_observed"]


def test_reparam_that_ignores_a_custom_init_warns_but_not_a_default_one():
    rmodel = poutine.reparam(model, {"x": Resample()})
    with InitMessenger(init_to_value(values={"x": 3.0})):
        with pytest.warns(RuntimeWarning, match="does not commute with initialization"):
            rmodel()
    with InitMessenger(init_to_uniform):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert rmodel().item() > 50.0


def test_block_plate_hides_one_plate():
    from ppl.poutine.plate_messenger import block_plate

    with ppl.plate("outer", 2, dim=-2), ppl.plate("inner", 3):
        with block_plate("inner"):
            a = ppl.sample("a", dist.Normal(0.0, 1.0))
        with block_plate(dim=-2):
            b = ppl.sample("b", dist.Normal(0.0, 1.0))
        c = ppl.sample("c", dist.Normal(0.0, 1.0))
    assert (a.shape, b.shape, c.shape) == ((2, 1), (3,), (2, 3))
    with pytest.raises(ValueError, match="matched 0 messengers"):
        with block_plate("nowhere"):
            pass
    with pytest.raises(ValueError, match="exactly one of name= or dim="):
        with block_plate():
            pass


def test_latent_site_with_initial_value_via_infer_is_observed_false():
    with poutine.trace() as tr:
        v = ppl.sample(
            "z", dist.Normal(0.0, 1.0), obs=torch.tensor(0.5), infer={"is_observed": False}
        )
    assert v.item() == 0.5
    assert tr.trace.stochastic_nodes == ["z"]


def test_init_strategy_that_cannot_handle_the_site_is_deferred_to_auxiliary_sites():
    from ppl.infer.autoguide.initialization import init_to_median
    from ppl.infer.reparam import ProjectedNormalReparam

    def m():
        return ppl.sample("d", dist.ProjectedNormal(torch.tensor([0.0, 0.0, 1.0])))

    with InitMessenger(init_to_median):  # no bijection onto the sphere: cannot init "d"
        tr = poutine.trace(poutine.reparam(m, {"d": ProjectedNormalReparam()})).get_trace()
    assert torch.allclose(tr.nodes["d"]["value"].norm(), torch.tensor(1.0))
    assert tr.stochastic_nodes == ["d_normal"]
