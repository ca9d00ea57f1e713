"""The seed-003 tutorial runs and prints the numbers it promises."""

import pathlib
import runpy

import pytest

TUTORIAL = pathlib.Path(__file__).parents[2] / "tutorial" / "seed003_param_store.py"


@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")
def test_seed003_tutorial(capsys):
    runpy.run_path(str(TUTORIAL), run_name="__main__")
    out = capsys.readouterr().out
    assert "scale: 2.0 (second init ignored: 2.0 )" in out
    assert "param_name(leaf of scale): scale" in out
    assert "d scale / d log-scale = 2.0" in out
    assert "ValueError: parameter 'bad'" in out
    assert "model 1 loc: 3.0" in out and "model 2 loc: -2.0" in out
    assert "outer store untouched: ['loc', 'scale', 'w']" in out
    assert "loaded weights reached the new module: True" in out
    assert "file created by unpickling? False" in out
