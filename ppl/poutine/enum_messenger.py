"""``enum``: parallel enumeration of discrete sites into fresh batch dims.

A sample site marked ``infer={"enumerate": "parallel"}`` does not draw a value:
its value becomes the whole support of its distribution
(``enumerate_support(expand=False)``), laid along a new batch dim left of every
plate dim (``first_available_dim = -1 - max_plate_nesting`` and further left).
Everything downstream then broadcasts over that dim, so one run of the model
computes the log-density of every joint assignment at once; ``TraceEnum_ELBO`` and
``infer_discrete`` sum or maximise those dims out.

Dim allocation follows Pyro:

* a site outside any :func:`~ppl.poutine.markov_messenger.markov` context gets a
  *global* dim, never reused during the run;
* a site inside a markov context gets a *local* dim: the rightmost enumeration dim
  not used by a global site nor by a site in its markov window, so dims recycle
  along a chain.

Each enumerated site records ``infer["_enumerate_dim"]`` (its dim) and every site
records ``infer["_dim_to_id"]``: the enumeration dims its log-density may depend on,
each mapped to the unique id of the site that owns it there (dims recycle, ids do
not), which is how inference tells two sites sharing one dim apart.

Example:
    >>> import torch, ppl, ppl.distributions as dist
    >>> @EnumMessenger(first_available_dim=-2)
    ... def model():
    ...     with ppl.plate("data", 3):
    ...         return ppl.sample("z", dist.Bernoulli(0.3), infer={"enumerate": "parallel"})
    >>> tuple(model().shape)
    (2, 1)
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.distributions import Distribution
from typing_extensions import Self

from .messenger import Messenger, make_handler
from .runtime import Message, broadcast_to_plates

__all__ = ["EnumAllocator", "EnumMessenger", "enum", "enumerate_site"]


class EnumAllocator:
    """Hands out enumeration dims (negative ints, right to left) and unique ids.

    ``set_first_available_dim`` starts a program run (once per guide/model pair, so
    the model's dims come after the guide's); ``allocate`` returns ``(dim, id)``.
    """

    def __init__(self) -> None:
        self.next_available_dim: float = -math.inf
        self.first_dim: float = -math.inf  # the rightmost dim enumeration may use
        self.next_available_id = 0
        self.dim_to_id: dict[int, int] = {}  # global dims only

    def set_first_available_dim(self, first_available_dim: int) -> None:
        """Start allocating at ``first_available_dim`` (negative), forgetting all dims."""
        if first_available_dim >= 0:
            raise ValueError(f"first_available_dim must be negative, got {first_available_dim}")
        self.next_available_dim = first_available_dim
        self.first_dim = first_available_dim
        self.next_available_id = 0
        self.dim_to_id = {}

    def allocate(self, scope_dims: set[int] | None = None, site: str = "?") -> tuple[int, int]:
        """A new ``(dim, id)``: a global dim if ``scope_dims`` is None, else the
        rightmost local dim not in ``scope_dims``.

        Raises:
            ValueError: naming ``site``, when no first available dim was set
                (``max_plate_nesting`` unknown).
        """
        id_ = self.next_available_id
        self.next_available_id += 1
        if self.next_available_dim == -math.inf:
            raise ValueError(
                f"at site {site!r}: parallel enumeration needs a finite max_plate_nesting "
                "(e.g. TraceEnum_ELBO(max_plate_nesting=1)) or first_available_dim "
                "(e.g. poutine.enum(first_available_dim=-2))"
            )
        dim = int(self.next_available_dim)
        if scope_dims is None:
            self.next_available_dim -= 1
            self.dim_to_id[dim] = id_
        else:
            while dim in scope_dims:
                dim -= 1
        return dim, id_


_ENUM_ALLOCATOR = EnumAllocator()


def _sample(fn: Any, shape: torch.Size) -> torch.Tensor:
    return fn.rsample(shape) if getattr(fn, "has_rsample", False) else fn.sample(shape)


def _tmc_sample(msg: Message, num_samples: int, strategy: str) -> torch.Tensor:
    """``num_samples`` draws shaped ``(num_samples, *plate batch, *event)``.

    The distribution may already be batched over upstream particle dims (its
    parameters depend on other multiply-sampled sites); every such dim is collapsed
    by pairing draw ``i`` with upstream particle ``i`` ("diagonal") or with a uniformly
    chosen upstream particle ("mixture").
    """
    fn = msg.fn
    batch = [1] * len(fn.batch_shape)
    for f in msg.cond_indep_stack:
        if f.dim is not None and -f.dim <= len(batch):
            batch[f.dim] = f.size
    fat = _sample(fn, torch.Size((num_samples,)))
    target = (num_samples,) + tuple(batch) + tuple(fn.event_shape)
    if tuple(fat.shape) == target:
        return fat
    index: list[Any] = [torch.arange(num_samples, device=fat.device)]
    squashed = []
    for d in range(1, 1 + len(batch)):
        size = fat.shape[d]
        # only enumeration dims (left of the plates) can hold upstream particles; a
        # stray size in a plate dim is left for the site-shape validation to report
        upstream = d - 1 - len(batch) <= _ENUM_ALLOCATOR.first_dim
        if size > 1 and target[d] == 1 and upstream:
            if strategy == "diagonal":
                if size != num_samples:
                    raise ValueError(
                        f"at site {msg.name!r}: invalid log_prob shape "
                        f"{tuple(fn.batch_shape)}: batch dim {d - 1 - len(batch)} has size "
                        f"{size}, but diagonal TMC pairs its {num_samples} draws with the "
                        "upstream particles there; check the site's shapes and plates, use "
                        "equal num_samples, or tmc='mixture'"
                    )
                index.append(torch.arange(size, device=fat.device))
            else:
                index.append(torch.randint(size, (num_samples,), device=fat.device))
            squashed.append(d)
        else:
            index.append(slice(None))
    thin = fat[tuple(index)]
    for d in squashed:
        thin = thin.unsqueeze(d)
    return thin


def enumerate_site(msg: Message) -> torch.Tensor:
    """The values a site enumerates: its support, or ``num_samples`` local draws.

    The result has one more dim than the site's batch + event shape (the leftmost,
    of length the number of values).

    Raises:
        ValueError: naming the site, when its distribution has no
            ``enumerate_support`` or the TMC strategy is unknown.
    """
    fn = msg.fn
    infer = msg.infer
    num_samples = infer.get("num_samples")
    expand = infer.get("expand", False)
    if num_samples is None:
        if not getattr(fn, "has_enumerate_support", False):
            raise ValueError(
                f"at site {msg.name!r}: cannot enumerate {type(fn).__name__}, which has no "
                "enumerate_support; enumerate only discrete sites (config_enumerate skips "
                "the others) or give infer={'num_samples': n} to sample locally"
            )
        value = fn.enumerate_support(expand=expand)
    elif expand:
        value = _sample(fn, torch.Size((int(num_samples),)))
    else:
        strategy = infer.get("tmc", "diagonal")
        if strategy not in ("diagonal", "mixture"):
            raise ValueError(
                f"at site {msg.name!r}: tmc must be 'diagonal' or 'mixture', got {strategy!r}"
            )
        value = _tmc_sample(msg, int(num_samples), strategy)
    return value


def _is_enumerable_site(msg: Message) -> bool:
    return (
        msg.type == "sample"
        and isinstance(msg.fn, Distribution)
        and not msg.infer.get("is_subsample", False)
    )


class EnumMessenger(Messenger):
    """Enumerate sites marked ``infer={"enumerate": "parallel"}`` in parallel.

    Args:
        first_available_dim: the rightmost dim (negative) enumeration may use, e.g.
            ``-1 - max_plate_nesting``; None keeps the allocator's state, so a model
            run after its guide allocates left of the guide's dims.
    """

    def __init__(self, first_available_dim: int | None = None) -> None:
        super().__init__()
        if first_available_dim is not None and first_available_dim >= 0:
            raise ValueError(
                f"enum: first_available_dim must be negative (left of the plates), got "
                f"{first_available_dim}"
            )
        self.first_available_dim = first_available_dim
        self._markov_depths: dict[str, int] = {}
        self._param_dims: dict[str, dict[int, int]] = {}
        self._value_dims: dict[str, dict[int, int]] = {}

    def __enter__(self) -> Self:
        if self.first_available_dim is not None:
            _ENUM_ALLOCATOR.set_first_available_dim(self.first_available_dim)
        self._markov_depths = {}
        self._param_dims = {}
        self._value_dims = {}
        return super().__enter__()

    def process_message(self, msg: Message) -> None:
        if msg.done or not _is_enumerable_site(msg):
            return
        name = str(msg.name)
        infer = msg.infer
        # dims of upstream sites still in scope: this site must not reuse them
        scope = infer.get("_markov_scope")
        param_dims = dict(_ENUM_ALLOCATOR.dim_to_id)
        if scope is not None:
            for other, depth in scope.items():
                if self._markov_depths.get(other) == depth:
                    param_dims.update(self._value_dims.get(other, {}))
            self._markov_depths[name] = infer["_markov_depth"]
        self._param_dims[name] = param_dims
        if msg.is_observed or infer.get("enumerate") != "parallel":
            return

        if msg.cond_indep_stack:
            broadcast_to_plates(msg)  # as Pyro's plates do before enumeration sees the site
        value = enumerate_site(msg)
        fn = msg.fn
        event_dim = len(fn.event_shape)
        actual_dim = -1 - len(fn.batch_shape)  # where enumerate_support put the values
        target_dim, id_ = _ENUM_ALLOCATOR.allocate(
            None if scope is None else set(param_dims), site=name
        )
        for f in msg.cond_indep_stack:
            if f.dim is not None and f.dim <= target_dim:
                raise ValueError(
                    f"at site {name!r}: plate {f.name!r} uses dim {f.dim}, but enumeration "
                    f"starts at dim {target_dim}; max_plate_nesting is too small (the site "
                    f"needs max_plate_nesting >= {-f.dim}, i.e. first_available_dim <= "
                    f"{f.dim - 1})"
                )
        if actual_dim < target_dim:
            if value.size(target_dim - event_dim) != 1:
                raise ValueError(
                    f"at site {name!r}: Enumeration dim conflict at dim {target_dim}: the "
                    f"distribution's batch shape {tuple(fn.batch_shape)} already uses it; "
                    "check the markov history or max_plate_nesting"
                )
            value = value.transpose(target_dim - event_dim, actual_dim - event_dim)
            while value.dim() and value.size(0) == 1:
                value = value.squeeze(0)
        elif target_dim < actual_dim:
            diff = actual_dim - target_dim
            value = value.reshape(value.shape[:1] + (1,) * diff + value.shape[1:])

        value_dims = {
            dim: param_dims[dim]
            for dim in range(event_dim - value.dim(), 0)
            if value.size(dim - event_dim) > 1 and dim in param_dims
        }
        value_dims[target_dim] = id_
        infer["_enumerate_dim"] = target_dim
        infer["_dim_to_id"] = value_dims
        msg.value = value
        msg.done = True

    def postprocess_message(self, msg: Message) -> None:
        if not _is_enumerable_site(msg):
            return
        value = msg.value
        if not isinstance(value, torch.Tensor):
            return
        name = str(msg.name)
        event_dim = len(msg.fn.event_shape)
        shape = value.shape[: value.dim() - event_dim]
        dim_to_id = msg.infer.setdefault("_dim_to_id", {})
        dim_to_id.update(self._param_dims.get(name, {}))
        self._value_dims[name] = {
            dim: id_ for dim, id_ in dim_to_id.items() if len(shape) >= -dim and shape[dim] > 1
        }


enum = make_handler(EnumMessenger)
