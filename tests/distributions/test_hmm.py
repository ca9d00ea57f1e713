"""GaussianHMM, LinearHMM and IndependentHMM against brute force (a dense MVN over the
whole sequence, in float64)."""

from __future__ import annotations

import pytest
import torch

import ppl.distributions as dist
from ppl.distributions.hmm import GaussianHMM, IndependentHMM, LinearHMM


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _random_mvn(batch_shape: tuple[int, ...], dim: int) -> dist.MultivariateNormal:
    root = torch.randn(batch_shape + (dim, dim), dtype=torch.float64)
    cov = root @ root.transpose(-1, -2) + 0.5 * torch.eye(dim, dtype=torch.float64)
    return dist.MultivariateNormal(torch.randn(batch_shape + (dim,), dtype=torch.float64), cov)


def _random_diag(batch_shape: tuple[int, ...], dim: int) -> dist.Independent:
    shape = batch_shape + (dim,)
    loc = torch.randn(shape, dtype=torch.float64)
    return dist.Normal(loc, torch.rand(shape, dtype=torch.float64) + 0.5).to_event(1)


def _moments(d: torch.distributions.Distribution) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(d, torch.distributions.Independent):
        return d.base_dist.mean, torch.diag_embed(d.base_dist.variance)
    return d.mean, d.covariance_matrix


def _dense_joint(
    init: torch.distributions.Distribution,
    trans_mat: torch.Tensor,
    trans_dist: torch.distributions.Distribution,
    obs_mat: torch.Tensor,
    obs_dist: torch.distributions.Distribution,
    T: int,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Mean and covariance of the stacked ``(z_1..z_T, x_1..x_T)`` (unbatched), by
    writing every variable as an affine function of the independent noises."""
    h, o = obs_mat.shape[-2:]
    trans_mat = trans_mat.expand(T, h, h)
    obs_mat = obs_mat.expand(T, h, o)
    trans_mean, trans_cov = _moments(trans_dist)
    obs_mean, obs_cov = _moments(obs_dist)
    trans_mean, trans_cov = trans_mean.expand(T, h), trans_cov.expand(T, h, h)
    obs_mean, obs_cov = obs_mean.expand(T, o), obs_cov.expand(T, o, o)
    init_mean, init_cov = _moments(init)
    # noise vector: (z_0, w_1..w_T, v_1..v_T)
    blocks = [init_cov] + [trans_cov[t] for t in range(T)] + [obs_cov[t] for t in range(T)]
    noise_mean = torch.cat([init_mean, trans_mean.reshape(-1), obs_mean.reshape(-1)])
    noise_cov = torch.block_diag(*blocks)
    n = noise_mean.numel()
    # z_t = coef_z @ noise (row vectors: z_t = noise @ coef)
    coef = torch.zeros(n, h, dtype=torch.float64)
    coef[:h] = torch.eye(h, dtype=torch.float64)
    z_coefs, x_coefs = [], []
    for t in range(T):
        w = torch.zeros(n, h, dtype=torch.float64)
        w[h + t * h : h + (t + 1) * h] = torch.eye(h, dtype=torch.float64)
        coef = coef @ trans_mat[t] + w
        v = torch.zeros(n, o, dtype=torch.float64)
        start = h + T * h + t * o
        v[start : start + o] = torch.eye(o, dtype=torch.float64)
        z_coefs.append(coef)
        x_coefs.append(coef @ obs_mat[t] + v)
    full = torch.cat(z_coefs + x_coefs, dim=-1)  # (n, T*h + T*o)
    mean = noise_mean @ full
    cov = full.T @ noise_cov @ full
    return mean, cov, T * h


CASES = [
    # (hidden_dim, obs_dim, T, homogeneous transition, diagonal noise)
    (1, 1, 1, False, True),
    (2, 1, 3, False, False),
    (3, 2, 5, True, False),
    (2, 3, 4, False, True),
    (1, 2, 7, True, True),
]


def _make(h: int, o: int, T: int, homogeneous: bool, diag: bool):
    time = () if homogeneous else (T,)
    noise = _random_diag if diag else _random_mvn
    init = noise((), h)
    trans_mat = 0.7 * torch.randn(time + (h, h), dtype=torch.float64)
    trans_dist = noise(time, h)
    obs_mat = torch.randn((T, h, o), dtype=torch.float64)
    obs_dist = noise((T,), o)
    return init, trans_mat, trans_dist, obs_mat, obs_dist


@pytest.mark.parametrize("h,o,T,homogeneous,diag", CASES)
def test_log_prob_matches_dense_mvn(h: int, o: int, T: int, homogeneous: bool, diag: bool) -> None:
    parts = _make(h, o, T, homogeneous, diag)
    hmm = GaussianHMM(*parts)
    assert hmm.event_shape == (T, o) and hmm.duration == (T if T > 1 else None)
    mean, cov, nz = _dense_joint(*parts, T)
    x_dense = dist.MultivariateNormal(mean[nz:], cov[nz:, nz:])
    data = torch.randn(4, T, o, dtype=torch.float64)
    expected = x_dense.log_prob(data.reshape(4, T * o))
    assert torch.allclose(hmm.log_prob(data), expected, atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("h,o,T,homogeneous,diag", CASES)
def test_filter_and_posterior_match_dense_conditioning(
    h: int, o: int, T: int, homogeneous: bool, diag: bool
) -> None:
    parts = _make(h, o, T, homogeneous, diag)
    hmm = GaussianHMM(*parts)
    mean, cov, nz = _dense_joint(*parts, T)
    data = torch.randn(T, o, dtype=torch.float64)
    # condition the dense joint of z on x = data
    gain = torch.linalg.solve(cov[nz:, nz:], cov[nz:, :nz]).T  # (nz, nx)
    post_mean = mean[:nz] + gain @ (data.reshape(-1) - mean[nz:])
    post_cov = cov[:nz, :nz] - gain @ cov[nz:, :nz]
    last = hmm.filter(data)
    assert torch.allclose(last.loc, post_mean[-h:], atol=1e-9)
    assert torch.allclose(last.covariance_matrix, post_cov[-h:, -h:], atol=1e-9)
    # zero-noise posterior draws are the posterior mode = mean; sample moments match
    draws = hmm.rsample_posterior(data, (20000,))
    assert draws.shape == (20000, T, h)
    flat = draws.reshape(20000, -1)
    sd = post_cov.diagonal().sqrt()
    assert ((flat.mean(0) - post_mean).abs() < 5 * sd / 20000**0.5).all()
    assert torch.allclose(flat.T.cov(), post_cov, atol=0.1 * float(post_cov.abs().max()))


@pytest.mark.parametrize("h,o,T,homogeneous,diag", CASES[1:4])
def test_rsample_moments_and_gradients(
    h: int, o: int, T: int, homogeneous: bool, diag: bool
) -> None:
    parts = _make(h, o, T, homogeneous, diag)
    hmm = GaussianHMM(*parts)
    mean, cov, nz = _dense_joint(*parts, T)
    n = 40000
    x = hmm.rsample((n,))
    assert x.shape == (n, T, o)
    flat = x.reshape(n, -1)
    sd = cov[nz:, nz:].diagonal().sqrt()
    assert ((flat.mean(0) - mean[nz:]).abs() < 5 * sd / n**0.5).all()
    rel = (flat.T.cov() - cov[nz:, nz:]).abs() / (sd[:, None] * sd[None, :])
    assert float(rel.max()) < 0.05
    # reparameterized: gradients reach the observation matrix
    obs_mat = parts[3].clone().requires_grad_()
    GaussianHMM(parts[0], parts[1], parts[2], obs_mat, parts[4]).rsample().sum().backward()
    assert obs_mat.grad is not None and bool(obs_mat.grad.abs().sum() > 0)


def test_homogeneous_model_broadcasts_over_length_and_needs_duration() -> None:
    init, trans_mat, trans_dist = _random_mvn((), 2), torch.randn(2, 2), _random_mvn((), 2)
    obs_mat, obs_dist = torch.randn(2, 3), _random_diag((), 3)
    trans_mat = trans_mat.double()
    obs_mat = obs_mat.double()
    hmm = GaussianHMM(init, trans_mat, trans_dist, obs_mat, obs_dist)
    assert hmm.event_shape == (1, 3) and hmm.duration is None
    for T in (1, 6):
        data = torch.randn(T, 3, dtype=torch.float64)
        mean, cov, nz = _dense_joint(init, trans_mat, trans_dist, obs_mat, obs_dist, T)
        expected = dist.MultivariateNormal(mean[nz:], cov[nz:, nz:]).log_prob(data.reshape(-1))
        assert torch.allclose(hmm.log_prob(data), expected, atol=1e-9)
    with pytest.raises(ValueError, match="duration"):
        hmm.rsample()
    sized = GaussianHMM(init, trans_mat, trans_dist, obs_mat, obs_dist, duration=6)
    assert sized.rsample((2,)).shape == (2, 6, 3)


def test_batch_shapes_expand_and_errors() -> None:
    init = _random_mvn((4,), 2)
    trans_mat = torch.randn(3, 2, 2, dtype=torch.float64)
    hmm = GaussianHMM(
        init, trans_mat, _random_mvn((3,), 2), torch.randn(3, 2, 1).double(), _random_diag((3,), 1)
    )
    assert hmm.batch_shape == (4,) and hmm.event_shape == (3, 1)
    big = hmm.expand((5, 4))
    data = torch.randn(5, 4, 3, 1, dtype=torch.float64)
    assert big.log_prob(data).shape == (5, 4)
    assert torch.allclose(big.log_prob(data), hmm.log_prob(data))
    assert big.rsample().shape == (5, 4, 3, 1)
    with pytest.raises(ValueError, match="duration=5 contradicts"):
        GaussianHMM(
            init,
            trans_mat,
            _random_mvn((3,), 2),
            torch.randn(3, 2, 1).double(),
            _random_diag((3,), 1),
            duration=5,
        )
    with pytest.raises(TypeError, match="transition_dist must be"):
        GaussianHMM(
            init,
            trans_mat,
            dist.StudentT(2.0, torch.zeros(2)).to_event(1),
            torch.randn(2, 1),
            _random_diag((), 1),
        )
    with pytest.raises(ValueError, match=r"initial_dist.event_shape == \(3,\)"):
        GaussianHMM(init, trans_mat, _random_mvn((), 2), torch.randn(3, 1), _random_diag((), 1))


def test_conjugate_update_and_prefix_condition() -> None:
    parts = _make(2, 1, 5, False, False)
    hmm = GaussianHMM(*parts)
    other = dist.Normal(
        torch.randn(5, 1, dtype=torch.float64), torch.rand(5, 1, dtype=torch.float64) + 0.5
    ).to_event(2)
    updated, log_norm = hmm.conjugate_update(other)
    x = torch.randn(3, 5, 1, dtype=torch.float64)
    assert torch.allclose(hmm.log_prob(x) + other.log_prob(x), updated.log_prob(x) + log_norm)
    # conditioning on a prefix: p(x[3:] | x[:3]) = p(x) / p(x[:3])
    tail = hmm.prefix_condition(x[:, :3])
    assert tail.event_shape == (2, 1)
    mean, cov, nz = _dense_joint(*parts, 5)
    head = dist.MultivariateNormal(mean[nz : nz + 3], cov[nz : nz + 3, nz : nz + 3])
    expected = hmm.log_prob(x) - head.log_prob(x[:, :3, 0])
    assert torch.allclose(tail.log_prob(x[:, 3:]), expected, atol=1e-9)


def test_linear_hmm_matches_gaussian_hmm_moments_and_transforms() -> None:
    parts = _make(2, 2, 4, False, True)
    lin = LinearHMM(*parts)
    gauss = GaussianHMM(*parts)
    n = 40000
    a, b = lin.rsample((n,)).reshape(n, -1), gauss.rsample((n,)).reshape(n, -1)
    sd = b.std(0)
    assert ((a.mean(0) - b.mean(0)).abs() < 6 * sd / n**0.5).all()
    assert torch.allclose(a.std(0), sd, rtol=0.05)
    with pytest.raises(NotImplementedError, match="LinearHMMReparam"):
        lin.log_prob(a[0].reshape(4, 2))
    # LogNormal observations: the transform is peeled off and applied after the sum
    obs = dist.LogNormal(torch.zeros(4, 2, dtype=torch.float64), 0.1).to_event(1)
    positive = LinearHMM(parts[0], parts[1], parts[2], 0.1 * parts[3], obs)
    assert len(positive.transforms) == 1 and isinstance(
        positive.observation_dist, torch.distributions.Independent
    )
    assert bool((positive.rsample((10,)) > 0).all())
    assert positive.support.check(torch.ones(4, 2)).all()


def _pick(d: dist.Independent, i: int) -> dist.Independent:
    return dist.Normal(d.base_dist.loc[i], d.base_dist.scale[i]).to_event(1)


def test_independent_hmm_sums_its_univariate_components() -> None:
    T, k = 4, 3
    init = _random_diag((k,), 1)
    noise = _random_diag((k, T), 1)
    mat = torch.randn(k, T, 1, 1, dtype=torch.float64)
    obs = _random_diag((k, T), 1)
    base = GaussianHMM(init, mat, noise, mat, obs)
    indep = IndependentHMM(base)
    assert indep.batch_shape == () and indep.event_shape == (T, k) and indep.duration == T
    x = torch.randn(2, T, k, dtype=torch.float64)
    expected = sum(
        GaussianHMM(_pick(init, i), mat[i], _pick(noise, i), mat[i], _pick(obs, i)).log_prob(
            x[..., i : i + 1]
        )
        for i in range(k)
    )
    assert torch.allclose(indep.log_prob(x), expected)
    assert indep.rsample((5,)).shape == (5, T, k)
    assert indep.expand((6,)).log_prob(x[0]).shape == (6,)
    with pytest.raises(ValueError, match="event shape"):
        IndependentHMM(GaussianHMM(*_make(2, 2, 3, False, True)))
