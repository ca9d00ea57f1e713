"""SVI.__init__ rejects unknown keywords instead of swallowing them."""

import pytest
import torch

import ppl
from ppl.infer import SVI, Trace_ELBO
from ppl.optim import Adam


def _model() -> None:
    ppl.sample("x", ppl.distributions.Normal(torch.tensor(0.0), 1.0))


def _guide() -> None:
    loc = ppl.param("loc", torch.tensor(0.0))
    ppl.sample("x", ppl.distributions.Normal(loc, 1.0))


def test_typo_keyword_raises() -> None:
    with pytest.raises(TypeError, match="complie"):
        SVI(_model, _guide, Adam({"lr": 0.1}), Trace_ELBO(), complie=True)  # type: ignore[call-arg]


def test_pyro_signature_keywords_accepted() -> None:
    svi = SVI(_model, _guide, Adam({"lr": 0.1}), Trace_ELBO(), num_samples=0, num_steps=0)
    assert isinstance(svi.step(), float)
