"""Two CPU ranks under torchrun (gloo, loopback): the distributed run equals one process.

One ``torchrun --nproc_per_node 2`` job runs every scenario of ``dist_worker.py`` (a
few seconds of start-up paid once); each test reads the ranks' result files.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from dist_launch import torchrun
from dist_models import N, run_svi
from dist_worker import BATCH, K_STEPS

import ppl.optim
from ppl.distributed import shard_indices

WORKER = Path(__file__).with_name("dist_worker.py")


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("two_ranks")
    torchrun(WORKER, 2, str(out), timeout=120.0)
    results = [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(2)]
    results[0]["_dir"] = out
    return results


def test_context_follows_torchrun_env(ranks):
    assert [r["ctx"]["rank"] for r in ranks] == [0, 1]
    assert all(r["ctx"]["world_size"] == 2 and r["ctx"]["backend"] == "gloo" for r in ranks)
    assert [r["ctx"]["device"] for r in ranks] == ["cpu", "cpu"]
    assert [r["ctx"]["is_main"] for r in ranks] == [True, False]


def test_shards_are_disjoint_and_union_is_the_global_batch(ranks):
    for step in range(K_STEPS):
        a, b = (r["shards"][step] for r in ranks)
        assert len(set(a.tolist()) | set(b.tolist())) == 2 * BATCH
        union = shard_indices(N, 2 * BATCH, step=step, seed=7)
        assert torch.equal(torch.cat([a, b]), union)


def test_svi_params_identical_on_ranks_and_equal_to_single_process(ranks):
    p0, p1 = ranks[0]["svi_params"], ranks[1]["svi_params"]
    assert p0.keys() == p1.keys() == {"w_loc", "w_scale", "b_loc", "b_scale"}
    for name in p0:
        assert torch.equal(p0[name], p1[name]), name
    # the single-process run on the union batches (world of one, batch 2 * BATCH)
    ref, ref_losses = run_svi(ppl.optim.Adam({"lr": 0.05}), 2 * BATCH, K_STEPS)
    for name in ref:
        torch.testing.assert_close(p0[name], ref[name], rtol=1e-10, atol=1e-12)
    # and the params really moved: 6 Adam steps of lr 0.05 from w_loc = 0
    assert float(ref["w_loc"].abs().max()) > 0.2
    # the mean of the ranks' losses is the single-process loss of the union batch
    mean_losses = [(a + b) / 2 for a, b in zip(ranks[0]["svi_losses"], ranks[1]["svi_losses"])]
    assert mean_losses == pytest.approx(ref_losses, rel=1e-12)


def test_rank_disagreement_raises_on_every_rank(ranks):
    for r in ranks:
        assert re.search(r"ranks disagree on the parameters to step", r["mismatch_names"])
        assert re.search(r"setup: the ranks disagree", r["mismatch_shapes"])
        assert torch.equal(r["mismatch_left_a"], torch.zeros(2))  # nothing stepped
    assert "'a', 'extra'" not in ranks[0]["mismatch_names"]
    assert "extra(1,)" in ranks[1]["mismatch_names"]
    assert "a(3,)" in ranks[1]["mismatch_shapes"]


def test_gradient_missing_on_one_rank_counts_as_zero(ranks):
    for r in ranks:
        assert torch.equal(r["presence_a"], torch.tensor([-0.5, -1.5]))
        assert torch.equal(r["presence_c"], torch.zeros(3))
        assert r["presence_c_grad_is_none"]


def test_setup_and_new_params_broadcast_from_rank0(ranks):
    for r in ranks:
        assert torch.equal(r["setup_z"], torch.ones(4))
        assert torch.equal(r["setup_m"], torch.full((2, 2), 10.0, dtype=torch.float64))
        # q: rank 0's 5.0, minus lr 0.5 x mean grad 0.5; z: 1.0 - 0.5 x mean grad 1.0
        assert torch.equal(r["step_q"], torch.full((3,), 4.75))
        assert torch.equal(r["step_z"], torch.full((4,), 0.5))
        assert r["num_steps"] == 1 and 0.0 < r["comm_seconds"] < 5.0


def test_bucketed_all_reduce_mean(ranks):
    expected = [
        torch.full((3,), 0.5),
        torch.arange(6.0).reshape(2, 3).t() * 1.5,
        torch.ones(5, dtype=torch.float64),
        torch.full((1,), 0.5),
    ]
    for r in ranks:
        for got, want in zip(r["buckets"], expected):
            assert torch.equal(got, want)


def test_lbfgs_closure_averages_gradients_and_loss(ranks):
    for r in ranks:
        torch.testing.assert_close(r["lbfgs_x"], torch.tensor([1.0, 2.0]))
        # the first loss is the average of 0.5 * |t_r|^2: (0.5 + 6.5) / 2
        assert r["lbfgs_losses"][0] == pytest.approx(3.5)
        assert r["lbfgs_losses"][-1] == pytest.approx(1.0)  # the averaged problem's minimum
    assert ranks[0]["lbfgs_losses"] == ranks[1]["lbfgs_losses"]


def test_plateau_scheduler_sees_the_average_loss(ranks):
    assert [r["plateau_lr"] for r in ranks] == [[0.5], [0.5]]


def test_all_finite_is_a_logical_and_over_ranks(ranks):
    assert [r["all_finite"] for r in ranks] == [[True, False], [True, False]]


def test_only_rank0_writes_and_every_rank_loads(ranks):
    out = ranks[0]["_dir"]
    assert (out / "optim_rank0.pt").exists()
    assert not (out / "optim_rank1.pt").exists()
    assert [r["loaded_names"] for r in ranks] == [["w"], ["w"]]
