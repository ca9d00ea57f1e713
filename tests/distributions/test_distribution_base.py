"""ppl.distributions.Distribution: Pyro's callable base class, a torch distribution."""

import torch

import ppl
import ppl.distributions as dist
from ppl import poutine


class _Histogram(dist.Distribution):
    """A distribution over Python values (as Pyro's RSA examples build one)."""

    has_enumerate_support = True

    def __init__(self, probs: dict):
        super().__init__()
        self.probs = probs

    def sample(self, sample_shape=()):
        return max(self.probs, key=self.probs.get)

    def log_prob(self, value):
        return torch.tensor(self.probs.get(value, 0.0)).log()

    def enumerate_support(self, expand=True):
        return list(self.probs)


def test_calling_draws_and_every_torch_distribution_is_one():
    d = _Histogram({"a": 0.25, "b": 0.75})
    assert d() == "b"
    assert isinstance(d, torch.distributions.Distribution)
    assert isinstance(torch.distributions.Normal(0.0, 1.0), dist.Distribution)
    assert isinstance(dist.Normal(0.0, 1.0), dist.Distribution)
    assert issubclass(dist.Beta, dist.Distribution) and not isinstance(3.0, dist.Distribution)
    assert not isinstance(torch.distributions.Normal(0.0, 1.0), _Histogram)
    assert dist.Normal(torch.zeros(3), 1.0)().shape == (3,)  # rsample when it has one


def test_non_tensor_distribution_as_a_site():
    def model():
        word = ppl.sample("word", _Histogram({"a": 0.25, "b": 0.75}))
        ppl.sample("seen", _Histogram({"a": 0.5, "b": 0.5}), obs=word)
        return word

    tr = poutine.trace(model).get_trace()
    assert tr.nodes["_RETURN"]["value"] == "b"
    expected = torch.tensor(0.75).log() + torch.tensor(0.5).log()
    assert torch.isclose(tr.log_prob_sum(), expected)
