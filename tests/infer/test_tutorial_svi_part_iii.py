"""tutorial/svi_part_iii.py: score-function SVI with and without a decaying-average
baseline reaches the conjugate posterior Beta(16, 14); the baseline keeps the gradient
unbiased and shrinks its variance."""

from pathlib import Path

import pytest
import torch

TUTORIAL = Path(__file__).resolve().parents[2] / "tutorial" / "svi_part_iii.py"


@pytest.mark.slow
def test_baselines_reach_the_posterior_faster_with_unbiased_lower_variance_gradients(
    capsys, load_module
):
    module = load_module(TUTORIAL, "svi_part_iii")
    assert (module.ALPHA_N, module.BETA_N) == (16.0, 14.0)
    out = module.main(["--tolerance", "0.8", "--max-steps", "3000", "--num-estimates", "400"])
    for key in ("with_baseline", "without_baseline"):
        run = out[key]
        assert run["steps"] < 3000
        assert run["alpha_error"] < 0.8 and run["beta_error"] < 0.8
        assert run["alpha_q"] == pytest.approx(16.0, abs=0.8)
        assert run["beta_q"] == pytest.approx(14.0, abs=0.8)
    assert out["with_baseline"]["steps"] < out["without_baseline"]["steps"]
    # both estimators are unbiased: their means are within 4 standard errors of the exact
    # gradient (closed-form Beta expectations)
    exact = out["exact_gradient"]
    n = out["num_estimates"]
    for key in ("grad_with_baseline", "grad_without_baseline"):
        mean, var = out[key]
        assert (torch.abs(mean - exact) < 4 * (var / n).sqrt()).all(), key
    # and the baseline cuts the variance by more than an order of magnitude
    ratio = out["grad_without_baseline"][1] / out["grad_with_baseline"][1]
    assert (ratio > 20).all()
    assert "use_decaying_avg_baseline=True" in capsys.readouterr().out


def test_exact_gradient_is_antisymmetric_and_vanishes_at_the_posterior(load_module):
    module = load_module(TUTORIAL, "svi_part_iii")
    grad = module.exact_gradient(15.0, 15.0)
    assert float(grad[0]) == pytest.approx(-float(grad[1]), rel=1e-6)  # symmetric prior
    # at the exact posterior's parameters the ELBO is stationary
    assert module.exact_gradient(16.0, 14.0).abs().max() < 1e-5
