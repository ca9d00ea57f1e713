"""Marginal assignment: exact solvers equal brute force; BP is exact on trees and
close on small loopy problems; sparse equals dense."""

import itertools
import math

import pytest
import torch

from ppl.contrib.tracking.assignment import (
    MarginalAssignment,
    MarginalAssignmentPersistent,
    MarginalAssignmentSparse,
)


def brute_force_one_frame(exists_logits, assign_logits):
    """P(e_i = 1) and P(a_j = k) by summing over every joint configuration."""
    D, N = assign_logits.shape
    p_e = torch.zeros(N, dtype=torch.float64)
    p_a = torch.zeros(D, N + 1, dtype=torch.float64)
    total = 0.0
    for e in itertools.product([0, 1], repeat=N):
        for a in itertools.product(range(N + 1), repeat=D):
            if any(k < N and not e[k] for k in a):
                continue
            w = math.exp(
                sum(float(exists_logits[i]) for i in range(N) if e[i])
                + sum(float(assign_logits[j, k]) for j, k in enumerate(a) if k < N)
            )
            total += w
            p_e += torch.tensor(e, dtype=torch.float64) * w
            for j, k in enumerate(a):
                p_a[j, k] += w
    return p_e / total, p_a / total


def brute_force_persistent(exists_logits, assign_logits):
    T, D, N = assign_logits.shape
    p_e = torch.zeros(N, dtype=torch.float64)
    p_a = torch.zeros(T, D, N + 1, dtype=torch.float64)
    total = 0.0
    per_frame = [
        a
        for a in itertools.product(range(N + 1), repeat=D)
        if len([k for k in a if k < N]) == len({k for k in a if k < N})
    ]
    for e in itertools.product([0, 1], repeat=N):
        for frames in itertools.product(per_frame, repeat=T):
            if any(k < N and not e[k] for a in frames for k in a):
                continue
            w = math.exp(
                sum(float(exists_logits[i]) for i in range(N) if e[i])
                + sum(
                    float(assign_logits[t, j, k])
                    for t, a in enumerate(frames)
                    for j, k in enumerate(a)
                    if k < N
                )
            )
            total += w
            p_e += torch.tensor(e, dtype=torch.float64) * w
            for t, a in enumerate(frames):
                for j, k in enumerate(a):
                    p_a[t, j, k] += w
    return p_e / total, p_a / total


def test_exact_one_frame_equals_brute_force():
    torch.manual_seed(0)
    exists = torch.randn(3, dtype=torch.float64)
    assign = torch.randn(2, 3, dtype=torch.float64)
    solver = MarginalAssignment(exists, assign)
    p_e, p_a = brute_force_one_frame(exists, assign)
    assert torch.allclose(solver.exists_dist.probs, p_e, atol=1e-10)
    assert torch.allclose(solver.assign_dist.probs, p_a, atol=1e-10)


def test_exact_persistent_equals_brute_force():
    torch.manual_seed(1)
    exists = torch.randn(2, dtype=torch.float64)
    assign = torch.randn(2, 2, 2, dtype=torch.float64)
    solver = MarginalAssignmentPersistent(exists, assign)
    p_e, p_a = brute_force_persistent(exists, assign)
    assert solver.assign_dist.batch_shape == (2, 2)
    assert torch.allclose(solver.exists_dist.probs, p_e, atol=1e-10)
    assert torch.allclose(solver.assign_dist.probs, p_a, atol=1e-10)


def test_bp_is_exact_on_a_tree():
    # one detection: the factor graph is a tree, so loopy BP converges to the truth
    exists = torch.tensor([0.3, -1.0, 0.5], dtype=torch.float64)
    assign = torch.tensor([[1.0, 0.2, -0.7]], dtype=torch.float64)
    exact = MarginalAssignment(exists, assign)
    bp = MarginalAssignment(exists, assign, bp_iters=20)
    assert torch.allclose(bp.exists_dist.probs, exact.exists_dist.probs, atol=1e-8)
    assert torch.allclose(bp.assign_dist.probs, exact.assign_dist.probs, atol=1e-8)
    edges = torch.tensor([[0, 0, 0], [0, 1, 2]])
    sparse = MarginalAssignmentSparse(3, 1, edges, exists, assign[0], bp_iters=20)
    assert torch.allclose(sparse.assign_dist.probs, exact.assign_dist.probs, atol=1e-8)


def test_bp_is_close_on_small_loopy_problems():
    torch.manual_seed(2)
    exists = torch.randn(3, dtype=torch.float64) - 1
    assign = torch.randn(4, 2, 3, dtype=torch.float64) - 1
    exact = MarginalAssignmentPersistent(exists, assign)
    bp = MarginalAssignmentPersistent(exists, assign, bp_iters=50)
    assert (bp.exists_dist.probs - exact.exists_dist.probs).abs().max() < 0.05
    assert (bp.assign_dist.probs - exact.assign_dist.probs).abs().max() < 0.05


def test_sparse_with_missing_edges_equals_dense_with_minus_inf():
    exists = torch.tensor([0.0, -0.5, 0.2])
    edges = torch.tensor([[0, 0, 1, 1], [0, 1, 1, 2]])
    logits = torch.tensor([1.0, -0.3, 0.4, 2.0])
    dense = torch.full((2, 3), -float("inf"))
    dense[edges[0], edges[1]] = logits
    sparse = MarginalAssignmentSparse(3, 2, edges, exists, logits, bp_iters=10)
    full = MarginalAssignment(exists, dense, bp_iters=10)
    assert torch.allclose(sparse.exists_dist.probs, full.exists_dist.probs, atol=1e-5)
    assert torch.allclose(sparse.assign_dist.probs, full.assign_dist.probs, atol=1e-5)
    assert sparse.assign_dist.probs[0, 2].item() == 0.0  # infeasible edge


def test_errors():
    with pytest.raises(ValueError, match="assign_logits of shape"):
        MarginalAssignment(torch.zeros(2), torch.zeros(2))
    with pytest.raises(ValueError, match=r"exists_logits of shape \(3,\)"):
        MarginalAssignment(torch.zeros(2), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="edges must have shape"):
        MarginalAssignmentSparse(1, 1, torch.zeros(3, 1).long(), torch.zeros(1), torch.zeros(1), 1)
    with pytest.raises(ValueError, match="bp_momentum"):
        MarginalAssignmentPersistent(torch.zeros(1), torch.zeros(1, 1, 1), 2, bp_momentum=1.0)
