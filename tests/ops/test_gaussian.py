"""ppl.ops.gaussian against closed-form multivariate normal algebra (float64)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import MultivariateNormal

from ppl.ops.gaussian import (
    AffineNormal,
    Gaussian,
    gaussian_tensordot,
    matrix_and_mvn_to_gaussian,
    mvn_to_gaussian,
    sequential_gaussian_filter_sample,
    sequential_gaussian_tensordot,
)

D = torch.float64


def random_mvn(batch: tuple[int, ...], n: int, seed: int) -> MultivariateNormal:
    g = torch.Generator().manual_seed(seed)
    loc = torch.randn(batch + (n,), generator=g, dtype=D)
    a = torch.randn(batch + (n, n), generator=g, dtype=D)
    cov = a @ a.transpose(-1, -2) + n * torch.eye(n, dtype=D)
    return MultivariateNormal(loc, cov)


def test_density_matches_mvn_and_normalizes() -> None:
    mvn = random_mvn((3,), 4, 0)
    g = mvn_to_gaussian(mvn)
    x = torch.randn(5, 3, 4, dtype=D, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(g.log_density(x), mvn.log_prob(x), atol=1e-10)
    assert torch.allclose(g.event_logsumexp(), torch.zeros(3, dtype=D), atol=1e-10)


def test_marginalize_is_the_marginal_mvn() -> None:
    mvn = random_mvn((2,), 5, 2)
    g = mvn_to_gaussian(mvn)
    x = torch.randn(2, 3, dtype=D)
    right = g.marginalize(right=2)  # keeps the first 3 variables
    expected = MultivariateNormal(mvn.loc[..., :3], mvn.covariance_matrix[..., :3, :3])
    assert torch.allclose(right.log_density(x), expected.log_prob(x), atol=1e-8)
    left = g.marginalize(left=2)  # keeps the last 3
    expected = MultivariateNormal(mvn.loc[..., 2:], mvn.covariance_matrix[..., 2:, 2:])
    assert torch.allclose(left.log_density(x), expected.log_prob(x), atol=1e-8)


def test_condition_is_the_conditional_mvn_times_evidence() -> None:
    mvn = random_mvn((), 5, 3)
    g = mvn_to_gaussian(mvn)
    mu, cov = mvn.loc, mvn.covariance_matrix
    b = torch.tensor([0.3, -1.2], dtype=D)
    # closed form: x_a | x_b ~ N(mu_a + S_ab S_bb^-1 (b - mu_b), S_aa - S_ab S_bb^-1 S_ba)
    s_bb_inv = torch.linalg.inv(cov[3:, 3:])
    cond_mu = mu[:3] + cov[:3, 3:] @ s_bb_inv @ (b - mu[3:])
    cond_cov = cov[:3, :3] - cov[:3, 3:] @ s_bb_inv @ cov[3:, :3]
    evidence = MultivariateNormal(mu[3:], cov[3:, 3:]).log_prob(b)
    c = g.condition(b)
    a = torch.tensor([0.1, 0.2, -0.4], dtype=D)
    expected = MultivariateNormal(cond_mu, cond_cov).log_prob(a) + evidence
    assert float(c.log_density(a)) == pytest.approx(float(expected), abs=1e-8)
    assert float(c.event_logsumexp()) == pytest.approx(float(evidence), abs=1e-8)
    # left_condition fixes the leading variables instead
    x = torch.cat([a, b])
    lc = g.left_condition(a)
    assert float(lc.log_density(b)) == pytest.approx(float(mvn.log_prob(x)), abs=1e-10)


def test_rsample_moments_and_noise() -> None:
    mvn = random_mvn((), 3, 4)
    g = mvn_to_gaussian(mvn)
    zeros = torch.zeros(3, dtype=D)
    assert torch.allclose(g.rsample(noise=zeros), mvn.loc, atol=1e-10)
    torch.manual_seed(0)
    x = g.rsample((200000,))
    # standard error of a covariance entry ~ sqrt(2/N) * scale^2 ~ 0.03 here
    assert torch.allclose(x.mean(0), mvn.loc, atol=0.03)
    assert torch.allclose(torch.cov(x.T), mvn.covariance_matrix, atol=0.15)


def test_reshaping_ops() -> None:
    g = mvn_to_gaussian(random_mvn((2, 3), 2, 5))
    assert g.expand((4, 2, 3)).batch_shape == (4, 2, 3)
    assert g.reshape((6,)).batch_shape == (6,)
    part = g[1:, 0]
    assert part.batch_shape == (1,) and part.dim() == 2
    cat = Gaussian.cat([g, g], dim=-1)
    assert cat.batch_shape == (2, 6)
    x = torch.randn(2, 3, 2, dtype=D)
    padded = g.event_pad(left=1, right=2)
    xp = torch.cat([torch.randn(2, 3, 1, dtype=D), x, torch.randn(2, 3, 2, dtype=D)], -1)
    assert torch.allclose(padded.log_density(xp), g.log_density(x), atol=1e-12)
    perm = torch.tensor([1, 0])
    assert torch.allclose(g.event_permute(perm).log_density(x.flip(-1)), g.log_density(x))
    assert torch.allclose((g + g).log_density(x), 2 * g.log_density(x))
    assert torch.allclose((g - 1.5).log_density(x), g.log_density(x) - 1.5)


def test_affine_normal_and_matrix_conversion() -> None:
    gen = torch.Generator().manual_seed(6)
    matrix = torch.randn(3, 2, dtype=D, generator=gen)
    loc = torch.randn(2, dtype=D, generator=gen)
    scale = torch.rand(2, dtype=D, generator=gen) + 0.5
    f = AffineNormal(matrix, loc, scale)
    x, y = torch.randn(3, dtype=D, generator=gen), torch.randn(2, dtype=D, generator=gen)
    expected = torch.distributions.Normal(x @ matrix + loc, scale).log_prob(y).sum()
    assert float(f.condition(y).log_density(x)) == pytest.approx(float(expected), abs=1e-10)
    assert float(f.to_gaussian().log_density(torch.cat([x, y]))) == pytest.approx(
        float(expected), abs=1e-10
    )
    assert torch.allclose(
        f.left_condition(x).rsample(noise=torch.zeros(2, dtype=D)), x @ matrix + loc
    )
    mvn = random_mvn((), 2, 7)
    g = matrix_and_mvn_to_gaussian(matrix, mvn)
    assert isinstance(g, Gaussian)
    expected = mvn.log_prob(y - x @ matrix)
    assert float(g.log_density(torch.cat([x, y]))) == pytest.approx(float(expected), abs=1e-10)


def _chain(steps: int) -> tuple[Gaussian, torch.Tensor, torch.Tensor]:
    """A scalar AR(1) chain z_t+1 = 0.8 z_t + N(0, 0.5²), t < steps, as factors."""
    trans = matrix_and_mvn_to_gaussian(
        torch.full((1, 1), 0.8, dtype=D),
        MultivariateNormal(torch.zeros(1, dtype=D), torch.full((1, 1), 0.25, dtype=D)),
    )
    assert isinstance(trans, Gaussian)
    trans = trans.expand((steps,))
    # dense joint precision of (z_0..z_T) given z_0's flat prior: sum of the factors
    n = steps + 1
    joint = Gaussian(torch.zeros((), dtype=D), torch.zeros(n, dtype=D), torch.zeros(n, n, dtype=D))
    for t in range(steps):
        joint = joint + trans[t].event_pad(left=t, right=n - t - 2)
    return trans, joint.precision, joint.log_normalizer


def test_tensordot_and_sequential_tensordot_integrate_the_chain() -> None:
    trans, _, _ = _chain(5)
    # integrating z_1..z_4 leaves p(z_5 | z_0) = N(0.8^5 z_0, 0.25 * sum 0.64^k)
    end = sequential_gaussian_tensordot(trans)
    var = 0.25 * sum(0.64**k for k in range(5))
    z0, z5 = torch.tensor(0.7, dtype=D), torch.tensor(-0.2, dtype=D)
    expected = torch.distributions.Normal(0.8**5 * z0, math.sqrt(var)).log_prob(z5)
    got = end.log_density(torch.stack([z0, z5]))
    assert float(got) == pytest.approx(float(expected), abs=1e-10)
    two = gaussian_tensordot(trans[0], trans[1], dims=1)
    expected2 = torch.distributions.Normal(0.64 * z0, math.sqrt(0.25 * 1.64)).log_prob(z5)
    assert float(two.log_density(torch.stack([z0, z5]))) == pytest.approx(
        float(expected2), abs=1e-10
    )


def test_filter_sample_mode_and_moments() -> None:
    steps = 6
    trans, precision, _ = _chain(steps)
    init = mvn_to_gaussian(MultivariateNormal(torch.ones(1, dtype=D), torch.eye(1, dtype=D)))
    full_precision = precision.clone()
    full_precision[0, 0] += 1.0
    cov = torch.linalg.inv(full_precision)
    mean = 0.8 ** torch.arange(steps + 1, dtype=D)  # E z_t = 0.8^t E z_0
    zeros = torch.zeros(steps + 1, 1, dtype=D)
    mode = sequential_gaussian_filter_sample(init, trans, noise=zeros)
    assert torch.allclose(mode.squeeze(-1), mean, atol=1e-10)
    torch.manual_seed(0)
    x = sequential_gaussian_filter_sample(init, trans, (100000,)).squeeze(-1)
    assert torch.allclose(torch.cov(x.T), cov, atol=0.03)


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="precision's event shape"):
        Gaussian(torch.zeros(()), torch.zeros(2), torch.zeros(3, 3))
    g = mvn_to_gaussian(random_mvn((), 2, 8))
    with pytest.raises(ValueError, match="value has 3 variables"):
        g.condition(torch.zeros(3, dtype=D))
    with pytest.raises(NotImplementedError, match="one side at a time"):
        g.marginalize(left=1, right=1)
