"""ppl.ops.contract.einsum (Pyro's plated einsum) against brute-force sums."""

import itertools

import pytest
import torch

from ppl.ops.contract import einsum
from ppl.ops.einsum import torch_log
from ppl.ops.einsum.adjoint import require_backward


@pytest.fixture
def factors():
    # a (2 values, global), b_i (3 values, one per slice of plate i of size 4)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, generator=g, dtype=torch.float64) + 0.5
    y = torch.rand(2, 3, 4, generator=g, dtype=torch.float64) + 0.5
    return x, y


def _brute_joint(x, y):
    """{(a, b_0..b_3): unnormalized weight} of 'a,abi' with plate i."""
    out = {}
    for a in range(2):
        for bs in itertools.product(range(3), repeat=4):
            w = x[a]
            for i, b in enumerate(bs):
                w = w * y[a, b, i]
            out[(a,) + bs] = float(w)
    return out


def test_plated_total_matches_brute_force(factors):
    x, y = factors
    (z,) = einsum("a,abi->", x, y, plates="i")
    assert float(z) == pytest.approx(sum(_brute_joint(x, y).values()), rel=1e-12)
    (logz,) = einsum("a,abi->", x.log(), y.log(), plates="i", backend="pyro.ops.einsum.torch_log")
    assert float(logz.exp()) == pytest.approx(float(z), rel=1e-12)


def test_outputs_keep_their_dims(factors):
    x, y = factors
    (za,) = einsum("a,abi->a", x, y, plates="i")
    joint = _brute_joint(x, y)
    for a in range(2):
        expected = sum(w for k, w in joint.items() if k[0] == a)
        assert float(za[a]) == pytest.approx(expected, rel=1e-12)
    # 'a' only appears with 'i' here, so it is a separate variable in every slice
    (zi,) = einsum("abi->i", y, plates="i")
    assert torch.allclose(zi, y.sum((0, 1)))
    # unplated equations go straight to torch.einsum
    (m,) = einsum("ab,bc->ac", y[:, :, 0], y[:, :, 1].T)
    assert torch.allclose(m, y[:, :, 0] @ y[:, :, 1].T)
    assert torch.allclose(torch_log.einsum("a->", x.log()), x.sum().log())


def test_map_backward_is_the_brute_force_argmax(factors):
    x, y = factors
    lx, ly = x.log(), y.log()
    require_backward(lx)
    require_backward(ly)
    (total,) = einsum("a,abi->", lx, ly, plates="i", backend="torch_map")
    total._pyro_backward()
    joint = _brute_joint(x, y)
    best = max(joint, key=joint.get)
    assert lx._pyro_backward_result.tolist() == [best[0]]
    result = ly._pyro_backward_result
    assert result.shape == (2, 4)  # rows a and b, one column per slice of i
    assert result[0].tolist() == [best[0]] * 4
    assert result[1].tolist() == list(best[1:])
    assert float(total.exp()) == pytest.approx(joint[best], rel=1e-12)  # max-product


def test_sample_backward_matches_the_posterior_of_a(factors):
    x, y = factors
    joint = _brute_joint(x, y)
    p_a1 = sum(w for k, w in joint.items() if k[0] == 1) / sum(joint.values())
    torch.manual_seed(0)
    lx, ly = x.log(), y.log()
    draws = []
    for _ in range(2000):
        require_backward(lx)
        (total,) = einsum("a,abi->", lx, ly, plates="i", backend="torch_sample")
        total._pyro_backward()
        draws.append(int(lx._pyro_backward_result[0]))
    freq = sum(draws) / len(draws)
    se = (p_a1 * (1 - p_a1) / len(draws)) ** 0.5
    assert abs(freq - p_a1) < 4 * se


def test_marginal_backward_is_the_exact_marginal(factors):
    x, y = factors
    lx, ly = x.log(), y.log()
    require_backward(lx)
    (total,) = einsum("a,abi->", lx, ly, plates="i", backend="torch_marginal")
    total._pyro_backward()
    joint = _brute_joint(x, y)
    z = sum(joint.values())
    expected = [sum(w for k, w in joint.items() if k[0] == a) / z for a in range(2)]
    assert torch.allclose(lx._pyro_backward_result.exp(), torch.tensor(expected, dtype=x.dtype))


def test_map_backward_traces_and_reruns_on_new_inputs(factors):
    x, y = factors

    def decode(lx, ly):
        require_backward(lx)
        require_backward(ly)
        (total,) = einsum("a,abi->", lx, ly, plates="i", backend="torch_map")
        total._pyro_backward()
        return lx._pyro_backward_result, ly._pyro_backward_result

    traced = torch.jit.trace(decode, (x.log(), y.log()), check_trace=False)
    x2, y2 = x.flip(0), y.flip(1)
    for got, want in zip(traced(x2.log(), y2.log()), decode(x2.log(), y2.log())):
        assert torch.equal(got, want)


def test_errors_name_the_problem(factors):
    x, y = factors
    with pytest.raises(ValueError, match="unknown backend 'numpy'"):
        einsum("a->", x, backend="numpy")
    with pytest.raises(ValueError, match="2 inputs but got 1 operands"):
        einsum("a,abi->", x, plates="i")
    with pytest.raises(ValueError, match="dim 'a' has size 2 in one operand and 3"):
        einsum("a,a->", x, torch.ones(3), plates="i")
    with pytest.raises(ValueError, match="operand 0 has shape"):
        einsum("ab->", x, plates="i")


def test_marginal_backward_traces_and_reruns_on_new_inputs(factors):
    x, y = factors

    def marginals(lx, ly):
        require_backward(lx)
        (total,) = einsum("a,abi->", lx, ly, plates="i", backend="torch_marginal")
        total._pyro_backward()
        return lx._pyro_backward_result

    traced = torch.jit.trace(marginals, (x.log(), y.log()), check_trace=False)
    x2, y2 = x.flip(0) * 3, y.flip(1)
    assert torch.allclose(traced(x2.log(), y2.log()), marginals(x2.log(), y2.log()))


def test_impossible_combinations_give_zero_not_nan_gradients():
    # a factor that rules out every value of one variable in one row: torch.logsumexp's
    # backward would give NaN there and poison the whole gradient
    import ppl.ops.contract as contract

    x = torch.tensor([[-float("inf"), -float("inf")], [0.0, 1.0]], requires_grad=True)
    out = torch.logsumexp(contract._safe_logsumexp(x, [1]), 0)
    (grad,) = torch.autograd.grad(out, [x])
    assert torch.isfinite(out) and torch.equal(grad[0], torch.zeros(2))
    assert torch.allclose(grad[1], torch.softmax(torch.tensor([0.0, 1.0]), 0))
