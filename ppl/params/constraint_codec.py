"""Constraints as plain data: a registry of ``constraint type <-> (name, args)``.

Design notes
------------
A parameter file must load with ``torch.load(weights_only=True)``, which refuses any
pickled class. A constraint object therefore cannot be written as itself; it is written
as a *descriptor*, ``{"name": "interval", "args": {"lower_bound": 0.0, "upper_bound": 1.0}}``,
holding only strings, numbers, tensors, lists and dicts. Nested constraints
(``independent``, ``cat``, ``stack``) hold nested descriptors.

One registry maps both ways. Encoding looks up the *exact* type of the constraint (a
user subclass of ``_Interval`` may mean something else, so it must be registered on
its own); decoding looks up the name. Every torch constraint that has a bijection
(``biject_to``) or at least a ``transform_to`` is registered here; users add their
own with :func:`register`. A missing entry is an error that says how to register.

Constraints without arguments decode to torch's module-level singletons
(``constraints.real`` and not a fresh ``_Real()``), so ``c is constraints.real`` keeps
working after a round trip.

ppl's own extra constraints (Pyro's ``softplus_positive``, ``softplus_lower_cholesky``,
``ordered_vector``, ``positive_ordered_vector``, from :mod:`ppl.distributions.constraints`)
are registered under Pyro's names.

The same table gives the allow-list used to read a file written by Pyro (which
pickles constraint objects): :func:`allowed_constraint_globals` lists exactly the
registered classes, by the global name under which torch or Pyro pickles them
(``pyro.distributions.constraints._SoftplusPositive`` is read as ppl's class of the
same name), and nothing else may be unpickled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch.distributions import constraints
from torch.distributions.constraints import Constraint

from ppl.distributions import constraints as ppl_constraints

Descriptor = dict[str, Any]
Encoder = Callable[[Any], dict[str, Any]]
Decoder = Callable[[dict[str, Any]], Constraint]

_PLAIN_SCALARS = (bool, int, float, str, type(None))


@dataclass(frozen=True)
class _Entry:
    name: str
    constraint_type: type
    encode: Encoder
    decode: Decoder


_BY_NAME: dict[str, _Entry] = {}
_BY_TYPE: dict[type, _Entry] = {}


def register(
    name: str,
    constraint_type: type,
    encode: Encoder | None = None,
    decode: Decoder | None = None,
    *,
    overwrite: bool = False,
) -> None:
    """Teach the file format a constraint type, so parameters using it can be saved.

    ``encode(c)`` returns the constructor arguments of ``c`` as a dict of plain data
    (numbers, strings, tensors, lists, dicts; nested constraints encoded with
    :func:`encode`); ``decode(args)`` rebuilds the constraint from that dict. Both
    default to "no arguments": ``{}`` and ``constraint_type()``.

    Args:
        name: the name written to files; must be unique.
        constraint_type: the exact class of the constraint objects to encode.
        encode: constraint -> args dict (default: ``{}``).
        decode: args dict -> constraint (default: ``constraint_type()``).
        overwrite: allow replacing an existing registration of ``name`` or of the type.

    Raises:
        TypeError: ``name`` is not a str or ``constraint_type`` is not a Constraint class.
        ValueError: ``name`` or ``constraint_type`` is already registered differently
            and ``overwrite`` is False.

    Example:
        >>> class _Positive2(constraints._GreaterThan):
        ...     def __init__(self):
        ...         super().__init__(0.0)
        >>> register("positive2_doc", _Positive2)
        >>> decode(encode(_Positive2())).lower_bound
        0.0
        >>> unregister("positive2_doc")
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"register: name must be a non-empty str, got {name!r}")
    if not (isinstance(constraint_type, type) and issubclass(constraint_type, Constraint)):
        raise TypeError(
            "register: constraint_type must be a subclass of "
            f"torch.distributions.constraints.Constraint, got {constraint_type!r}; "
            "pass the class, e.g. type(my_constraint)"
        )
    if not overwrite:
        old = _BY_NAME.get(name)
        if old is not None and old.constraint_type is not constraint_type:
            raise ValueError(
                f"register: name {name!r} is already used for {old.constraint_type.__name__}; "
                "choose another name or pass overwrite=True"
            )
        old = _BY_TYPE.get(constraint_type)
        if old is not None and old.name != name:
            raise ValueError(
                f"register: {constraint_type.__name__} is already registered as {old.name!r}; "
                "pass overwrite=True to rename it"
            )
    entry = _Entry(
        name,
        constraint_type,
        encode if encode is not None else (lambda c: {}),
        decode if decode is not None else (lambda args: constraint_type(**args)),
    )
    stale = _BY_NAME.get(name)
    if stale is not None:
        _BY_TYPE.pop(stale.constraint_type, None)
    stale = _BY_TYPE.get(constraint_type)
    if stale is not None:
        _BY_NAME.pop(stale.name, None)
    _BY_NAME[name] = entry
    _BY_TYPE[constraint_type] = entry


def unregister(name: str) -> None:
    """Remove the registration called ``name`` (mainly for tests and plugins).

    Raises:
        KeyError: nothing is registered under ``name``.
    """
    entry = _BY_NAME.pop(name, None)
    if entry is None:
        raise KeyError(f"unregister: no constraint is registered as {name!r}")
    _BY_TYPE.pop(entry.constraint_type, None)


def registered_names() -> list[str]:
    """Names of every registered constraint type, sorted."""
    return sorted(_BY_NAME)


def is_registered(constraint: Constraint) -> bool:
    """Whether ``constraint``'s exact type can be written to a file."""
    return type(constraint) in _BY_TYPE


def allowed_constraint_globals() -> dict[str, type]:
    """Pickled global name -> registered class: the allow-list for Pyro-written files.

    Every registered class appears under its own ``module.qualname``; ppl's copies of
    Pyro's constraints also appear under Pyro's name.
    """
    allowed = {
        f"{entry.constraint_type.__module__}.{entry.constraint_type.__qualname__}": (
            entry.constraint_type
        )
        for entry in _BY_NAME.values()
    }
    for pyro_name, ppl_class in _PYRO_ALIASES.items():
        if _BY_TYPE.get(ppl_class) is not None:
            allowed[pyro_name] = ppl_class
    return allowed


def encode(constraint: Constraint) -> Descriptor:
    """Turn a constraint into a descriptor of plain data.

    Args:
        constraint: a constraint whose exact type is registered.

    Returns:
        ``{"name": str, "args": dict}``; tensors inside ``args`` are detached.

    Raises:
        TypeError: the constraint's type is not registered, or its encoder returned
            something that is not plain data.

    Example:
        >>> encode(constraints.interval(0.0, 2.0))
        {'name': 'interval', 'args': {'lower_bound': 0.0, 'upper_bound': 2.0}}
    """
    entry = _BY_TYPE.get(type(constraint))
    if entry is None:
        raise TypeError(
            f"constraint {constraint!r} (type {type(constraint).__qualname__}) has no "
            "registered file encoding; register it with "
            "ppl.params.constraint_codec.register(name, type(constraint), encode, decode)"
        )
    args = entry.encode(constraint)
    if not isinstance(args, dict):
        raise TypeError(
            f"the encoder registered as {entry.name!r} returned {type(args).__name__}; "
            "it must return a dict of constructor arguments"
        )
    args = {key: _plain(value, f"{entry.name}.{key}") for key, value in args.items()}
    return {"name": entry.name, "args": args}


def decode(descriptor: Mapping[str, Any]) -> Constraint:
    """Rebuild a constraint from a descriptor made by :func:`encode`.

    Args:
        descriptor: ``{"name": str, "args": dict}``.

    Returns:
        The constraint object.

    Raises:
        ValueError: the descriptor is malformed, its name is not registered, or the
            registered decoder rejects the arguments.

    Example:
        >>> decode({"name": "real", "args": {}}) is constraints.real
        True
    """
    if (
        not isinstance(descriptor, Mapping)
        or set(descriptor) != {"name", "args"}
        or not isinstance(descriptor["name"], str)
        or not isinstance(descriptor["args"], Mapping)
    ):
        raise ValueError(
            "malformed constraint descriptor: expected {'name': str, 'args': dict}, "
            f"got {descriptor!r}"
        )
    name = descriptor["name"]
    entry = _BY_NAME.get(name)
    if entry is None:
        raise ValueError(
            f"unknown constraint {name!r}; registered: {', '.join(registered_names())}. "
            "If it is your own constraint, call ppl.params.constraint_codec.register "
            "before loading"
        )
    try:
        result = entry.decode(dict(descriptor["args"]))
    except (TypeError, ValueError, KeyError) as err:
        raise ValueError(
            f"cannot rebuild constraint {name!r} from args {dict(descriptor['args'])!r}: {err}"
        ) from err
    if not isinstance(result, Constraint):
        raise ValueError(
            f"the decoder registered as {name!r} returned {type(result).__name__}, not a Constraint"
        )
    return result


def _plain(value: Any, where: str) -> Any:
    """Check (recursively) that an encoded argument is plain data; detach tensors."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, _PLAIN_SCALARS):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _plain(v, f"{where}.{k}") for k, v in value.items()}
    raise TypeError(
        f"constraint argument {where} is a {type(value).__name__}, which cannot be "
        "written safely; encoders must return numbers, strings, tensors, lists or "
        "str-keyed dicts (encode nested constraints with constraint_codec.encode)"
    )


def _singleton(value: Constraint) -> Decoder:
    return lambda args: value


def _bounds(*names: str) -> Encoder:
    return lambda c: {n: getattr(c, n) for n in names}


# ppl's copies of Pyro's singleton constraints (Pyro-written files name them by Pyro's path)
_PPL_SINGLETONS = (
    "softplus_positive",
    "softplus_lower_cholesky",
    "unit_lower_cholesky",
    "ordered_vector",
    "positive_ordered_vector",
)

_PYRO_ALIASES: dict[str, type] = {
    f"pyro.distributions.constraints.{type(c).__name__}": type(c)
    for c in (getattr(ppl_constraints, name) for name in _PPL_SINGLETONS)
}


def _register_singletons(module: Any, names: tuple[str, ...]) -> None:
    """Register each singleton constraint ``module.<name>`` under ``name``."""
    for name in names:
        singleton = getattr(module, name)
        register(name, type(singleton), decode=_singleton(singleton))


def _register_builtin_constraints() -> None:
    _register_singletons(
        constraints,
        (
            "real",
            "simplex",
            "lower_cholesky",
            "positive_definite",
            "positive_semidefinite",
            "corr_cholesky",
        ),
    )
    register("greater_than", type(constraints.positive), _bounds("lower_bound"))
    register("greater_than_eq", type(constraints.nonnegative), _bounds("lower_bound"))
    register("less_than", type(constraints.less_than(0.0)), _bounds("upper_bound"))
    register("interval", type(constraints.unit_interval), _bounds("lower_bound", "upper_bound"))
    register(
        "half_open_interval",
        type(constraints.half_open_interval(0.0, 1.0)),
        _bounds("lower_bound", "upper_bound"),
    )
    register(
        "independent",
        type(constraints.real_vector),
        lambda c: {
            "base_constraint": encode(c.base_constraint),
            "reinterpreted_batch_ndims": c.reinterpreted_batch_ndims,
        },
        lambda a: constraints.independent(
            decode(a["base_constraint"]), int(a["reinterpreted_batch_ndims"])
        ),
    )
    register(
        "cat",
        type(constraints.cat([constraints.real])),
        lambda c: {
            "cseq": [encode(part) for part in c.cseq],
            "dim": c.dim,
            "lengths": list(c.lengths),
        },
        lambda a: constraints.cat(
            [decode(part) for part in a["cseq"]], int(a["dim"]), [int(n) for n in a["lengths"]]
        ),
    )
    register(
        "stack",
        type(constraints.stack([constraints.real])),
        lambda c: {"cseq": [encode(part) for part in c.cseq], "dim": c.dim},
        lambda a: constraints.stack([decode(part) for part in a["cseq"]], int(a["dim"])),
    )
    _register_singletons(ppl_constraints, _PPL_SINGLETONS)


_register_builtin_constraints()
