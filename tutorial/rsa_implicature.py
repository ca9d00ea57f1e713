"""Rational Speech Acts: the scalar implicature of "some", by exact enumeration.

The flow of Pyro's ``RSA-implicature`` tutorial. A speaker sees how many of
``TOTAL = 4`` objects have a property (the *state*, 0..4) and says "none", "some" or
"all". Literally "some" means "at least one", yet a listener hearing "some" infers
"not all": a speaker who saw all four would have said "all". RSA derives that from
three nested models, each an exact distribution computed by enumerating every
execution of the one below it:

1. **Literal listener** ``L0(state | utt)``: the uniform prior over states, kept where
   the utterance is literally true (a ``ppl.factor`` of ``-999999`` elsewhere).
2. **Speaker** ``S1(utt | state)``: the uniform prior over utterances, weighted by how
   likely ``L0`` is to recover the true state, ``L0(state | utt) ** alpha``.
3. **Pragmatic listener** ``L1(state | utt)``: the state prior weighted by
   ``S1(utt | state)``.

``Search`` is exact inference by breadth-first enumeration: ``poutine.queue`` runs the
model once per partial trace in a queue, and at the first sample site that the trace
does not yet fix it stops the run (``NonlocalExit``) and queues one extension of the
trace per value of the site's support (``poutine.util.enum_extend``). Every complete
execution comes out once, weighted by its log joint; ``Marginal`` folds them into a
distribution over the model's return value. Memoizing each marginal (``lru_cache``)
keeps the nested enumerations from being recomputed.

Exact answers: ``L1(state | "some") = (0, 5/16, 5/16, 5/16, 1/16)``, since
``S1("some" | 4) = 1/5`` (``L0(4 | "some") = 1/4`` against ``L0(4 | "all") = 1``) and
``S1("some" | 1..3) = 1``. Run ``python tutorial/rsa_implicature.py``.
"""

from __future__ import annotations

import argparse
import functools
import math
import queue
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import torch

import ppl as pyro
import ppl.distributions as dist
from ppl import poutine
from ppl.infer.abstract_infer import TracePosterior

TOTAL = 4
UTTERANCES = ["none", "some", "all"]
MEANINGS: dict[str, Callable[[int], bool]] = {
    "none": lambda n: n == 0,
    "some": lambda n: n > 0,
    "all": lambda n: n == TOTAL,
}


class Search(TracePosterior):
    """Exact posterior over every execution of ``model``, by breadth-first enumeration."""

    def __init__(self, model: Callable[..., Any], max_tries: int = 1_000_000) -> None:
        super().__init__()
        self.model = model
        self.max_tries = max_tries

    def _traces(self, *args: Any, **kwargs: Any) -> Iterator[tuple[Any, torch.Tensor]]:
        pending: queue.Queue[Any] = queue.Queue()
        pending.put(poutine.Trace())
        runner = poutine.trace(poutine.queue(self.model, queue=pending, max_tries=self.max_tries))
        while not pending.empty():
            tr = runner.get_trace(*args, **kwargs)
            yield tr, tr.log_prob_sum()


def _key(value: Any) -> Hashable:
    """A hashable key of a return value (tensors by their contents)."""
    if isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.reshape(-1).tolist()))
    return value


class Marginal(torch.distributions.Distribution):
    """The distribution of a :class:`Search` posterior's return values.

    Executions returning equal values are merged (their weights log-sum-exp'ed); values
    are kept in the order first seen. Scalar, with Python or tensor values.
    """

    arg_constraints: dict[str, Any] = {}
    has_enumerate_support = True

    def __init__(self, posterior: TracePosterior) -> None:
        super().__init__(torch.Size(), torch.Size(), validate_args=False)
        logits: dict[Hashable, torch.Tensor] = {}
        self.values: dict[Hashable, Any] = {}
        for tr, log_weight in zip(posterior.exec_traces, posterior.log_weights):
            value = tr.nodes["_RETURN"]["value"]
            key = _key(value)
            weight = torch.as_tensor(log_weight, dtype=torch.get_default_dtype())
            if key in logits:
                logits[key] = torch.logaddexp(logits[key], weight)
            else:
                logits[key] = weight
                self.values[key] = value
        stacked = torch.stack(list(logits.values()))
        self.logits = stacked - stacked.logsumexp(0)
        self._index = {key: i for i, key in enumerate(logits)}

    def sample(self, sample_shape: Any = ()) -> Any:
        if sample_shape:
            raise ValueError("Marginal.sample: draws one value at a time (sample_shape=())")
        i = int(torch.distributions.Categorical(logits=self.logits).sample())
        return list(self.values.values())[i]

    def log_prob(self, value: Any) -> torch.Tensor:
        i = self._index.get(_key(value))
        if i is None:
            return torch.tensor(-math.inf)
        return self.logits[i]

    def enumerate_support(self, expand: bool = True) -> list[Any]:
        return list(self.values.values())


def marginal(fn: Callable[..., Any]) -> Callable[..., Marginal]:
    """Turn a model into a memoized function from its arguments to the exact
    distribution of its return value."""
    return functools.lru_cache(maxsize=None)(lambda *args: Marginal(Search(fn).run(*args)))


def state_prior() -> int:
    state = pyro.sample("state", dist.Categorical(probs=torch.ones(TOTAL + 1) / (TOTAL + 1)))
    return int(state)


def utterance_prior() -> str:
    index = pyro.sample("utt", dist.Categorical(probs=torch.ones(len(UTTERANCES)) / 3))
    return UTTERANCES[int(index)]


@marginal
def literal_listener(utterance: str) -> int:
    state = state_prior()
    pyro.factor("literal_meaning", 0.0 if MEANINGS[utterance](state) else -999999.0)
    return state


ALPHA = 1.0


@marginal
def speaker(state: int) -> str:
    with poutine.scale(scale=torch.tensor(ALPHA)):
        utterance = utterance_prior()
        pyro.sample("listener", literal_listener(utterance), obs=state)
    return utterance


@marginal
def pragmatic_listener(utterance: str) -> int:
    state = state_prior()
    pyro.sample("speaker", speaker(state), obs=utterance)
    return state


def probabilities(d: Marginal) -> dict[Any, float]:
    """``{value: probability}`` of an enumerated marginal."""
    return {value: float(d.log_prob(value).exp()) for value in d.enumerate_support()}


def main(argv: list[str] | None = None) -> dict[str, dict[Any, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterance", default="some", choices=UTTERANCES)
    args = parser.parse_args(argv)
    old_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # exp(-999999) must underflow cleanly
    try:
        results = {
            "literal": probabilities(literal_listener(args.utterance)),
            "speaker_all_4": probabilities(speaker(TOTAL)),
            "pragmatic": probabilities(pragmatic_listener(args.utterance)),
        }
    finally:
        torch.set_default_dtype(old_dtype)
    for label, probs in results.items():
        shown = ", ".join(f"{k}: {v:.4f}" for k, v in sorted(probs.items(), key=str))
        print(f"{label:>14}: {shown}")
    return results


if __name__ == "__main__":
    main()
