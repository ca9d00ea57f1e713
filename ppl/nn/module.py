"""``PyroModule``: an ``nn.Module`` whose attributes are ``param``/``sample`` sites.

Design notes
------------
* **Names are attribute paths.** Every ``PyroModule`` knows its dotted path from the
  root (``_pyro_name``); the site of attribute ``weight`` of child ``linear`` is
  ``"linear.weight"``. A plain ``nn.Module`` child is registered with
  ``ppl.module("<path>", child)`` (store names ``"<path>$$$<param>"``), as in Pyro.
* **Reads become statements only inside a call.** ``__call__`` and
  :func:`~ppl.nn.context.pyro_method` enter the tree's shared
  :class:`~ppl.nn.context.ModuleContext`. While it is active, reading a
  ``PyroParam`` or an ``nn.Parameter`` is a ``ppl.param`` statement, and reading a
  ``PyroSample`` is a ``ppl.sample`` statement whose value is cached until the
  outermost call returns. Outside a call, reads give plain values and no handler
  sees them (the full name may not be settled yet).
* **Module and ParamStore share one leaf.** A ``PyroParam`` keeps its unconstrained
  value as the ``nn.Parameter`` ``<attr>_unconstrained``. At the first read inside a
  call it is put in the global store under the full name through the store's public
  ``set_state`` (which keeps the very tensor), so ``module.parameters()``, the store
  and every optimizer see the same object. If the store already holds a *different*
  tensor under that name (a loaded file, another instance of the same model), the
  store wins and the module adopts its tensor, as in Pyro. ``param_name(leaf)`` makes
  the "already in sync" check O(1).
* **Plain ``nn.Parameter`` s** of a ``PyroModule`` follow the same rule with
  ``constraints.real`` (parameters with ``requires_grad=False`` stay out of the
  store, as with ``ppl.module``). Reads return ``ppl.param``'s value, so ``substitute``
  and ``replay`` reach plain parameters too.
* **Local parameters.** Under ``ppl.settings.set(module_local_params=True)`` (Pyro's
  setting) the global store is left out: reads still send ``param`` messages (so
  handlers such as ``trace``, ``substitute`` or ``replay`` see them), but the value is
  the module's own, never synced with or shadowed by the store, so two instances of
  one class no longer share parameters by name.
* **Deleting or reassigning** an attribute removes its old declaration and, once the
  tree has been called, its store entries, so the new value is not shadowed by a
  stale stored one. Assigning a tensor to a ``PyroParam`` attribute updates the
  stored value in place (same leaf).
* **The ``PyroModule[nn.Linear]`` trick** is a metaclass ``__getitem__`` that builds
  (and caches) ``class PyroLinear(nn.Linear, PyroModule[<bases>])``; instances of such
  made-up classes pickle through a small reconstructor. ``to_pyro_module_`` swaps an
  existing module's class in place.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.distributions import Distribution, constraints
from torch.distributions.constraints import Constraint

from ppl import settings
from ppl.params.param_store import (
    MODULE_NAMESPACE_DIVIDER,
    get_param_store,
    param_transform,
    param_with_module_name,
)
from ppl.poutine.messenger import Messenger
from ppl.poutine.runtime import Message, am_i_wrapped, apply_stack
from ppl.primitives import deterministic as deterministic_statement
from ppl.primitives import module as register_module
from ppl.primitives import param as param_statement
from ppl.primitives import sample as sample_statement

from .attributes import PyroParam, PyroSample
from .context import ModuleContext, pyro_method

__all__ = [
    "PyroModule",
    "PyroModuleList",
    "PyroParam",
    "PyroSample",
    "clear",
    "pyro_method",
    "to_pyro_module_",
]

_UNCONSTRAINED = "_unconstrained"


def _is_module_local_param_enabled() -> bool:
    """Whether ``module_local_params`` is on (see ``ppl.settings``)."""
    return settings._MODULE_LOCAL_PARAMS


def _local_param_statement(
    fullname: str, value: torch.Tensor, constraint: Constraint, event_dim: int | None
) -> torch.Tensor:
    """A ``param`` message whose value is the module's own (the store is not used)."""
    if not am_i_wrapped():
        return value
    msg = Message(
        type="param",
        name=fullname,
        fn=lambda *args, **kwargs: value,
        args=(fullname,),
        kwargs={"init_tensor": value, "constraint": constraint, "event_dim": event_dim},
    )
    apply_stack(msg)
    return msg.value


class _ParamRecorder(Messenger):
    """Collects ``(name, value)`` of every ``param`` message (local-mode validation)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[tuple[str, tuple[Any, Any]]] = []

    def postprocess_message(self, msg: Message) -> None:
        if msg.type == "param":
            # the value may be a plate's slice; a local statement's init is the full one
            self.values.append((str(msg.name), (msg.value, msg.kwargs.get("init_tensor"))))


def _make_name(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


class _PyroModuleMeta(type):
    """Metaclass giving ``PyroModule[SomeModule]``: a cached mixin subclass."""

    def __getitem__(cls, module_class: type) -> type:
        return mixin_class(module_class)


MIXIN_CACHE: dict[type, type] = {}


def mixin_class(module_class: type) -> type:
    """``PyroModule[module_class]``: ``class PyroX(X, PyroModule[<X's module bases>])``."""
    if not (isinstance(module_class, type) and issubclass(module_class, nn.Module)):
        raise TypeError(
            f"PyroModule[...]: expected a subclass of torch.nn.Module, got {module_class!r}; "
            "write e.g. PyroModule[nn.Linear](3, 1)"
        )
    if issubclass(module_class, PyroModule):
        return module_class
    if module_class is nn.Module:
        return PyroModule
    mixin = MIXIN_CACHE.get(module_class)
    if mixin is None:
        bases = [mixin_class(b) for b in module_class.__bases__ if issubclass(b, nn.Module)]
        name = "Pyro" + module_class.__name__
        namespace = {
            "__module__": __name__,
            "__qualname__": name,
            "__reduce__": reduce_mixin_instance,
            "_pyro_mixin_of": module_class,
        }
        mixin = _PyroModuleMeta(name, (module_class, *bases), namespace)
        MIXIN_CACHE[module_class] = mixin
    return mixin


def _new_mixin_instance(module_class: type) -> nn.Module:
    """Unpickling helper: an empty instance of ``PyroModule[module_class]``."""
    cls: Any = mixin_class(module_class)
    return cls.__new__(cls)


def reduce_mixin_instance(self: nn.Module) -> tuple[Any, ...]:
    module_class = type(self)._pyro_mixin_of  # type: ignore[attr-defined]
    return _new_mixin_instance, (module_class,), self.__getstate__()


class PyroModule(nn.Module, metaclass=_PyroModuleMeta):
    """An ``nn.Module`` whose attributes may be ``PyroParam`` s and ``PyroSample`` s.

    Three ways to get one: subclass it (``class Net(PyroModule)``), mix it into an
    existing class (``PyroModule[nn.Linear](3, 1)``, same as
    ``class PyroLinear(nn.Linear, PyroModule)``), or convert an instance in place
    with :func:`to_pyro_module_`. Calling the module (or a :func:`pyro_method`) runs
    it with Pyro effects: attribute reads become ``ppl.param``/``ppl.sample``
    statements named by the attribute's dotted path from the root module.

    Args:
        name: optional name of a root module, prefixed to every site name; ignored
            (replaced by the attribute path) for a sub-module of a ``PyroModule``.

    Raises:
        TypeError: ``name`` is not a str.

    Example:
        >>> import torch, ppl, ppl.distributions as dist
        >>> from torch import nn
        >>> from ppl.nn import PyroModule, PyroSample
        >>> class Regression(PyroModule):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.linear = PyroModule[nn.Linear](2, 1)
        ...         prior = dist.Normal(0.0, 1.0).expand([1, 2]).to_event(2)
        ...         self.linear.weight = PyroSample(prior)
        ...     def forward(self, x):
        ...         return self.linear(x).squeeze(-1)
        >>> tr = ppl.poutine.trace(Regression()).get_trace(torch.ones(4, 2))
        >>> [n for n in tr.nodes if n not in ("_INPUT", "_RETURN")]
        ['linear.weight', 'linear.bias']
    """

    _pyro_name: str
    _pyro_context: ModuleContext
    _pyro_params: OrderedDict[str, tuple[Constraint, int | None]]
    _pyro_samples: OrderedDict[str, Any]

    def __init__(self, name: str = "") -> None:
        if not isinstance(name, str):
            raise TypeError(f"PyroModule: name must be a str, got {name!r}")
        init_pyro_state(self, name)
        super().__init__()

    # ------------------------------------------------------------------ naming

    def _pyro_set_supermodule(self, name: str, context: ModuleContext) -> None:
        """Take the dotted path ``name`` and the root's context (recursively)."""
        self.__dict__["_pyro_name"] = name
        self.__dict__["_pyro_context"] = context
        for key, child in self._modules.items():
            if isinstance(child, PyroModule):
                child._pyro_set_supermodule(_make_name(name, key), context)

    def _pyro_get_fullname(self, name: str) -> str:
        return _make_name(self.__dict__["_pyro_name"], name)

    def add_module(self, name: str, module: nn.Module | None) -> None:
        """``nn.Module.add_module``; a ``PyroModule`` child joins this tree's names."""
        if isinstance(module, PyroModule):
            module._pyro_set_supermodule(_make_name(self._pyro_name, name), self._pyro_context)
        super().add_module(name, module)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if (
            not self._pyro_context.active
            and _is_module_local_param_enabled()
            and settings.is_validation_enabled()
        ):
            with _ParamRecorder() as recorder, self._pyro_context:
                result = super().__call__(*args, **kwargs)
            self._pyro_check_local_params(recorder.values)
            return result
        with self._pyro_context:
            return super().__call__(*args, **kwargs)

    def _pyro_check_local_params(self, values: list[tuple[str, tuple[Any, Any]]]) -> None:
        """Local mode: every ``param`` read in a call must be one of the module's own."""
        own = {id(p) for p in self.parameters()}

        def is_own(value: Any) -> bool:
            ref = getattr(value, "unconstrained", None)
            return id(ref() if callable(ref) else value) in own

        for name, candidates in values:
            if not any(is_own(value) for value in candidates):
                raise NotImplementedError(
                    f"{type(self).__name__}: with module_local_params=True, the call read "
                    f"ppl.param({name!r}), which is not a parameter of the module; global "
                    "ppl.param statements inside PyroModules are not supported in local "
                    "mode. Make it a PyroParam or an nn.Parameter attribute, or turn "
                    "module_local_params off"
                )

    def named_pyro_params(
        self, prefix: str = "", recurse: bool = True
    ) -> Iterator[tuple[str, torch.Tensor]]:
        """Iterate over ``(dotted name, value)`` of learnable attributes.

        ``PyroParam`` s give their constrained value under their own name (not
        ``<name>_unconstrained``); plain ``nn.Parameter`` s give themselves.

        Args:
            prefix: prepended (with a dot) to every name.
            recurse: include sub-modules (plain ones too).

        Example:
            >>> from ppl.distributions import constraints
            >>> m = PyroModule()
            >>> m.s = PyroParam(torch.ones(2), constraints.positive)
            >>> m.lin = nn.Linear(2, 1)
            >>> [name for name, _ in m.named_pyro_params()]
            ['s', 'lin.weight', 'lin.bias']
        """
        modules = self.named_modules(prefix=prefix) if recurse else iter([(prefix, self)])
        for module_prefix, module in modules:
            for name, value in _own_pyro_params(module):
                yield _make_name(module_prefix, name), value

    # ------------------------------------------------------------------ reads

    def __getattr__(self, name: str) -> Any:
        state = self.__dict__
        declared = state.get("_pyro_params")
        if declared is not None and name in declared:
            constraint, event_dim = declared[name]
            return self._pyro_read_param(name, constraint, event_dim)
        priors = state.get("_pyro_samples")
        if priors is not None and name in priors:
            return self._pyro_read_sample(name, priors[name])

        result = super().__getattr__(name)
        context = state.get("_pyro_context")
        if isinstance(result, PyroModule):
            if (
                isinstance(context, ModuleContext)
                and not result._pyro_name
                and result._pyro_context is not context
            ):
                # A child converted in place after it was attached: give it its path now.
                result._pyro_set_supermodule(self._pyro_get_fullname(name), context)
            return result
        if context is None or not context.active:
            return result
        if isinstance(result, nn.Parameter):
            if name.endswith(_UNCONSTRAINED) and name[: -len(_UNCONSTRAINED)] in (declared or ()):
                return result
            return self._pyro_read_plain_param(name, result)
        if isinstance(result, nn.Module):
            fullname = self._pyro_get_fullname(name)
            if not _is_module_local_param_enabled():
                register_module(fullname, result)
            else:  # messages only, named as ppl.module names them
                for pname, p in result.named_parameters():
                    site = param_with_module_name(fullname, pname)
                    _local_param_statement(site, p, constraints.real, None)
        return result

    def _pyro_read_param(self, name: str, constraint: Constraint, event_dim: int | None) -> Any:
        key = name + _UNCONSTRAINED
        leaf = self._pyro_leaf(key)
        if not self._pyro_context.active:
            return param_transform(constraint)(leaf)
        fullname = self._pyro_get_fullname(name)
        if _is_module_local_param_enabled():
            value = param_transform(constraint)(leaf)
            value.unconstrained = weakref.ref(leaf)  # type: ignore[attr-defined]
            return _local_param_statement(fullname, value, constraint, event_dim)
        synced = self._pyro_sync(key, fullname, leaf, constraint)
        transform = param_transform(constraint)
        return param_statement(
            fullname, lambda: transform(synced), constraint=constraint, event_dim=event_dim
        )

    def _pyro_leaf(self, key: str) -> nn.Parameter:
        leaf = self._parameters.get(key)
        if leaf is None:
            raise AttributeError(
                f"{type(self).__name__}: the unconstrained parameter {key!r} of a PyroParam is "
                "missing; assign the attribute a new PyroParam"
            )
        return leaf

    def _pyro_read_plain_param(self, name: str, value: nn.Parameter) -> Any:
        if not value.requires_grad:
            return value  # frozen: kept out of the store, as ppl.module does
        fullname = self._pyro_get_fullname(name)
        if _is_module_local_param_enabled():
            return _local_param_statement(fullname, value, constraints.real, None)
        leaf = self._pyro_sync(name, fullname, value, constraints.real)
        return param_statement(fullname, leaf)

    def _pyro_read_sample(self, name: str, prior: Any) -> Any:
        context = self._pyro_context
        if not context.active:
            fn = self._pyro_prior(name, prior)
            if isinstance(fn, torch.Tensor):
                return fn
            return fn.rsample() if fn.has_rsample else fn.sample()
        fullname = self._pyro_get_fullname(name)
        cache = context.cache
        if fullname not in cache:
            fn = self._pyro_prior(name, prior)
            if isinstance(fn, torch.Tensor):  # a computed value: a deterministic site
                cache[fullname] = deterministic_statement(fullname, fn)
            else:
                cache[fullname] = sample_statement(fullname, fn)
        return cache[fullname]

    def _pyro_prior(self, name: str, prior: Any) -> Distribution | torch.Tensor:
        fn = prior if isinstance(prior, Distribution) else prior(self)
        if not isinstance(fn, (Distribution, torch.Tensor)):
            raise TypeError(
                f"PyroSample {self._pyro_get_fullname(name)!r}: the prior callable returned a "
                f"{type(fn).__name__}, expected a distribution (or a tensor, recorded as a "
                "deterministic site)"
            )
        return fn

    def _pyro_sync(
        self, key: str, fullname: str, leaf: torch.Tensor | None, constraint: Constraint
    ) -> torch.Tensor:
        """Make module entry ``key`` and store entry ``fullname`` one and the same leaf.

        The store wins when it already holds another tensor under ``fullname``.
        """
        store = get_param_store()
        if leaf is not None and store.param_name(leaf) == fullname:
            return leaf
        if fullname in store:
            state = store.get_state()
            stored, stored_constraint = state["params"][fullname], state["constraints"][fullname]
            if stored is leaf:
                return leaf
            if type(stored_constraint) is not type(constraint):
                raise ValueError(
                    f"PyroModule parameter {fullname!r}: the ParamStore already holds "
                    f"{fullname!r} with constraint {stored_constraint}, but the module declares "
                    f"{constraint}; rename the attribute or remove the stored one "
                    f"(del ppl.get_param_store()[{fullname!r}] or ppl.clear_param_store())"
                )
            if isinstance(stored, nn.Parameter):
                shared = stored
            else:  # promote the stored leaf, so module and store keep one object
                shared = nn.Parameter(stored.detach(), requires_grad=True)
                store.set_state(
                    {"params": {fullname: shared}, "constraints": {fullname: stored_constraint}}
                )
            self._parameters[key] = shared
            return shared
        if leaf is None:  # pragma: no cover - callers pass a leaf unless the store has one
            raise KeyError(fullname)
        store.set_state({"params": {fullname: leaf}, "constraints": {fullname: constraint}})
        return leaf

    # ------------------------------------------------------------------ writes

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, PyroParam):
            self._pyro_declare_param(name, value)
            return
        if isinstance(value, PyroSample):
            self._pyro_forget(name)
            self.__dict__["_pyro_samples"][name] = value.prior
            return
        declared = self.__dict__.get("_pyro_params")
        if (
            declared is not None
            and name in declared
            and isinstance(value, torch.Tensor)
            and not isinstance(value, nn.Parameter)
        ):
            self._pyro_update_param(name, value)
            return
        self._pyro_forget(name, everything=isinstance(value, (nn.Module, nn.Parameter)))
        if isinstance(value, PyroModule):
            value._pyro_set_supermodule(self._pyro_get_fullname(name), self._pyro_context)
        super().__setattr__(name, value)

    def _pyro_forget(self, name: str, everything: bool = True) -> None:
        """Drop a previous declaration of ``name`` before it is reassigned.

        With ``everything`` a previous parameter or sub-module goes too (and, once the
        tree has run, its store entries); otherwise torch's own rules apply to those.
        """
        state = self.__dict__
        if "_pyro_params" not in state:  # before PyroModule.__init__ ran
            return
        known = name in state["_pyro_params"] or name in state["_pyro_samples"]
        if everything:
            known = (
                known or name in state.get("_parameters", ()) or name in state.get("_modules", ())
            )
        if known:
            delattr(self, name)

    def _pyro_declare_param(self, name: str, value: PyroParam) -> None:
        init, constraint, event_dim = value
        if init is None:
            raise ValueError(
                f"PyroParam {self._pyro_get_fullname(name)!r}: init_value is None; give an "
                "initial value, e.g. PyroParam(torch.zeros(3)) (None is only for "
                "@PyroParam(constraint=...) on a method)"
            )
        self._pyro_forget(name)
        self._pyro_params[name] = (constraint, event_dim)
        key = name + _UNCONSTRAINED
        if self._pyro_context.active and not _is_module_local_param_enabled():
            fullname = self._pyro_get_fullname(name)
            if fullname in get_param_store():
                self._pyro_sync(key, fullname, None, constraint)  # lazy: init never evaluated
                return
        leaf = _unconstrained_leaf(self._pyro_get_fullname(name), init, constraint)
        nn.Module.__setattr__(self, key, leaf)

    def _pyro_update_param(self, name: str, value: torch.Tensor) -> None:
        constraint, _ = self._pyro_params[name]
        leaf = self._pyro_leaf(name + _UNCONSTRAINED)
        fullname = self._pyro_get_fullname(name)
        _check_support(fullname, value, constraint)
        with torch.no_grad():
            unconstrained = param_transform(constraint).inv(value.detach())
        leaf.data = unconstrained.to(device=leaf.device, dtype=leaf.dtype)

    def __delattr__(self, name: str) -> None:
        state = self.__dict__
        if name in state.get("_pyro_params", ()):
            del self._parameters[name + _UNCONSTRAINED]
            del self._pyro_params[name]
            self._pyro_drop_stored(name, prefix=False)
            return
        if name in state.get("_pyro_samples", ()):
            del self._pyro_samples[name]
            return
        if name in self._parameters:
            del self._parameters[name]
            self._pyro_drop_stored(name, prefix=False)
            return
        if name in self._modules:
            del self._modules[name]
            self._pyro_drop_stored(name, prefix=True)
            return
        super().__delattr__(name)

    def _pyro_drop_stored(self, name: str, prefix: bool) -> None:
        """Once the tree has run, remove the store entries that belonged to ``name``."""
        context = self.__dict__.get("_pyro_context")
        if context is None or not context.used:
            return
        store = get_param_store()
        fullname = self._pyro_get_fullname(name)
        if fullname in store:
            del store[fullname]
        if prefix:
            starts = (fullname + ".", fullname + MODULE_NAMESPACE_DIVIDER)
            for key in [k for k in store.keys() if k.startswith(starts)]:
                del store[key]

    # ------------------------------------------------------------------ pickling

    def __getstate__(self) -> dict[str, Any]:
        # A real-valued leaf read through ppl.param refers to itself (``unconstrained``,
        # a weakref that cannot be pickled); drop it, the next read puts it back.
        for param in self.parameters(recurse=True):
            param.__dict__.pop("unconstrained", None)
        state = self.__dict__.copy()
        samples = state.get("_pyro_samples")
        if samples:
            # Priors of decorated methods live on the class and are re-registered at the
            # first read; dropping them keeps the state picklable.
            cls = type(self)
            state["_pyro_samples"] = OrderedDict(
                (k, v) for k, v in samples.items() if _class_prior(cls, k) is not v
            )
        return state


def _class_prior(cls: type, name: str) -> Any:
    for klass in cls.__mro__:
        candidate = klass.__dict__.get(name)
        if isinstance(candidate, PyroSample):
            return candidate.prior
    return None


def init_pyro_state(module: nn.Module, name: str) -> None:
    state = module.__dict__
    state["_pyro_name"] = name
    state["_pyro_context"] = ModuleContext()
    state["_pyro_params"] = OrderedDict()
    state["_pyro_samples"] = OrderedDict()


def _own_pyro_params(module: nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    declared = module.__dict__.get("_pyro_params", {})
    for name, value in module._parameters.items():
        if value is None:
            continue
        if name.endswith(_UNCONSTRAINED) and name[: -len(_UNCONSTRAINED)] in declared:
            base = name[: -len(_UNCONSTRAINED)]
            yield base, getattr(module, base)
        else:
            yield name, value


def _check_support(where: str, value: torch.Tensor, constraint: Constraint) -> None:
    if value.device.type == "meta":
        return
    if not bool(torch.all(constraint.check(value.detach()))):
        raise ValueError(
            f"PyroParam {where!r}: the value is outside the support of {constraint}; pass a "
            "value that satisfies the constraint"
        )


def _unconstrained_leaf(where: str, init: Any, constraint: Constraint) -> nn.Parameter:
    """Evaluate ``init`` and map it to a fresh unconstrained ``nn.Parameter``."""
    if callable(init) and not isinstance(init, torch.Tensor):
        init = init()
    if not isinstance(init, torch.Tensor):
        if isinstance(init, bool) or not isinstance(init, (int, float)):
            raise TypeError(
                f"PyroParam {where!r}: the init value must be a tensor or a number, got "
                f"{type(init).__name__}"
            )
        init = torch.tensor(float(init))
    if not init.dtype.is_floating_point:
        raise TypeError(
            f"PyroParam {where!r}: the init tensor has dtype {init.dtype}, but parameters must "
            "be floating point; pass e.g. value.float()"
        )
    _check_support(where, init, constraint)
    with torch.no_grad():
        unconstrained = param_transform(constraint).inv(init.detach()).clone()
    if unconstrained.device.type != "meta" and not bool(torch.all(torch.isfinite(unconstrained))):
        raise ValueError(
            f"PyroParam {where!r}: the init value maps to a non-finite unconstrained value under "
            f"{constraint} (is it on the boundary of the support?); move it inside"
        )
    return nn.Parameter(unconstrained)


# Pyro's module path ``pyro.nn.module`` also holds these; importing them here (after
# ``PyroModule`` exists) registers the container mixins before any ``PyroModule[...]``.
from .containers import PyroModuleList  # noqa: E402
from .convert import clear, to_pyro_module_  # noqa: E402
