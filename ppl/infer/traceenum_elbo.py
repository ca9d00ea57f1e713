"""``TraceEnum_ELBO``: the ELBO with enumerated discrete sites summed out exactly.

Design notes
------------
The guide runs under ``enum(first_available_dim=-1 - max_plate_nesting)`` and the
model against it under ``enum()`` (so the model's enumeration dims come after the
guide's). Every sample site's log-density is then a tensor over its plate dims and
the enumeration dims it depends on; :func:`pack_site` names those dims (plates by
plate name, enumeration dims by the unique id of the enumerated site, so dims that
``markov`` recycles stay distinct).

The estimate of one particle is computed in two stages:

1. **Model enumeration.** The log-factors of sites enumerated in the model, and of
   the model sites depending on them, are contracted by
   :func:`ppl.ops.contract.contract_tensor_tree`: their enumeration dims are summed
   out exactly (``logsumexp``), plates are multiplied out where the dependency
   structure requires. Each resulting term is a log-marginal likelihood, scaled
   once by the sites' common scale. Masks apply inside the sum, to the sites that
   depend on an enumerated site; the enumerated site's own factor stays unmasked
   (it sums to one, so a masked-out element contributes nothing).
2. **Guide expectation (DiCE).** Every cost (model terms, minus guide log-densities)
   is averaged under the guide: enumerated guide sites weight each value by its
   probability ``q`` (differentiably), sampled non-reparameterized sites contribute
   the DiCE factor ``exp(log q - stop_grad(log q))`` (value 1, score-function
   gradient), locally multiply-sampled sites weight each draw by ``1/num_samples``,
   and sequentially enumerated sites divide the costs their choice cannot affect by
   the number of values. A cost at ordinal ``t`` only gets weights from guide sites
   in ordinals contained in ``t`` (Rao-Blackwellization by plates).

The result's value is the ELBO (DiCE factors have value 1) and its gradient is an
unbiased estimate of the ELBO's gradient; no separate surrogate is needed.

Restrictions are Pyro's: a variable outside a plate may not depend on an enumerated
variable inside it, plates must nest as a tree, and enumerated sites must share one
scalar scale.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> def model():
    ...     z = ppl.sample("z", dist.Bernoulli(0.3), infer={"enumerate": "parallel"})
    ...     ppl.sample("x", dist.Normal(2.0 * z, 1.0), obs=torch.tensor(1.5))
    >>> loss = TraceEnum_ELBO(max_plate_nesting=0).loss(model, lambda: None)
    >>> p = 0.7 * dist.Normal(0.0, 1.0).log_prob(torch.tensor(1.5)).exp() + 0.3 * dist.Normal(
    ...     2.0, 1.0).log_prob(torch.tensor(1.5)).exp()
    >>> round(loss, 4) == round(-float(p.log()), 4)
    True
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from queue import LifoQueue
from typing import Any

import torch

from .. import settings
from ..ops.contract import (
    Packed,
    contract_tensor_tree,
    pack,
    query_marginal,
    sumproduct,
    unpack,
)
from ..ops.tensor import scale_and_mask
from ..poutine.enum_messenger import EnumMessenger
from ..poutine.handlers import queue as poutine_queue
from ..poutine.runtime import Message
from ..poutine.trace_struct import Trace, is_subsample_site
from .elbo import ELBO, _run_traced, check_plates_and_factors
from .enum import iter_discrete_escape, iter_discrete_extend
from .trace_elbo import site_score_terms
from .util import check_site_shape, check_traceenum_requirements

__all__ = ["TraceEnum_ELBO", "pack_site", "plate_symbol", "site_dice_factor"]


# ----------------------------------------------------------------------------- naming
def plate_symbol(name: str) -> str:
    """The dim name of a plate in packed tensors."""
    return "plate:" + name


def _enum_symbol(id_: int) -> str:
    return f"enum:{id_}"


def _is_sample(site: Message) -> bool:
    return site.type == "sample" and not is_subsample_site(site)


def site_dim_names(site: Message) -> dict[int, str]:
    """Negative dim -> name for every plate and enumeration dim of ``site``."""
    names: dict[int, str] = {}
    for f in site.cond_indep_stack:
        if f.dim is not None:
            names[f.dim] = plate_symbol(f.name)
    for dim, id_ in site.infer.get("_dim_to_id", {}).items():
        names[dim] = _enum_symbol(id_)
    return names


def site_name_to_dim(site: Message) -> dict[str, int]:
    return {v: k for k, v in site_dim_names(site).items()}


def enum_symbol(site: Message) -> str | None:
    """The dim name of an enumerated site's own enumeration dim (None if not enumerated)."""
    dim = site.infer.get("_enumerate_dim")
    if dim is None:
        return None
    return site_dim_names(site)[dim]


def ordinal(site: Message, min_size: int = 0) -> frozenset:
    """The plates (dim names) a site is in (vectorized ones of size > ``min_size``)."""
    return frozenset(
        plate_symbol(f.name)
        for f in site.cond_indep_stack
        if f.dim is not None and f.size > min_size
    )


def pack_site(site: Message, key: str) -> Packed:
    """``site[key]`` (a batch-shaped tensor: log_prob, mask ...) as a :class:`Packed`,
    cached on the site as ``site["packed"][key]``.

    Keys that hold the same tensor share one :class:`Packed` (``masked_log_prob`` is
    ``unscaled_log_prob`` without a mask, and ``log_prob`` is too at scale 1), and the
    site's dim names are computed once per site.
    """
    cache = site.setdefault("packed", {})
    out = cache.get(key)
    if out is not None:
        return out
    if key == "masked_log_prob":
        if site.mask is None or site.mask is True:
            out = cache[key] = pack_site(site, "unscaled_log_prob")
            return out
        value = scale_and_mask(site["unscaled_log_prob"], 1.0, site.mask)
    elif key == "score_function":
        value = site_score_terms(site)[0]
    else:
        value = site[key]
        for other in ("log_prob", "unscaled_log_prob"):
            shared = cache.get(other)
            if other != key and shared is not None and site.get(other) is value:
                out = cache[key] = shared
                return out
    if not isinstance(value, torch.Tensor):
        value = torch.as_tensor(float(value), device=_site_device(site))
    names = site.get("_packed_dim_names")
    if names is None:
        names = site["_packed_dim_names"] = site_dim_names(site)
    out = cache[key] = pack(value, names, site=str(site.name))
    return out


def _site_device(site: Message) -> torch.device:
    lp = site.get("log_prob")
    if isinstance(lp, torch.Tensor):
        return lp.device
    v = site.value
    return v.device if isinstance(v, torch.Tensor) else torch.device("cpu")


# ---------------------------------------------------------------------- model factors
def _common_scale(scales: list[Any]) -> Any:
    seen = set()
    for s in scales:
        if isinstance(s, torch.Tensor) and s.dim():
            raise ValueError(
                "enumeration supports only a scalar poutine.scale, got a scale of shape "
                f"{tuple(s.shape)} at an enumerated site or a site depending on one"
            )
        seen.add(float(s))
    if len(seen) != 1:
        raise ValueError(
            "Expected all enumerated sample sites to share a common poutine.scale (sites "
            f"depending on them too), but found {len(seen)} different scales: {sorted(seen)}"
        )
    return scales[0]


def _check_model_guide_enumeration(enum_ordinals: list[frozenset], guide_trace: Trace) -> None:
    min_ordinal = frozenset.intersection(*enum_ordinals)
    for name, site in guide_trace.nodes.items():
        if _is_sample(site) and site.infer.get("_enumerate_dim") is not None:
            for f in site.cond_indep_stack:
                if f.dim is not None and plate_symbol(f.name) not in min_ordinal:
                    raise ValueError(
                        "Expected model enumeration to be no more global than guide "
                        f"enumeration, but found model enumeration sites upstream of guide "
                        f"site {name!r} in plate({f.name!r}); enumerate some of those model "
                        "sites in the guide instead"
                    )


class ModelFactors:
    """The model's terms split for :func:`compute_dice_elbo` and the marginal queries.

    Attributes:
        costs: ordinal -> ordinary (scaled) log-density terms.
        log_factors: ordinal -> masked, unscaled log-factors to contract.
        ordering: site name -> ordinal, for model and guide sites.
        sum_dims: names of the dims enumerated in the model.
        scale: the common scale of the contracted sites.
    """

    def __init__(self, model_trace: Trace, guide_trace: Trace) -> None:
        ordering = {
            name: ordinal(site)
            for tr in (model_trace, guide_trace)
            for name, site in tr.nodes.items()
            if _is_sample(site)
        }
        cost_sites: dict[frozenset, list[Message]] = {}
        enum_sites: dict[frozenset, list[Message]] = {}
        enum_dims: set[str] = set()
        non_enum_dims: set[str] = set().union(*ordering.values())
        for name, site in model_trace.nodes.items():
            if not _is_sample(site):
                continue
            if name in guide_trace.nodes:
                cost_sites.setdefault(ordering[name], []).append(site)
                non_enum_dims.update(pack_site(guide_trace.nodes[name], "log_prob").dims)
            elif site.infer.get("_enumerate_dim") is None:
                cost_sites.setdefault(ordering[name], []).append(site)
            else:
                enum_sites.setdefault(ordering[name], []).append(site)
                enum_dims.update(pack_site(site, "log_prob").dims)
        enum_dims -= non_enum_dims
        self.ordering = ordering
        self.sum_dims = enum_dims
        self.costs: dict[frozenset, list[Packed]] = {}
        self.log_factors: dict[frozenset, list[Packed]] = {}
        self.scale: Any = 1.0
        self.enum_sites = [s for sites in enum_sites.values() for s in sites]
        if not enum_sites:
            for t, sites in cost_sites.items():
                self.costs[t] = [pack_site(s, "log_prob") for s in sites]
            return
        _check_model_guide_enumeration(list(enum_sites), guide_trace)
        scales = []
        for t, sites in cost_sites.items():
            for site in sites:
                lp = pack_site(site, "log_prob")
                if enum_dims.isdisjoint(lp.dims):
                    self.costs.setdefault(t, []).append(lp)
                else:
                    self.log_factors.setdefault(t, []).append(pack_site(site, "masked_log_prob"))
                    scales.append(site.scale)
        for t, sites in enum_sites.items():
            # The enumerated site's own factor stays unmasked: it sums to one over its
            # values, so a masked-out element contributes log 1 rather than log(#values).
            for site in sites:
                self.log_factors.setdefault(t, []).append(pack_site(site, "unscaled_log_prob"))
                scales.append(site.scale)
        self.scale = _common_scale(scales)


# ------------------------------------------------------------------------------ DiCE
def site_dice_factor(site: Message) -> tuple[Packed | None, float]:
    """``(log dice factor, log denominator)`` of one guide site."""
    log_denom = 0.0
    score = pack_site(site, "score_function")
    is_zero = (
        score.tensor.dim() == 0 and not score.tensor.requires_grad and float(score.tensor) == 0
    )
    infer = site.infer
    if infer.get("enumerate"):
        num_samples = infer.get("num_samples")
        if num_samples is not None:
            tensor = score.tensor if is_zero else score.tensor - score.tensor.detach()
            tensor = tensor - math.log(num_samples)
            lp = pack_site(site, "log_prob")
            joint = sumproduct(
                [Packed(tensor, score.dims), Packed(torch.zeros_like(lp.tensor), lp.dims)], ()
            )
            return joint, 0.0
        if infer["enumerate"] == "sequential":
            log_denom = math.log(infer.get("_enum_total", 1))
        return (None if is_zero else score), log_denom
    if is_zero:
        return None, 0.0
    return Packed(score.tensor - score.tensor.detach(), score.dims), 0.0


class Dice:
    """The DiCE expectation of costs under a guide trace (see the module notes).

    Args:
        guide_trace: the guide trace (log-densities computed).
        ordering: site name -> ordinal (frozenset of plate dim names).
    """

    def __init__(self, guide_trace: Trace, ordering: dict[str, frozenset]) -> None:
        self.log_denom: dict[frozenset, float] = {}
        self.log_probs: dict[frozenset, list[Packed]] = {}
        for name, site in guide_trace.nodes.items():
            if not _is_sample(site):
                continue
            t = ordering[name]
            factor, denom = site_dice_factor(site)
            if factor is not None:
                self.log_probs.setdefault(t, []).append(factor)
            if denom:
                self.log_denom[t] = self.log_denom.get(t, 0.0) + denom

    def _log_factors(self, target: frozenset) -> tuple[float, list[Packed]]:
        log_denom = sum(v for t, v in self.log_denom.items() if not t <= target)
        factors = [f for t, fs in self.log_probs.items() if t <= target for f in fs]
        return -log_denom, factors

    def compute_expectation(self, costs: dict[frozenset, list[Packed]]) -> Any:
        """``sum over costs of E_q[cost]`` (a tensor, or 0.0 without costs)."""
        expected: Any = 0.0
        for target, cost_terms in costs.items():
            log_const, factors = self._log_factors(target)
            scale = math.exp(log_const)
            marginals: dict[frozenset, Packed] = {}
            all_dims: set[str] = set().union(*(f.dims for f in factors)) if factors else set()
            for cost in cost_terms:
                if not factors:
                    term = cost.tensor.sum()
                else:
                    key = frozenset(cost.dims)
                    prob = marginals.get(key)
                    if prob is None:
                        log_p = sumproduct(factors, all_dims - target - key)
                        prob = marginals[key] = Packed(log_p.tensor.exp(), log_p.dims)
                    term = _expected(prob, cost)
                expected = expected + (term if scale == 1.0 else scale * term)
        return expected


def _expected(prob: Packed, cost: Packed) -> torch.Tensor:
    """``sum(prob * cost)`` over the union of their dims; zero-probability entries
    contribute nothing even where the cost is infinite."""
    dims: dict[str, None] = dict.fromkeys(prob.dims)
    dims.update(dict.fromkeys(cost.dims))
    joint_p = _dense(prob, tuple(dims))
    joint_c = _dense(cost, tuple(dims))
    joint_p, joint_c = torch.broadcast_tensors(joint_p, joint_c)
    joint_c = joint_c.masked_fill(joint_p <= 0, 0.0)  # branch-free: safe under tracing
    return (joint_p * joint_c).sum()


def _dense(p: Packed, dims: tuple[str, ...]) -> torch.Tensor:
    present = [d for d in dims if d in p.dims]
    t = p.tensor
    if tuple(present) != p.dims:
        t = t.permute([p.dims.index(d) for d in present])
    sizes = p.sizes()
    return t.reshape([sizes.get(d, 1) for d in dims])


def compute_dice_elbo(model_trace: Trace, guide_trace: Trace) -> Any:
    """The ELBO of one (model trace, guide trace) pair, model enumeration summed out."""
    factors = ModelFactors(model_trace, guide_trace)
    costs = {t: list(terms) for t, terms in factors.costs.items()}
    if factors.log_factors:
        contracted = contract_tensor_tree(factors.log_factors, factors.sum_dims)
        scale = factors.scale
        for t, terms in contracted.items():
            for term in terms:
                tensor = term.tensor if _is_one(scale) else term.tensor * scale
                costs.setdefault(t, []).append(Packed(tensor, term.dims))
    for name, site in guide_trace.nodes.items():
        if _is_sample(site):
            lp = pack_site(site, "log_prob")
            costs.setdefault(factors.ordering[name], []).append(Packed(-lp.tensor, lp.dims))
    return Dice(guide_trace, factors.ordering).compute_expectation(costs)


def _is_one(x: Any) -> bool:
    return isinstance(x, (int, float)) and x == 1


# ----------------------------------------------------------------------------- marginals
def _make_dist(fn: Any, logits: torch.Tensor) -> Any:
    from ppl.distributions import Bernoulli

    if isinstance(fn, Bernoulli) or type(fn).__name__ == "Bernoulli":
        return type(fn)(logits=logits[..., 1] - logits[..., 0])
    return type(fn)(logits=logits)


def compute_marginals(model_trace: Trace, guide_trace: Trace) -> dict[str, Any]:
    """``{site name: marginal posterior distribution}`` of every model-enumerated site."""
    factors = ModelFactors(model_trace, guide_trace)
    result: dict[str, Any] = {}
    for site in factors.enum_sites:
        sym = enum_symbol(site)
        assert sym is not None
        lp = pack_site(site, "masked_log_prob")
        sizes = lp.sizes()
        t = factors.ordering[str(site.name)]
        qdims = (sym,) + tuple(d for d in lp.dims if d in t)
        probs = query_marginal(
            factors.log_factors, factors.sum_dims, qdims, [sizes[d] for d in qdims], t
        )
        logits = unpack(Packed(probs.log(), qdims), site_name_to_dim(site))
        enum_dim = site.infer["_enumerate_dim"]
        logits = logits.unsqueeze(-1).transpose(-1, enum_dim - 1)
        while logits.dim() > 1 and logits.shape[0] == 1:
            logits = logits.squeeze(0)
        result[str(site.name)] = _make_dist(site.fn, logits)
    return result


# ------------------------------------------------------------------------------ the ELBO
class TraceEnum_ELBO(ELBO):
    """ELBO with exact enumeration of discrete sites (Pyro's ``TraceEnum_ELBO``).

    Mark a guide site ``infer={"enumerate": "parallel"}`` (or ``"sequential"``) to sum
    over its values in the guide, or a model site that is not in the guide to sum it
    out of the model exactly; :func:`~ppl.infer.enum.config_enumerate` marks every
    discrete site at once. ``max_plate_nesting`` should be given (it is guessed from
    one run otherwise). See the module notes for the estimator.

    Example:
        >>> elbo = TraceEnum_ELBO(max_plate_nesting=1)
    """

    def _first_available_dim(self, model: Any, guide: Any, args: tuple, kwargs: dict) -> int:
        nesting = self._plate_nesting(model, guide, args, kwargs)
        return -1 - nesting - (1 if self._particle_dim() else 0)

    def _particle_dim(self) -> bool:
        """Whether the particles get their own plate (as Pyro: only for more than one)."""
        return bool(self.vectorize_particles) and self.num_particles > 1

    def _get_traces(
        self, model: Callable[..., Any], guide: Callable[..., Any], args: tuple, kwargs: dict
    ) -> Iterator[tuple[Trace, Trace]]:
        first = self._first_available_dim(model, guide, args, kwargs)
        nesting = -1 - first
        particles: tuple[Any, ...] = ()
        if self._particle_dim():
            particles = (self._particle_plate(nesting - 1),)
        q: LifoQueue = LifoQueue()

        def enum_guide(*a: Any, **k: Any) -> Any:
            with EnumMessenger(first_available_dim=first):
                return _run_inside_handlers(guide, a, k, particles)

        queued_guide = poutine_queue(
            enum_guide, q, escape_fn=iter_discrete_escape, extend_fn=iter_discrete_extend
        )
        for _ in range(1 if self.vectorize_particles else self.num_particles):
            q.put(Trace())
            while not q.empty():
                yield self._get_enum_trace(model, queued_guide, args, kwargs, particles, nesting)

    def _get_enum_trace(
        self,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        args: tuple,
        kwargs: dict,
        particles: tuple[Any, ...],
        nesting: int,
    ) -> tuple[Trace, Trace]:
        from ppl.poutine.replay_messenger import ReplayMessenger

        guide_trace = _run_traced(guide, args, kwargs)
        model_trace = _run_traced(
            model, args, kwargs, ReplayMessenger(trace=guide_trace), EnumMessenger(), *particles
        )
        if settings._VALIDATION_ENABLED:  # before the plates' subsample sites are dropped
            check_plates_and_factors(model_trace, guide_trace)
        for tr in (model_trace, guide_trace):
            for name in [
                n for n, s in tr.nodes.items() if s.type == "sample" and is_subsample_site(s)
            ]:
                tr.remove_node(name)
        model_trace.compute_log_prob()
        guide_trace.compute_log_prob()
        if settings._VALIDATION_ENABLED:
            check_traceenum_requirements(model_trace, guide_trace)
            check_enum_model_guide_match(model_trace, guide_trace, nesting)
            for tr in (model_trace, guide_trace):
                for site in tr.nodes.values():
                    if site.type == "sample":
                        check_site_shape(site, nesting)
            self._warn_if_nothing_enumerated(model_trace, guide_trace)
        return model_trace, guide_trace

    def _warn_if_nothing_enumerated(self, model_trace: Trace, guide_trace: Trace) -> None:
        if not self.strict_enumeration_warning:
            return
        if any(
            _is_sample(s) and s.infer.get("enumerate")
            for tr in (model_trace, guide_trace)
            for s in tr.nodes.values()
        ):
            return
        warnings.warn(
            "TraceEnum_ELBO found no sample sites configured for enumeration. Mark sites "
            "with @config_enumerate or infer={'enumerate': 'parallel'} (or 'sequential'); "
            "without enumeration, Trace_ELBO is the cheaper choice.",
            stacklevel=5,
        )

    def _particle_loss(
        self, model_trace: Trace, guide_trace: Trace
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        elbo = compute_dice_elbo(model_trace, guide_trace)
        if not isinstance(elbo, torch.Tensor):
            elbo = torch.tensor(float(elbo))
        return -elbo, None

    def compute_marginals(
        self, model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> dict[str, Any]:
        """The marginal posterior distribution of each model-enumerated site.

        Returns:
            ``{site name: Categorical/Bernoulli-like distribution}`` whose batch shape
            is the site's plates.

        Raises:
            NotImplementedError: with several particles or guide enumeration.
        """
        if self.num_particles != 1:
            raise NotImplementedError(
                "TraceEnum_ELBO.compute_marginals() is not compatible with multiple particles"
            )
        model_trace, guide_trace = next(self._get_traces(model, guide, args, kwargs))
        for site in guide_trace.nodes.values():
            if _is_sample(site) and ("_enumerate_dim" in site.infer or "_enum_total" in site.infer):
                raise NotImplementedError(
                    "TraceEnum_ELBO.compute_marginals() is not compatible with guide "
                    f"enumeration (site {site.name!r} is enumerated in the guide)"
                )
        return compute_marginals(model_trace, guide_trace)

    def sample_posterior(
        self, model: Callable[..., Any], guide: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        """Run the model with its enumerated sites drawn jointly from their posterior
        given all observations (and one guide draw); returns the model's return value.

        Raises:
            NotImplementedError: with several particles or guide enumeration.
        """
        return _sample_posterior(self, model, guide, args, kwargs)


def _sample_posterior(
    elbo: TraceEnum_ELBO,
    model: Callable[..., Any],
    guide: Callable[..., Any],
    args: tuple,
    kwargs: dict,
) -> Any:
    from ppl.infer.discrete import run_with_posterior_sample
    from ppl.poutine.block_messenger import BlockMessenger

    if elbo.num_particles != 1:
        raise NotImplementedError(
            "TraceEnum_ELBO.sample_posterior() is not compatible with multiple particles"
        )
    with BlockMessenger(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "found latent sites in the model but not the guide")
        model_trace, guide_trace = next(elbo._get_traces(model, guide, args, kwargs))
    for name, site in guide_trace.nodes.items():
        if _is_sample(site) and ("_enumerate_dim" in site.infer or "_enum_total" in site.infer):
            raise NotImplementedError(
                "TraceEnum_ELBO.sample_posterior() is not compatible with guide enumeration "
                f"(site {name!r} is enumerated in the guide)"
            )
    with BlockMessenger():
        return run_with_posterior_sample(
            model, model_trace, guide_trace, args, kwargs, elbo.strict_enumeration_warning
        )


def _full_shape(fn: Any) -> tuple[int, ...] | None:
    batch = getattr(fn, "batch_shape", None)
    event = getattr(fn, "event_shape", None)
    if batch is None or event is None:
        return None
    return tuple(batch) + tuple(event)


def check_enum_model_guide_match(model_trace: Trace, guide_trace: Trace, nesting: int) -> None:
    """Model/guide agreement under enumeration.

    Like the plain check, but model sites enumerated in the model need no guide site,
    and shapes need only agree on the plate and event dims (enumeration dims, left of
    ``nesting`` plate dims, may differ).

    Raises:
        NotImplementedError: naming the site, for a latent model site marked
            ``"sequential"`` that the guide does not have.
        ValueError: naming the site, when shapes disagree within the plate dims.
    """
    guide_vars = {n for n, s in guide_trace.nodes.items() if _is_sample(s)}
    aux_vars = {n for n in guide_vars if guide_trace.nodes[n].infer.get("is_auxiliary")}
    model_vars = {n for n, s in model_trace.nodes.items() if _is_sample(s) and not s.is_observed}
    enum_vars = {
        n
        for n in model_vars - guide_vars
        if model_trace.nodes[n].infer.get("_enumerate_dim") is not None
    }
    if aux_vars & model_vars:
        warnings.warn(f"found auxiliary guide sites in the model: {sorted(aux_vars & model_vars)}")
    extra_guide = guide_vars - aux_vars - model_vars
    if extra_guide:
        warnings.warn(
            f"found non-auxiliary latent sites in the guide but not the model: "
            f"{sorted(extra_guide)}; mark them infer={{'is_auxiliary': True}} if intended"
        )
    missing = model_vars - guide_vars - enum_vars
    for name in sorted(missing):
        if model_trace.nodes[name].infer.get("enumerate") == "sequential":
            raise NotImplementedError(
                f"At site {name!r}, model-side sequential enumeration is not implemented; "
                "use parallel enumeration or enumerate the site in the guide"
            )
    if missing:
        warnings.warn(f"found latent sites in the model but not the guide: {sorted(missing)}")
    for name in model_vars & guide_vars:
        m_fn, g_fn = model_trace.nodes[name].fn, guide_trace.nodes[name].fn
        m_event = len(getattr(m_fn, "event_shape", ()))
        g_event = len(getattr(g_fn, "event_shape", ()))
        if m_event != g_event:
            raise ValueError(
                f"Model and guide event_dims disagree at site {name!r}: {m_event} vs {g_event}"
            )
        m_shape, g_shape = _full_shape(m_fn), _full_shape(g_fn)
        if m_shape is None or g_shape is None or m_shape == g_shape:
            continue
        keep = nesting + m_event
        m_tail, g_tail = m_shape[-keep:] if keep else (), g_shape[-keep:] if keep else ()
        width = max(len(m_tail), len(g_tail))
        m_tail = (1,) * (width - len(m_tail)) + tuple(m_tail)
        g_tail = (1,) * (width - len(g_tail)) + tuple(g_tail)
        if m_tail != g_tail:
            raise ValueError(
                f"Model and guide shapes disagree at site {name!r} within the plate and "
                f"event dims: model {m_shape}, guide {g_shape}"
            )


def _run_inside_handlers(fn: Callable[..., Any], args: tuple, kwargs: dict, handlers: tuple) -> Any:
    if not handlers:
        return fn(*args, **kwargs)
    head, *rest = handlers
    with head:
        return _run_inside_handlers(fn, args, kwargs, tuple(rest))
