"""tutorial/normalizing_flows.py runs and its densities and fitted losses are right."""

import math
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).resolve().parents[2] / "tutorial" / "normalizing_flows.py"


def test_change_of_variables_is_the_log_normal(load_module):
    tutorial = load_module(TUTORIAL, "normalizing_flows_tutorial")
    gaps = tutorial.change_of_variables()
    # same closed form up to float32 rounding of log-densities of size ~10
    assert gaps["lognormal_gap"] < 1e-5
    assert gaps["lognormal_3_half_gap"] < 1e-5


@pytest.mark.slow
def test_normalizing_flows_tutorial(load_module):
    tutorial = load_module(TUTORIAL, "normalizing_flows_tutorial")
    r = tutorial.run(num_steps=300, num_data=500, seed=0)
    # standardised data under N(0, I): exactly log(2 pi) + mean square (= 1 per coordinate)
    assert r["normal_nll"] == pytest.approx(math.log(2 * math.pi) + 1, abs=1e-4)
    # the element-wise spline shapes the marginals only: better than the normal, but a
    # joint flow (coupling, or p(x1) p(x2 | x1)) is far better (seed 0: 2.54, 1.71, 1.88)
    assert r["spline_nll"] < r["normal_nll"] - 0.1
    assert r["coupling_nll"] < r["spline_nll"] - 0.4
    assert r["conditional_nll"] < r["spline_nll"] - 0.3
    # a standard normal puts ~10% of its mass inside the rings' empty centre; the joint
    # flows learn the hole (the element-wise spline cannot empty it)
    assert 0.07 < r["normal_hole"] < 0.13
    assert r["coupling_hole"] < 0.02 and r["conditional_hole"] < 0.02
    assert r["spline_hole"] > 2 * r["coupling_hole"]
