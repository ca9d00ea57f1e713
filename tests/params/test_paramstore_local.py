"""Instance-local ParamStores: ``with store:`` and ``ppl.param(..., store=)``."""

import pytest
import torch

import ppl
import ppl.distributions as dist
from ppl.distributions import constraints
from ppl.infer import SVI, Trace_ELBO
from ppl.infer.autoguide import AutoNormal
from ppl.params import ParamStoreDict, get_param_store


def test_with_store_redirects_param_and_get_param_store():
    mine = ParamStoreDict()
    with mine as active:
        assert active is mine and get_param_store() is mine
        w = ppl.param("w", torch.tensor(2.0), constraint=constraints.positive)
    assert float(w) == 2.0
    assert list(mine.keys()) == ["w"]
    assert "w" not in get_param_store()  # the global store is untouched


def test_same_names_live_apart_in_two_stores():
    a, b = ParamStoreDict(), ParamStoreDict()
    with a:
        ppl.param("w", torch.tensor(1.0))
    with b:
        ppl.param("w", torch.tensor(5.0))
        with a:  # nesting: innermost wins
            assert float(ppl.param("w")) == 1.0
        assert float(ppl.param("w")) == 5.0
    assert float(a["w"]) == 1.0 and float(b["w"]) == 5.0


def test_store_keyword_is_one_statement():
    mine = ParamStoreDict()
    value = ppl.param("s", torch.tensor(3.0), constraint=constraints.positive, store=mine)
    assert float(value) == 3.0
    assert "s" in mine and "s" not in get_param_store()
    with pytest.raises(TypeError, match="store must be a ParamStoreDict, got dict"):
        ppl.param("s", torch.tensor(1.0), store={})


def test_clear_param_store_clears_the_active_store():
    ppl.param("g", torch.tensor(0.0))
    mine = ParamStoreDict()
    with mine:
        ppl.param("w", torch.tensor(0.0))
        ppl.clear_param_store()
    assert len(mine) == 0 and "g" in get_param_store()


def test_exit_out_of_order_is_an_error():
    a, b = ParamStoreDict(), ParamStoreDict()
    a.__enter__()
    b.__enter__()
    with pytest.raises(RuntimeError, match="not the innermost active store"):
        a.__exit__(None, None, None)
    b.__exit__(None, None, None)
    a.__exit__(None, None, None)
    assert get_param_store() is not a


def _model(data):
    mu = ppl.sample("mu", dist.Normal(0.0, 10.0))
    with ppl.plate("data", len(data)):
        ppl.sample("obs", dist.Normal(mu, 1.0), obs=data)


@pytest.mark.slow
def test_two_models_train_in_their_own_stores():
    # conjugate Normal-Normal: posterior mean = sum(x) / (n + 1/100)
    torch.manual_seed(0)
    fits = {}
    for label, data in {"a": torch.full((20,), 1.0), "b": torch.full((20,), -2.0)}.items():
        store = ParamStoreDict()
        with store:
            guide = AutoNormal(_model)
            svi = SVI(_model, guide, ppl.optim.Adam({"lr": 0.2}), Trace_ELBO())
            for _ in range(100):
                svi.step(data)
        fits[label] = store
    assert len(get_param_store()) == 0
    for label, target in {"a": 20.0 / 20.01, "b": -40.0 / 20.01}.items():
        assert sorted(fits[label].keys()) == ["AutoNormal.locs.mu", "AutoNormal.scales.mu"]
        # exact posterior sd is 1/sqrt(20.01) ~ 0.22; the fitted mean lies within it
        assert float(fits[label]["AutoNormal.locs.mu"]) == pytest.approx(target, abs=0.22)
