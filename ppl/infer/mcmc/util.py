"""Model -> potential energy, and the summaries MCMC prints (Pyro's ``infer.mcmc.util``).

Design notes
------------
HMC-type kernels see a model only through its *potential energy*: a function of a dict
of unconstrained tensors ``u`` that returns ``-log p(x, data) - log|det dx/du|`` with
``x = T^{-1}(u)`` and ``T`` each latent site's bijection to real space.
:func:`initialize_model` builds that function from a model by conditioning the model on
``x`` and summing the trace's log densities, picks a starting point where the energy
and its gradient are finite, and returns the prototype trace it ran.

Discrete latent sites with enumerable support are summed out of the energy, as Pyro
does: the model runs under ``enum(config_enumerate(model), first_available_dim=-1 -
max_plate_nesting)``, so each discrete site takes all its values along a dim of its
own, and the sites' log densities are contracted (``logsumexp`` over enumeration dims,
sums over plates, :func:`ppl.ops.contract.contract_tensor_tree`). The sampler then only
sees the continuous sites; the discrete ones can be drawn afterwards from their
conditional posterior (``ppl.infer.discrete.infer_discrete``). A discrete latent site
that cannot be enumerated (no ``enumerate_support``, e.g. a Poisson, or marked with
``infer={"enumerate": None}``) is an error naming the site.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> def model():
    ...     ppl.sample("s", dist.HalfNormal(1.0))
    >>> params, potential_fn, transforms, trace = initialize_model(model)
    >>> sorted(params), tuple(params["s"].shape)
    (['s'], ())
    >>> round(float(potential_fn({"s": torch.tensor(0.0)})), 4)  # -log(2 N(1|0,1)) - 0
    0.7258
"""

from __future__ import annotations

import functools
import traceback
import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Mapping
from itertools import product
from typing import Any

import torch
from torch.distributions import Transform, biject_to

from ppl.infer.autoguide.initialization import InitMessenger, init_to_uniform
from ppl.infer.enum import config_enumerate
from ppl.infer.traceenum_elbo import ordinal, pack_site
from ppl.infer.util import check_site_shape, guess_max_plate_nesting
from ppl.ops import stats
from ppl.ops.contract import Packed, contract_tensor_tree
from ppl.ops.integrator import potential_grad
from ppl.poutine import condition, enum, trace
from ppl.poutine.trace_struct import Trace, is_subsample_site
from ppl.settings import is_validation_enabled as validation_enabled_now

__all__ = [
    "diagnostics",
    "diagnostics_from_stats",
    "enumerated_log_joint",
    "initialize_model",
    "print_summary",
    "select_samples",
    "summary",
]

Params = dict[str, torch.Tensor]
PotentialFn = Callable[[Params], torch.Tensor]


def enumerated_log_joint(tr: Trace, max_plate_nesting: int) -> torch.Tensor:
    """``log p`` of a trace run under ``enum``, with every enumerated dim summed out.

    Each sample site's log density becomes a factor named by its plates and the
    enumeration dims it depends on; :func:`contract_tensor_tree` eliminates the
    enumeration dims (log-sum-exp) respecting plate structure, and the remaining
    factors sum to the log marginal density of the non-enumerated sites.

    Example:
        >>> import torch, ppl, ppl.distributions as dist
        >>> from ppl.poutine import enum, trace
        >>> def model():
        ...     z = ppl.sample("z", dist.Bernoulli(0.25), infer={"enumerate": "parallel"})
        ...     ppl.sample("x", dist.Normal(2.0 * z, 1.0), obs=torch.tensor(0.0))
        >>> tr = trace(enum(model, first_available_dim=-1)).get_trace()
        >>> n = dist.Normal(torch.tensor([0.0, 2.0]), 1.0).log_prob(torch.tensor(0.0)).exp()
        >>> expected = (0.75 * n[0] + 0.25 * n[1]).log()
        >>> bool(torch.isclose(enumerated_log_joint(tr, 0), expected))
        True
    """
    tr.compute_log_prob()
    factors: dict[frozenset, list[Packed]] = {}
    sum_dims: set[str] = set()
    for _, site in tr.nodes.items():
        if site.type != "sample" or is_subsample_site(site):
            continue
        if validation_enabled_now():
            check_site_shape(site, max_plate_nesting)
        packed = pack_site(site, "log_prob")
        factors.setdefault(ordinal(site), []).append(packed)
        sum_dims.update(d for d in packed.dims if d.startswith("enum:"))
    log_joint: torch.Tensor | None = None
    for terms in contract_tensor_tree(factors, sum_dims).values():
        for term in terms:
            value = term.tensor.sum()
            log_joint = value if log_joint is None else log_joint + value
    if log_joint is None:
        return torch.tensor(0.0)
    return log_joint


class _PotentialEnergy:
    """``u -> -log p(T^{-1}(u), data) - log|det J_{T^{-1}}(u)|`` for one model and data."""

    def __init__(
        self,
        model: Callable[..., Any],
        model_args: tuple,
        model_kwargs: Mapping[str, Any],
        transforms: Mapping[str, Transform],
        max_plate_nesting: int | None = None,
    ) -> None:
        """``max_plate_nesting`` given: ``model`` enumerates, contract its log densities."""
        self.max_plate_nesting = max_plate_nesting
        self.model = model
        self.model_args = model_args
        self.model_kwargs = dict(model_kwargs)
        self.transforms = transforms

    def __call__(self, params: Params) -> torch.Tensor:
        constrained = {name: self.transforms[name].inv(u) for name, u in params.items()}
        tr = trace(condition(self.model, data=constrained)).get_trace(
            *self.model_args, **self.model_kwargs
        )
        if self.max_plate_nesting is None:
            log_joint = torch.as_tensor(tr.log_prob_sum())
        else:
            log_joint = enumerated_log_joint(tr, self.max_plate_nesting)
        for name, t in self.transforms.items():
            if name in params:
                log_joint = (
                    log_joint - t.log_abs_det_jacobian(constrained[name], params[name]).sum()
                )
        return -log_joint

    def get_potential_fn(
        self,
        jit_compile: bool = False,
        skip_jit_warnings: bool = True,
        jit_options: Mapping[str, Any] | None = None,
    ) -> PotentialFn:
        """The potential HMC/NUTS use: ``jit_compile`` gives the fast path, whose
        energy and gradient are one traced graph of the flat latent vector
        (:class:`~ppl.infer.mcmc.fast.CompiledPotential`, eager when the model's
        structure defeats tracing). ``jit_options`` (Pyro's ``torch.jit.trace`` options)
        go to the ``torch.jit.trace`` that runs the ``make_fx`` graph; ``skip_jit_warnings``
        silences the tracer."""
        if jit_compile:
            from ppl.infer.mcmc.fast import CompiledPotential

            return CompiledPotential(
                self, jit_options=jit_options, skip_jit_warnings=skip_jit_warnings
            )
        return self


def _is_finite(pe: torch.Tensor, grads: Params) -> bool:
    return bool(torch.isfinite(pe)) and all(bool(torch.isfinite(g).all()) for g in grads.values())


def _find_valid_initial_params(
    model: Callable[..., Any],
    model_args: tuple,
    model_kwargs: Mapping[str, Any],
    transforms: Mapping[str, Transform],
    potential_fn: PotentialFn,
    prototype_params: Params,
    max_tries_initial_params: int = 100,
    num_chains: int = 1,
    init_strategy: Callable[..., Any] = init_to_uniform,
    trace_: Trace | None = None,
) -> Params:
    """Draw starting points from ``init_strategy`` until ``num_chains`` have finite energy."""
    if not prototype_params:
        return prototype_params
    names = list(prototype_params)
    found: dict[str, list[torch.Tensor]] = defaultdict(list)
    num_found = 0
    init_model = InitMessenger(init_strategy)(model)
    for _ in range(num_chains * max_tries_initial_params):
        if trace_ is None:
            trace_ = trace(init_model).get_trace(*model_args, **model_kwargs)
        params = {k: transforms[k](trace_.nodes[k]["value"].detach()) for k in names}
        trace_ = None
        try:
            grads, pe = potential_grad(potential_fn, params)
        except (ValueError, RuntimeError):
            continue
        if _is_finite(pe, grads):
            for k, v in params.items():
                found[k].append(v)
            num_found += 1
            if num_found == num_chains:
                if num_chains == 1:
                    return {k: v[0] for k, v in found.items()}
                return {k: torch.stack(v) for k, v in found.items()}
    raise ValueError(
        "Model specification seems incorrect - cannot find valid initial params: no start "
        f"among {num_chains * max_tries_initial_params} tries gave a finite potential energy "
        f"and gradient for sites {names}."
    )


def _check_continuous_or_enumerated(name: str, site: Any) -> None:
    """Raise for a discrete latent site that is not enumerated in parallel."""
    fn = site.fn
    support = getattr(fn, "support", None)
    discrete = bool(getattr(support, "is_discrete", False))
    if not discrete or site.infer.get("_enumerate_dim") is not None:
        return
    if getattr(fn, "has_enumerate_support", False):
        how = (
            f"it is marked infer={{'enumerate': {site.infer.get('enumerate')!r}}}; mark it "
            "'parallel' (or leave it unmarked) so HMC/NUTS can sum it out"
        )
    else:
        how = (
            "its support cannot be enumerated, so HMC/NUTS cannot sum it out: "
            "marginalize it out by hand, observe it, or use a different sampler"
        )
    raise NotImplementedError(
        f"latent site {name!r} has a discrete distribution ({type(fn).__name__}) and {how}."
    )


def _discrete_sampled(init_strategy: Callable[..., Any]) -> Callable[..., Any]:
    """``init_strategy`` for continuous sites; a prior draw for discrete ones.

    Continuous strategies map values through ``biject_to(support)``, which discrete
    supports lack; the prototype run must still reach the discrete site so that
    :func:`initialize_model` can name it in its error.
    """

    def strategy(site: Any) -> torch.Tensor:
        fn = site["fn"]
        if getattr(fn, "has_enumerate_support", False) or getattr(
            getattr(fn, "support", None), "is_discrete", False
        ):
            return fn.sample().detach()
        return init_strategy(site)

    return strategy


def initialize_model(
    model: Callable[..., Any],
    model_args: tuple = (),
    model_kwargs: Mapping[str, Any] = {},  # noqa: B006 (Pyro's signature)
    transforms: dict[str, Transform] | None = None,
    max_plate_nesting: int | None = None,
    jit_compile: bool = False,
    jit_options: Mapping[str, Any] | None = None,
    skip_jit_warnings: bool = False,
    num_chains: int = 1,
    init_strategy: Callable[..., Any] = init_to_uniform,
    initial_params: Params | None = None,
) -> tuple[Params, PotentialFn, dict[str, Transform], Trace]:
    """What HMC/NUTS need from a model: start, potential energy, transforms, prototype.

    Args:
        model: a function with ``ppl.sample`` statements.
        model_args, model_kwargs: the model's arguments (e.g. data).
        transforms: site name -> bijection from the site's support to real space;
            by default ``biject_to(support).inv`` for every latent site.
        max_plate_nesting: the number of plate dims the model uses (guessed from one run
            when None); discrete latent sites are enumerated left of them.
        jit_compile: return the fast path, a
            :class:`~ppl.infer.mcmc.fast.CompiledPotential` (energy and gradient traced
            into one graph, eager when tracing fails).
        jit_options: ``torch.jit.trace`` options of the fast path (Pyro's).
        skip_jit_warnings: silence tracer warnings while compiling.
        num_chains: with more than one, every initial value gets a leading chain dim.
        init_strategy: per-site init function (see ``ppl.infer.autoguide``).
        initial_params: unconstrained starting values to use instead of searching.

    Returns:
        ``(initial_params, potential_fn, transforms, prototype_trace)``.

    Raises:
        NotImplementedError: for subsampled plates or discrete latent sites that
            cannot be enumerated.
        ValueError: if no finite starting point is found.
    """
    automatic = transforms is None
    transforms = {} if transforms is None else dict(transforms)
    prototype = trace(InitMessenger(_discrete_sampled(init_strategy))(model)).get_trace(
        *model_args, **model_kwargs
    )
    if max_plate_nesting is None:
        max_plate_nesting = guess_max_plate_nesting([prototype])
    enumerated = any(
        site.type == "sample"
        and not site.is_observed
        and not is_subsample_site(site)
        and getattr(site.fn, "has_enumerate_support", False)
        for site in prototype.nodes.values()
    )
    if enumerated:
        model = enum(config_enumerate(model), first_available_dim=-1 - max_plate_nesting)
        prototype = trace(InitMessenger(_discrete_sampled(init_strategy))(model)).get_trace(
            *model_args, **model_kwargs
        )
    samples: Params = {}
    for name, site in prototype.nodes.items():
        if site.type != "sample" or site.is_observed:
            continue
        if is_subsample_site(site):
            fn = site.fn
            subsample_size = getattr(fn, "subsample_size", None)
            size = getattr(fn, "size", None)
            if subsample_size is not None and size is not None and subsample_size < size:
                raise NotImplementedError(
                    f"HMC/NUTS does not support model with subsample sites (plate {name!r} "
                    f"draws {subsample_size} of {size})."
                )
            continue
        _check_continuous_or_enumerated(name, site)
        if site.infer.get("_enumerate_dim") is not None:
            continue
        samples[name] = site.value.detach()
        if automatic:
            transforms[name] = biject_to(site.fn.support).inv
    missing = [name for name in samples if name not in transforms]
    if missing:
        raise ValueError(
            f"transforms is missing latent sites {missing}; it has {sorted(transforms)}"
        )

    energy = _PotentialEnergy(
        model,
        tuple(model_args),
        model_kwargs,
        transforms,
        max_plate_nesting=max_plate_nesting if enumerated else None,
    )
    if initial_params is None:
        prototype_params = {k: transforms[k](v) for k, v in samples.items()}
        initial_params = _find_valid_initial_params(
            model,
            tuple(model_args),
            model_kwargs,
            transforms,
            energy,
            prototype_params,
            num_chains=num_chains,
            init_strategy=init_strategy,
            trace_=prototype,
        )
    potential_fn = energy.get_potential_fn(jit_compile, skip_jit_warnings, jit_options)
    return initial_params, potential_fn, transforms, prototype


def _safe(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """Wrap a statistic of ``(chains, samples, *shape)`` to return NaNs instead of raising."""

    @functools.wraps(fn)
    def wrapped(sample: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        try:
            return fn(sample, *args, **kwargs)
        except Exception:
            warnings.warn(traceback.format_exc(), stacklevel=2)
            return torch.full(
                sample.shape[2:], float("nan"), dtype=sample.dtype, device=sample.device
            )

    return wrapped


def diagnostics(samples: Mapping[str, torch.Tensor], group_by_chain: bool = True) -> dict[str, Any]:
    """``{site: {"n_eff": ..., "r_hat": ...}}`` from samples of shape ``(chains, samples, ...)``.

    With ``group_by_chain=False`` the samples have no chain dim (one chain).

    Example:
        >>> import torch
        >>> d = diagnostics({"x": torch.randn(2, 100)})
        >>> list(d["x"])
        ['n_eff', 'r_hat']
    """
    result: dict[str, Any] = {}
    for name, value in samples.items():
        if not group_by_chain:
            value = value.unsqueeze(0)
        site_stats: OrderedDict[str, torch.Tensor] = OrderedDict()
        site_stats["n_eff"] = _safe(stats.effective_sample_size)(value)
        site_stats["r_hat"] = stats.split_gelman_rubin(value)
        result[name] = site_stats
    return result


def summary(
    samples: Mapping[str, torch.Tensor], prob: float = 0.9, group_by_chain: bool = True
) -> dict[str, OrderedDict[str, torch.Tensor]]:
    """Per site: mean, std, median, the ``prob`` HPD interval bounds, n_eff and r_hat.

    Example:
        >>> import torch
        >>> s = summary({"x": torch.arange(10.0)}, group_by_chain=False)
        >>> list(s["x"])
        ['mean', 'std', 'median', '5.0%', '95.0%', 'n_eff', 'r_hat']
    """
    table: dict[str, OrderedDict[str, torch.Tensor]] = {}
    lower, upper = f"{50 * (1 - prob):.1f}%", f"{50 * (1 + prob):.1f}%"
    for name, value in samples.items():
        if not group_by_chain:
            value = value.unsqueeze(0)
        flat = value.reshape((-1,) + value.shape[2:])
        interval = stats.hpdi(flat, prob=prob)
        table[name] = OrderedDict(
            [
                ("mean", flat.mean(0)),
                ("std", flat.std(0)),
                ("median", flat.median(0)[0]),
                (lower, interval[0]),
                (upper, interval[1]),
                ("n_eff", _safe(stats.effective_sample_size)(value)),
                ("r_hat", stats.split_gelman_rubin(value)),
            ]
        )
    return table


def print_summary(
    samples: Mapping[str, torch.Tensor], prob: float = 0.9, group_by_chain: bool = True
) -> None:
    """Print :func:`summary` as a table, one row per scalar element of each site."""
    if not samples:
        return
    table = summary(samples, prob, group_by_chain)
    shapes = {k: (v.shape[2:] if group_by_chain else v.shape[1:]) for k, v in samples.items()}
    labels = {k: k + "[" + ",".join(str(n - 1) for n in shape) + "]" for k, shape in shapes.items()}
    width = max(10, max(len(label) for label in labels.values()))
    columns = [""] + list(next(iter(table.values())))
    print()
    print(f"{{:>{width}}}".format(columns[0]) + "".join(f" {c:>9}" for c in columns[1:]))
    for name, row in table.items():
        shape = row["mean"].shape
        for idx in product(*map(range, shape)):
            label = name + ("[" + ",".join(map(str, idx)) + "]" if idx else "")
            cells = "".join(f" {float(v[idx]):>9.2f}" for v in row.values())
            print(f"{{:>{width}}}".format(label) + cells)
    print()


def select_samples(
    samples: Mapping[str, torch.Tensor],
    num_samples: int | None = None,
    group_by_chain: bool = False,
) -> dict[str, torch.Tensor]:
    """Samples of shape ``(chains, draws, ...)``, flattened and/or resampled with replacement.

    Args:
        samples: site -> tensor with chain and draw dims first.
        num_samples: if given, draw that many indices uniformly with replacement.
        group_by_chain: keep the chain dim (resampling then picks the same draws per chain).

    Example:
        >>> import torch
        >>> select_samples({"x": torch.zeros(2, 5, 3)})["x"].shape
        torch.Size([10, 3])
    """
    if num_samples is None:
        if group_by_chain:
            return dict(samples)
        return {k: v.reshape((-1,) + v.shape[2:]) for k, v in samples.items()}
    if not samples:
        raise ValueError("No samples found from MCMC run.")
    if group_by_chain:
        out, dim = dict(samples), 1
    else:
        out, dim = {k: v.reshape((-1,) + v.shape[2:]) for k, v in samples.items()}, 0
    first = next(iter(out.values()))
    idx = torch.randint(0, first.shape[dim], (num_samples,), device=first.device)
    return {k: v.index_select(dim, idx) for k, v in out.items()}


def diagnostics_from_stats(
    statistics: Mapping[tuple[int, str], Mapping[str, torch.Tensor]],
    num_samples: int,
    num_chains: int,
) -> dict[str, OrderedDict[str, torch.Tensor]]:
    """Gelman-Rubin ``r_hat`` from per-chain streaming means and variances.

    ``statistics`` maps ``(chain_id, site)`` to a dict holding ``"mean"`` and ``"variance"``.
    """
    means: dict[str, list[torch.Tensor]] = defaultdict(list)
    variances: dict[str, list[torch.Tensor]] = defaultdict(list)
    for (_, name), stat in statistics.items():
        if "mean" in stat and "variance" in stat:
            means[name].append(stat["mean"])
            variances[name].append(stat["variance"])
    result: dict[str, OrderedDict[str, torch.Tensor]] = {}
    for name in means:
        m, v = torch.stack(means[name]), torch.stack(variances[name])
        n = num_samples
        within = v.mean(0)
        estimate = (n - 1) / n * within
        if num_chains > 1:
            estimate = estimate + m.var(0)
        else:
            within = estimate
        result[name] = OrderedDict(r_hat=(estimate / within).sqrt())
    return result
