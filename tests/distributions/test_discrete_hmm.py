"""``DiscreteHMM`` equals the brute-force sum over every state path (float64)."""

import itertools

import pytest
import torch

import ppl.distributions as dist
from ppl.distributions.hmm import _sequential_logmatmulexp


def brute_force(init, trans, locs, scale, x):
    """log p(x) and p(z_{T-1} | x) by summing every path z_{-1}, z_0, ..., z_{T-1}."""
    s, t_len = init.size(-1), x.size(-1)
    init = init.log_softmax(-1)
    trans = trans.log_softmax(-1)
    terms, last = [], torch.full((s,), -float("inf"), dtype=x.dtype)
    for path in itertools.product(range(s), repeat=t_len + 1):
        lp = init[path[0]].clone()
        for t in range(t_len):
            tt = trans[t] if trans.dim() == 3 else trans
            lp = lp + tt[path[t], path[t + 1]]
            lp = lp + torch.distributions.Normal(locs[t, path[t + 1]], scale).log_prob(x[t])
        terms.append(lp)
        last[path[-1]] = torch.logaddexp(last[path[-1]], lp)
    total = torch.logsumexp(torch.stack(terms), 0)
    return total, (last - total).exp()


@pytest.mark.parametrize("homogeneous", [True, False])
@pytest.mark.parametrize("t_len", [1, 2, 5])
def test_log_prob_and_filter_equal_brute_force(homogeneous, t_len):
    torch.manual_seed(t_len)
    s = 3
    init = torch.randn(s, dtype=torch.float64)
    trans = torch.randn((s, s) if homogeneous else (t_len, s, s), dtype=torch.float64)
    locs = torch.randn(t_len, s, dtype=torch.float64)
    x = torch.randn(t_len, dtype=torch.float64)
    hmm = dist.DiscreteHMM(init, trans, dist.Normal(locs, 0.7))
    exact, last_state = brute_force(init, trans, locs, 0.7, x)
    assert hmm.event_shape == (t_len,) and hmm.batch_shape == ()
    assert torch.allclose(hmm.log_prob(x), exact, rtol=1e-12)
    assert torch.allclose(hmm.filter(x).probs, last_state, rtol=1e-10)


def test_batched_values_and_params():
    torch.manual_seed(0)
    init = torch.randn(4, 2, dtype=torch.float64)  # batch 4
    trans = torch.randn(4, 1, 2, 2, dtype=torch.float64)  # homogeneous per batch element
    locs = torch.randn(4, 3, 2, dtype=torch.float64)
    hmm = dist.DiscreteHMM(init, trans, dist.Normal(locs, 1.0))
    assert hmm.batch_shape == (4,) and hmm.event_shape == (3,)
    x = torch.randn(5, 4, 3, dtype=torch.float64)
    lp = hmm.log_prob(x)
    assert lp.shape == (5, 4)
    exact, _ = brute_force(init[2], trans[2, 0], locs[2], 1.0, x[1, 2])
    assert torch.allclose(lp[1, 2], exact, rtol=1e-12)


def test_samples_follow_the_chain():
    # a deterministic chain 0 -> 1 -> 0 -> 1 with nearly noiseless observations
    torch.manual_seed(0)
    big = 30.0
    init = torch.tensor([big, 0.0])  # state at time -1 is 0
    trans = torch.tensor([[0.0, big], [big, 0.0]])  # always switch
    obs = dist.Normal(torch.tensor([-5.0, 5.0]), 1e-3)
    hmm = dist.DiscreteHMM(init, trans, obs, duration=4)
    draws = hmm.sample((200,))
    assert draws.shape == (200, 4)
    assert torch.allclose(draws, torch.tensor([5.0, -5.0, 5.0, -5.0]).expand(200, 4), atol=0.01)


def test_sequential_logmatmulexp_equals_a_loop():
    torch.manual_seed(0)
    m = torch.randn(2, 7, 3, 3, dtype=torch.float64)
    loop = m[:, 0]
    for t in range(1, 7):
        loop = torch.logsumexp(loop.unsqueeze(-1) + m[:, t].unsqueeze(-3), -2)
    assert torch.allclose(_sequential_logmatmulexp(m), loop, rtol=1e-12)


def test_bad_shapes_name_what_disagrees():
    with pytest.raises(ValueError, match="must end in a square"):
        dist.DiscreteHMM(torch.zeros(2), torch.zeros(2, 3), dist.Normal(torch.zeros(2), 1.0))
    with pytest.raises(ValueError, match="state dims disagree"):
        dist.DiscreteHMM(torch.zeros(3), torch.zeros(2, 2), dist.Normal(torch.zeros(2), 1.0))


def test_impossible_transitions_keep_gradients_finite():
    # -inf entries (impossible transitions) must give zero, not NaN, gradients
    m = torch.randn(4, 2, 2, dtype=torch.float64)
    m[1, 0, :] = -float("inf")  # from state 0 at step 1 nothing is possible
    m = m.requires_grad_()
    out = _sequential_logmatmulexp(m).logsumexp((-2, -1))
    (grad,) = torch.autograd.grad(out, [m])
    assert torch.isfinite(out) and torch.isfinite(grad).all()
    assert (grad[1, 0] == 0).all()
