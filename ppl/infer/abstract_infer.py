"""``TracePosterior``: a posterior held as a weighted bag of execution traces.

Design notes
------------
Sampling-based inference (importance sampling, CSIS, Pyro's trace-based SVI
posterior) produces *traces*, each with a log-weight. :class:`TracePosterior` is the
one container for them: a subclass only writes the generator ``_traces(*args)``
yielding ``(trace, log_weight)`` or ``(trace, log_weight, chain_id)``; ``run`` drains
it (under ``block``, so an enclosing ``trace`` records nothing) and keeps three
parallel lists, ``exec_traces``, ``log_weights`` and ``chain_ids``. Everything else
reads those lists:

* :class:`EmpiricalMarginal` turns the values of one site (or of several sites of
  one shape, stacked) into an :class:`~ppl.distributions.empirical.Empirical`
  weighted by the log-weights; with several chains, the chain is a batch dim.
* :class:`Marginals` holds one ``EmpiricalMarginal`` per site.
* ``information_criterion`` computes WAIC from the single observed site's
  pointwise log-likelihood under every trace.
* Calling the posterior draws one trace (by weight) without its observed sites.

:class:`TracePredictive` (deprecated in Pyro in favour of ``Predictive``) replays a
model against traces drawn from a posterior.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> def prior():
    ...     return ppl.sample("z", dist.Normal(0.0, 1.0))
    >>> class Prior(TracePosterior):
    ...     def _traces(self):
    ...         for _ in range(3):
    ...             yield ppl.poutine.trace(prior).get_trace(), 0.0
    >>> post = Prior().run()
    >>> len(post.exec_traces), EmpiricalMarginal(post, "z").sample_size
    (3, 3)
"""

from __future__ import annotations

import numbers
import warnings
from abc import ABCMeta, abstractmethod
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from typing_extensions import Self

from ..distributions.empirical import Empirical
from ..distributions.torch_dists import Categorical
from ..ops.stats import waic
from ..poutine.block_messenger import BlockMessenger
from ..poutine.replay_messenger import replay
from ..poutine.trace_messenger import trace as trace_handler
from ..poutine.trace_struct import Trace, is_subsample_site

__all__ = [
    "EmpiricalMarginal",
    "GuideTracePosterior",
    "Marginals",
    "TracePosterior",
    "TracePredictive",
]


def _as_weight(log_weight: Any) -> torch.Tensor:
    """A detached 0-dim tensor for one log-weight (a float or a tensor)."""
    if isinstance(log_weight, torch.Tensor):
        return log_weight.detach().reshape(())
    return torch.tensor(float(log_weight))


def _weights_tensor(log_weights: Sequence[Any], like: torch.Tensor | None = None) -> torch.Tensor:
    """Stack log-weights into a 1-d tensor (on ``like``'s device and float dtype if given)."""
    weights = [_as_weight(w) for w in log_weights]
    if like is not None:
        dtype = like.dtype if like.dtype.is_floating_point else torch.get_default_dtype()
        weights = [w.to(device=like.device, dtype=dtype) for w in weights]
    elif weights:
        device = weights[0].device
        weights = [w.to(device=device, dtype=torch.get_default_dtype()) for w in weights]
    if not weights:
        return torch.empty(0)
    return torch.stack(weights)


class TracePosterior(metaclass=ABCMeta):
    """Base class of inference algorithms whose result is a set of weighted traces.

    Subclasses implement ``_traces(*args, **kwargs)``; :meth:`run` collects what it yields.

    Args:
        num_chains: number of chains the traces may come from (``chain_id`` in
            ``[0, num_chains)``).

    Attributes:
        exec_traces: the collected traces, in order.
        log_weights: one log-weight per trace (float or 0-dim tensor).
        chain_ids: the chain of each trace.
    """

    def __init__(self, num_chains: int = 1) -> None:
        self.num_chains = num_chains
        self._reset()

    def _reset(self) -> None:
        self.log_weights: list[Any] = []
        self.exec_traces: list[Trace] = []
        self.chain_ids: list[int] = []
        self._idx_by_chain: list[list[int]] = [[] for _ in range(self.num_chains)]
        self._categorical: Categorical | None = None

    @abstractmethod
    def _traces(self, *args: Any, **kwargs: Any) -> Iterator[tuple]:
        """Yield ``(trace, log_weight)`` or ``(trace, log_weight, chain_id)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement _traces")

    def run(self, *args: Any, **kwargs: Any) -> Self:
        """Collect the traces of ``_traces(*args, **kwargs)``; returns ``self``.

        Raises:
            ValueError: if a yielded ``chain_id`` is outside ``[0, num_chains)``.
        """
        self._reset()
        with BlockMessenger():
            for i, item in enumerate(self._traces(*args, **kwargs)):
                if len(item) == 2:
                    tr, log_weight = item
                    chain_id = 0
                else:
                    tr, log_weight, chain_id = item
                if not 0 <= chain_id < self.num_chains:
                    raise ValueError(
                        f"{type(self).__name__}: chain_id {chain_id} is outside "
                        f"[0, num_chains={self.num_chains})"
                    )
                self.exec_traces.append(tr)
                self.log_weights.append(log_weight)
                self.chain_ids.append(chain_id)
                self._idx_by_chain[chain_id].append(i)
        if self.log_weights:
            self._categorical = Categorical(logits=_weights_tensor(self.log_weights))
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Trace:
        """One collected trace, drawn by weight, with its observed sites removed.

        Raises:
            ValueError: if :meth:`run` has not collected any trace yet.
        """
        if self._categorical is None:
            raise ValueError(f"{type(self).__name__}: call .run(...) before drawing a trace")
        draw = int(self._categorical.sample().item())
        chain, position = draw % self.num_chains, draw // self.num_chains
        index = self._idx_by_chain[chain][position]
        tr = self.exec_traces[index].copy()
        for name in tr.observation_nodes:
            tr.remove_node(name)
        return tr

    def marginal(self, sites: str | list[str] | None = None) -> Marginals:
        """The :class:`Marginals` of ``sites`` (default ``"_RETURN"``)."""
        return Marginals(self, sites)

    def information_criterion(self, pointwise: bool = False) -> dict[str, torch.Tensor]:
        """WAIC and its effective number of parameters ``p_waic`` (Vehtari et al., 2017).

        Uses the pointwise log-likelihood of the model's one observed site under each
        trace, weighted by the log-weights. With ``pointwise`` the values are per
        data point, else summed. Empty if nothing was collected.

        Raises:
            ValueError: if a trace has more than one (or no) observed site, or the
                observed site changes between traces.
        """
        if not self.exec_traces:
            return {}
        obs_name: str | None = None
        log_liks = []
        for tr in self.exec_traces:
            names = tr.observation_nodes
            if len(names) != 1:
                raise ValueError(
                    "information_criterion needs a model with exactly one observed site, "
                    f"got {names}"
                )
            if obs_name is None:
                obs_name = names[0]
            elif names[0] != obs_name:
                raise ValueError(
                    f"information_criterion: the observed site changed from {obs_name!r} "
                    f"to {names[0]!r} between traces"
                )
            site = tr.nodes[obs_name]
            log_liks.append(site.fn.log_prob(site.value))
        ll = torch.stack(log_liks, dim=0)
        value, p_waic = waic(ll, _weights_tensor(self.log_weights, like=ll), pointwise)
        return OrderedDict([("waic", value), ("p_waic", p_waic)])


class EmpiricalMarginal(Empirical):
    """The weighted empirical distribution of one site (or several same-shaped sites).

    Args:
        trace_posterior: a :class:`TracePosterior` that has been run.
        sites: a site name (default ``"_RETURN"``) or a list of names of sites with
            equal shapes, whose values are stacked along a new leftmost event dim.
        validate_args: passed to :class:`~ppl.distributions.empirical.Empirical`.

    Raises:
        TypeError: if ``trace_posterior`` is not a :class:`TracePosterior`.
        ValueError: if it holds no traces, or a log-weight is not a scalar.
    """

    def __init__(
        self,
        trace_posterior: TracePosterior,
        sites: str | list[str] | None = None,
        validate_args: bool | None = None,
    ) -> None:
        if not isinstance(trace_posterior, TracePosterior):
            raise TypeError(
                "EmpiricalMarginal: trace_posterior must be a TracePosterior, got "
                f"{type(trace_posterior).__name__}"
            )
        if not trace_posterior.exec_traces:
            raise ValueError("EmpiricalMarginal: the posterior holds no traces; call .run() first")
        if sites is None:
            sites = "_RETURN"
        values: dict[int, list[torch.Tensor]] = defaultdict(list)
        weights: dict[int, list[Any]] = defaultdict(list)
        for tr, log_weight, chain in zip(
            trace_posterior.exec_traces, trace_posterior.log_weights, trace_posterior.chain_ids
        ):
            if isinstance(sites, str):
                value = torch.as_tensor(tr.nodes[sites].value)
            else:
                value = torch.stack([torch.as_tensor(tr.nodes[s].value) for s in sites], 0)
            if isinstance(log_weight, torch.Tensor) and log_weight.dim() > 0:
                raise ValueError(
                    f"EmpiricalMarginal: each log-weight must be a scalar, got shape "
                    f"{tuple(log_weight.shape)}"
                )
            if not isinstance(log_weight, (numbers.Number, torch.Tensor)):
                raise ValueError(
                    f"EmpiricalMarginal: log-weights must be numbers, got {type(log_weight)}"
                )
            values[chain].append(value)
            weights[chain].append(log_weight)
        self._num_chains = len(values)
        per_chain = [torch.stack(values[c], 0) for c in sorted(values)]
        per_weights = [
            _weights_tensor(weights[c], like=per_chain[i]) for i, c in enumerate(sorted(values))
        ]
        if len(per_chain) == 1:
            samples, log_weights = per_chain[0], per_weights[0]
        else:
            samples, log_weights = torch.stack(per_chain, 0), torch.stack(per_weights, 0)
        super().__init__(samples, log_weights, validate_args=validate_args)


class Marginals:
    """One :class:`EmpiricalMarginal` per site of a :class:`TracePosterior`.

    Args:
        trace_posterior: a run :class:`TracePosterior`.
        sites: a name or list of names (default ``["_RETURN"]``).
        validate_args: passed to each marginal.
    """

    def __init__(
        self,
        trace_posterior: TracePosterior,
        sites: str | list[str] | None = None,
        validate_args: bool | None = None,
    ) -> None:
        if not isinstance(trace_posterior, TracePosterior):
            raise TypeError(
                f"Marginals: trace_posterior must be a TracePosterior, got "
                f"{type(trace_posterior).__name__}"
            )
        if sites is None:
            sites = ["_RETURN"]
        elif isinstance(sites, str):
            sites = [sites]
        self.sites = list(sites)
        self._trace_posterior = trace_posterior
        self._marginals = OrderedDict(
            (site, EmpiricalMarginal(trace_posterior, site, validate_args)) for site in self.sites
        )

    @property
    def empirical(self) -> OrderedDict[str, EmpiricalMarginal]:
        """``{site: EmpiricalMarginal}``."""
        return self._marginals

    def support(self, flatten: bool = False) -> OrderedDict[str, torch.Tensor]:
        """``{site: stored samples}``; with several chains and ``flatten``, chains are merged."""
        out = OrderedDict((site, m.enumerate_support()) for site, m in self._marginals.items())
        if flatten and self._trace_posterior.num_chains > 1:
            for site, samples in out.items():
                out[site] = samples.reshape((-1,) + tuple(samples.shape[2:]))
        return out


class TracePredictive(TracePosterior):
    """Posterior-predictive traces: the model replayed against posterior draws.

    Deprecated in Pyro (use :class:`~ppl.infer.predictive.Predictive`); kept for
    Pyro code that still uses it. Plate-indexed latents are re-indexed at random when
    the new data's plates have another size.

    Args:
        model: the model.
        posterior: a :class:`TracePosterior` (run on demand with the same arguments).
        num_samples: number of predictive traces.
        keep_sites: names of the posterior sites to replay (default: all).
    """

    def __init__(
        self,
        model: Callable[..., Any],
        posterior: TracePosterior,
        num_samples: int,
        keep_sites: Sequence[str] | None = None,
    ) -> None:
        self.model = model
        self.posterior = posterior
        self.num_samples = num_samples
        self.keep_sites = keep_sites
        super().__init__()
        warnings.warn(
            "TracePredictive is deprecated; use ppl.infer.Predictive instead.",
            FutureWarning,
            stacklevel=2,
        )

    def _traces(self, *args: Any, **kwargs: Any) -> Iterator[tuple]:
        if not self.posterior.exec_traces:
            self.posterior.run(*args, **kwargs)
        data_trace = trace_handler(self.model).get_trace(*args, **kwargs)
        for _ in range(self.num_samples):
            drawn = self.posterior()
            self._keep(drawn)
            self._fit_to_data(drawn, data_trace)
            yield trace_handler(replay(self.model, trace=drawn)).get_trace(*args, **kwargs), 0.0, 0

    def _keep(self, tr: Trace) -> None:
        if self.keep_sites is None:
            return
        for name in list(tr.nodes):
            if name not in self.keep_sites:
                tr.remove_node(name)

    def _fit_to_data(self, tr: Trace, data_trace: Trace) -> None:
        """Give each latent the plates (and subsample indices) of the new data."""
        chosen: dict[str, torch.Tensor] = {}
        for name, site in list(tr.iter_stochastic_nodes()):
            new = data_trace.nodes.get(name)
            if new is None:
                continue
            if is_subsample_site(site):
                site.fn, site.value = new.fn, new.value
                continue
            old_frames = site.cond_indep_stack
            site.cond_indep_stack = new.cond_indep_stack
            site.fn = new.fn
            for old, frame in zip(old_frames, new.cond_indep_stack):
                if frame.dim is None:
                    continue
                batch_dim = frame.dim - len(site.fn.event_shape)
                if frame.name not in chosen:
                    chosen[frame.name] = torch.randint(
                        0, old.size, (frame.size,), device=site.value.device
                    )
                site.value = site.value.index_select(batch_dim, chosen[frame.name])

    def marginal(self, sites: str | list[str] | None = None) -> Marginals:
        """The :class:`Marginals` of the predictive traces."""
        return Marginals(self, sites)


class GuideTracePosterior(TracePosterior):
    """Model traces replayed against ``num_samples`` guide draws, equally weighted.

    What Pyro's trace-based ``SVI(..., num_samples=n).run(*args)`` returns: after
    fitting, the guide stands in for the posterior, so each draw gets the same weight.

    Args:
        model: the model.
        guide: the (fitted) guide.
        num_samples: number of draws.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> model = lambda: ppl.sample("z", dist.Normal(0.0, 1.0))
        >>> len(GuideTracePosterior(model, model, 4).run().exec_traces)
        4
    """

    def __init__(
        self, model: Callable[..., Any], guide: Callable[..., Any], num_samples: int
    ) -> None:
        super().__init__()
        self.model = model
        self.guide = guide
        self.num_samples = num_samples

    def _traces(self, *args: Any, **kwargs: Any) -> Iterator[tuple]:
        for _ in range(self.num_samples):
            guide_trace = trace_handler(self.guide).get_trace(*args, **kwargs)
            replayed = replay(self.model, trace=guide_trace)
            yield trace_handler(replayed).get_trace(*args, **kwargs), 0.0
