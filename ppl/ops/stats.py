"""MCMC diagnostics: autocorrelation, effective sample size, split R-hat (Pyro's ``ops.stats``).

Conventions follow Pyro 1.9: ``chain_dim`` and ``sample_dim`` index the input tensor;
``effective_sample_size`` and ``split_gelman_rubin`` use Stan's estimators (Geyer's
initial monotone sequence, split chains).
"""

from __future__ import annotations

import math

import torch


def autocorrelation(input: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Autocorrelation of ``input`` along ``dim``, computed by FFT.

    Args:
        input: samples; ``dim`` is the time axis.
        dim: the time axis.

    Returns:
        Tensor of ``input``'s shape; index ``k`` on ``dim`` is the lag-``k`` autocorrelation:
        the mean of the ``n - k`` lag-``k`` products of the centered input over the mean
        square (1 everywhere for a constant input).

    Example:
        >>> float(autocorrelation(torch.tensor([1.0, 2.0, 1.0, 2.0]))[0])
        1.0
    """
    if input.size(dim) < 2:
        raise ValueError(
            f"autocorrelation needs at least 2 samples on dim {dim}, got {input.size(dim)}"
        )
    x = input.transpose(dim, -1)
    n = x.size(-1)
    m = 2 ** (2 * n - 1).bit_length()
    centered = x - x.mean(-1, keepdim=True)
    freq = torch.fft.rfft(centered, n=m)
    acov = torch.fft.irfft(freq * freq.conj(), n=m)[..., :n]
    # lag k has n - k products: average them (as Pyro), then normalize by lag 0
    acov = acov / torch.arange(n, 0, -1, dtype=acov.dtype, device=acov.device)
    lag0 = acov[..., :1]
    acorr = acov / lag0.clamp(min=torch.finfo(acov.dtype).tiny)
    acorr = torch.where(lag0 == 0, torch.ones_like(acorr), acorr)  # constant input
    return acorr.transpose(dim, -1)


def autocovariance(input: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Autocovariance along ``dim`` (biased, divided by the number of samples).

    Example:
        >>> round(float(autocovariance(torch.tensor([1.0, 2.0, 1.0, 2.0]))[0]), 4)
        0.25
    """
    return autocorrelation(input, dim) * input.var(dim, unbiased=False, keepdim=True)


def _fold_chains(input: torch.Tensor, chain_dim: int, sample_dim: int) -> torch.Tensor:
    """Move (chain, sample) to the two leading dims."""
    if chain_dim == sample_dim:
        raise ValueError(f"chain_dim and sample_dim must differ, both are {chain_dim}")
    chain_dim %= input.dim()
    sample_dim %= input.dim()
    return input.movedim((chain_dim, sample_dim), (0, 1))


def gelman_rubin(input: torch.Tensor, chain_dim: int = 0, sample_dim: int = 1) -> torch.Tensor:
    """Gelman-Rubin potential scale reduction R-hat (needs >= 2 chains and >= 2 samples).

    Example:
        >>> x = torch.randn(4, 1000)
        >>> bool(gelman_rubin(x) < 1.01)
        True
    """
    x = _fold_chains(input, chain_dim, sample_dim)
    if x.size(0) < 2 or x.size(1) < 2:
        raise ValueError(
            f"gelman_rubin needs >= 2 chains and >= 2 samples, got shape {tuple(input.shape)}"
        )
    n = x.size(1)
    chain_mean = x.mean(1)
    chain_var = x.var(1)
    within = chain_var.mean(0)
    between_over_n = chain_mean.var(0)
    var_plus = (n - 1) / n * within + between_over_n
    return (var_plus / within).sqrt()


def split_gelman_rubin(
    input: torch.Tensor, chain_dim: int = 0, sample_dim: int = 1
) -> torch.Tensor:
    """R-hat on chains split in halves (detects within-chain drift).

    Example:
        >>> x = torch.randn(2, 1000)
        >>> bool(split_gelman_rubin(x) < 1.02)
        True
    """
    x = _fold_chains(input, chain_dim, sample_dim)
    n = x.size(1)
    if n < 4:
        raise ValueError(f"split_gelman_rubin needs >= 4 samples per chain, got {n}")
    half = n // 2
    split = torch.cat([x[:, :half], x[:, -half:]], dim=0)
    return gelman_rubin(split)


def effective_sample_size(
    input: torch.Tensor, chain_dim: int = 0, sample_dim: int = 1
) -> torch.Tensor:
    """Effective sample size ``chains * n / tau`` (Geyer's monotone sequence, as Pyro).

    ``tau = -1 + 2 Gamma_0 + 2 sum_k cummin(max(Gamma_k, 0))`` with ``Gamma_k`` the sums of
    consecutive pairs of chain-averaged autocorrelations (Stan's combination of within- and
    between-chain variance).

    Example:
        >>> x = torch.randn(2, 2000)
        >>> bool(3000 < effective_sample_size(x) < 5500)
        True
    """
    x = _fold_chains(input, chain_dim, sample_dim)
    num_chains, n = x.size(0), x.size(1)
    if n < 2:
        raise ValueError(f"effective_sample_size needs >= 2 samples per chain, got {n}")
    gamma_k_c = autocovariance(x, dim=1)  # (chains, lags, ...)
    var_within = x.var(1).mean(0)
    var_estimator = (n - 1) / n * var_within
    if num_chains > 1:
        var_estimator = var_estimator + x.mean(1).var(0)
    else:
        var_within = var_estimator
    rho_k = (var_estimator - var_within + gamma_k_c.mean(0)) / var_estimator
    rho_k = rho_k.clone()
    rho_k[0] = 1.0
    # pair sums Gamma_k = rho_{2k} + rho_{2k+1}; the tail is clipped at 0 and made monotone
    m = n // 2
    pairs = rho_k[: 2 * m].reshape((m, 2) + rho_k.shape[1:]).sum(1)
    tau = -1.0 + 2.0 * pairs[0]
    if m > 1:
        tau = tau + 2.0 * _cummin(pairs[1:].clamp(min=0)).sum(0)
    return num_chains * n / tau


def resample(
    input: torch.Tensor, num_samples: int, dim: int = 0, replacement: bool = False
) -> torch.Tensor:
    """Draw ``num_samples`` entries of ``input`` along ``dim`` uniformly at random.

    Example:
        >>> resample(torch.arange(10.0), 3).shape
        torch.Size([3])
    """
    weights = torch.ones(input.size(dim), device=input.device)
    idx = torch.multinomial(weights, num_samples, replacement=replacement)
    return input.index_select(dim, idx)


def quantile(
    input: torch.Tensor, probs: float | list[float] | torch.Tensor, dim: int = 0
) -> torch.Tensor:
    """Quantiles of ``input`` along ``dim`` by linear interpolation (as Pyro).

    The result has ``probs`` on ``dim`` in place of the samples; a scalar ``probs``
    removes ``dim``.

    Example:
        >>> quantile(torch.arange(11.0), [0.1, 0.5]).tolist()
        [1.0, 5.0]
        >>> quantile(torch.arange(12.0).reshape(2, 6), [0.0, 1.0], dim=-1).tolist()
        [[0.0, 5.0], [6.0, 11.0]]
    """
    q = torch.as_tensor(probs, dtype=input.dtype, device=input.device)
    out = torch.quantile(input, q.reshape(-1), dim=dim)  # quantiles first
    out = out.movedim(0, dim % input.dim())
    return out.squeeze(dim) if q.dim() == 0 else out


def hpdi(input: torch.Tensor, prob: float = 0.9, dim: int = 0) -> torch.Tensor:
    """Narrowest interval holding mass ``prob`` along ``dim``; result's first dim is (low, high).

    Example:
        >>> hpdi(torch.arange(11.0), 0.5).tolist()
        [0.0, 5.0]
    """
    if not 0.0 < prob <= 1.0:
        raise ValueError(f"hpdi: prob must be in (0, 1], got {prob}")
    sorted_input = input.sort(dim).values
    n = input.size(dim)
    mass = int(prob * n)
    width = n - mass
    lows = sorted_input.narrow(dim, 0, width)
    highs = sorted_input.narrow(dim, mass, width)
    best = (highs - lows).argmin(dim, keepdim=True)
    return torch.cat([sorted_input.gather(dim, best), sorted_input.gather(dim, best + mass)], dim)


def pi(input: torch.Tensor, prob: float, dim: int = 0) -> torch.Tensor:
    """Equal-tailed interval holding mass ``prob``; result's first dim is (low, high).

    Example:
        >>> pi(torch.arange(11.0), 0.8).tolist()
        [1.0, 9.0]
    """
    return quantile(input, [(1 - prob) / 2, (1 + prob) / 2], dim=dim)


def _cummin(input: torch.Tensor) -> torch.Tensor:
    """Running minimum of ``input`` along dim 0 (Pyro's private helper name).

    Example:
        >>> _cummin(torch.tensor([3.0, 1.0, 2.0, 0.5])).tolist()
        [3.0, 1.0, 1.0, 0.5]
    """
    return torch.cummin(input, dim=0).values


def weighed_quantile(
    input: torch.Tensor,
    probs: list[float] | tuple[float, ...] | torch.Tensor,
    log_weights: torch.Tensor,
    dim: int = 0,
) -> torch.Tensor:
    """Quantiles of weighted samples: linear interpolation of the weighted empirical CDF.

    The CDF at the ``i``-th smallest sample is the cumulative normalized weight, rescaled
    so the smallest sample sits at 0 and the largest at 1; ``dim`` of the result indexes
    ``probs``.

    Example:
        >>> x = torch.tensor([[10.0, 50.0, 40.0], [20.0, 30.0, 0.0]])
        >>> w = torch.tensor([0.4, 0.5, 0.1]).log()
        >>> [[round(v, 4) for v in row] for row in weighed_quantile(x, [0.2, 0.8], w, -1).tolist()]
        [[40.4, 47.6], [9.0, 26.4]]
    """
    dim = dim if dim >= 0 else input.dim() + dim
    q = torch.as_tensor(probs, dtype=input.dtype, device=input.device)
    weights = (log_weights - torch.logsumexp(log_weights, 0)).exp()
    sorted_input, order = input.sort(dim)
    cdf = weights[order].cumsum(dim)
    cdf = cdf - cdf.min(dim, keepdim=True).values
    cdf = cdf / cdf.max(dim, keepdim=True).values
    # work with the sample dim last: x, c are (..., n); q broadcasts on a new last dim
    x, c = sorted_input.movedim(dim, -1), cdf.movedim(dim, -1)
    above = (c.unsqueeze(-1) <= q).sum(-2).clamp(max=input.size(dim) - 1)  # (..., len(q))
    below = (above - 1).clamp(min=0)
    x_hi, x_lo = x.gather(-1, above), x.gather(-1, below)
    c_hi, c_lo = c.gather(-1, above), c.gather(-1, below)
    span = c_hi - c_lo
    frac = torch.where(span > 0, (q - c_lo) / span.clamp(min=torch.finfo(span.dtype).tiny), 0.0)
    result = x_lo + frac * (x_hi - x_lo)
    return result.movedim(-1, dim)


def _weighted_mean(
    input: torch.Tensor, log_weights: torch.Tensor, dim: int = 0, keepdim: bool = False
) -> torch.Tensor:
    dim = input.dim() + dim if dim < 0 else dim
    w = log_weights.reshape([-1] + [1] * (input.dim() - dim - 1))
    w = (w - w.max()).exp()
    return (input * w).sum(dim, keepdim=keepdim) / w.sum()


def _weighted_variance(
    input: torch.Tensor,
    log_weights: torch.Tensor,
    dim: int = 0,
    keepdim: bool = False,
    unbiased: bool = True,
) -> torch.Tensor:
    deviation = (input - _weighted_mean(input, log_weights, dim, keepdim=True)).pow(2)
    n = log_weights.size(0)
    return _weighted_mean(deviation, log_weights, dim, keepdim) * (
        n / (n - 1.0) if unbiased else 1.0
    )


def waic(
    input: torch.Tensor,
    log_weights: torch.Tensor | None = None,
    pointwise: bool = False,
    dim: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Watanabe-Akaike information criterion and its effective number of parameters.

    ``input`` holds log-likelihoods with posterior draws along ``dim``;
    ``WAIC = -2 (lpd - p_waic)`` with ``lpd`` the log of the (weighted) mean likelihood
    and ``p_waic`` the (weighted, unbiased) variance of the log-likelihood. With
    ``pointwise`` the per-observation values are returned instead of their sums.

    Example:
        >>> w, p = waic(torch.zeros(10, 3))
        >>> w.item(), p.item()
        (0.0, 0.0)
    """
    if log_weights is None:
        log_weights = torch.zeros(input.size(dim), dtype=input.dtype, device=input.device)
    dim = input.dim() + dim if dim < 0 else dim
    shaped = log_weights.reshape([-1] + [1] * (input.dim() - dim - 1))
    lpd = torch.logsumexp(input + shaped, dim=dim) - torch.logsumexp(log_weights, dim=0)
    p_waic = _weighted_variance(input, log_weights, dim)
    value = -2 * (lpd - p_waic)
    return (value, p_waic) if pointwise else (value.sum(), p_waic.sum())


def fit_generalized_pareto(X: torch.Tensor) -> tuple[float, float]:
    """Shape ``k`` and scale ``sigma`` of a generalized Pareto fit to positive data ``X``.

    Zhang & Stephens (2009) posterior-mean estimate over a grid of ``theta = -k/sigma``,
    with the weak prior on ``k`` used by Pareto-smoothed importance sampling (Vehtari et
    al.). Computed in double precision.

    Raises:
        ValueError: if ``X`` is not a 1-d tensor.

    Example:
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> x = torch.distributions.Exponential(2.0).sample((4000,))  # k = 0, sigma = 0.5
        >>> k, sigma = fit_generalized_pareto(x)
        >>> abs(k) < 0.05, abs(sigma - 0.5) < 0.05
        (True, True)
    """
    if not isinstance(X, torch.Tensor) or X.dim() != 1:
        raise ValueError(f"Input X must be a 1-dimensional torch tensor, got {type(X).__name__}")
    x = X.double().sort().values
    n = x.size(0)
    m = 30 + int(math.sqrt(n))
    j = torch.arange(1, m + 1, dtype=torch.double, device=x.device)
    theta = 1.0 / x[-1] + (1.0 - math.sqrt(m) / (j - 0.5).sqrt()) / (3.0 * x[int(n / 4 - 0.5)])
    k_grid = torch.log1p(-theta.unsqueeze(-1) * x).mean(-1)
    log_lik = n * (torch.log(-theta / k_grid) - k_grid - 1.0)
    weights = 1.0 / torch.exp(log_lik - log_lik.unsqueeze(-1)).sum(-1)
    keep = weights > 1e-30
    weights, theta = weights[keep], theta[keep]
    weights = weights / weights.sum()
    b = float((theta * weights).sum())
    k = float(torch.log1p(-b * x).mean())
    sigma = -k / b
    k = k * n / (n + 10.0) + 5.0 / (n + 10.0)
    return k, sigma


def crps_empirical(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Negative continuous ranked probability score ``E|X - y| - E|X - X'| / 2`` from samples.

    ``pred`` has the samples on dim 0 and otherwise broadcasts to ``truth``; the pairwise
    term is computed in ``O(n log n)`` from sorted samples.

    Raises:
        ValueError: if ``pred`` lacks exactly one extra leading sample dim.

    Example:
        >>> crps_empirical(torch.tensor([0.0, 2.0]), torch.tensor(1.0)).item()
        0.5
    """
    if pred.shape[1:] != (1,) * (pred.dim() - truth.dim() - 1) + truth.shape:
        raise ValueError(
            "Expected pred to have one extra sample dim on left. "
            f"Actual shapes: {tuple(pred.shape)} versus {tuple(truth.shape)}"
        )
    n = pred.size(0)
    if n == 1:
        return (pred[0] - truth).abs()
    ordered = pred.sort(dim=0).values
    gaps = ordered[1:] - ordered[:-1]
    i = torch.arange(1, n, device=pred.device, dtype=pred.dtype)
    weight = (i * (n - i)).reshape((n - 1,) + (1,) * (gaps.dim() - 1))
    return (pred - truth).abs().mean(0) - (gaps * weight).sum(0) / n**2


def energy_score_empirical(
    pred: torch.Tensor, truth: torch.Tensor, pred_batch_size: int | None = None
) -> torch.Tensor:
    """Negative energy score ``E||X - y|| - E||X - X'|| / 2`` of multivariate samples.

    ``pred`` is ``(..., num_samples, dim)``; ``truth`` is ``(..., dim)`` or
    ``(..., k, dim)``. ``pred_batch_size`` bounds memory by splitting the samples.

    Example:
        >>> energy_score_empirical(torch.tensor([[0.0], [2.0]]), torch.tensor([1.0])).item()
        0.5
    """
    squeeze = pred.dim() == truth.dim() + 1
    if squeeze:
        truth = truth.unsqueeze(-2)
    elif pred.dim() != truth.dim():
        raise ValueError(
            "Expected pred to have at most one extra dim versus truth. Actual shapes: "
            + str(pred.shape)
            + " versus "
            + str(truth.shape)
        )
    n = pred.size(-2)
    size = n if pred_batch_size is None else pred_batch_size
    chunks = torch.split(pred, size, dim=-2)
    to_truth: list[torch.Tensor] = []
    pairwise: list[torch.Tensor] = []
    for a in chunks:
        to_truth.append(torch.cdist(a, truth).sum(-2))
        for b in chunks:
            pairwise.append(torch.cdist(a, b).sum((-1, -2)))
    mean_to_truth = torch.stack(to_truth).sum(0) / n
    mean_pairwise = torch.stack(pairwise).sum(0) / (n * n)
    result = mean_to_truth - 0.5 * mean_pairwise.unsqueeze(-1)
    return result[..., 0] if squeeze else result
