"""tutorial/enumeration.py: the shapes Pyro's enumeration tutorial prints, exact losses,
infer_discrete's MAP against brute force, and markov's HMM loss against a forward pass."""

from pathlib import Path

import pytest
import torch

import ppl as pyro
import ppl.distributions as dist
from ppl import poutine
from ppl.infer import TraceEnum_ELBO
from ppl.infer.autoguide import AutoNormal

TUTORIAL = Path(__file__).resolve().parents[2] / "tutorial" / "enumeration.py"


@pytest.fixture(scope="module")
def tutorial(load_module):
    return load_module(TUTORIAL, "tutorial_enumeration")


@pytest.fixture(scope="module")
def results(tutorial):
    return tutorial.run(seed=0)


def test_guide_enumeration_strategies(results):
    # model == guide, so the ELBO is exactly 0 whichever way z is handled
    for name in ("sampled", "parallel", "sequential"):
        assert results[f"{name}_loss"] == 0.0
    assert len(results["sampled_z"]) == 1
    assert results["parallel_z"] == [[0, 1, 2, 3, 4]]  # one run, all values at once
    assert results["sequential_z"] == [4, 3, 2, 1, 0]  # one run per value (Pyro's order)


def test_shapes_match_the_tutorial(results):
    # the shapes Pyro's tutorial prints, cell by cell
    assert results["chain_sampled_shapes"] == [(), (), ()]
    assert results["chain_enumerated_shapes"] == [(3,), (3, 1), (3, 1, 1)]
    assert results["vindex_sampled_shapes"] == [(5, 4, 3, 2), (), (), (5, 2), (5,)]
    assert results["vindex_enumerated_shapes"] == [
        (5, 4, 3, 2),
        (4, 1),
        (3, 1, 1),
        (3, 4, 5, 2),
        (2, 1, 1, 1),
    ]
    assert results["plate_index_sampled_shapes"] == [(5, 4, 3), (6,), (5,), (5, 6, 3), (5, 6)]
    assert results["plate_index_enumerated_shapes"] == [
        (5, 4, 3),
        (4, 1, 1),
        (5,),
        (4, 5, 1, 3),
        (5, 6),
    ]
    assert results["mixture_sampled_shapes"] == [(10,), (10,)]
    assert results["mixture_enumerated_shapes"] == [(3, 1), (3, 1)]
    assert results["hmm_plain_shapes"] == [(10,) + (1,) * k for k in range(1, 11)]
    assert results["hmm_markov_shapes"] == [(10, 1), (10, 1, 1)] * 5


def test_unobserved_models_have_zero_loss(results):
    # no observations and an empty guide: the enumerated sum of a normalized joint is 1
    assert results["chain_loss"] == pytest.approx(0.0, abs=1e-6)
    assert results["vindex_loss"] == pytest.approx(0.0, abs=1e-6)


def test_infer_discrete_map_is_the_brute_force_argmax(tutorial, results):
    assert results["chain_map"] == tutorial.brute_force_chain_map(results["chain_p"])
    assert all(0 <= v < 3 for v in results["chain_sample"])


def test_markov_hmm_loss_equals_a_hand_written_forward_pass(tutorial, results):
    assert results["hmm_markov_loss"] == pytest.approx(results["hmm_plain_loss"], rel=1e-6)
    data = results["hmm_data"]

    def forward_model(data, data_dim, shapes, markov):
        with pyro.plate("hidden_state", 10):
            transition = pyro.sample("transition", dist.Dirichlet(0.5 * torch.ones(10)))
            emission = pyro.sample("emission", dist.Dirichlet(0.5 * torch.ones(data_dim)))
        log_alpha = transition[0].log() + emission[:, data[0]].log()
        for y in data[1:]:
            log_alpha = (log_alpha[:, None] + transition.log()).logsumexp(0)
            log_alpha = log_alpha + emission[:, y].log()
        pyro.factor("likelihood", log_alpha.logsumexp(0))

    # the tutorial's guide (store params) on the same seeded draw of the globals
    guide = AutoNormal(poutine.block(tutorial.hmm_model, expose=["transition", "emission"]))
    with pyro.poutine.seed(rng_seed=1):
        guide(data, 4, [], True)  # finds the stored params, creates none
    elbo = TraceEnum_ELBO(max_plate_nesting=1)
    with pyro.poutine.seed(rng_seed=1):
        expected = float(pyro.infer.Trace_ELBO().loss(forward_model, guide, data, 4, [], True))
    with pyro.poutine.seed(rng_seed=1):
        actual = float(elbo.loss(tutorial.hmm_model, guide, data, 4, [], True))
    assert actual == pytest.approx(expected, rel=1e-5)
    assert actual == pytest.approx(results["hmm_markov_loss"], rel=1e-5)


def test_main_prints_the_shapes(tutorial, capsys):
    tutorial.main(["--seed", "1"])
    out = capsys.readouterr().out
    assert "hmm_markov_shapes" in out and "(10, 1, 1)" in out
