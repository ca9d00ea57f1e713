"""The global parameter store (Pyro's ``ParamStoreDict``; seed 003 is the contract).

Design notes
------------
* **What is stored.** Per name: the *unconstrained* tensor, a leaf with
  ``requires_grad=True`` (the thing optimizers update), its constraint, and the
  bijection between them. The constrained, user-facing value is recomputed on each
  access as ``transform(unconstrained)``, so it is differentiable with respect to the
  leaf; nothing is ever attached to a tensor. ``param_name(p)`` maps a stored leaf
  back to its name through an ``id -> name`` table, kept exact by every method that
  adds or removes a leaf (a stored leaf is alive, so its id cannot be reused).
* **Which bijection.** ``biject_to(constraint)`` when torch registers one (so a
  simplex is stick-breaking, a true bijection, where Pyro uses softmax), otherwise
  ``transform_to(constraint)`` (``lower_cholesky``, ``positive_definite``). Files
  record which of the two produced the stored values, and values are converted
  through the constrained space when they differ (e.g. a Pyro simplex).
* **Identity is kept for unconstrained leaves.** For ``constraints.real`` the stored
  leaf is the init tensor itself, as in Pyro: ``ppl.module`` relies on this so that
  an ``nn.Module``'s own ``nn.Parameter`` objects are the ones in the store.
* **Validation at creation.** A new value must be a floating tensor (numbers and
  lists go through ``torch.as_tensor``), lie in the constraint's support, and map to
  a finite unconstrained value; otherwise a ``ValueError``/``TypeError`` names the
  parameter. ``meta`` tensors have no data and skip the value checks.
* **Two state formats.** ``get_state``/``set_state`` use Pyro's ``StateDict``
  (unconstrained tensors and constraint *objects*; the tensors are shared, not
  copied, so ``scope`` swaps stores without copying). ``state_dict``/
  ``load_state_dict`` give the same content as plain data (constraints as codec
  descriptors) for files; ``save``/``load`` write and read it with
  :mod:`ppl.params.safe_file` (atomic, versioned, weights-only).
* **Instance-local stores.** The global store is the default, as in Pyro. Any other
  ``ParamStoreDict`` becomes the store that ``ppl.param``, ``get_param_store()`` and
  everything built on them use inside ``with store:`` (or for one statement with
  ``ppl.param(..., store=store)``), so two models can keep separate parameters under
  the same names. Activation is a stack (innermost wins; exit order is checked).
  Optimizers key their state by parameter name: use one optimizer per store.
* **Merging.** As in Pyro, ``set_state`` and ``load`` add to (and overwrite names in)
  the store; they do not clear it. Everything is validated before the store is
  touched, so a failed load leaves it unchanged.
"""

from __future__ import annotations

import re
import warnings
import weakref
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

import torch
from torch.distributions import biject_to, constraints, transform_to
from torch.distributions.constraints import Constraint
from torch.distributions.transforms import Transform
from typing_extensions import TypedDict

from ppl.params import constraint_codec
from ppl.params.safe_file import (
    CorruptFileError,
    ForeignFileError,
    MapLocation,
    PathLike,
    UnsafeFileError,
    atomic_save,
    load_weights_only,
    safe_load,
)

FILE_KIND = "ppl.param_store"
FILE_VERSION = 1

InitValue = torch.Tensor | float | Callable[[], torch.Tensor]


class StateDict(TypedDict):
    """Pyro's store state: unconstrained tensors and constraint objects, by name."""

    params: dict[str, torch.Tensor]
    constraints: dict[str, Constraint]


def param_transform(constraint: Constraint) -> Transform:
    """The map from unconstrained to constrained values that the store uses.

    ``biject_to(constraint)`` where torch registers it, else ``transform_to``.

    Raises:
        ValueError: torch knows no transform for ``constraint``.

    Example:
        >>> param_transform(constraints.positive)(torch.tensor(0.0))
        tensor(1.)
    """
    return _transform_and_registry(constraint, "a parameter")[0]


def _transform_and_registry(constraint: Constraint, who: str) -> tuple[Transform, str]:
    try:
        return biject_to(constraint), "biject_to"
    except NotImplementedError:
        pass
    try:
        return transform_to(constraint), "transform_to"
    except NotImplementedError:
        raise ValueError(
            f"{who}: constraint {constraint!r} has no transform in torch's biject_to or "
            "transform_to registry, so it cannot be a parameter constraint; register one "
            "with torch.distributions.biject_to.register"
        ) from None


class ParamStoreDict:
    """A store of named parameters; the user usually reaches it through ``ppl.param``.

    One global instance is the default; any instance can be made the current store
    with ``with store:`` (see the module notes).

    A dict-like map ``name -> constrained value``, backed by unconstrained leaves
    (see the module notes). Names are unique; an init value is used only the first
    time a name is seen, so call :meth:`clear` (``ppl.clear_param_store()``) to start
    over in a REPL. Parameters of an ``nn.Module`` registered with ``ppl.module`` are
    named ``"<module name>$$$<parameter name>"``.

    Example:
        >>> store = ParamStoreDict()
        >>> store.setdefault("scale", torch.tensor(2.0), constraints.positive)  # doctest: +ELLIPSIS
        tensor(2., grad_fn=<...>)
        >>> dict(store.named_parameters())["scale"]  # log(2)
        tensor(0.6931, requires_grad=True)
    """

    def __init__(self) -> None:
        self._params: dict[str, torch.Tensor] = {}
        self._constraints: dict[str, Constraint] = {}
        self._transforms: dict[str, Transform] = {}
        self._names_by_id: dict[int, str] = {}

    @property
    def _param_to_name(self) -> dict[torch.Tensor, str]:
        """Unconstrained leaf -> name (Pyro's attribute; a fresh dict, tensors hash by id).

        Example:
            >>> store = ParamStoreDict()
            >>> _ = store.setdefault("w", torch.zeros(2))
            >>> list(store._param_to_name.values())
            ['w']
        """
        return {leaf: name for name, leaf in self._params.items()}

    # ------------------------------------------------------------------ activation

    def __enter__(self) -> ParamStoreDict:
        """Make this the store ``ppl.param`` and ``get_param_store()`` use in the block.

        Example:
            >>> import ppl
            >>> mine = ParamStoreDict()
            >>> with mine:
            ...     _ = ppl.param("w", torch.zeros(2))
            >>> "w" in mine, "w" in ppl.get_param_store()
            (True, False)
        """
        _ACTIVE_STORES.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if not _ACTIVE_STORES or _ACTIVE_STORES[-1] is not self:
            raise RuntimeError(
                "ParamStoreDict.__exit__: this store is not the innermost active store; "
                "exit `with store:` blocks in the reverse order of entering them"
            )
        _ACTIVE_STORES.pop()

    # ------------------------------------------------------------------ dict interface

    def clear(self) -> None:
        """Remove every parameter."""
        self._params.clear()
        self._constraints.clear()
        self._transforms.clear()
        self._names_by_id.clear()

    def items(self) -> Iterator[tuple[str, torch.Tensor]]:
        """Iterate over ``(name, constrained value)`` pairs."""
        for name in list(self._params):
            yield name, self[name]

    def keys(self) -> KeysView[str]:
        """The parameter names (a live view)."""
        return self._params.keys()

    def values(self) -> Iterator[torch.Tensor]:
        """Iterate over constrained values."""
        for _, value in self.items():
            yield value

    def __bool__(self) -> bool:
        return bool(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __contains__(self, name: object) -> bool:
        return name in self._params

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __repr__(self) -> str:
        names = ", ".join(self._params)
        return f"ParamStoreDict({len(self)} params: {names})" if self else "ParamStoreDict()"

    def __getitem__(self, name: str) -> torch.Tensor:
        """The constrained value of ``name``, differentiable w.r.t. the stored leaf.

        The value's ``unconstrained()`` returns that leaf (see the module notes).

        Raises:
            KeyError: no parameter called ``name``.
        """
        try:
            unconstrained = self._params[name]
        except KeyError:
            raise KeyError(self._missing(name)) from None
        value = self._transforms[name](unconstrained)
        value.unconstrained = weakref.ref(unconstrained)  # type: ignore[attr-defined]
        return value

    def __setitem__(self, name: str, new_constrained_value: torch.Tensor) -> None:
        """Set the constrained value of ``name`` (a new leaf replaces the old one).

        An existing parameter keeps its constraint; a new one is unconstrained
        (``constraints.real``). Use :meth:`setdefault` to create a constrained one.

        Raises:
            TypeError, ValueError: see :meth:`setdefault`.
        """
        constraint = self._constraints.get(name, constraints.real)
        self._put(name, self._unconstrain(name, new_constrained_value, constraint), constraint)

    def __delitem__(self, name: str) -> None:
        """Remove ``name``; raises ``KeyError`` if it is absent."""
        if name not in self._params:
            raise KeyError(self._missing(name))
        self._remove(name)

    def setdefault(
        self,
        name: str,
        init_constrained_value: InitValue,
        constraint: Constraint = constraints.real,
    ) -> torch.Tensor:
        """The constrained value of ``name``, creating it from the init value if new.

        If ``name`` exists, the init value and constraint are ignored. The init value
        may be a zero-argument callable, called only when ``name`` is new (to avoid
        building an expensive tensor needlessly). The parameter lives on the init
        tensor's device and has its dtype.

        Args:
            name: parameter name.
            init_constrained_value: a tensor (or number/list, converted with
                ``torch.as_tensor`` to the default float dtype) in the support of
                ``constraint``, or a callable returning one.
            constraint: a torch constraint with a registered transform.

        Returns:
            The constrained value, shape of the init value.

        Raises:
            TypeError: ``name`` is not a str, ``constraint`` is not a Constraint, the
                init (or what the callable returned) is not a tensor or number, or its
                dtype is not floating point.
            ValueError: the init lies outside the constraint's support or maps to a
                non-finite unconstrained value; torch has no transform for the constraint.

        Example:
            >>> store = ParamStoreDict()
            >>> init = lambda: torch.full((2,), 0.5)
            >>> store.setdefault("p", init, constraints.unit_interval)  # doctest: +ELLIPSIS
            tensor([0.5000, 0.5000], grad_fn=<...>)
        """
        if name not in self._params:
            _check_name(name)
            _check_constraint(name, constraint)
            if callable(init_constrained_value) and not isinstance(
                init_constrained_value, torch.Tensor
            ):
                init_constrained_value = init_constrained_value()
                if not isinstance(init_constrained_value, torch.Tensor):
                    raise TypeError(
                        f"parameter {name!r}: the init callable returned a "
                        f"{type(init_constrained_value).__name__}, expected a torch.Tensor"
                    )
            self._put(name, self._unconstrain(name, init_constrained_value, constraint), constraint)
        return self[name]

    # ------------------------------------------------------------------ Pyro's older API

    def named_parameters(self) -> ItemsView[str, torch.Tensor]:
        """A live view of ``(name, unconstrained leaf)`` pairs (what optimizers update)."""
        return self._params.items()

    def unconstrained_leaves(self) -> Mapping[str, torch.Tensor]:
        """A live, read-only ``{name: unconstrained leaf}`` mapping (no copy).

        What inference code reads every step to hand the touched leaves to an optimizer.

        Example:
            >>> store = ParamStoreDict()
            >>> _ = store.setdefault("x", torch.zeros(2))
            >>> list(store.unconstrained_leaves())
            ['x']
        """
        return MappingProxyType(self._params)

    def get_all_param_names(self) -> KeysView[str]:
        """Deprecated alias of :meth:`keys` (as in Pyro)."""
        warnings.warn(
            "ParamStore.get_all_param_names() is deprecated; use .keys() instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.keys()

    def replace_param(
        self, param_name: str, new_param: torch.Tensor, old_param: torch.Tensor
    ) -> None:
        """Deprecated: set ``param_name`` to the constrained value ``new_param``.

        ``old_param`` must be the current value: a value read from the store (whose
        ``unconstrained()`` is the stored leaf), the leaf itself, or a tensor equal to
        the current constrained value.

        Raises:
            KeyError: no parameter ``param_name``.
            ValueError: ``old_param`` is not the current value.
        """
        warnings.warn(
            "ParamStore.replace_param() is deprecated; use .__setitem__() instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        if param_name not in self._params:
            raise KeyError(self._missing(param_name))
        current = self._params[param_name]
        ref = getattr(old_param, "unconstrained", None)
        if old_param is not current and not (callable(ref) and ref() is current):
            with torch.no_grad():
                same = (
                    isinstance(old_param, torch.Tensor)
                    and old_param.shape == current.shape
                    and bool(torch.equal(old_param.detach(), self[param_name].detach()))
                )
            if not same:
                raise ValueError(
                    f"replace_param: old_param is not the current value of {param_name!r}; "
                    "pass the tensor returned by ppl.param or use store[name] = new_value"
                )
        self[param_name] = new_param

    def get_param(
        self,
        name: str,
        init_tensor: InitValue | None = None,
        constraint: Constraint = constraints.real,
        event_dim: int | None = None,
    ) -> torch.Tensor:
        """What ``ppl.param`` dispatches to: get ``name``, creating it if an init is given.

        Args:
            name: parameter name.
            init_tensor: initial constrained value (or a callable), used only if new.
            constraint: the constraint for a new parameter.
            event_dim: ignored by the store (used by ``ppl.param`` for plates).

        Returns:
            The constrained value.

        Raises:
            KeyError: ``name`` is new and no init value was given.
            TypeError, ValueError: see :meth:`setdefault`.
        """
        if init_tensor is None:
            return self[name]
        return self.setdefault(name, init_tensor, constraint)

    def match(self, name: str) -> dict[str, torch.Tensor]:
        """Constrained values of every parameter whose name matches the regex ``name``.

        Matching is ``re.match`` (anchored at the start of the name).

        Raises:
            ValueError: ``name`` is not a valid regular expression.

        Example:
            >>> store = ParamStoreDict()
            >>> _ = store.setdefault("loc_a", torch.zeros(1)); _ = store.setdefault("b", 1.0)
            >>> list(store.match("loc_"))
            ['loc_a']
        """
        try:
            pattern = re.compile(name)
        except re.error as err:
            raise ValueError(f"match: {name!r} is not a valid regular expression: {err}") from None
        return {key: self[key] for key in list(self._params) if pattern.match(key)}

    def get_unconstrained(self, name: str) -> torch.Tensor | None:
        """The stored unconstrained leaf of ``name`` (no transform), or None if absent.

        A cheap identity check for objects that share leaves with the store (autoguides,
        ``PyroModule`` s): ``store.get_unconstrained("w") is my_leaf``.
        """
        return self._params.get(name)

    def param_name(self, p: torch.Tensor) -> str | None:
        """The name of the stored unconstrained leaf ``p``, or None if ``p`` is not one."""
        name = self._names_by_id.get(id(p))
        if name is not None and self._params.get(name) is p:
            return name
        return None

    # ------------------------------------------------------------------ persistence

    def get_state(self) -> StateDict:
        """The store's content: unconstrained leaves (shared, not copied) and constraints.

        A ``constraints.real`` leaf loses its self-referring ``unconstrained`` attribute
        here (it comes back at the next read), so the state can be pickled.
        """
        for leaf in self._params.values():
            leaf.__dict__.pop("unconstrained", None)
        return {"params": dict(self._params), "constraints": dict(self._constraints)}

    def set_state(self, state: StateDict) -> None:
        """Add the parameters of ``state`` (from :meth:`get_state`), overwriting same names.

        Raises:
            TypeError: ``state`` is not a mapping, or holds non-tensors/non-constraints.
            ValueError: ``state`` lacks ``params``/``constraints`` or they disagree.
        """
        entries = self._check_state(state, "set_state")
        for name, (leaf, constraint) in entries.items():
            self._put(name, _as_leaf(leaf), constraint)

    def state_dict(self) -> dict[str, Any]:
        """The store as plain data: what :meth:`save` writes and checkpoints compose.

        Returns:
            ``{"params": {name: detached unconstrained tensor}, "constraints": {name:
            descriptor}, "unconstrained_by": {name: "biject_to" | "transform_to"}}``;
            tensors share memory with the store.

        Raises:
            TypeError: a parameter's constraint is not registered in the codec (the
                message names the parameter).
        """
        params: dict[str, torch.Tensor] = {}
        descriptors: dict[str, Any] = {}
        registries: dict[str, str] = {}
        for name, leaf in self._params.items():
            constraint = self._constraints[name]
            try:
                descriptors[name] = constraint_codec.encode(constraint)
            except TypeError as err:
                raise TypeError(f"cannot save parameter {name!r}: {err}") from None
            params[name] = leaf.detach()
            registries[name] = _transform_and_registry(constraint, name)[1]
        return {"params": params, "constraints": descriptors, "unconstrained_by": registries}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Add the parameters of a :meth:`state_dict`, overwriting same names.

        Raises:
            ValueError: the state dict is malformed (nothing is changed then).
        """
        self.set_state(_decode_state_dict(state_dict, "load_state_dict"))

    def save(self, filename: PathLike) -> None:
        """Write the store to ``filename`` atomically, as tensors and plain data only.

        Raises:
            TypeError: a constraint is not registered (names the parameter); the file
                is left untouched.
            FileNotFoundError: the folder does not exist.
        """
        atomic_save(self.state_dict(), filename, kind=FILE_KIND, version=FILE_VERSION)

    def load(self, filename: PathLike, map_location: MapLocation = None) -> None:
        """Add the parameters saved in ``filename`` (by ppl, or by Pyro's ``save``).

        Only ``torch.load(weights_only=True)`` is used. A Pyro file (which pickles torch
        constraint objects) is read with an allow-list of exactly the registered
        constraint classes; its simplex values are converted to ppl's bijection.

        If using ``ppl.module`` on parameters loaded from disk, pass
        ``update_module_params=True`` so the module gets the loaded values.

        Args:
            filename: the file.
            map_location: where tensors go, as in ``torch.load`` (``"cpu"``,
                ``torch.device("cuda:1")``, ``{"cuda:0": "cpu"}``, a callable).

        Raises:
            FileNotFoundError: no such file.
            ppl.params.safe_file.SafeFileError: (a ``ValueError``) truncated, corrupt,
                foreign, unsafe or newer-version file; the store is left unchanged.
        """
        try:
            payload = safe_load(filename, map_location, kind=FILE_KIND, max_version=FILE_VERSION)
        except UnsafeFileError as err:
            state = _read_pyro_file(filename, map_location, err)
        else:
            try:
                state = _decode_state_dict(payload, f"file {str(filename)!r}")
            except (TypeError, ValueError) as err:
                raise CorruptFileError(filename, f"its parameters are malformed: {err}") from None
        self.set_state(state)

    @contextmanager
    def scope(self, state: StateDict | None = None) -> Iterator[StateDict]:
        """Use a separate store inside a ``with`` block; the outer one comes back after.

        Inside, the store holds only ``state`` (empty if None). On exit, the yielded
        state is updated with what the block created, so it can be re-entered later.

        Example:
            >>> store = ParamStoreDict()
            >>> with store.scope() as scope1:
            ...     _ = store.setdefault("w", torch.zeros(1))
            >>> "w" in store, "w" in scope1["params"]
            (False, True)
        """
        if state is None:
            state = {"params": {}, "constraints": {}}
        old_state = self.get_state()
        try:
            self.clear()
            self.set_state(state)
            yield state
            state.update(self.get_state())
        finally:
            self.clear()
            self.set_state(old_state)

    # ------------------------------------------------------------------ internals

    def _missing(self, name: object) -> str:
        return (
            f"parameter {name!r} is not in the ParamStore; create it with "
            f"ppl.param({name!r}, init_tensor) (known: {', '.join(self._params) or 'none'})"
        )

    def _unconstrain(self, name: str, value: Any, constraint: Constraint) -> torch.Tensor:
        value = _as_tensor(name, value)
        transform = _transform_and_registry(constraint, f"parameter {name!r}")[0]
        checkable = value.device.type != "meta"
        if checkable:
            value = _normalize_init(value, constraint)
        if checkable and not bool(torch.all(constraint.check(value.detach()))):
            raise ValueError(
                f"parameter {name!r}: the init value is outside the support of {constraint!r}; "
                "pass a value that satisfies the constraint"
            )
        with torch.no_grad():
            unconstrained = transform.inv(value).contiguous()
        if checkable and not bool(torch.all(torch.isfinite(unconstrained))):
            raise ValueError(
                f"parameter {name!r}: the init value maps to a non-finite unconstrained value "
                f"under {constraint!r} (is it on the boundary of the support?); move it inside"
            )
        return _as_leaf(unconstrained)

    def _put(self, name: str, leaf: torch.Tensor, constraint: Constraint) -> None:
        transform = _transform_and_registry(constraint, f"parameter {name!r}")[0]
        if name in self._params:
            self._remove(name)
        self._params[name] = leaf
        self._constraints[name] = constraint
        self._transforms[name] = transform
        self._names_by_id[id(leaf)] = name

    def _remove(self, name: str) -> None:
        leaf = self._params.pop(name)
        del self._constraints[name], self._transforms[name]
        if self._names_by_id.get(id(leaf)) == name:
            del self._names_by_id[id(leaf)]

    def _check_state(self, state: Any, who: str) -> dict[str, tuple[torch.Tensor, Constraint]]:
        if not isinstance(state, Mapping):
            raise TypeError(
                f"{who}: expected a dict with 'params' and 'constraints', "
                f"got {type(state).__name__}"
            )
        if set(state) != {"params", "constraints"}:
            raise ValueError(f"{who}: expected keys ['constraints', 'params'], got {sorted(state)}")
        params, constraints_ = state["params"], state["constraints"]
        if not isinstance(params, Mapping) or not isinstance(constraints_, Mapping):
            raise TypeError(f"{who}: 'params' and 'constraints' must be dicts")
        if set(params) != set(constraints_):
            raise ValueError(
                f"{who}: 'params' and 'constraints' name different parameters "
                f"(only in params: {sorted(set(params) - set(constraints_))}, only in "
                f"constraints: {sorted(set(constraints_) - set(params))})"
            )
        entries: dict[str, tuple[torch.Tensor, Constraint]] = {}
        for name, leaf in params.items():
            _check_name(name)
            if not isinstance(leaf, torch.Tensor):
                raise TypeError(
                    f"{who}: parameter {name!r} is a {type(leaf).__name__}, expected a torch.Tensor"
                )
            _check_constraint(name, constraints_[name])
            _transform_and_registry(constraints_[name], f"{who}: parameter {name!r}")
            entries[name] = (leaf, constraints_[name])
        return entries


def _normalize_init(value: torch.Tensor, constraint: Constraint) -> torch.Tensor:
    """Map an init that Pyro accepts but that lies off the support onto it.

    Pyro maps every init through ``transform_to(constraint).inv`` without checking the
    support; for a simplex that inverse is ``log`` (softmax), so a positive, unnormalised
    vector is accepted and read back normalised. ppl's simplex bijection (stick-breaking)
    needs a point of the simplex, so such an init is normalised first: the constrained
    value is the same as Pyro's. Inits that no bijection can map (a zero or negative
    entry, NaN) are left alone and fail the support check.
    """
    if constraint is constraints.simplex and value.dim() > 0 and value.is_floating_point():
        detached = value.detach()
        if bool(torch.all(torch.isfinite(detached) & (detached > 0))):
            return value / value.sum(-1, keepdim=True)
    return value


def _check_name(name: object) -> None:
    if not isinstance(name, str):
        raise TypeError(f"parameter names must be str, got {name!r} ({type(name).__name__})")


def _check_constraint(name: str, constraint: object) -> None:
    if not isinstance(constraint, Constraint):
        raise TypeError(
            f"parameter {name!r}: constraint must be a torch Constraint instance, got "
            f"{constraint!r}; e.g. constraints.positive or constraints.interval(0., 1.)"
        )


def _as_tensor(name: str, value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        if isinstance(value, (bool, str, bytes)) or value is None:
            raise TypeError(
                f"parameter {name!r}: init value must be a tensor or a number, "
                f"got {type(value).__name__}"
            )
        try:
            value = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(
                f"parameter {name!r}: init value {value!r} cannot be made a tensor ({err})"
            ) from None
        if not value.dtype.is_floating_point:
            value = value.to(torch.get_default_dtype())
    if not (value.dtype.is_floating_point or value.dtype.is_complex):
        raise TypeError(
            f"parameter {name!r}: init tensor has dtype {value.dtype}, but parameters must be "
            "floating point to take gradients; pass e.g. value.float()"
        )
    return value


def _as_leaf(tensor: torch.Tensor) -> torch.Tensor:
    """A leaf that requires grad: ``tensor`` itself when it already is a leaf."""
    if not tensor.is_leaf:
        tensor = tensor.detach()
    if not tensor.requires_grad and (tensor.dtype.is_floating_point or tensor.dtype.is_complex):
        tensor.requires_grad_(True)
    return tensor


def _decode_state_dict(state_dict: Any, where: str) -> StateDict:
    """Turn plain data from :meth:`ParamStoreDict.state_dict` back into a ``StateDict``."""
    if not isinstance(state_dict, Mapping) or not {"params", "constraints"} <= set(state_dict):
        raise ValueError(
            f"{where}: expected a dict with 'params', 'constraints' and "
            f"'unconstrained_by', got {_describe(state_dict)}"
        )
    params, descriptors = state_dict["params"], state_dict["constraints"]
    registries = state_dict.get("unconstrained_by", {})
    if not all(isinstance(x, Mapping) for x in (params, descriptors, registries)):
        raise ValueError(f"{where}: 'params', 'constraints' and 'unconstrained_by' must be dicts")
    if set(params) != set(descriptors):
        raise ValueError(f"{where}: 'params' and 'constraints' name different parameters")
    state: StateDict = {"params": {}, "constraints": {}}
    for name, tensor in params.items():
        if not isinstance(name, str) or not isinstance(tensor, torch.Tensor):
            raise ValueError(f"{where}: parameter {name!r} is not a str-named tensor")
        try:
            constraint = constraint_codec.decode(descriptors[name])
        except ValueError as err:
            raise ValueError(f"{where}: parameter {name!r}: {err}") from None
        registry = registries.get(name, "biject_to")
        if registry not in ("biject_to", "transform_to"):
            raise ValueError(
                f"{where}: parameter {name!r} has unknown unconstrained_by "
                f"{registry!r}; expected 'biject_to' or 'transform_to'"
            )
        state["params"][name] = _convert_unconstrained(tensor, constraint, registry, name)
        state["constraints"][name] = constraint
    return state


def _convert_unconstrained(
    tensor: torch.Tensor, constraint: Constraint, registry: str, name: str
) -> torch.Tensor:
    """Re-express a value unconstrained by ``registry`` in the store's own bijection."""
    ours, our_registry = _transform_and_registry(constraint, f"parameter {name!r}")
    if registry == our_registry:
        return tensor
    theirs = (biject_to if registry == "biject_to" else transform_to)(constraint)
    if type(theirs) is type(ours):
        return tensor
    with torch.no_grad():
        return ours.inv(theirs(tensor)).contiguous()


def _read_pyro_file(
    filename: PathLike, map_location: MapLocation, err: UnsafeFileError
) -> StateDict:
    """Read a Pyro ``ParamStoreDict.save`` file, allowing only registered constraint classes."""
    allowed = constraint_codec.allowed_constraint_globals()
    if not err.unsafe_globals or not set(err.unsafe_globals) <= set(allowed):
        raise err
    obj = load_weights_only(filename, map_location, allowed)
    if not (
        isinstance(obj, dict)
        and set(obj) == {"params", "constraints"}
        and isinstance(obj["params"], dict)
        and isinstance(obj["constraints"], dict)
        and set(obj["params"]) == set(obj["constraints"])
    ):
        raise ForeignFileError(filename, "it is neither a ppl nor a Pyro parameter-store file")
    state: StateDict = {"params": {}, "constraints": {}}
    for name, tensor in obj["params"].items():
        if not isinstance(name, str) or not isinstance(tensor, torch.Tensor):
            raise ForeignFileError(filename, f"parameter {name!r} is not a str-named tensor")
        try:
            # Rebuild through the codec: fresh objects, made by their own constructors.
            constraint = constraint_codec.decode(constraint_codec.encode(obj["constraints"][name]))
        except (TypeError, ValueError) as exc:
            raise ForeignFileError(filename, f"parameter {name!r}: {exc}") from None
        # Pyro unconstrains with transform_to (softmax for a simplex).
        state["params"][name] = _convert_unconstrained(
            tensor.detach(), constraint, "transform_to", name
        )
        state["constraints"][name] = constraint
    return state


def _describe(obj: Any) -> str:
    if isinstance(obj, Mapping):
        return f"a dict with keys {sorted(map(str, obj))}"
    return f"a {type(obj).__name__}"


# ---------------------------------------------------------------------- module names

MODULE_NAMESPACE_DIVIDER = "$$$"
_MODULE_NAMESPACE_DIVIDER = MODULE_NAMESPACE_DIVIDER  # Pyro's spelling


def param_with_module_name(pyro_name: str, param_name: str) -> str:
    """Full store name of an ``nn.Module`` parameter: ``"net$$$fc.weight"``."""
    return f"{pyro_name}{_MODULE_NAMESPACE_DIVIDER}{param_name}"


def module_from_param_with_module_name(param_name: str) -> str:
    """The module part of a full name: ``"net$$$fc.weight" -> "net"``."""
    return param_name.split(_MODULE_NAMESPACE_DIVIDER)[0]


def user_param_name(param_name: str) -> str:
    """The parameter part of a full name: ``"net$$$fc.weight" -> "fc.weight"``."""
    if _MODULE_NAMESPACE_DIVIDER in param_name:
        return param_name.split(_MODULE_NAMESPACE_DIVIDER)[1]
    return param_name


def normalize_param_name(name: str) -> str:
    """A dotted name for display: ``"net$$$fc.weight" -> "net.fc.weight"``."""
    return name.replace(_MODULE_NAMESPACE_DIVIDER, ".")


# ---------------------------------------------------------------------- the global store

_PARAM_STORE = ParamStoreDict()
_ACTIVE_STORES: list[ParamStoreDict] = []  # ``with store:`` blocks, innermost last


def get_param_store() -> ParamStoreDict:
    """The :class:`ParamStoreDict` that ``ppl.param`` reads and writes.

    That is the innermost store activated with ``with store:``, else the global one.
    """
    return _ACTIVE_STORES[-1] if _ACTIVE_STORES else _PARAM_STORE


def clear_param_store() -> None:
    """Remove every parameter from the current store (the global one by default)."""
    get_param_store().clear()
