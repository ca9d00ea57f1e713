"""scripts/bench_svi.py keeps working (a smoke run: no timing is asserted)."""

from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_svi.py"


def test_runners_step_and_the_table_prints(capsys, load_module):
    bench = load_module(SCRIPT, "ppl_bench_svi_script")
    runners = {
        "torch loop": bench.torch_coin(1),
        "ppl (validation off)": bench.ppl_coin(1, False),
        "ppl (validation on)": bench.ppl_coin(1, True),
        "ppl SVI(compile=True) (val. off)": bench.ppl_coin(1, False, compile=True),
        "ppl JitTrace_ELBO (val. off)": bench.ppl_coin(1, False, bench.JitTrace_ELBO),
    }
    medians = bench.bench("smoke", runners, steps=20, repeats=3)
    assert set(medians) == set(runners) and all(rate > 0 for rate in medians.values())
    out = capsys.readouterr().out
    assert "vs torch loop" in out and "ppl SVI(compile=True) (val. off)" in out


def test_automvn_workload_runs_and_its_factor_is_the_rotated_gaussian(capsys, load_module):
    import math

    import torch

    bench = load_module(SCRIPT, "ppl_bench_svi_script")
    # at (1, 1) the rotated coordinates are (0, sqrt 2): -0.5 * 2 / sig2^2 = -1/9
    value = bench.mvn_log_fac(torch.tensor(1.0), torch.tensor(1.0))
    assert math.isclose(float(value), -1.0 / 9.0, rel_tol=1e-6)
    runners = {"torch loop": bench.torch_automvn(), "ppl (validation on)": bench.ppl_automvn(True)}
    medians = bench.bench("automvn smoke", runners, steps=20, repeats=3)
    assert set(medians) == set(runners) and all(rate > 0 for rate in medians.values())
    bench.summary({"automvn": {**medians, "pyro (validation on)": 1.0}})
    assert "targets" in capsys.readouterr().out
