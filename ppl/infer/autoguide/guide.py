"""``AutoGuide``: the base of every automatic guide.

Design notes
------------
* **Prototype trace.** On first use (or an explicit :meth:`AutoGuide.setup`) the guide
  runs the model once under :class:`~.initialization.InitMessenger` (every latent site
  takes its init value) inside ``poutine.block`` (so an outer ``trace``, e.g. the
  ELBO's, never sees this run). The trace tells the guide which latent sites exist,
  their supports, shapes, plates, device and dtype.
* **Eager parameters.** ``setup`` creates every parameter in the global ParamStore
  right away, on the device and dtype of the prototype values (data on CUDA => guide
  parameters on CUDA), so ``torch.optim.Adam(guide.parameters())``, a compile step or
  ``torch.distributed`` sees them all before the first step. The guide still calls
  ``ppl.param(name, init, ...)`` at every run, so a cleared store is refilled and
  handlers (``replay(params=...)``, ``lift``) can intercept the parameters.
* **Names.** Parameters are named like Pyro's ``PyroModule`` attributes:
  ``"<ClassName>.<attribute>"`` (``AutoNormal.locs.x``, ``AutoMultivariateNormal.loc``);
  a guide appended to an ``AutoGuideList`` becomes ``"AutoGuideList.<i>"``. They can
  be read as attributes: ``guide.loc``, ``guide.locs.x``.
* **Plates.** The model's vectorized plates are recreated with the same name, full
  size, subsample size and dim. A subsampled plate draws its minibatch once per guide
  run (recorded as the plate's subsample site, which the model replays); local
  parameters are created at full size with ``event_dim`` so the plate slices them.
  A model that passes ``subsample=`` itself needs ``create_plates=`` (as in Pyro).
* **Discrete latents** are refused at setup with an error naming the site and the fix.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from typing import Any

import torch

from ppl import primitives
from ppl.infer.autoguide.initialization import InitMessenger, get_init_strategy, init_to_median
from ppl.infer.autoguide.utils import SiteInfo, full_size, site_info
from ppl.params.param_store import get_param_store
from ppl.poutine.block_messenger import BlockMessenger
from ppl.poutine.plate_messenger import PlateMessenger
from ppl.poutine.runtime import CondIndepStackFrame
from ppl.poutine.trace_messenger import trace
from ppl.poutine.trace_struct import Trace, is_subsample_site
from ppl.rng import rng_neutral

__all__ = ["AutoGuide"]


class _ParamView:
    """``guide.locs``: attribute access to the parameters under a dotted prefix."""

    def __init__(self, guide: AutoGuide, prefix: str) -> None:
        self._guide = guide
        self._prefix = prefix

    def __getattr__(self, attr: str) -> Any:
        return self._guide._lookup(f"{self._prefix}.{attr}")

    def __getitem__(self, key: str) -> Any:
        return self._guide._lookup(f"{self._prefix}.{key}")

    def __repr__(self) -> str:
        return f"<parameters {self._guide._pyro_name}.{self._prefix}.*>"


class AutoGuide(ABC):
    """Base class of automatic guides (Pyro's ``pyro.infer.autoguide.AutoGuide``).

    Args:
        model: the model, a callable with ``ppl.sample``/``ppl.plate`` statements.
        create_plates: optional ``create_plates(*args, **kwargs)`` returning the plate
            (or a list of plates) to use in place of recreated ones; needed when the
            model passes ``subsample=`` indices itself.
        init_loc_fn: init strategy (a callable ``site -> value`` or a registered name,
            see :mod:`.initialization`); default ``init_to_median``.

    Raises:
        TypeError: if ``model`` is not callable or ``init_loc_fn`` is not a strategy.
    """

    #: whether the guide accepts discrete latent sites (only ``AutoGuideList`` does)
    _allows_discrete = False

    def __init__(
        self,
        model: Callable[..., Any],
        *,
        create_plates: Callable[..., Any] | None = None,
        init_loc_fn: Callable[..., Any] | str = init_to_median,
    ) -> None:
        if not callable(model):
            raise TypeError(
                f"{type(self).__name__}: model must be callable, got {type(model).__name__}"
            )
        if create_plates is not None and not callable(create_plates):
            raise TypeError(
                f"{type(self).__name__}: create_plates must be callable, got "
                f"{type(create_plates).__name__}"
            )
        self.model = model
        self.create_plates = create_plates
        self.init_loc_fn = get_init_strategy(init_loc_fn)
        self._pyro_name = type(self).__name__
        self.prototype_trace: Trace | None = None
        self._sites: dict[str, SiteInfo] = {}
        self._frames: dict[str, CondIndepStackFrame] = {}
        self._subsample_devices: dict[str, torch.device] = {}
        self._fixed_plates: dict[str, PlateMessenger] = {}
        self._master_plates: dict[str, PlateMessenger] | None = None
        self._param_names: dict[str, str] = {}  # attribute path -> store name
        self._param_inits: dict[str, tuple[torch.Tensor, Any, int | None]] = {}

    # ------------------------------------------------------------------ setup
    def setup(self, *args: Any, **kwargs: Any) -> AutoGuide:
        """Trace the model once and create every parameter now (idempotent).

        Called lazily by the first ``guide(*args, **kwargs)``; call it yourself to hand
        all parameters to an optimizer, ``torch.compile`` or DDP before the first step.

        Returns:
            ``self``, so ``guide = AutoNormal(model).setup(data)`` works.

        Raises:
            ValueError: for a discrete latent site, or a parameter already in the store
                with another shape.
        """
        if self.prototype_trace is None:
            with rng_neutral():  # a lazy setup must not shift the run's draws (resume)
                self._setup_prototype(*args, **kwargs)
                self._setup_params()
        return self

    def _setup_prototype(self, *args: Any, **kwargs: Any) -> None:
        with BlockMessenger():
            tracer = trace(InitMessenger(self.init_loc_fn)(self.model))
            proto = tracer.get_trace(*args, **kwargs)
        sites: dict[str, SiteInfo] = {}
        frames: dict[str, CondIndepStackFrame] = {}
        for name, site in proto.nodes.items():
            if site.type != "sample":
                continue
            if is_subsample_site(site):
                self._subsample_devices[name] = site.value.device
                continue
            for frame in site.cond_indep_stack:
                if frame.vectorized:
                    frames.setdefault(frame.name, frame)
            if site.is_observed:
                continue
            if site.fn.support.is_discrete:
                if self._allows_discrete:
                    continue
                raise ValueError(
                    f"{type(self).__name__}: latent site {name!r} has the discrete support "
                    f"{site.fn.support}; autoguides handle continuous latents only. Hide it "
                    f"from the autoguide with {type(self).__name__}(poutine.block(model, "
                    f"hide=[{name!r}])) and cover it with your own guide in an "
                    f"AutoGuideList (guide.append(my_guide)), or marginalize it out."
                )
            sites[name] = site_info(site)
        self.prototype_trace = proto
        self._sites = sites
        self._frames = frames
        with BlockMessenger():  # built once here, re-entered by every run: no site now
            self._fixed_plates = {
                name: PlateMessenger(name, frame.size, dim=frame.dim)
                for name, frame in frames.items()
                if full_size(frame) == frame.size
            }

    @abstractmethod
    def _setup_params(self) -> None:
        """Create the guide's parameters (after the prototype trace)."""

    # ------------------------------------------------------------------ parameters
    def _add_param(
        self,
        attr: str,
        init: torch.Tensor,
        constraint: Any = None,
        event_dim: int | None = None,
    ) -> None:
        """Create parameter ``<name>.<attr>`` in the store now (or check the existing one)."""
        from torch.distributions import constraints

        constraint = constraints.real if constraint is None else constraint
        full = f"{self._pyro_name}.{attr}"
        store = get_param_store()
        if full in store:
            old = store[full]
            if old.shape != init.shape:
                raise ValueError(
                    f"{type(self).__name__}: parameter {full!r} is already in the ParamStore "
                    f"with shape {tuple(old.shape)}, but this guide needs shape "
                    f"{tuple(init.shape)}; call ppl.clear_param_store() (or del the name) "
                    "before fitting a different model"
                )
        else:
            store.setdefault(full, init.detach().clone(), constraint)
        self._param_names[attr] = full
        self._param_inits[attr] = (init.detach(), constraint, event_dim)

    def _param(self, attr: str) -> torch.Tensor:
        """``ppl.param`` of ``<name>.<attr>`` (sliced by the active subsampled plates)."""
        init, constraint, event_dim = self._param_inits[attr]
        # a callable init: the store may keep a real-valued init tensor as the leaf
        # itself, and training must not overwrite the guide's cached init in place
        return primitives.param(
            self._param_names[attr], lambda: init.clone(), constraint, event_dim
        )

    def _lookup(self, attr: str) -> Any:
        if attr in self._param_names:
            return get_param_store()[self._param_names[attr]]
        prefix = attr + "."
        if any(k.startswith(prefix) for k in self._param_names):
            return _ParamView(self, attr)
        known = sorted(self._param_names)
        hint = "" if known else " (the guide is not set up yet: call guide.setup(*args))"
        raise AttributeError(
            f"{type(self).__name__} has no attribute or parameter {attr!r}{hint}; "
            f"parameters: {known}"
        )

    def __getattr__(self, attr: str) -> Any:
        # Only reached when normal lookup fails: expose parameters as attributes.
        if attr.startswith("__") or "_param_names" not in self.__dict__:
            raise AttributeError(attr)
        return self._lookup(attr)

    def named_parameters(self) -> Iterator[tuple[str, torch.Tensor]]:
        """``(store name, unconstrained leaf)`` for each parameter of the guide.

        Raises:
            ValueError: if the guide is not set up yet.
        """
        self._require_setup("named_parameters")
        params = dict(get_param_store().named_parameters())
        for full in self._param_names.values():
            yield full, params[full]

    def parameters(self) -> Iterator[torch.Tensor]:
        """The unconstrained leaves of the guide's parameters (for a torch optimizer)."""
        for _, p in self.named_parameters():
            yield p

    def _require_setup(self, what: str) -> None:
        if self.prototype_trace is None:
            raise ValueError(
                f"{type(self).__name__}.{what}: the guide is not set up; call "
                f"guide.setup(*model_args) (or run the guide once) first"
            )

    # ------------------------------------------------------------------ plates
    def _create_plates(self, *args: Any, **kwargs: Any) -> dict[str, PlateMessenger]:
        """The plates of one guide run; subsampled ones draw their minibatch now."""
        if self._master_plates is not None:
            return self._master_plates
        plates = dict(self._fixed_plates)
        user: dict[str, PlateMessenger] = {}
        if self.create_plates is not None:
            made = self.create_plates(*args, **kwargs)
            seq = [made] if isinstance(made, PlateMessenger) else list(made or ())
            for p in seq:
                if not isinstance(p, PlateMessenger):
                    raise TypeError(
                        f"{type(self).__name__}: create_plates must return ppl.plate objects, "
                        f"got {type(p).__name__}"
                    )
                user[p.name] = p
        for name, frame in self._frames.items():
            full = full_size(frame)
            if name in user:
                plates[name] = user[name].with_dim(frame.dim)
            elif full != frame.size:
                device = self._subsample_devices.get(name)
                plates[name] = PlateMessenger(
                    name, full, subsample_size=frame.size, dim=frame.dim, device=device
                )
        return plates

    @staticmethod
    def _enter_plates(stack: ExitStack, plates: dict[str, PlateMessenger], info: SiteInfo) -> None:
        for frame in info.frames:
            stack.enter_context(plates[frame.name])

    # ------------------------------------------------------------------ the guide
    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Run the guide: sample every latent site; returns ``{site: constrained value}``."""
        if self.prototype_trace is None:
            self.setup(*args, **kwargs)
        return self.forward(*args, **kwargs)

    @abstractmethod
    def forward(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Sample every latent site (see :meth:`__call__`)."""

    @abstractmethod
    def median(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """The posterior median of each latent site, in constrained space (full size)."""

    @abstractmethod
    def quantiles(
        self, quantiles: Sequence[float] | torch.Tensor, *args: Any, **kwargs: Any
    ) -> dict[str, torch.Tensor]:
        """Marginal quantiles of each latent site: ``{site: (len(quantiles), *shape)}``."""

    @abstractmethod
    def sample_latent(self, *args: Any, **kwargs: Any) -> Any:
        """Draw the guide's latent variables in unconstrained space."""

    def _quantile_tensor(self, quantiles: Sequence[float] | torch.Tensor, like: torch.Tensor):
        q = torch.as_tensor(quantiles, dtype=like.dtype, device=like.device)
        if q.dim() != 1 or not bool(((q > 0) & (q < 1)).all()):
            raise ValueError(
                f"{type(self).__name__}.quantiles: expected a 1-D sequence of levels in (0, 1), "
                f"got {quantiles!r}"
            )
        return q

    def __repr__(self) -> str:
        state = f"{len(self._sites)} latent sites" if self.prototype_trace else "not set up"
        return f"{type(self).__name__}({getattr(self.model, '__name__', 'model')}, {state})"
