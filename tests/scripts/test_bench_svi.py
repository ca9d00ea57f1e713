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
