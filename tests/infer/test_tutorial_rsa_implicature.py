"""tutorial/rsa_implicature.py: exact Search over poutine.queue gives the RSA marginals."""

from pathlib import Path

import pytest
import torch

TUTORIAL = Path(__file__).resolve().parents[2] / "tutorial" / "rsa_implicature.py"


def test_some_is_read_as_not_all(capsys, load_module):
    module = load_module(TUTORIAL, "rsa_implicature")
    results = module.main(["--utterance", "some"])
    # L0(. | "some") is uniform over the states where "some" is true
    assert results["literal"] == pytest.approx({0: 0.0, 1: 0.25, 2: 0.25, 3: 0.25, 4: 0.25})
    # a speaker who saw all 4 says "all" 4 times in 5: L0(4|all)=1 against L0(4|some)=1/4
    assert results["speaker_all_4"] == pytest.approx({"none": 0.0, "some": 0.2, "all": 0.8})
    # L1(. | "some") ∝ S1("some" | .): 1 for 1..3, 1/5 for 4
    expected = {0: 0.0, 1: 5 / 16, 2: 5 / 16, 3: 5 / 16, 4: 1 / 16}
    assert results["pragmatic"] == pytest.approx(expected, abs=1e-12)
    assert "pragmatic" in capsys.readouterr().out
    assert torch.get_default_dtype() == torch.float32  # restored


def test_search_enumerates_every_execution_once(load_module):
    module = load_module(TUTORIAL, "rsa_implicature")
    posterior = module.Search(module.state_prior).run()
    assert len(posterior.exec_traces) == module.TOTAL + 1
    marginal = module.Marginal(posterior)
    probs = module.probabilities(marginal)
    assert probs == pytest.approx({s: 1 / 5 for s in range(5)})
    assert marginal.log_prob(7) == -float("inf")
    assert marginal.sample() in range(5)


class _Bare(torch.distributions.Distribution):
    """Declares neither arg_constraints nor support (like the RSA examples' marginals)."""

    def __init__(self):
        super().__init__(torch.Size(), torch.Size(), validate_args=False)

    def sample(self, sample_shape=()):
        return torch.tensor(1.0)

    def log_prob(self, value):
        return torch.tensor(-0.5)


def test_sites_accept_distributions_without_constraints_or_support():
    import ppl
    from ppl import poutine

    def model():
        ppl.sample("latent", _Bare())
        ppl.sample("observed", _Bare(), obs=torch.tensor(3.0))

    tr = poutine.trace(model).get_trace()
    assert float(tr.nodes["latent"]["value"]) == 1.0
    assert float(tr.log_prob_sum()) == -1.0
