"""The same scripts under real Pyro and under ppl give the same answers.

Skipped when pyro-ppl is not installed. Only scripts that are cheap under Pyro, or whose
answer has no closed form (eight schools), are run twice; the others are checked
against exact answers in ``test_scripts_ppl.py``. Random numbers are compared within
statistical tolerances, structure (names, shapes, flags) exactly.
"""

import importlib.util

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pyro") is None, reason="pyro-ppl not installed"
)


def test_eight_schools_same_posterior_as_pyro(run_script):
    ours, theirs = run_script("eight_schools"), run_script("eight_schools", "pyro")
    # Seeds 0-2 of each backend give mu means 4.45-4.82 and tau medians 2.2-2.4;
    # 0.5 is 0.15 posterior sd of mu (3.3) and a quarter of the tau median.
    assert ours["mu_mean"] == pytest.approx(theirs["mu_mean"], abs=0.5)
    assert ours["tau_median"] == pytest.approx(theirs["tau_median"], abs=0.5)
    assert ours["theta_mean"] == pytest.approx(theirs["theta_mean"], abs=1.2)  # 0.2 sd
    assert ours["final_loss"] == pytest.approx(theirs["final_loss"], abs=0.5)
    assert ours["theta_shape"] == theirs["theta_shape"]
    assert ours["param_names"] == theirs["param_names"]


@pytest.mark.parametrize("name", ["handlers", "param_store_io", "minibatch_plate"])
def test_same_outputs_as_pyro(run_script, name):
    ours, theirs = run_script(name), run_script(name, "pyro")
    assert sorted(ours) == sorted(theirs)
    for key, value in theirs.items():
        if isinstance(value, float):
            # minibatch_plate: both fitted values within SVI noise of the exact posterior
            assert ours[key] == pytest.approx(value, abs=0.02), key
        elif isinstance(value, list) and value and isinstance(value[0], float):
            assert ours[key] == pytest.approx(value, abs=1e-5), key
        else:
            assert ours[key] == value, key


def test_trace_inspect_same_as_pyro(run_script):
    ours, theirs = run_script("trace_inspect"), run_script("trace_inspect", "pyro")
    assert ours["sample_sites"] == theirs["sample_sites"]  # plate sites included, as Pyro
    assert ours["stochastic"] == theirs["stochastic"]
    for key in ("observed", "y_is_observed", "w_batch_shape", "z_event_shape",
                "y_log_prob_shape", "return_equals_w"):  # fmt: skip
        assert ours[key] == theirs[key], key


def test_lr_schedule_same_as_pyro(run_script):
    ours, theirs = run_script("lr_scheduler"), run_script("lr_scheduler", "pyro")
    assert ours["lrs"] == pytest.approx(theirs["lrs"], rel=1e-12)
    assert ours["num_optim_objs"] == theirs["num_optim_objs"]
    assert ours["slope_loc"] == pytest.approx(theirs["slope_loc"], abs=0.012)


def test_predictive_sites_same_as_pyro(run_script):
    ours = run_script("bayes_linreg", num_steps=20, num_samples=30)
    theirs = run_script("bayes_linreg", "pyro", num_steps=20, num_samples=30)
    assert ours["site_names"] == theirs["site_names"]
    assert ours["shape_obs"] == theirs["shape_obs"] == (30, 100)
    assert ours["shape_return"] == theirs["shape_return"] == (30, 100)
