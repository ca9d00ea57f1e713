"""The constraint codec: every registered torch constraint round-trips; clear errors."""

import pytest
import torch
from torch.distributions import constraints

from ppl.distributions import constraints as ppl_constraints
from ppl.params import constraint_codec as codec

CASES = [
    (constraints.real, {"name": "real", "args": {}}),
    (constraints.positive, {"name": "greater_than", "args": {"lower_bound": 0.0}}),
    (constraints.nonnegative, {"name": "greater_than_eq", "args": {"lower_bound": 0.0}}),
    (constraints.less_than(3.0), {"name": "less_than", "args": {"upper_bound": 3.0}}),
    (
        constraints.unit_interval,
        {"name": "interval", "args": {"lower_bound": 0.0, "upper_bound": 1.0}},
    ),
    (
        constraints.half_open_interval(-1.0, 2.0),
        {"name": "half_open_interval", "args": {"lower_bound": -1.0, "upper_bound": 2.0}},
    ),
    (constraints.simplex, {"name": "simplex", "args": {}}),
    (constraints.lower_cholesky, {"name": "lower_cholesky", "args": {}}),
    (constraints.positive_definite, {"name": "positive_definite", "args": {}}),
    (constraints.positive_semidefinite, {"name": "positive_semidefinite", "args": {}}),
    (constraints.corr_cholesky, {"name": "corr_cholesky", "args": {}}),
    (ppl_constraints.softplus_positive, {"name": "softplus_positive", "args": {}}),
    (ppl_constraints.softplus_lower_cholesky, {"name": "softplus_lower_cholesky", "args": {}}),
    (ppl_constraints.ordered_vector, {"name": "ordered_vector", "args": {}}),
    (ppl_constraints.positive_ordered_vector, {"name": "positive_ordered_vector", "args": {}}),
    (
        constraints.independent(constraints.positive, 2),
        {
            "name": "independent",
            "args": {
                "base_constraint": {"name": "greater_than", "args": {"lower_bound": 0.0}},
                "reinterpreted_batch_ndims": 2,
            },
        },
    ),
]


@pytest.mark.parametrize("constraint,descriptor", CASES, ids=[d["name"] for _, d in CASES])
def test_encode_gives_plain_descriptor_and_decode_inverts_it(constraint, descriptor):
    assert codec.encode(constraint) == descriptor
    again = codec.decode(descriptor)
    assert type(again) is type(constraint)
    assert vars(again).keys() == vars(constraint).keys()
    assert codec.encode(again) == descriptor


def test_argument_free_constraints_decode_to_torch_singletons():
    for name in ("real", "simplex", "lower_cholesky", "corr_cholesky", "positive_definite"):
        assert codec.decode({"name": name, "args": {}}) is getattr(constraints, name)


def test_cat_and_stack_round_trip_with_nested_constraints():
    cat = constraints.cat([constraints.real, constraints.positive], dim=-1, lengths=[2, 3])
    again = codec.decode(codec.encode(cat))
    assert again.dim == -1 and again.lengths == [2, 3]
    assert again.cseq[0] is constraints.real and again.cseq[1].lower_bound == 0.0
    stack = constraints.stack([constraints.unit_interval, constraints.real], dim=0)
    again = codec.decode(codec.encode(stack))
    assert again.dim == 0 and again.cseq[0].upper_bound == 1.0


def test_tensor_bounds_are_kept_detached():
    low = torch.tensor([0.0, 1.0], requires_grad=True)
    descriptor = codec.encode(constraints.greater_than(low))
    bound = descriptor["args"]["lower_bound"]
    assert torch.equal(bound, low.detach()) and not bound.requires_grad
    assert torch.equal(codec.decode(descriptor).lower_bound, low.detach())


def test_every_registered_name_is_listed_and_allowed():
    names = codec.registered_names()
    assert {"real", "interval", "simplex", "independent", "cat", "stack"} <= set(names)
    allowed = codec.allowed_constraint_globals()
    assert allowed["torch.distributions.constraints._Simplex"] is type(constraints.simplex)
    pyro_name = "pyro.distributions.constraints._SoftplusPositive"
    assert allowed[pyro_name] is type(ppl_constraints.softplus_positive)
    assert len(set(allowed.values())) == len(names)  # exactly the registered classes
    assert codec.is_registered(constraints.positive)
    assert not codec.is_registered(constraints.boolean)


class _Ordered(constraints.Constraint):
    event_dim = 1

    def __init__(self, gap=0.0):
        self.gap = gap

    def check(self, value):
        return (value[..., 1:] - value[..., :-1] > self.gap).all(-1)


def test_user_registration_round_trips_then_unregisters():
    codec.register("ordered_test", _Ordered, lambda c: {"gap": c.gap}, lambda a: _Ordered(a["gap"]))
    try:
        descriptor = codec.encode(_Ordered(0.5))
        assert descriptor == {"name": "ordered_test", "args": {"gap": 0.5}}
        assert codec.decode(descriptor).gap == 0.5
    finally:
        codec.unregister("ordered_test")
    assert "ordered_test" not in codec.registered_names()


def test_default_encoding_is_argument_free():
    class _Flag(constraints.Constraint):
        def check(self, value):
            return value == value

    codec.register("flag_test", _Flag)
    try:
        assert codec.encode(_Flag()) == {"name": "flag_test", "args": {}}
        assert type(codec.decode({"name": "flag_test", "args": {}})) is _Flag
    finally:
        codec.unregister("flag_test")


def test_unregistered_constraint_is_a_type_error_saying_how_to_register():
    with pytest.raises(TypeError, match=r"_Ordered.*has no registered file encoding.*register"):
        codec.encode(_Ordered())


def test_unknown_name_lists_registered_names():
    with pytest.raises(ValueError, match=r"unknown constraint 'nope'; registered: .*real"):
        codec.decode({"name": "nope", "args": {}})


@pytest.mark.parametrize(
    "descriptor", [None, {"name": "real"}, {"name": 3, "args": {}}, {"name": "real", "args": 1}]
)
def test_malformed_descriptor(descriptor):
    with pytest.raises(ValueError, match="malformed constraint descriptor"):
        codec.decode(descriptor)


def test_decoder_rejecting_args_is_a_value_error():
    with pytest.raises(ValueError, match=r"cannot rebuild constraint 'interval'"):
        codec.decode({"name": "interval", "args": {"lower_bound": 0.0}})


def test_register_rejects_bad_input_and_conflicts():
    with pytest.raises(TypeError, match="name must be a non-empty str"):
        codec.register("", _Ordered)
    with pytest.raises(TypeError, match="constraint_type must be a subclass"):
        codec.register("x_test", int)
    with pytest.raises(ValueError, match=r"name 'real' is already used for _Real"):
        codec.register("real", _Ordered)
    with pytest.raises(ValueError, match=r"_Real is already registered as 'real'"):
        codec.register("real2_test", type(constraints.real))
    with pytest.raises(KeyError, match="no constraint is registered as 'never'"):
        codec.unregister("never")


def test_overwrite_replaces_a_registration():
    codec.register("ordered_test", _Ordered)
    try:
        codec.register("ordered_test2", _Ordered, overwrite=True)
        assert "ordered_test" not in codec.registered_names()
        assert codec.encode(_Ordered())["name"] == "ordered_test2"
    finally:
        codec.unregister("ordered_test2")


def test_encoder_returning_non_plain_data_is_a_type_error():
    codec.register("ordered_test", _Ordered, lambda c: {"fn": print})
    try:
        with pytest.raises(TypeError, match=r"ordered_test.fn is a builtin_function"):
            codec.encode(_Ordered())
    finally:
        codec.unregister("ordered_test")
    codec.register("ordered_test", _Ordered, lambda c: [c.gap])
    try:
        with pytest.raises(TypeError, match="returned list; it must return a dict"):
            codec.encode(_Ordered())
    finally:
        codec.unregister("ordered_test")


def test_decoder_returning_non_constraint_is_a_value_error():
    codec.register("ordered_test", _Ordered, decode=lambda a: 3)
    try:
        with pytest.raises(ValueError, match="returned int, not a Constraint"):
            codec.decode({"name": "ordered_test", "args": {}})
    finally:
        codec.unregister("ordered_test")
