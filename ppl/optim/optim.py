"""``PPLOptimizer`` (alias ``PyroOptim``): one torch optimizer for every named parameter.

Design notes
------------
Pyro keeps one torch optimizer *per parameter* and keys its saved state by tensor
identity. ppl keeps **one** torch optimizer per wrapper, created lazily at the first step,
and keys everything it saves by parameter **name**:

* **Groups.** Parameters whose settings are equal share a param group, so torch's
  ``foreach`` kernels update them in one call. With a ``dict`` ``optim_args`` there is one
  group; with a callable ``optim_args(name) -> dict`` there is one group per distinct
  settings dict. A parameter seen for the first time joins the group whose *creating*
  settings equal its own (appended to that group), or starts a new group through
  ``Optimizer.add_param_group``. Every group carries torch's ``param_names`` list.
* **Names, not tensors.** ``step(named_params)`` receives ``{name: unconstrained leaf}``.
  A name seen before with a *different* tensor (the ParamStore was reloaded or the
  parameter replaced) swaps the new tensor in and keeps the optimizer state when shapes
  agree, so resuming in the same process continues where it stopped.
* **Only what was passed is stepped.** Parameters known to the optimizer but absent from
  this call keep their values and state (their gradients are hidden for the step). After
  the step the passed parameters' ``.grad`` is set to None, which is Pyro's
  ``zero_grads``.
* **State dict.** ``state_dict()`` returns plain data (``check_plain`` proves it):
  ``{"format": "ppl.optim", "version": 1, "optimizer": class name, "param_groups": [{"names",
  "settings", "hyper"}], "state": {name: {...}}, "scheduler": dict | None}``. Tensors are
  cloned, so a saved dict never changes when training goes on. ``load_state_dict`` keeps
  the state of names not seen yet *pending* and applies it when the name appears, with the
  group layout and hyper-parameters (e.g. a scheduled ``lr``) of the save, so a resumed
  run is bit-identical to an uninterrupted one.
* **Devices.** Loaded state follows its parameter: tensors shaped like the parameter get
  its device and dtype, other tensors its device (the ``step`` counter stays where it is
  unless the group is ``capturable``/``fused``, as in torch). ``map_location`` moves the
  whole loaded dict first, as ``torch.load`` would.
* **Schedulers** (``ppl.optim.lr_scheduler``) subclass this class and add hooks: create
  the scheduler right after the optimizer, extend it when a group is added, save and
  restore its state.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch

from ppl.ops.tree import MapLocation, clone_tree, map_tensors, to_location, to_plain
from ppl.params.param_store import (
    get_param_store,
    module_from_param_with_module_name,
    normalize_param_name,
    user_param_name,
)
from ppl.params.safe_file import atomic_save, check_plain, safe_load

OptimArgs = Mapping[str, Any] | Callable[..., Mapping[str, Any]]
ClipArgs = Mapping[str, Any] | Callable[..., Mapping[str, Any]] | None

FORMAT = "ppl.optim"
VERSION = 1
_CLIP_KEYS = frozenset({"clip_norm", "clip_value"})
_GROUP_ONLY_KEYS = ("params", "param_names")


def _settings_equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Equality of settings dicts; tensors compare by identity (never a device sync)."""
    if a.keys() != b.keys():
        return False
    for key, value in a.items():
        other = b[key]
        if isinstance(value, torch.Tensor) or isinstance(other, torch.Tensor):
            if value is not other:
                return False
        elif value != other:
            return False
    return True


def _arity(fn: Callable[..., Any]) -> int:
    """Number of positional parameters of ``fn`` (1 or 2 are meaningful here)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in params if p.kind in kinds and p.default is inspect.Parameter.empty)


def _accepted_kwargs(cls: type) -> set[str] | None:
    """Keyword names ``cls.__init__`` accepts besides ``params``; None if it takes ``**kw``."""
    params = inspect.signature(cls).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.name != "params"}


def named_store_params(params: Iterable[torch.Tensor], caller: str) -> dict[str, torch.Tensor]:
    """Resolve ParamStore tensors to ``{name: tensor}`` for Pyro's ``optim(params)`` style.

    Pyro's optimizers are called with the unconstrained tensors themselves; ppl's step by
    name, so every optimizer wrapper's ``__call__`` looks each tensor up with
    ``get_param_store().param_name(p)``.

    Args:
        params: unconstrained parameter tensors held by the global ParamStore.
        caller: the wrapper's name, used to start the error message.

    Returns:
        ``{name: tensor}`` in the order of ``params``.

    Raises:
        ValueError: if a tensor is not in the ParamStore.

    Example:
        >>> named_store_params([], "optimizer")
        {}
    """
    store = get_param_store()
    named: dict[str, torch.Tensor] = {}
    for p in params:
        name = store.param_name(p)
        if name is None:
            raise ValueError(
                f"{caller} called with a tensor that is not in the ParamStore "
                f"(shape {tuple(p.shape)}); pass {{name: tensor}} to step() instead"
            )
        named[name] = p
    return named


class PPLOptimizer:
    """Wrap one torch optimizer for a set of named parameters that grows lazily.

    Args:
        optim_constructor: a ``torch.optim.Optimizer`` subclass (e.g. ``torch.optim.Adam``).
        optim_args: the optimizer's keyword arguments as a dict (``{"lr": 1e-3}``), or a
            callable giving them per parameter: ``fn(name)`` receives the parameter name
            with module prefixes normalized to dots (Pyro's form); Pyro's deprecated
            ``fn(module_name, param_name)`` is accepted too.
        clip_args: optional ``{"clip_norm": c}`` and/or ``{"clip_value": v}`` (or a
            callable giving them per parameter): each parameter's gradient is clipped on
            its own before the step, as in Pyro.

    Raises:
        TypeError: if ``optim_constructor`` is not an Optimizer subclass, or ``optim_args``
            / ``clip_args`` are neither a dict nor a callable.
        ValueError: if a dict names an argument the optimizer does not accept.

    Example:
        >>> w = torch.zeros(2, requires_grad=True)
        >>> opt = PPLOptimizer(torch.optim.SGD, {"lr": 0.5})
        >>> w.grad = torch.ones(2)
        >>> opt.step({"w": w})
        >>> w
        tensor([-0.5000, -0.5000], requires_grad=True)
    """

    def __init__(
        self,
        optim_constructor: type[torch.optim.Optimizer],
        optim_args: OptimArgs,
        clip_args: ClipArgs = None,
    ) -> None:
        if not (
            isinstance(optim_constructor, type)
            and issubclass(optim_constructor, torch.optim.Optimizer)
        ):
            raise TypeError(
                "optim_constructor: expected a torch.optim.Optimizer subclass such as "
                f"torch.optim.Adam, but got {optim_constructor!r}"
            )
        self.optimizer_class = optim_constructor
        self._accepted = _accepted_kwargs(optim_constructor)
        self.optim_args = self._check_args(optim_args, "optim_args")
        self.clip_args = self._check_args({} if clip_args is None else clip_args, "clip_args")
        self._optimizer: torch.optim.Optimizer | None = None
        self._params: dict[str, torch.Tensor] = {}
        self._clips: dict[str, dict[str, float]] = {}
        self._group_settings: list[dict[str, Any]] = []
        # Loaded but not yet applied: the saved group layout (used when the torch optimizer
        # is created), the group of each saved name and the state of names not seen yet.
        self._pending_groups: list[dict[str, Any]] | None = None
        self._pending_group_of: dict[str, int] = {}
        self._pending_state: dict[str, dict[str, Any]] = {}
        self._stepped = False
        self._fused_ok: dict[str, bool] = {}  # device type -> torch has a fused kernel
        self._unnamed_count = 0  # leaves outside the ParamStore stepped by __call__
        #: Step with torch's fused kernel (``fused=True``) where the optimizer class,
        #: the device and the dtype allow it and ``optim_args`` leave the choice open;
        #: it applies to params added while it is on (see :meth:`prefer_fused`).
        self.use_fused_kernels = False

    # ------------------------------------------------------------------ arguments
    def _check_args(self, args: Any, what: str) -> Any:
        if callable(args) and not isinstance(args, Mapping):
            return args
        if not isinstance(args, Mapping):
            raise TypeError(
                f"{what}: expected a dict such as {{'lr': 1e-3}} or a callable name -> dict, "
                f"but got {type(args).__name__}"
            )
        return self._check_dict(args, what, None)

    def _probe(self, settings: dict[str, Any], where: str) -> None:
        """Let the torch class validate ``settings`` now (on a throwaway tensor)."""
        probe = torch.zeros(1, 1, requires_grad=True)
        try:
            self.optimizer_class([probe], **settings)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{where}: {error}") from error

    def _check_dict(self, args: Any, what: str, name: str | None) -> dict[str, Any]:
        where = what if name is None else f"{what} for parameter {name!r}"
        if not isinstance(args, Mapping):
            raise TypeError(f"{where}: expected a dict but the callable returned {args!r}")
        args = dict(args)
        for key in args:
            if not isinstance(key, str):
                raise TypeError(f"{where}: keys must be argument names, got {key!r}")
        if what == "clip_args":
            unknown = sorted(set(args) - _CLIP_KEYS)
            valid = sorted(_CLIP_KEYS)
        else:
            unknown = [] if self._accepted is None else sorted(set(args) - self._accepted)
            valid = sorted(self._accepted or ())
        if unknown:
            owner = "clipping" if what == "clip_args" else self.optimizer_class.__name__
            raise ValueError(f"{where}: {owner} does not accept {unknown}; valid keys are {valid}")
        if what == "optim_args":
            self._probe(args, where)
        return args

    def _per_param(self, args: Any, what: str, name: str) -> dict[str, Any]:
        if isinstance(args, dict):
            return args
        if _arity(args) >= 2:
            result = args(module_from_param_with_module_name(name), user_param_name(name))
        else:
            result = args(normalize_param_name(name))
        return self._check_dict(result, what, name)

    # ------------------------------------------------------------------ properties
    @property
    def optimizer(self) -> torch.optim.Optimizer | None:
        """The wrapped torch optimizer, or None before the first step."""
        return self._optimizer

    @property
    def pt_optim_constructor(self) -> type[torch.optim.Optimizer]:
        """The torch optimizer class (Pyro's attribute name for ``optimizer_class``)."""
        return self.optimizer_class

    @property
    def param_names(self) -> list[str]:
        """Names of the parameters the optimizer has seen, in order of appearance."""
        return list(self._params)

    @property
    def optim_objs(self) -> dict[torch.Tensor, Any]:
        """Pyro-compatible view ``{param tensor: torch object}`` (all share one object)."""
        obj = self._torch_object()
        return {} if obj is None else {p: obj for p in self._params.values()}

    def _torch_object(self) -> Any:
        return self._optimizer

    @contextmanager
    def prefer_fused(self, on: bool = True) -> Iterator[None]:
        """Within the block, params seen for the first time get torch's fused kernel
        where possible (``SVI(compile=True)`` steps inside it); the setting is restored
        afterwards, so the optimizer object is left as the user configured it."""
        previous = self.use_fused_kernels
        self.use_fused_kernels = previous or on
        try:
            yield
        finally:
            self.use_fused_kernels = previous

    # ------------------------------------------------------------------ stepping
    def step(
        self,
        named_params: Mapping[str, torch.Tensor],
        closure: Callable[[], Any] | None = None,
    ) -> Any:
        """Take one optimizer step over ``named_params`` and clear their gradients.

        Parameters seen for the first time are added (with pending loaded state if
        any). Only parameters in ``named_params`` that have a ``.grad`` move; afterwards
        their ``.grad`` is None.

        Args:
            named_params: ``{name: unconstrained leaf tensor}``, e.g. from the ParamStore.
            closure: re-evaluates the loss and its gradients; required by ``LBFGS``.

        Returns:
            What the torch optimizer's ``step`` returns (the closure's loss, or None).

        Raises:
            TypeError: if ``named_params`` is not a mapping of names to tensors.
            ValueError: if a tensor is not a leaf requiring grad, one tensor appears under
                two names, or ``LBFGS`` is stepped without a closure.
        """
        return self._step(named_params, closure, clear_grads=True)

    def _step(
        self,
        named_params: Mapping[str, torch.Tensor],
        closure: Callable[[], Any] | None,
        clear_grads: bool,
    ) -> Any:
        """``step``; ``clear_grads=False`` leaves the (clipped) gradients in place."""
        if not isinstance(named_params, Mapping):
            raise TypeError(
                "step: expected a mapping {name: tensor} such as "
                f"dict(get_param_store().named_parameters()), but got {type(named_params).__name__}"
            )
        known = self._params
        for name, tensor in named_params.items():
            old = known.get(name)
            if old is not tensor:
                if old is None:
                    self._add(name, tensor)
                else:
                    self._replace(name, old, tensor)
        optimizer = self._optimizer
        if optimizer is None:  # nothing to optimize yet
            return None
        if closure is None and isinstance(optimizer, torch.optim.LBFGS):
            raise ValueError(
                "LBFGS needs a closure that re-evaluates the loss and its gradients: call "
                "step(named_params, closure=fn)"
            )
        hidden = self._hide_other_grads(named_params) if len(named_params) < len(known) else []
        if self._clips:
            self._clip(named_params)
        try:
            result = optimizer.step() if closure is None else optimizer.step(closure)
            self._stepped = True
        finally:
            for p, grad in hidden:
                p.grad = grad
            if clear_grads:
                for p in named_params.values():
                    p.grad = None
        return result

    def __call__(self, params: Iterable[torch.Tensor], *args: Any, **kwargs: Any) -> Any:
        """Pyro's call style ``optim(params)``: step the given leaf tensors.

        As in Pyro, the gradients are left in place (clipped, if ``clip_args`` says so);
        clear them with ``ppl.infer.util.zero_grads(params)``. A tensor of the ParamStore
        is keyed by its name; any other leaf (a plain ``torch.tensor(...,
        requires_grad=True)``, an ``nn.Module`` parameter not in the store) by a name
        ``"<tensor k>"`` given in order of first appearance, so its state lives as long
        as this optimizer but is not matched by name across processes.

        Args:
            params: leaf tensors with ``requires_grad=True``.
            *args, **kwargs: passed to ``step`` (e.g. ``closure=``).

        Raises:
            ValueError: a tensor that is not a leaf requiring grad.
        """
        closure = kwargs.pop("closure", args[0] if args else None)
        return self._step(self._names_of(params), closure, clear_grads=False)

    def _names_of(self, params: Iterable[torch.Tensor]) -> dict[str, torch.Tensor]:
        store = get_param_store()
        known = {id(p): name for name, p in self._params.items()}
        named: dict[str, torch.Tensor] = {}
        for p in params:
            name = store.param_name(p) or known.get(id(p))
            if name is None:
                name = f"<tensor {self._unnamed_count}>"
                self._unnamed_count += 1
                known[id(p)] = name
            named[name] = p
        return named

    def _hide_other_grads(
        self, named_params: Mapping[str, torch.Tensor]
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        hidden = []
        for name, p in self._params.items():
            if name not in named_params and p.grad is not None:
                hidden.append((p, p.grad))
                p.grad = None
        return hidden

    def _clip(self, named_params: Mapping[str, torch.Tensor]) -> None:
        for name, p in named_params.items():
            clip = self._clips.get(name)
            if clip and p.grad is not None:
                if clip.get("clip_norm") is not None:
                    torch.nn.utils.clip_grad_norm_(p, clip["clip_norm"])
                if clip.get("clip_value") is not None:
                    torch.nn.utils.clip_grad_value_(p, clip["clip_value"])

    # ------------------------------------------------------------------ adding params
    def _check_param(self, name: str, tensor: Any) -> None:
        if not isinstance(name, str):
            raise TypeError(f"step: parameter names must be str, got {name!r}")
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(
                f"step: parameter {name!r} must be a tensor, got {type(tensor).__name__}"
            )
        if not (tensor.is_leaf and tensor.requires_grad):
            raise ValueError(
                f"step: parameter {name!r} must be a leaf tensor with requires_grad=True (the "
                "unconstrained tensor of the ParamStore), not a value computed from one"
            )
        for other, p in self._params.items():
            if p is tensor and other != name:
                raise ValueError(
                    f"step: the same tensor is passed as {other!r} and {name!r}; each "
                    "parameter must have one name"
                )

    def _add(self, name: str, tensor: torch.Tensor) -> None:
        self._check_param(name, tensor)
        if name in self._pending_group_of:
            settings = None
        else:
            settings = self._per_param(self.optim_args, "optim_args", name)
        clip = self._per_param(self.clip_args, "clip_args", name)
        if self._optimizer is None:
            self._create(settings)
        optimizer = self._optimizer
        assert optimizer is not None  # set by _create
        if settings is None:
            index = self._pending_group_of.pop(name)
        else:
            index = self._find_group(settings, name)
        group = optimizer.param_groups[index]
        if self.use_fused_kernels:
            self._choose_fused(group, index, tensor)
        group["params"].append(tensor)
        group.setdefault("param_names", []).append(name)
        self._params[name] = tensor
        if clip:
            self._clips[name] = clip
        state = self._pending_state.pop(name, None)
        if state is not None:
            optimizer.state[tensor] = self._state_for(state, tensor, group)
        self._after_params_changed()

    def _choose_fused(self, group: dict[str, Any], index: int, tensor: torch.Tensor) -> None:
        """Use the fused kernel for ``group`` if every param in it (``tensor`` too) can."""
        if "fused" not in group or self._accepted is None or "fused" not in self._accepted:
            return
        chosen = self._group_settings[index] if index < len(self._group_settings) else {}
        if any(key in chosen for key in ("fused", "foreach", "capturable", "differentiable")):
            return  # the user decided
        ok = tensor.is_floating_point() and self._fused_available(tensor.device)
        group["fused"] = ok and (bool(group["fused"]) or not group["params"])

    def _fused_available(self, device: torch.device) -> bool:
        known = self._fused_ok.get(device.type)
        if known is None:
            probe = torch.zeros(1, device=device, requires_grad=True)
            try:
                self.optimizer_class([probe], fused=True)  # type: ignore[call-arg]
                known = True
            except (RuntimeError, ValueError, TypeError):
                known = False  # e.g. no fused CPU kernel before torch 2.4
            self._fused_ok[device.type] = known
        return known

    def _find_group(self, settings: dict[str, Any], name: str) -> int:
        for index, existing in enumerate(self._group_settings):
            if _settings_equal(existing, settings):
                return index
        optimizer = self._optimizer
        assert optimizer is not None
        if isinstance(optimizer, torch.optim.LBFGS):
            raise ValueError(
                f"optim_args for parameter {name!r} gave {settings} but LBFGS supports a "
                f"single parameter group with {self._group_settings[0]}; give LBFGS one "
                "dict of optim_args"
            )
        optimizer.add_param_group({"params": [], "param_names": [], **settings})
        self._group_settings.append(settings)
        self._on_new_group(optimizer.param_groups[-1])
        return len(optimizer.param_groups) - 1

    def _replace(self, name: str, old: torch.Tensor, new: torch.Tensor) -> None:
        """A known name now refers to another tensor: swap it in, keep matching state."""
        self._check_param(name, new)
        optimizer = self._optimizer
        assert optimizer is not None
        for group in optimizer.param_groups:
            for i, p in enumerate(group["params"]):
                if p is old:
                    group["params"][i] = new
                    state = optimizer.state.pop(old, None)
                    if state and old.shape == new.shape:
                        optimizer.state[new] = self._state_for(state, new, group)
        self._params[name] = new
        if old.shape != new.shape:
            self._after_params_changed()

    def _after_params_changed(self) -> None:
        """The flat size of the parameter set changed (only L-BFGS cares)."""
        optimizer = self._optimizer
        if isinstance(optimizer, torch.optim.LBFGS):
            if self._stepped:
                # L-BFGS keeps flat curvature vectors sized for the old parameter set.
                optimizer.state.clear()
            optimizer._numel_cache = None  # type: ignore[attr-defined]

    @staticmethod
    def _state_for(state: dict[str, Any], param: torch.Tensor, group: dict[str, Any]) -> Any:
        """Place loaded state on ``param``'s device (shape-matched tensors also get its dtype)."""
        keep_step = not (group.get("capturable") or group.get("fused"))

        def place(key: str, value: Any) -> Any:
            def move(t: torch.Tensor) -> torch.Tensor:
                if t.shape == param.shape and t.is_floating_point() and t.dim() > 0:
                    return t.to(device=param.device, dtype=param.dtype)
                return t.to(device=param.device)

            if key == "step" and isinstance(value, torch.Tensor):
                return value if keep_step else value.to(param.device, torch.float32)
            return map_tensors(value, move)

        return {key: place(key, value) for key, value in state.items()}

    def _create(self, settings: dict[str, Any] | None) -> None:
        """Create the torch optimizer: from the loaded layout if any, else one empty group."""
        layout = self._pending_groups
        if layout:
            groups = [
                {"params": [], "param_names": [], **clone_tree(saved["hyper"])} for saved in layout
            ]
            self._group_settings = [dict(saved["settings"]) for saved in layout]
        else:
            groups = [{"params": [], "param_names": [], **(settings or {})}]
            self._group_settings = [dict(settings or {})]
        # Settings travel in the group, so later groups get torch's defaults for keys they
        # omit (as Pyro's one-optimizer-per-parameter does), not group 0's values.
        self._optimizer = self.optimizer_class(groups)  # type: ignore[call-arg]
        self._stepped = False
        self._after_create()
        if layout:
            # Creating a scheduler may rewrite lr; the saved hyper-parameters win.
            for group, saved in zip(self._optimizer.param_groups, layout):
                group.update(clone_tree(saved["hyper"]))
        self._pending_groups = None

    # hooks for schedulers
    def _after_create(self) -> None:
        """Called once the torch optimizer exists (schedulers create themselves here)."""

    def _on_new_group(self, group: dict[str, Any]) -> None:
        """Called after a param group was added to an existing optimizer."""

    def _scheduler_state(self) -> dict[str, Any] | None:
        return None

    def _load_scheduler_state(self, state: dict[str, Any] | None) -> None:
        """Keep the loaded scheduler state until the scheduler exists (schedulers override)."""

    def _validate_scheduler(self, state: Any) -> None:
        if state is not None:
            raise ValueError(
                f"load_state_dict: the state holds a learning-rate scheduler but this "
                f"{type(self).__name__} has none; load it into the scheduler wrapper it was "
                "saved from (e.g. ppl.optim.ExponentialLR({...}))"
            )

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Return the optimizer state keyed by parameter name, as plain data.

        Returns:
            ``{"format", "version", "optimizer", "param_groups", "state", "scheduler"}``
            where ``param_groups`` is a list of ``{"names": [str], "settings": dict,
            "hyper": dict}`` and ``state`` maps each name to its torch optimizer state.
            Tensors are clones; the dict loads with ``torch.load(weights_only=True)``.

        Raises:
            TypeError: if some setting or state value is not plain data (e.g. a callable).
        """
        optimizer = self._optimizer
        groups: list[dict[str, Any]] = []
        state: dict[str, Any] = {}
        if optimizer is None:
            groups = clone_tree(self._pending_groups or [])
        else:
            for index, group in enumerate(optimizer.param_groups):
                names = list(group.get("param_names", []))
                names += [n for n, i in self._pending_group_of.items() if i == index]
                hyper = {k: v for k, v in group.items() if k not in _GROUP_ONLY_KEYS}
                groups.append(
                    {
                        "names": names,
                        "settings": clone_tree(self._group_settings[index]),
                        "hyper": clone_tree(hyper),
                    }
                )
            for name, p in self._params.items():
                if p in optimizer.state and optimizer.state[p]:
                    state[name] = clone_tree(dict(optimizer.state[p]))
        state.update(clone_tree(self._pending_state))
        result = {
            "format": FORMAT,
            "version": VERSION,
            "optimizer": self.optimizer_class.__name__,
            "param_groups": groups,
            "state": state,
            "scheduler": self._scheduler_state(),
        }
        result = to_plain(result)
        check_plain(result, "state_dict")
        return result

    def load_state_dict(
        self, state_dict: Mapping[str, Any], map_location: MapLocation = None
    ) -> None:
        """Restore a ``state_dict()``; state of names not seen yet waits until they appear.

        Parameters already known are re-placed into the saved group layout at once; the
        torch optimizer (and scheduler) is rebuilt. Loading is all-or-nothing: the dict is
        validated before anything changes.

        Args:
            state_dict: a dict from ``state_dict()`` (possibly read from disk).
            map_location: move every tensor first, as in ``torch.load`` (``"cpu"``, a
                device, or ``{"cuda:0": "cpu"}``).

        Raises:
            TypeError: if ``state_dict`` is not a dict or ``map_location`` has a bad type.
            ValueError: for a foreign or newer format, another optimizer class, or a
                malformed layout (the message names the key).
        """
        sd = self._validate(state_dict)
        sd = to_location(sd, map_location)
        live = dict(self._params)
        self._optimizer = None
        self._reset_scheduler()
        self._params = {}
        self._clips = {}
        self._group_settings = []
        groups = sd["param_groups"]
        self._pending_groups = groups
        self._pending_group_of = {n: i for i, g in enumerate(groups) for n in g["names"]}
        self._pending_state = dict(sd["state"])
        self._load_scheduler_state(sd.get("scheduler"))
        for name, tensor in live.items():
            self._add(name, tensor)

    def _reset_scheduler(self) -> None:
        """Drop the live scheduler (schedulers override)."""

    def _validate(self, sd: Any) -> dict[str, Any]:
        if not isinstance(sd, Mapping):
            raise TypeError(
                f"load_state_dict: expected the dict returned by state_dict(), got "
                f"{type(sd).__name__}"
            )
        if sd.get("format") != FORMAT:
            raise ValueError(
                f"load_state_dict: not a ppl optimizer state (format {sd.get('format')!r}, "
                f"expected {FORMAT!r}); it must come from PPLOptimizer.state_dict()"
            )
        version = sd.get("version")
        if not isinstance(version, int) or version > VERSION:
            raise ValueError(
                f"load_state_dict: optimizer state version {version!r} is newer than this "
                f"ppl supports ({VERSION}); upgrade ppl to load it"
            )
        if sd.get("optimizer") != self.optimizer_class.__name__:
            raise ValueError(
                f"load_state_dict: the state was saved from a {sd.get('optimizer')} optimizer "
                f"but this wrapper uses {self.optimizer_class.__name__}; build the same "
                "optimizer class to load it"
            )
        groups, state = sd.get("param_groups"), sd.get("state")
        if not isinstance(groups, list) or not isinstance(state, Mapping):
            raise ValueError("load_state_dict: 'param_groups' must be a list and 'state' a dict")
        seen: set[str] = set()
        for i, group in enumerate(groups):
            if not (
                isinstance(group, Mapping)
                and isinstance(group.get("names"), list)
                and isinstance(group.get("settings"), Mapping)
                and isinstance(group.get("hyper"), Mapping)
            ):
                raise ValueError(
                    f"load_state_dict: param_groups[{i}] must be a dict with 'names' (list), "
                    "'settings' (dict) and 'hyper' (dict)"
                )
            for name in group["names"]:
                if name in seen:
                    raise ValueError(
                        f"load_state_dict: parameter {name!r} appears in two param groups"
                    )
                seen.add(name)
        self._validate_scheduler(sd.get("scheduler"))
        missing = sorted(set(state) - seen)
        if missing:
            raise ValueError(
                f"load_state_dict: state for {missing} but no param group lists these names"
            )
        return dict(sd)

    def get_state(self) -> dict[str, Any]:
        """Pyro's name for ``state_dict()``."""
        return self.state_dict()

    def set_state(self, state_dict: Mapping[str, Any]) -> None:
        """Pyro's name for ``load_state_dict(state_dict)``."""
        self.load_state_dict(state_dict)

    def save(self, filename: str | os.PathLike[str]) -> None:
        """Save ``state_dict()`` to ``filename`` atomically, in ppl's safe file format.

        A crash mid-save leaves any previous file intact; the file loads with
        ``torch.load(weights_only=True)``.
        """
        atomic_save(self.state_dict(), filename, kind=FORMAT, version=VERSION)

    def load(self, filename: str | os.PathLike[str], map_location: MapLocation = None) -> None:
        """Load a file written by ``save`` (weights only; nothing changes on error).

        Args:
            filename: the file to read.
            map_location: where tensors go, as in ``torch.load`` (e.g. ``"cpu"``).
        """
        state = safe_load(filename, map_location=map_location, kind=FORMAT, max_version=VERSION)
        self.load_state_dict(state)

    def __repr__(self) -> str:
        args = self.optim_args if isinstance(self.optim_args, dict) else "<per-param callable>"
        return f"{type(self).__name__}({self.optimizer_class.__name__}, {args})"


PyroOptim = PPLOptimizer


def is_scheduler(optimizer: Any) -> bool:
    """True when ``optimizer`` wraps a learning-rate scheduler (a ``PPLLRScheduler``).

    Pyro's helper: a training loop calls ``optimizer.step()`` once per epoch only for
    schedulers. Duck-typed on ``pt_scheduler_constructor``, as Pyro.

    Example:
        >>> import ppl.optim
        >>> is_scheduler(ppl.optim.Adam({"lr": 0.1}))
        False
        >>> is_scheduler(ppl.optim.StepLR({"optimizer": torch.optim.SGD,
        ...     "optim_args": {"lr": 0.1}, "step_size": 1}))
        True
    """
    return hasattr(optimizer, "pt_scheduler_constructor")
