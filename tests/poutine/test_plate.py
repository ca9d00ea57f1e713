"""plate: dim allocation, broadcasting, subsampling, scaling, sequential use, errors."""

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine
from ppl.distributions import constraints


def test_nested_plates_allocate_dims_right_to_left_and_broadcast():
    # as in Pyro, the first plate entered takes the rightmost free dim
    with poutine.trace() as tm:
        with ppl.plate("outer", 3), ppl.plate("inner", 4):
            x = ppl.sample("x", dist.Normal(0.0, 1.0))
    assert x.shape == (4, 3)
    frames = [(f.name, f.dim) for f in tm.trace.nodes["x"]["cond_indep_stack"]]
    assert frames == [("outer", -1), ("inner", -2)]


def test_three_nested_plates_with_explicit_dims():
    with ppl.plate("a", 2, dim=-3), ppl.plate("b", 3), ppl.plate("c", 4, dim=-2):
        x = ppl.sample("x", dist.Normal(0.0, 1.0))
    assert x.shape == (2, 4, 3)


def test_event_dims_are_kept_right_of_plates():
    with ppl.plate("n", 5):
        x = ppl.sample("x", dist.Normal(torch.zeros(2), 1.0).to_event(1))
    assert x.shape == (5, 2)


def test_subsample_scales_log_prob_and_returns_indices():
    data = torch.arange(100.0)
    with poutine.trace() as tm:
        with ppl.plate("data", 100, subsample_size=10) as idx:
            ppl.sample("obs", dist.Normal(0.0, 1.0), obs=data[idx])
    assert idx.shape == (10,) and len(set(idx.tolist())) == 10
    tr = tm.trace
    assert tr.nodes["obs"]["scale"] == 10.0
    expected = 10.0 * dist.Normal(0.0, 1.0).log_prob(data[idx]).sum()
    assert torch.allclose(tr.log_prob_sum(), expected)
    # the indices are recorded as an (unobserved) site named like the plate, as in Pyro
    assert "data" in tr.nodes and tr.stochastic_nodes == ["data"]


def test_replayed_guide_gives_model_the_same_minibatch():
    def guide():
        with ppl.plate("data", 50, subsample_size=5) as idx:
            return idx

    def model():
        with ppl.plate("data", 50, subsample_size=5) as idx:
            return idx

    guide_tr = poutine.trace(guide).get_trace()
    model_idx = poutine.replay(model, trace=guide_tr)()
    assert torch.equal(model_idx, guide_tr.nodes["_RETURN"]["value"])


def test_explicit_subsample():
    with poutine.trace() as tm:
        with ppl.plate("data", 10, subsample=torch.tensor([1, 3])) as idx:
            ppl.sample("x", dist.Normal(0.0, 1.0))
    assert idx.tolist() == [1, 3] and tm.trace.nodes["x"]["scale"] == 5.0


def test_local_param_is_sliced_by_subsample():
    ppl.param("locs", torch.arange(10.0), event_dim=0)
    with ppl.plate("data", 10, subsample=torch.tensor([2, 7])):
        with poutine.trace() as tm:
            locs = ppl.param("locs", torch.arange(10.0), event_dim=0)
    assert locs.tolist() == [2.0, 7.0]
    assert tm.trace.nodes["locs"]["value"].tolist() == [2.0, 7.0]


def test_sequential_plate_iteration():
    with poutine.trace() as tm:
        for i in ppl.plate("seq", 3):
            ppl.sample(f"x_{i}", dist.Normal(0.0, 1.0))
    for i in range(3):
        (frame,) = tm.trace.nodes[f"x_{i}"]["cond_indep_stack"]
        assert frame.dim is None and frame.counter == i
    assert tm.trace.nodes["x_0"]["value"].shape == ()


def test_sequential_subsampled_plate_scales():
    with poutine.trace() as tm:
        for i in ppl.plate("seq", 10, subsample_size=2):
            ppl.sample(f"x_{i}", dist.Normal(0.0, 1.0))
    sites = [n for n in tm.trace.stochastic_nodes if n != "seq"]  # "seq": the plate's site
    assert len(sites) == 2 and all(tm.trace.nodes[s]["scale"] == 5.0 for s in sites)


def test_batch_shape_mismatch_names_site_plate_dim_and_sizes():
    def m():
        with ppl.plate("data", 10):
            ppl.sample("z", dist.Normal(torch.zeros(7), 1.0))

    with pytest.raises(ValueError, match=r"site 'z'.*size 7 at dim -1.*plate 'data'.*size 10") as e:
        poutine.trace(m).get_trace()
    assert "Trace Shapes:" in str(e.value)


def test_plate_built_twice_is_an_error_as_in_pyro():
    def m():
        with ppl.plate("data", 10):
            ppl.sample("a", dist.Normal(0.0, 1.0))
        with ppl.plate("data", 5):
            ppl.sample("b", dist.Normal(0.0, 1.0))

    with pytest.raises(ValueError, match="plate 'data' was built twice .*sizes 10 and 5"):
        poutine.trace(m).get_trace()
    with pytest.raises(RuntimeError):  # Pyro raises a RuntimeError here
        poutine.trace(m).get_trace()


def test_plate_object_reentered_records_one_site():
    def m():
        p = ppl.plate("data", 4)
        with p:
            ppl.sample("a", dist.Normal(0.0, 1.0))
        with p:
            ppl.sample("b", dist.Normal(0.0, 1.0))

    tr = poutine.trace(m).get_trace()
    assert [n for n, s in tr.nodes.items() if s.type == "sample"] == ["data", "a", "b"]
    assert tr.nodes["data"]["value"].tolist() == [0, 1, 2, 3]


def test_plate_dim_conflict_and_bad_arguments():
    with pytest.raises(ValueError, match="collide at dim=-1"):
        with ppl.plate("a", 2, dim=-1), ppl.plate("b", 3, dim=-1):
            pass
    with pytest.raises(ValueError, match="needs a size"):
        ppl.plate("a", subsample_size=2)
    with pytest.raises(ValueError, match="subsample_size must be in"):
        ppl.plate("a", 3, subsample_size=5)
    with pytest.raises(ValueError, match="dim must be negative"):
        ppl.plate("a", 3, dim=0)
    with pytest.raises(ValueError, match="already active"):
        with ppl.plate("a", 2), ppl.plate("a", 2):
            pass


def test_subsample_indices_follow_plate_device(device):
    with ppl.plate("data", 100, subsample_size=10, device=device) as idx:
        pass
    assert idx.device.type == device.type


def test_param_constraint_inside_plate():
    with ppl.plate("p", 3):
        s = ppl.param("s", torch.ones(3), constraint=constraints.positive)
    assert s.shape == (3,)


def test_plate_without_size_takes_the_broadcast_size():
    # Pyro's plate(name) with no size: the dim's size comes from the data, scale stays 1
    def m():
        with ppl.plate("data"):
            ppl.sample("x", dist.Normal(torch.zeros(3), 1.0), obs=torch.ones(3))

    tr = poutine.trace(m).get_trace()
    site = tr.nodes["x"]
    assert tuple(site["fn"].batch_shape) == (3,)
    assert site["scale"] == 1.0
    assert site["cond_indep_stack"][0].size == -1


def test_local_param_of_wrong_size_is_refused_even_without_subsampling():
    def guide():
        with ppl.plate("data", 10):
            ppl.param("p", torch.ones(5), event_dim=0)

    with pytest.raises(ValueError, match=r"invalid shape of pyro.param\(p, ..., event_dim=0\)"):
        poutine.trace(guide).get_trace()
    ppl.clear_param_store()
    with ppl.validation_enabled(False):
        tr = poutine.trace(guide).get_trace()
    assert tr.nodes["p"]["value"].shape == (5,)
    ppl.clear_param_store()


@pytest.mark.parametrize("has_rsample", [False, True])
def test_plate_expansion_keeps_has_rsample_choice(has_rsample):
    loc = torch.tensor(0.0, requires_grad=True)
    with ppl.plate_stack("plates", (2, 2)):
        tr = poutine.trace(
            lambda: ppl.sample("x", dist.Normal(loc, 1.0).has_rsample_(has_rsample))
        ).get_trace()
    site = tr.nodes["x"]
    assert site["fn"].batch_shape == (2, 2)
    assert site["fn"].has_rsample is has_rsample
    assert site["value"].requires_grad is has_rsample
