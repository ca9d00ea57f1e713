"""Helpers shared by the ELBOs, ``SVI`` and ``Predictive``: plates, params, site checks.

Design notes
------------
* **Plate-aware sums** (:func:`sum_to_frames`). The score-function term of a site
  ``z`` only needs the part of the cost that can depend on ``z``. Sites in a
  vectorized plate are conditionally independent along the plate's dim, so a cost
  term that shares that plate with ``z`` is kept element-wise along it and every
  other dim is summed out. This is Pyro's Rao-Blackwellization by plates, written as
  one small function instead of a multi-frame tensor class.
* **Plate nesting** (:func:`guess_max_plate_nesting`). Vectorized particles and
  parallel ``Predictive`` put an extra plate left of every batch dim the model
  uses. The number of such dims is read off one prototype run: the leftmost
  vectorized plate dim and the batch rank of every sample site (a batched site
  outside any plate still occupies its dims, so counting it is the safe choice).
* **Params by name** (:func:`collect_param_names`, :func:`unconstrained_params`):
  the optimizer is handed the store's unconstrained leaves of exactly the params
  a run touched, keyed by name.
"""

from __future__ import annotations

import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable

import torch

from ..params.param_store import get_param_store
from ..poutine.runtime import CondIndepStackFrame, Message
from ..poutine.trace_struct import Trace, is_subsample_site

__all__ = [
    "check_site_shape",
    "collect_param_names",
    "guess_max_plate_nesting",
    "is_sample_site",
    "particle_log_prob_sum",
    "sum_to_frames",
    "unconstrained_params",
]


def is_sample_site(site: Message) -> bool:
    """True for a sample site that carries a density (not a plate's subsample site)."""
    return site.type == "sample" and not is_subsample_site(site)


def vectorized_dims(frames: Iterable[CondIndepStackFrame]) -> frozenset[int]:
    """The batch dims of the vectorized plates among ``frames``."""
    return frozenset(f.dim for f in frames if f.dim is not None)


def sum_to_frames(value: torch.Tensor | float, keep_dims: frozenset[int]) -> torch.Tensor | float:
    """Sum ``value`` over every dim that is not one of ``keep_dims`` (negative dims).

    Summed dims are kept with size 1, so the result broadcasts against any tensor
    laid out on the same (right-aligned) plate dims.

    Args:
        value: a per-site cost tensor, shape ``batch_shape`` (plates right-aligned).
        keep_dims: negative plate dims to keep element-wise.

    Returns:
        A tensor of ``value``'s rank with size 1 everywhere except ``keep_dims``
        (or ``value`` itself when it is a number).

    Example:
        >>> sum_to_frames(torch.ones(2, 3), frozenset({-1})).tolist()
        [[2.0, 2.0, 2.0]]
    """
    if not isinstance(value, torch.Tensor) or value.dim() == 0:
        return value
    dims = [d for d in range(-value.dim(), 0) if d not in keep_dims and value.shape[d] != 1]
    if not dims:
        return value
    return value.sum(dim=dims, keepdim=True)


def guess_max_plate_nesting(traces: Iterable[Trace]) -> int:
    """The number of batch dims the sites of ``traces`` use (right of any particle plate).

    Args:
        traces: traces of one prototype run (e.g. guide and model).

    Returns:
        ``max(-dim of every vectorized plate, len(batch_shape) of every sample site)``.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> def model():
        ...     with ppl.plate("a", 3):
        ...         ppl.sample("x", dist.Normal(0.0, 1.0))
        >>> guess_max_plate_nesting([ppl.poutine.trace(model).get_trace()])
        1
    """
    nesting = 0
    for tr in traces:
        for site in tr.nodes.values():
            if site.type != "sample":
                continue
            for frame in site.cond_indep_stack:
                if frame.dim is not None:
                    nesting = max(nesting, -frame.dim)
            if not is_subsample_site(site):
                batch_shape = getattr(site.fn, "batch_shape", ())
                nesting = max(nesting, len(batch_shape))
    return nesting


def check_site_shape(site: Message, max_plate_nesting: int) -> None:
    """Check that a site's ``log_prob`` batch dims fit its plates (Pyro's validation).

    Args:
        site: a sample site whose ``log_prob`` has been computed.
        max_plate_nesting: the number of rightmost batch dims reserved for plates.

    Raises:
        ValueError: naming the site, when its plates need more dims than
            ``max_plate_nesting`` or a dim within them has a size no plate explains.
    """
    log_prob = site.get("log_prob")
    if not isinstance(log_prob, torch.Tensor):
        return
    expected: dict[int, int] = {}
    for frame in site.cond_indep_stack:
        if frame.dim is not None:
            expected[frame.dim] = frame.size
    if expected and -min(expected) > max_plate_nesting:
        raise ValueError(
            f"at site {site.name!r}: plate stack overflow, its plates use dim {min(expected)} "
            f"but max_plate_nesting={max_plate_nesting}. Pass max_plate_nesting="
            f"{-min(expected)} (or larger) to the ELBO."
        )
    shape = log_prob.shape
    for dim in range(-min(len(shape), max_plate_nesting), 0):
        size = shape[dim]
        want = expected.get(dim, 1)
        if size != want and want != -1:  # -1: a plate without a size fits any size
            raise ValueError(
                f"at site {site.name!r}: invalid log_prob shape {tuple(shape)}: dim {dim} has "
                f"size {size} but the site's plates expect {want} there. Enclose the batched "
                "tensor in a `with ppl.plate(...)`, use `.to_event(...)` on the distribution, "
                "or permute the data dims."
            )
    # An enumerated site's own dim must be free in its distribution's batch shape: a
    # parameter already varying along it comes from a site that markov recycled too soon.
    enum_dim = site.infer.get("_enumerate_dim")
    batch_shape = getattr(site.fn, "batch_shape", ())
    if enum_dim is not None and len(batch_shape) >= -enum_dim and batch_shape[enum_dim] != 1:
        raise ValueError(
            f'Enumeration dim conflict at site "{site.name}": its distribution already has '
            f"size {batch_shape[enum_dim]} along its enumeration dim {enum_dim} (batch shape "
            f"{tuple(batch_shape)}), so a recycled dim is still in use. Try increasing "
            "pyro.markov history size"
        )


def collect_param_names(
    traces: Iterable[Trace], into: dict[str, None] | None = None
) -> dict[str, None]:
    """Ordered set (a dict with None values) of the param site names in ``traces``."""
    names: dict[str, None] = {} if into is None else into
    for tr in traces:
        for name, site in tr.nodes.items():
            if site.type == "param":
                names[name] = None
    return names


def unconstrained_params(names: Iterable[str], distinct: bool = False) -> dict[str, torch.Tensor]:
    """``{name: unconstrained leaf}`` from the global ParamStore for the given names.

    Names no longer in the store (e.g. deleted by the user) are skipped. With
    ``distinct``, a leaf the store holds under several names (a ``PyroModule``'s plain
    ``nn.Module`` child also registered with ``ppl.module`` under another name, as
    Pyro allows) is given once, under its first name, so an optimizer updates it once.
    """
    leaves = get_param_store().unconstrained_leaves()
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name in names:
        leaf = leaves.get(name)
        if leaf is None:
            continue
        if distinct:
            if id(leaf) in seen:
                continue
            seen.add(id(leaf))
        out[name] = leaf
    return out


def constrained_params(names: Iterable[str]) -> dict[str, torch.Tensor]:
    """``{name: detached constrained value}`` from the global ParamStore."""
    store = get_param_store()
    with torch.no_grad():
        return {name: store[name].detach() for name in names if name in store}


# ---------------------------------------------------------------------------------
# Pyro's ``pyro.infer.util`` helpers (numbers-or-tensors, plates, validation).
# ---------------------------------------------------------------------------------
import math  # noqa: E402
import numbers  # noqa: E402
from typing import Any  # noqa: E402

from ppl.poutine.util import site_is_subsample  # noqa: E402
from ppl.settings import (  # noqa: E402
    enable_validation,
    is_validation_enabled,
    validation_enabled,
)

__all__ += [
    "MultiFrameTensor",
    "check_fully_reparametrized",
    "enable_validation",
    "get_dependent_plate_dims",
    "get_plate_stacks",
    "is_identically_zero",
    "is_validation_enabled",
    "plate_log_prob_sum",
    "require_backward",
    "site_is_subsample",
    "torch_backward",
    "torch_exp",
    "torch_item",
    "torch_sum",
    "validation_enabled",
    "zero_grads",
]


def torch_item(x: torch.Tensor | float) -> float:
    """``x.item()`` for a tensor, ``x`` itself for a Python number.

    Example:
        >>> torch_item(torch.tensor(2.5)), torch_item(3)
        (2.5, 3)
    """
    if isinstance(x, torch.Tensor):
        return x.item()
    return x


def torch_backward(x: torch.Tensor | float, retain_graph: bool | None = None) -> None:
    """``x.backward()`` when ``x`` is a tensor with a graph; a no-op for numbers and constants.

    Example:
        >>> w = torch.tensor(2.0, requires_grad=True)
        >>> torch_backward(w * w); torch_backward(1.0)
        >>> float(w.grad)
        4.0
    """
    if isinstance(x, torch.Tensor) and x.grad_fn is not None:
        x.backward(retain_graph=retain_graph)


def torch_exp(x: torch.Tensor | float) -> torch.Tensor | float:
    """``exp`` of a tensor or of a Python number.

    Example:
        >>> torch_exp(0.0), float(torch_exp(torch.tensor(0.0)))
        (1.0, 1.0)
    """
    return torch.exp(x) if isinstance(x, torch.Tensor) else math.exp(x)


def torch_sum(tensor: torch.Tensor, dims: Iterable[int]) -> torch.Tensor:
    """Sum ``tensor`` over the negative ``dims`` it actually has (others are skipped).

    Raises:
        ValueError: if a dim is not negative.

    Example:
        >>> torch_sum(torch.ones(2, 3), [-1, -3]).tolist()
        [3.0, 3.0]
    """
    dims = list(dims)
    if any(d >= 0 for d in dims):
        raise ValueError(f"torch_sum: dims must be negative, got {dims}")
    present = [d for d in dims if d >= -tensor.dim()]
    return tensor.sum(present) if present else tensor


def zero_grads(tensors: Iterable[torch.Tensor]) -> None:
    """Replace each existing ``.grad`` by a zero tensor (tensors without grad are left alone).

    Example:
        >>> w = torch.tensor(1.0, requires_grad=True); (3 * w).backward()
        >>> zero_grads([w]); float(w.grad)
        0.0
    """
    for t in tensors:
        if t.grad is not None:
            t.grad = torch.zeros_like(t.grad)


def is_identically_zero(x: object) -> bool:
    """True for the number 0 or a 0-dim int64 tensor holding 0 (no float tensor is synced).

    Example:
        >>> is_identically_zero(0), is_identically_zero(torch.tensor(0))
        (True, True)
        >>> is_identically_zero(torch.tensor(0.0))
        False
    """
    if isinstance(x, numbers.Number):
        return x == 0
    if (
        isinstance(x, torch.Tensor)
        and x.dtype == torch.int64
        and x.dim() == 0
        and not torch._C._get_tracing_state()
    ):
        return x.item() == 0
    return False


def check_fully_reparametrized(guide_site: Message) -> None:
    """Check that a guide site is reparameterized with no score-function term.

    Uses the site's ``score_parts`` when recorded, else ``fn.score_parts(value)``.

    Raises:
        NotImplementedError: naming the site, when it is not fully reparameterized.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> tr = ppl.poutine.trace(lambda: ppl.sample("z", dist.Normal(0.0, 1.0))).get_trace()
        >>> check_fully_reparametrized(tr.nodes["z"])
    """
    parts = guide_site.get("score_parts")
    if parts is None:
        parts = guide_site["fn"].score_parts(guide_site["value"])
    _, score_function, entropy = parts
    fully = (
        bool(getattr(guide_site["fn"], "has_rsample", False))
        and not is_identically_zero(entropy)
        and is_identically_zero(score_function)
    )
    if not fully:
        raise NotImplementedError(
            f"guide site {guide_site['name']!r} ({type(guide_site['fn']).__name__}) is not fully "
            "reparameterized; all distributions in the guide must be fully reparameterized."
        )


def get_plate_stacks(trace: Trace) -> dict[str, list[CondIndepStackFrame]]:
    """``{site name: its vectorized plate frames}`` for each sample site of ``trace``.

    Plates' subsample index sites are left out.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> def model():
        ...     with ppl.plate("p", 2):
        ...         ppl.sample("x", dist.Normal(0.0, 1.0))
        >>> [f.name for f in get_plate_stacks(ppl.poutine.trace(model).get_trace())["x"]]
        ['p']
    """
    return {
        name: [f for f in site["cond_indep_stack"] if f.vectorized]
        for name, site in trace.nodes.items()
        if site["type"] == "sample" and not site_is_subsample(site)
    }


def get_dependent_plate_dims(sites: Iterable[Message]) -> list[int]:
    """Sorted batch dims of the vectorized plates that some but not all sample ``sites`` share.

    Example:
        >>> a = Message("sample", "a", None, cond_indep_stack=(CondIndepStackFrame("i", -1, 2),))
        >>> b = Message("sample", "b", None)
        >>> get_dependent_plate_dims([a, b])
        [-1]
    """
    stacks = [set(site["cond_indep_stack"]) for site in sites if site["type"] == "sample"]
    if not stacks:
        return []
    every = set().union(*stacks)
    common = every.intersection(*stacks)
    return sorted({f.dim for f in every - common if f.dim is not None})


def plate_log_prob_sum(trace: Trace, plate_symbol: str) -> torch.Tensor:
    """Sum of the packed ``log_prob`` of every sample site, keeping the plate ``plate_symbol``.

    Needs sites packed by enumeration-aware ELBOs (``site["packed"]["log_prob"]``
    carrying ``_pyro_dims``, one letter per dim); ``plate_symbol`` is the letter of
    the plate to keep.

    Raises:
        ValueError: naming the first sample site that has no packed log_prob.
    """
    total: Any = 0.0
    for name, site in trace.nodes.items():
        if site["type"] != "sample":
            continue
        packed = site.get("packed")
        log_prob = None if packed is None else packed.get("log_prob")
        dims = getattr(log_prob, "_pyro_dims", None)
        if log_prob is None or dims is None:
            raise ValueError(
                f"plate_log_prob_sum: site {name!r} has no packed log_prob with _pyro_dims; "
                "compute packed log probs (trace.pack_tensors()) first"
            )
        total = total + torch.einsum(f"{dims}->{plate_symbol}", log_prob)
    return total


class MultiFrameTensor(dict):
    """Costs summed per set of vectorized plates, reducible to any target plate set.

    Keys are frozensets of vectorized frames; values are tensors laid out on those
    plates' (negative) dims. :meth:`sum_to` sums out the plates a target site is not
    in and adds everything up, the downstream-cost bookkeeping of ``TraceGraph_ELBO``.

    Example:
        >>> i = CondIndepStackFrame("i", -1, 3)
        >>> costs = MultiFrameTensor(((i,), torch.ones(3)), ((), torch.tensor(2.0)))
        >>> costs.sum_to(()).item(), costs.sum_to((i,)).tolist()
        (5.0, [3.0, 3.0, 3.0])
    """

    def __init__(self, *items: tuple[Iterable[CondIndepStackFrame], torch.Tensor]) -> None:
        super().__init__()
        self.add(*items)

    def add(self, *items: tuple[Iterable[CondIndepStackFrame], torch.Tensor]) -> None:
        """Add ``(cond_indep_stack, tensor)`` pairs; sequential frames are ignored.

        Raises:
            ValueError: if a plate dim lies outside the tensor.
        """
        for stack, value in items:
            frames = frozenset(f for f in stack if f.vectorized)
            for f in frames:
                assert f.dim is not None
                if not -value.dim() <= f.dim < 0:
                    raise ValueError(
                        f"MultiFrameTensor.add: plate {f.name!r} at dim {f.dim} does not fit "
                        f"a tensor of shape {tuple(value.shape)}"
                    )
            self[frames] = self[frames] + value if frames in self else value

    def sum_to(self, target_frames: Iterable[CondIndepStackFrame]) -> torch.Tensor | float:
        """Sum of all entries, keeping only the dims of ``target_frames``; 0.0 if empty."""
        target = set(target_frames)
        out: Any = None
        for frames, value in self.items():
            for f in frames:
                assert f.dim is not None
                if f not in target and value.shape[f.dim] != 1:
                    value = value.sum(f.dim, keepdim=True)
            while value.dim() and value.shape[0] == 1:
                value = value.squeeze(0)
            out = value if out is None else out + value
        return 0.0 if out is None else out

    def __repr__(self) -> str:
        body = ",\n\t".join(f"({frames}, ...)" for frames in self)
        return f"{type(self).__name__}({body})"


def require_backward(tensor: torch.Tensor) -> None:
    """Mark ``tensor`` as a leaf of the einsum adjoint graph (``ppl.ops.einsum.adjoint``).

    Raises:
        NotImplementedError: if ppl's einsum adjoint module is not available.
    """
    try:
        from ppl.ops.einsum.adjoint import require_backward as mark
    except ImportError as e:
        raise NotImplementedError(
            "require_backward needs ppl.ops.einsum.adjoint, which this ppl lacks"
        ) from e
    mark(tensor)


def particle_log_prob_sum(
    trace: Trace, num_particles: int, dim: int, names: Iterable[str] | None = None
) -> torch.Tensor:
    """Per-particle sum of the ``log_prob`` of every sample site of a vectorized trace.

    The particles sit along batch dim ``dim`` (negative, counted from the right of
    each site's batch shape); a site whose ``log_prob`` does not reach that dim (or
    has size 1 there) is shared by every particle. Subsample sites are skipped. Used
    by importance sampling, ``SMCFilter`` and the resamplers, whose traces run inside
    one particle plate. ``names`` restricts the sum to those sites.

    Returns:
        A ``(num_particles,)`` tensor (on the device of the log-densities).

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> def model():
        ...     with ppl.plate("particles", 3, dim=-1):
        ...         ppl.sample("x", dist.Normal(0.0, 1.0))
        >>> tr = ppl.poutine.trace(model).get_trace()
        >>> tuple(particle_log_prob_sum(tr, 3, -1).shape)
        (3,)
    """
    if dim >= 0:
        raise ValueError(f"particle_log_prob_sum: dim must be negative, got {dim}")
    keep = None if names is None else set(names)
    trace.compute_log_prob(lambda name, site: keep is None or name in keep)
    result: torch.Tensor | None = None
    for name, site in trace.nodes.items():
        if site.type != "sample" or is_subsample_site(site):
            continue
        if keep is not None and name not in keep:
            continue
        lp = torch.as_tensor(site["log_prob"])
        if lp.dim() < -dim:
            part = lp.sum().expand(num_particles)
        else:
            moved = lp.movedim(dim, 0)
            part = moved.reshape(moved.size(0), -1).sum(-1).expand(num_particles)
        result = part if result is None else result + part
    if result is None:  # no sample site: every particle weighs the same, on the data's device
        values = [site["value"] for site in trace.nodes.values() if site.type == "sample"]
        device = values[0].device if values and isinstance(values[0], torch.Tensor) else None
        return torch.zeros(num_particles, device=device)
    return result
# --- enumeration profiling (appended) ---
# Pyro's profiling hook: the op counts of the last enumeration contraction, read by
# growth benchmarks. ppl does not cache contraction ops, so it stays an empty Counter.
LAST_CACHE_SIZE: list[Counter] = [Counter()]


# ------------------------------------------------- TraceEnum_ELBO's validation (ppl.util)
def _enumerated_names(trace: Any) -> list[str]:
    return [
        name
        for name, site in trace.nodes.items()
        if site["type"] == "sample" and site["infer"].get("enumerate")
    ]


def _independent(counters1: dict[str, int], counters2: dict[str, int]) -> bool:
    """Two sites in different iterations of one sequential plate are independent."""
    return any(name in counters2 and counters2[name] != c for name, c in counters1.items())


def check_traceenum_requirements(model_trace: Any, guide_trace: Any) -> None:
    """Warn about dependencies that break the plates of enumerated guide sites.

    Enumeration runs over plates in lockstep, so a site outside a vectorized plate
    should come before the enumerated sites inside it; a site that comes after them
    (in the model or the guide) gets a ``RuntimeWarning`` naming both (Pyro judges by
    site order only, so this warns rather than refuses). A site marked for exact
    enumeration must have an enumerable support (a ``ValueError`` naming it); a site
    that draws ``num_samples`` values instead (tensor Monte Carlo) may be continuous.

    Raises:
        ValueError: naming a site marked for exact enumeration whose distribution
            has no ``enumerate_support``.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> def guide():
        ...     ppl.sample("c", dist.Bernoulli(0.5), infer={"enumerate": "parallel"})
        >>> tr = ppl.poutine.trace(guide).get_trace()
        >>> check_traceenum_requirements(tr, tr)
    """
    enumerated = set(_enumerated_names(guide_trace))
    for name in sorted(enumerated):
        site = guide_trace.nodes[name]
        if site["infer"].get("num_samples") is None and not getattr(
            site["fn"], "has_enumerate_support", False
        ):
            raise ValueError(
                f"guide site {name!r} is marked for enumeration, but its distribution "
                f"{type(site['fn']).__name__} has no enumerate_support; enumerate only "
                "discrete sites, or draw infer={'num_samples': k} values (TMC)"
            )
    for role, trace in (("model", model_trace), ("guide", guide_trace)):
        counters: dict[str, dict[str, int]] = {}
        enumerated_in: dict[frozenset, set[str]] = defaultdict(set)
        for name, site in trace.nodes.items():
            if site["type"] != "sample":
                continue
            stack = site["cond_indep_stack"]
            counter = {f.name: f.counter for f in stack if not f.vectorized}
            context = frozenset(f for f in stack if f.vectorized)
            for inner, names in enumerated_in.items():
                if not context < inner:
                    continue
                earlier = sorted(n for n in names if not _independent(counter, counters[n]))
                if earlier:
                    plates = sorted(f.name for f in inner - context)
                    warnings.warn(
                        f'at {role} site "{name}", possibly invalid dependency.\n'
                        f'  Expected site "{name}" to precede sites "{", ".join(earlier)}"\n'
                        f'  to avoid breaking independence of plates "{", ".join(plates)}"',
                        RuntimeWarning,
                        stacklevel=2,
                    )
            counters[name] = counter
            if name in enumerated:
                enumerated_in[context].add(name)
