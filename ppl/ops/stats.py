"""MCMC diagnostics: autocorrelation, effective sample size, split R-hat (Pyro's ``ops.stats``).

Conventions follow Pyro 1.9: ``chain_dim`` and ``sample_dim`` index the input tensor;
``effective_sample_size`` and ``split_gelman_rubin`` use Stan's estimators (Geyer's
initial monotone sequence, split chains).
"""

from __future__ import annotations

import torch


def autocorrelation(input: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Autocorrelation of ``input`` along ``dim``, computed by FFT.

    Args:
        input: samples; ``dim`` is the time axis.
        dim: the time axis.

    Returns:
        Tensor of ``input``'s shape; index ``k`` on ``dim`` is the lag-``k`` autocorrelation.

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
    acorr = acov / acov[..., :1]
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
    """Effective sample size by Stan's estimator (Geyer's initial monotone sequence).

    Example:
        >>> x = torch.randn(2, 2000)
        >>> bool(3000 < effective_sample_size(x) < 5500)
        True
    """
    x = _fold_chains(input, chain_dim, sample_dim)
    num_chains, n = x.size(0), x.size(1)
    if n < 2:
        raise ValueError(f"effective_sample_size needs >= 2 samples per chain, got {n}")
    gamma_k_c = autocovariance(x, dim=1)
    var_within = gamma_k_c.mean(0)
    var_estimator = var_within[0]
    if num_chains > 1:
        var_estimator = var_estimator + x.mean(1).var(0)
    rho_k = 1.0 - (var_estimator - var_within) / var_estimator
    rho_k = rho_k.clone()
    rho_k[0] = 1.0
    # pair sums Gamma_k = rho_{2k} + rho_{2k+1}
    m = n // 2
    pairs = rho_k[: 2 * m].reshape((m, 2) + rho_k.shape[1:]).sum(1)
    # initial positive sequence, then make it monotone
    positive = torch.cumprod((pairs > 0).to(pairs.dtype), dim=0)
    pairs = pairs * positive
    monotone = torch.cummin(pairs, dim=0).values
    tau = -1.0 + 2.0 * monotone.sum(0)
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


def quantile(input: torch.Tensor, probs: list[float] | torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Quantiles of ``input`` along ``dim`` by linear interpolation; dim 0 indexes ``probs``.

    Example:
        >>> quantile(torch.arange(11.0), [0.1, 0.5]).tolist()
        [1.0, 5.0]
    """
    q = torch.as_tensor(probs, dtype=input.dtype, device=input.device)
    return torch.quantile(input, q, dim=dim)


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
