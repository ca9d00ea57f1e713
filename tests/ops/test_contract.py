"""ppl.ops.contract: log-space sum-product over named dims and plates."""

from __future__ import annotations

import math

import pytest
import torch

from ppl.ops.contract import (
    Packed,
    contract_tensor_tree,
    gather,
    pack,
    product,
    sumproduct,
    unpack,
)


def test_pack_unpack_round_trip_and_error():
    x = torch.randn(3, 1, 2)
    p = pack(x, {-3: "a", -1: "b"})
    assert p.dims == ("a", "b") and tuple(p.shape) == (3, 2)
    assert torch.equal(unpack(p, {"a": -3, "b": -1}), x)
    with pytest.raises(ValueError, match="site 'z'.*dim -3"):
        pack(x, {-1: "b"}, site="z")


def test_sumproduct_equals_dense_logsumexp():
    torch.manual_seed(0)
    a = Packed(torch.randn(2, 3), ("x", "y"))
    b = Packed(torch.randn(3, 4), ("y", "w"))
    c = Packed(torch.randn(4), ("w",))
    out = sumproduct([a, b, c], {"y", "w"})
    dense = a.tensor[:, :, None] + b.tensor[None] + c.tensor[None, None]
    assert out.dims == ("x",)
    assert torch.allclose(out.tensor, dense.logsumexp((1, 2)), atol=1e-6)
    out_max = sumproduct([a, b, c], {"y", "w"}, semiring="max")
    assert torch.allclose(out_max.tensor, dense.amax((1, 2)))


def test_product_and_gather():
    p = Packed(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), ("z", "i"))
    assert torch.equal(product(p, {"i"}).tensor, torch.tensor([3.0, 7.0]))
    g = gather(p, Packed(torch.tensor([1, 0]), ("i",)), "z")
    assert g.dims == ("i",) and torch.equal(g.tensor, torch.tensor([3.0, 2.0]))


def test_tree_global_and_local_variables_equals_brute_force():
    torch.manual_seed(1)
    # z global (2 values); y_i local (3 values) in plate i of size 4; factor on (z, y_i)
    prior_z = torch.randn(2).log_softmax(0)
    prior_y = torch.randn(2, 3).log_softmax(-1)  # p(y | z)
    lik = torch.randn(3, 4)  # log p(x_i | y_i)
    tree = {
        frozenset(): [Packed(prior_z, ("z",))],
        frozenset({"i"}): [
            Packed(prior_y[:, :, None].expand(2, 3, 4), ("z", "y", "i")),
            Packed(lik, ("y", "i")),
        ],
    }
    out = contract_tensor_tree(tree, {"z", "y"})
    ((ordinal, terms),) = out.items()
    assert ordinal == frozenset()
    per_z = (prior_y[:, :, None] + lik[None]).logsumexp(1).sum(-1)  # (z,)
    expected = (prior_z + per_z).logsumexp(0)
    assert torch.allclose(terms[0].tensor, expected, atol=1e-5)


def test_tree_rejects_non_tree_plates():
    tree = {
        frozenset({"i"}): [Packed(torch.zeros(2, 3), ("a", "i"))],
        frozenset({"j"}): [Packed(torch.zeros(2, 4), ("b", "j"))],
        frozenset({"i", "j"}): [Packed(torch.zeros(2, 2, 3, 4), ("a", "b", "i", "j"))],
    }
    with pytest.raises(NotImplementedError, match="tree-structured"):
        contract_tensor_tree(tree, {"a", "b"})


def test_log_sum_exp_gradient_matches_torch_and_is_zero_on_empty_slices():
    # the contraction's logsumexp node: torch's value and gradient on finite slices
    # (float64 gradcheck), a zero gradient on a slice that is all -inf
    from ppl.ops.contract import _safe_logsumexp

    torch.manual_seed(0)
    x = torch.randn(3, 4, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: _safe_logsumexp(t, [0, 2]), (x,))
    out = _safe_logsumexp(x, [0, 2])
    expected = torch.logsumexp(x, dim=(0, 2))
    assert torch.allclose(out, expected, rtol=0, atol=1e-12)
    y = torch.tensor([[0.0, -math.inf], [-math.inf, -math.inf]], requires_grad=True)
    out = _safe_logsumexp(y, [1])
    assert out[0].item() == 0.0 and out[1].item() == -math.inf
    (grad,) = torch.autograd.grad(out[0] + 2.0 * out[1], [y])  # a -inf total
    assert torch.equal(grad, torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
