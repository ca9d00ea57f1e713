"""tutorial/gp_regression.py runs and its fitted numbers match the truth."""

from pathlib import Path

import pytest

TUTORIAL = Path(__file__).resolve().parents[3] / "tutorial" / "gp_regression.py"


@pytest.mark.slow
def test_gp_regression_tutorial(load_module, capsys):
    tutorial = load_module(TUTORIAL, "gp_regression_tutorial")
    r = tutorial.run(num_steps=200, seed=0)
    noise_var = tutorial.NOISE_SD**2
    # noise variance from n points has standard error ~ var * sqrt(2 / n); allow 3 SE
    assert abs(r["mle_noise"] - noise_var) < 3 * noise_var * (2 / 20) ** 0.5
    assert abs(r["sparse_noise"] - noise_var) < 3 * noise_var * (2 / 1000) ** 0.5
    # the predictive means track 0.5 sin(3x) well below the noise level (sd 0.2)
    assert r["mle_rmse"] < 0.15 and r["map_rmse"] < 0.15
    assert r["sparse_rmse"] < 0.05
    # the lengthscale of sin(3x) is about 1/3-1/2; the prior keeps MAP there too
    assert 0.3 < r["mle_lengthscale"] < 0.8 and 0.3 < r["map_lengthscale"] < 0.8
