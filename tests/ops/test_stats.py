import pytest
import torch

from ppl.ops.stats import autocorrelation, effective_sample_size, hpdi, split_gelman_rubin


def test_autocorrelation_ar1_matches_closed_form():
    rho, n = 0.8, 20000
    noise = torch.randn(n, dtype=torch.float64)
    x = torch.zeros(n, dtype=torch.float64)
    for t in range(1, n):
        x[t] = rho * x[t - 1] + noise[t]
    acorr = autocorrelation(x)
    assert acorr[1].item() == pytest.approx(rho, abs=0.03)
    # ESS of AR(1): n * (1 - rho) / (1 + rho)
    ess = effective_sample_size(x.unsqueeze(0)).item()
    assert ess == pytest.approx(n * (1 - rho) / (1 + rho), rel=0.2)


def test_split_rhat_flags_drift():
    x = torch.randn(2, 1000, dtype=torch.float64)
    assert split_gelman_rubin(x).item() < 1.01
    drift = x + torch.linspace(0, 5, 1000, dtype=torch.float64)
    assert split_gelman_rubin(drift).item() > 1.1


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="at least 2 samples"):
        autocorrelation(torch.zeros(1))
    with pytest.raises(ValueError, match="prob must be in"):
        hpdi(torch.zeros(5), 1.5)
