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
  be read as attributes: ``guide.loc``, ``guide.locs.x`` (constrained values).
* **A torch module.** An autoguide is a :class:`~ppl.nn.PyroModule`. Each parameter's
  unconstrained leaf is *the same* ``nn.Parameter`` in the ParamStore and in the
  module, registered as ``<attribute>_unconstrained`` (in nested child modules for
  dotted names: ``locs.x_unconstrained``), as Pyro's ``PyroParam`` s are. So
  ``parameters()``, ``state_dict()``, ``load_state_dict()``, ``requires_grad_()``,
  ``.to()`` act on the store's parameters. The store stays the source of truth: if it
  holds another leaf under a name (cleared and refilled, a file loaded), the guide
  adopts that leaf at its next run. The model is not a sub-module.
* **Local parameters.** Under ``ppl.settings.set(module_local_params=True)`` at setup,
  the leaves are the module's own and never enter the store (as Pyro's PyroParams);
  runs still send ``param`` messages for handlers.
* **Plates.** The model's vectorized plates are recreated with the same name, full
  size, subsample size and dim. A subsampled plate draws its minibatch once per guide
  run (recorded as the plate's subsample site, which the model replays); local
  parameters are created at full size with ``event_dim`` so the plate slices them.
  A model that passes ``subsample=`` itself needs ``create_plates=`` (as in Pyro).
* **Discrete latents** are refused at setup with an error naming the site and the fix.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any

import torch
from torch import nn

from ppl import primitives
from ppl.infer.autoguide.initialization import InitMessenger, get_init_strategy, init_to_median
from ppl.infer.autoguide.utils import SiteInfo, full_size, no_bijection_error, site_info
from ppl.nn.module import PyroModule, _is_module_local_param_enabled, _local_param_statement
from ppl.params.param_store import get_param_store, param_transform
from ppl.poutine.block_messenger import BlockMessenger
from ppl.poutine.plate_messenger import PlateMessenger
from ppl.poutine.runtime import CondIndepStackFrame
from ppl.poutine.trace_messenger import trace
from ppl.poutine.trace_struct import Trace, is_subsample_site
from ppl.rng import rng_neutral

__all__ = ["AutoGuide"]


_UNCONSTRAINED = "_unconstrained"


class _ParamContainer(nn.Module):
    """``guide.locs``: a child module holding leaves ``<name>_unconstrained``.

    Reading ``container.<name>`` (or ``container[name]``) gives the constrained value:
    the ParamStore's under the full name recorded for it, or (``module_local_params``)
    the transform of the container's own leaf.
    """

    def __init__(self, where: str) -> None:
        super().__init__()
        self.__dict__["_where"] = where
        self.__dict__["_full_names"] = {}
        self.__dict__["_pyro_params"] = {}  # name -> (constraint, event_dim)

    def __getattr__(self, attr: str) -> Any:
        entry = self.__dict__.get("_full_names", {}).get(attr)
        if entry is not None:
            full, transform = entry
            if _is_module_local_param_enabled():
                return transform(self._parameters[attr + _UNCONSTRAINED])
            return get_param_store()[full]
        return super().__getattr__(attr)

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def extra_repr(self) -> str:
        return f"parameters of {self.__dict__['_where']}"


class AutoGuide(PyroModule):
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

    An autoguide is an ``nn.Module`` (see the module notes):

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> from ppl.infer.autoguide import AutoNormal
        >>> ppl.clear_param_store()
        >>> guide = AutoNormal(lambda: ppl.sample("z", dist.Normal(0.0, 1.0))).setup()
        >>> sorted(guide.state_dict())
        ['locs.z_unconstrained', 'scales.z_unconstrained']
        >>> guide.locs.z_unconstrained is ppl.param("AutoNormal.locs.z").unconstrained()
        True
    """

    #: whether the guide accepts discrete latent sites (only ``AutoGuideList`` does)
    _allows_discrete = False
    _needs_bijection = True  # False for guides that keep a constrained point (AutoDelta)

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
        super().__init__(name=type(self).__name__)
        self.__dict__["_model"] = (model,)  # a tuple: the model is not a sub-module
        self.create_plates = create_plates
        self.init_loc_fn = get_init_strategy(init_loc_fn)
        self.prototype_trace: Trace | None = None
        self._sites: dict[str, SiteInfo] = {}
        self._frames: dict[str, CondIndepStackFrame] = {}
        self._subsample_devices: dict[str, torch.device] = {}
        self._fixed_plates: dict[str, PlateMessenger] = {}
        self._master_plates: dict[str, PlateMessenger] | None = None
        self._param_names: dict[str, str] = {}  # attribute path -> store name
        self._param_inits: dict[str, tuple[torch.Tensor, Any, int | None]] = {}
        self._leaves: dict[str, nn.Parameter] = {}  # attribute path -> registered leaf
        self._transforms: dict[str, Any] = {}  # attribute path -> unconstrained -> value

    @property
    def model(self) -> Callable[..., Any]:
        """The model this guide was built for (not registered as a sub-module)."""
        return self.__dict__["_model"][0]

    @model.setter
    def model(self, model: Callable[..., Any]) -> None:
        self.__dict__["_model"] = (model,)

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
                    f"AutoGuideList (guide.append(my_guide)), or marginalize it out "
                    "(see https://pyro.ai/examples/enumeration.html)."
                )
            if self._needs_bijection and "sphere" in repr(site.fn.support).lower():
                raise no_bijection_error(
                    name, site.fn.support, NotImplementedError("no bijection onto the sphere")
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

    def _setup_params(self) -> None:
        """Create the guide's parameters (after the prototype trace); none by default
        (a custom subclass may hold ``PyroParam`` / ``nn.Parameter`` attributes)."""

    # ------------------------------------------------------------------ parameters
    def _add_loc_scale_params(self, init_scale: float, scale_constraint: Any) -> None:
        """Pyro's mean-field params: ``locs.<site>`` at each site's unconstrained init and
        ``scales.<site>`` at ``init_scale`` (AutoNormal, AutoGaussian)."""
        for name, info in self._sites.items():
            loc = info.init_unconstrained
            event_dim = info.unconstrained_event_dim
            self._add_param(f"locs.{name}", loc, None, event_dim)
            scale = torch.full_like(loc, init_scale)
            self._add_param(f"scales.{name}", scale, scale_constraint, event_dim)

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
        self._param_names[attr] = full
        self._param_inits[attr] = (init.detach(), constraint, event_dim)
        self._transforms[attr] = param_transform(constraint)
        if _is_module_local_param_enabled():  # the module's own leaf, no store entry
            with torch.no_grad():
                unconstrained = self._transforms[attr].inv(init.detach()).clone()
            self._register(attr, nn.Parameter(unconstrained))
            return
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
        self._adopt(attr, full)

    def _adopt(self, attr: str, full: str) -> torch.Tensor:
        """Register the store's leaf of ``full`` as this module's ``<attr>_unconstrained``.

        A leaf that is not yet an ``nn.Parameter`` is promoted (same storage) in the
        store too, so store and module hold one object. A missing entry (a cleared
        store) is recreated from the init value first.
        """
        store = get_param_store()
        leaf = store.get_unconstrained(full)
        init, constraint, _ = self._param_inits[attr]
        if leaf is None:
            store.setdefault(full, init.clone(), constraint)
            leaf = store.get_unconstrained(full)
            assert leaf is not None
        if not isinstance(leaf, nn.Parameter):
            leaf = nn.Parameter(leaf.detach(), requires_grad=leaf.requires_grad)
            store.set_state({"params": {full: leaf}, "constraints": {full: constraint}})
        self._register(attr, leaf)
        return leaf

    def _register(self, attr: str, leaf: nn.Parameter) -> None:
        """Make ``leaf`` the module parameter ``<attr>_unconstrained`` (nested by dots)."""
        owner: nn.Module = self
        *path, name = attr.split(".")
        for i, part in enumerate(path):
            child = owner._modules.get(part)
            if not isinstance(child, _ParamContainer):
                child = _ParamContainer(f"{self._pyro_name}.{'.'.join(path[: i + 1])}")
                owner._modules[part] = child
            owner = child
        owner._parameters[name + _UNCONSTRAINED] = leaf
        # declared like a PyroParam, so named_pyro_params() says "locs.x" as Pyro's
        _, constraint, event_dim = self._param_inits[attr]
        owner.__dict__["_pyro_params"][name] = (constraint, event_dim)
        if isinstance(owner, _ParamContainer):
            owner.__dict__["_full_names"][name] = (self._param_names[attr], self._transforms[attr])
        self._leaves[attr] = leaf

    def _param(self, attr: str) -> torch.Tensor:
        """``ppl.param`` of ``<name>.<attr>`` (sliced by the active subsampled plates)."""
        full = self._param_names[attr]
        init, constraint, event_dim = self._param_inits[attr]
        if _is_module_local_param_enabled():
            leaf = self._leaves[attr]
            value = self._transforms[attr](leaf)
            value.unconstrained = weakref.ref(leaf)
            return _local_param_statement(full, value, constraint, event_dim)
        if get_param_store().get_unconstrained(full) is not self._leaves[attr]:
            self._adopt(attr, full)  # the store changed under us: it wins
        # a callable init: the store may keep a real-valued init tensor as the leaf
        # itself, and training must not overwrite the guide's cached init in place
        return primitives.param(full, lambda: init.clone(), constraint, event_dim)

    def _sync_params(self) -> None:
        """Adopt every store leaf that changed, in this guide and in guide sub-modules
        (called before torch reads the module's parameters)."""
        if _is_module_local_param_enabled():
            return
        store = get_param_store()
        for module in self.modules():
            if isinstance(module, AutoGuide):
                for attr, full in module._param_names.items():
                    leaf = module._leaves.get(attr)
                    if leaf is not None and store.get_unconstrained(full) is not leaf:
                        module._adopt(attr, full)

    def _lookup(self, attr: str) -> Any:
        if attr in self._param_names:
            return self._value(attr)
        raise AttributeError(self._no_attribute(attr))

    def _value(self, attr: str) -> torch.Tensor:
        """The constrained value of ``attr``: the store's, or the module's own if local."""
        if _is_module_local_param_enabled() and attr in self._leaves:
            return self._transforms[attr](self._leaves[attr])
        return get_param_store()[self._param_names[attr]]

    def _no_attribute(self, attr: str) -> str:
        known = sorted(self._param_names)
        hint = "" if known else " (the guide is not set up yet: call guide.setup(*args))"
        return (
            f"{type(self).__name__} has no attribute or parameter {attr!r}{hint}; "
            f"parameters: {known}"
        )

    def __getattr__(self, attr: str) -> Any:
        # Only reached when normal lookup fails: parameters and their containers first
        # (never PyroModule's param/module statements), then PyroModule's attributes.
        state = self.__dict__
        names = state.get("_param_names")
        if attr.startswith("__") or names is None:
            raise AttributeError(attr)
        if attr in names:
            return self._value(attr)
        child = state["_modules"].get(attr)
        if isinstance(child, _ParamContainer):
            return child
        if attr.endswith(_UNCONSTRAINED) and attr[: -len(_UNCONSTRAINED)] in names:
            leaf = state["_parameters"].get(attr)
            if leaf is None:  # being replaced (load_state_dict(assign=True))
                raise AttributeError(attr)
            return leaf
        try:
            return super().__getattr__(attr)
        except AttributeError:
            raise AttributeError(self._no_attribute(attr)) from None

    # ------------------------------------------------------------------ nn.Module
    def _named_members(self, *args: Any, **kwargs: Any) -> Any:
        self._sync_params()
        return super()._named_members(*args, **kwargs)

    def _apply(self, *args: Any, **kwargs: Any) -> Any:
        self._sync_params()
        return super()._apply(*args, **kwargs)

    def state_dict(self, *args: Any, **kwargs: Any) -> Any:
        """``nn.Module.state_dict``: ``{"locs.x_unconstrained": leaf, ...}`` (Pyro's keys)."""
        self._sync_params()
        return super().state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        """``nn.Module.load_state_dict``, checked in full before anything changes.

        Raises:
            RuntimeError: (strict) a key is missing or unexpected, or (always) a tensor
                has another shape; the message names the first such key, and neither
                the guide nor the ParamStore is changed.
        """
        self._sync_params()
        own = super().state_dict(keep_vars=True)
        for key, value in own.items():
            if key not in state_dict:
                if strict:
                    raise RuntimeError(self._mismatch(key, "is missing from the state dict"))
                continue
            other = state_dict[key]
            if not isinstance(other, torch.Tensor) or other.shape != value.shape:
                got = tuple(other.shape) if isinstance(other, torch.Tensor) else type(other)
                raise RuntimeError(
                    self._mismatch(key, f"has shape {got}, but the guide's is {tuple(value.shape)}")
                )
        if strict:
            for key in state_dict:
                if key not in own:
                    raise RuntimeError(self._mismatch(key, "is not a parameter of this guide"))
        result = super().load_state_dict(state_dict, strict=strict, assign=assign)
        if assign:  # new objects replaced the leaves: hand them to the store
            self._push_params()
        return result

    def _mismatch(self, key: str, problem: str) -> str:
        hint = "" if self._param_names else " (the guide is not set up yet: call guide.setup)"
        return (
            f"{type(self).__name__}.load_state_dict: key {key!r} {problem}{hint}; is the "
            "state dict from a guide of another model? Nothing was loaded"
        )

    def _push_params(self) -> None:
        """Make the module's current leaves the store's (after ``assign=True`` loads)."""
        store = get_param_store()
        for module in self.modules():
            if not isinstance(module, AutoGuide):
                continue
            for attr in module._leaves:
                owner: nn.Module = module
                *path, name = attr.split(".")
                for part in path:
                    owner = owner._modules[part]  # type: ignore[assignment]
                leaf = owner._parameters[name + _UNCONSTRAINED]
                assert isinstance(leaf, nn.Parameter)
                full, constraint = module._param_names[attr], module._param_inits[attr][1]
                store.set_state({"params": {full: leaf}, "constraints": {full: constraint}})
                module._leaves[attr] = leaf

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
        return super().__call__(*args, **kwargs)

    def call(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, ...]:
        """Run the guide; its values as a tuple sorted by site name (Pyro's ``call``,
        for tracers such as ``torch.jit.trace_module`` that refuse dict outputs)."""
        result = self(*args, **kwargs)
        return tuple(value for _, value in sorted(result.items()))

    def forward(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Sample every latent site (see :meth:`__call__`)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement this method")

    def median(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """The posterior median of each latent site, in constrained space (full size)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement this method")

    def quantiles(
        self, quantiles: Sequence[float] | torch.Tensor, *args: Any, **kwargs: Any
    ) -> dict[str, torch.Tensor]:
        """Marginal quantiles of each latent site: ``{site: (len(quantiles), *shape)}``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement this method")

    def sample_latent(self, *args: Any, **kwargs: Any) -> Any:
        """Draw the guide's latent variables in unconstrained space."""
        raise NotImplementedError(f"{type(self).__name__} does not implement this method")

    def _quantile_tensor(self, quantiles: Sequence[float] | torch.Tensor, like: torch.Tensor):
        q = torch.as_tensor(quantiles, dtype=like.dtype, device=like.device)
        if q.dim() != 1 or not bool(((q > 0) & (q < 1)).all()):
            raise ValueError(
                f"{type(self).__name__}.quantiles: expected a 1-D sequence of levels in (0, 1), "
                f"got {quantiles!r}"
            )
        return q

    def __repr__(self) -> str:
        # one line, not nn.Module's tree of parameter containers
        state = f"{len(self._sites)} latent sites" if self.prototype_trace else "not set up"
        return f"{type(self).__name__}({getattr(self.model, '__name__', 'model')}, {state})"
