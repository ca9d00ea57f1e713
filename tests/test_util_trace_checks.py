"""ppl.util: Pyro's trace checks (traces match, enumeration requirements) and visualization."""

import sys
import timeit
import warnings

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl import poutine, util


def trace_of(fn):
    return poutine.trace(fn).get_trace()


def test_check_traces_match():
    a = trace_of(lambda: ppl.sample("x", dist.Normal(torch.zeros(2), 1.0)))
    b = trace_of(lambda: ppl.sample("x", dist.Normal(torch.zeros(3), 1.0)))
    c = trace_of(lambda: ppl.sample("y", dist.Normal(0.0, 1.0)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        util.check_traces_match(a, a)
    with pytest.raises(ValueError, match=r"site 'x': \(2,\) vs \(3,\)"):
        util.check_traces_match(a, b)
    with pytest.warns(RuntimeWarning, match="Model vars changed"):
        util.check_traces_match(a, c)


def test_check_if_enumerated():
    tr = trace_of(lambda: ppl.sample("c", dist.Bernoulli(0.5), infer={"enumerate": "parallel"}))
    with pytest.warns(UserWarning, match="enumeration: c"):
        util.check_if_enumerated(tr)


def test_traceenum_requirements_support_error():
    tr = trace_of(lambda: ppl.sample("z", dist.Normal(0.0, 1.0), infer={"enumerate": "parallel"}))
    with pytest.raises(ValueError, match="'z'.*Normal"):
        util.check_traceenum_requirements(tr, tr)


def test_traceenum_requirements_order_warning():
    def bad():
        with ppl.plate("p", 2):
            ppl.sample("c", dist.Bernoulli(0.5), infer={"enumerate": "parallel"})
        ppl.sample("after", dist.Normal(0.0, 1.0))

    def good():
        ppl.sample("before", dist.Normal(0.0, 1.0))
        with ppl.plate("p", 2):
            ppl.sample("c", dist.Bernoulli(0.5), infer={"enumerate": "parallel"})

    tr = trace_of(bad)
    with pytest.warns(RuntimeWarning, match='(?s)guide site "after".*"c".*plates "p"'):
        util.check_traceenum_requirements(trace_of(good), tr)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        util.check_traceenum_requirements(trace_of(good), trace_of(good))

    def sequential():  # different iterations of a sequential plate are independent
        for i in ppl.plate("s", 2):
            with ppl.plate(f"p{i}", 2):
                ppl.sample(f"c{i}", dist.Bernoulli(0.5), infer={"enumerate": "parallel"})
            ppl.sample(f"after{i}", dist.Normal(0.0, 1.0))

    tr = trace_of(sequential)
    with pytest.warns(RuntimeWarning) as record:
        util.check_traceenum_requirements(tr, tr)
    # each after_i depends (maybe) only on c_i of its own iteration: one warning per role and i
    assert len(record) == 4


def test_site_is_subsample_and_timeit():
    def model():
        with ppl.plate("d", 5, subsample_size=2):
            ppl.sample("x", dist.Normal(0.0, 1.0))

    tr = trace_of(model)
    assert [n for n, s in tr.nodes.items() if util.site_is_subsample(s)] == ["d"]
    assert util.timeit is timeit


def test_save_visualization_without_graphviz(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)
    tr = trace_of(lambda: ppl.sample("x", dist.Normal(0.0, 1.0)))
    with pytest.warns(DeprecationWarning), pytest.raises(ImportError, match="pip install graphviz"):
        util.save_visualization(tr, "/tmp/never_written")


def test_same_as_pyro_traceenum_warning():
    pyro = pytest.importorskip("pyro")
    from pyro.util import check_traceenum_requirements as pyro_check

    def bad(sample, plate, Bernoulli, Normal):
        with plate("p", 2):
            sample("c", Bernoulli(0.5), infer={"enumerate": "parallel"})
        sample("after", Normal(0.0, 1.0))

    ours = trace_of(lambda: bad(ppl.sample, ppl.plate, dist.Bernoulli, dist.Normal))
    pd = pyro.distributions
    theirs = pyro.poutine.trace(
        lambda: bad(pyro.sample, pyro.plate, pd.Bernoulli, pd.Normal)
    ).get_trace()
    with pytest.warns(RuntimeWarning) as ours_w:
        util.check_traceenum_requirements(ours, ours)
    with pytest.warns(RuntimeWarning) as theirs_w:
        pyro_check(theirs, theirs)
    assert [str(w.message) for w in ours_w] == [str(w.message) for w in theirs_w]
