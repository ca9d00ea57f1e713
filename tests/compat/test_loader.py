"""The script loader: the ppl -> pyro import rewrite and its errors."""

import pytest


def test_rewrite_touches_only_import_lines(compat_loader):
    src = (
        "import ppl as pyro\nfrom ppl.infer.svi import SVI\n  from ppl import poutine\n"
        "import ppl.distributions as dist\nx = 'ppl'\nimport pplx"
    )
    assert compat_loader.rewrite_for_pyro(src) == (
        "import pyro\nfrom pyro.infer.svi import SVI\n  from pyro import poutine\n"
        "import pyro.distributions as dist\nx = 'ppl'\nimport pplx"
    )


def test_every_script_loads_and_has_a_main(compat_loader, load_script):
    names = compat_loader.script_names()
    assert len(names) == 11 and "loader" not in names
    assert all(callable(load_script(n).main) for n in names)


def test_load_script_errors(load_script):
    with pytest.raises(ValueError, match="backend must be one of"):
        load_script("coin_beta_guide", "numpyro")
    with pytest.raises(ValueError, match="no script 'nope'"):
        load_script("nope")
