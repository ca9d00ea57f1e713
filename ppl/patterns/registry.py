"""JSON registry of pattern classes.

Design notes
------------
``Pattern.to_json()`` writes the constructor arguments plus a ``"pattern"`` type name.
Reading JSON back must never execute user code, so the type name is looked up in an
explicit registry (the built-in patterns register themselves on import; users call
:func:`register_pattern_json` for their own). Containers (``PatternDict``,
``PatternArray``) store their members as nested JSON strings and rebuild them through
the same registry.

Type names are class names (``"PSDSymmetricMatrixPattern"``). paragami writes
module-qualified names (``"paragami.psdmatrix_patterns.PSDSymmetricMatrixPattern"``);
only the part after the last dot is used for lookup, so paragami JSON loads too.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ppl.patterns.base import Pattern

_REGISTRY: dict[str, type] = {}


def register_pattern_json(pattern: type, allow_overwrite: bool = False) -> type:
    """Register a pattern class so :func:`get_pattern_from_json` can rebuild it.

    Args:
        pattern: a ``Pattern`` subclass (its ``json_typename()`` is the key).
        allow_overwrite: replace an existing registration of the same name.

    Returns:
        ``pattern`` (so it can be used as a class decorator).

    Raises:
        ValueError: if the name is taken and ``allow_overwrite`` is False.

    Example:
        >>> from ppl.patterns import NumericArrayPattern
        >>> class MyPattern(NumericArrayPattern):
        ...     pass
        >>> _ = register_pattern_json(MyPattern)
    """
    name = pattern.json_typename()  # type: ignore[attr-defined]
    if not allow_overwrite and name in _REGISTRY and _REGISTRY[name] is not pattern:
        raise ValueError(
            f"a pattern named {name!r} is already registered for JSON; pass "
            "allow_overwrite=True to replace it"
        )
    _REGISTRY[name] = pattern
    return pattern


def get_pattern_from_json(pattern_json: str) -> Pattern:
    """Rebuild the pattern described by ``pattern_json`` (from ``Pattern.to_json``).

    Raises:
        ValueError: if the JSON has no ``"pattern"`` entry or names an unregistered type.

    Example:
        >>> from ppl.patterns import NumericVectorPattern
        >>> p = NumericVectorPattern(length=3, lb=0.0)
        >>> get_pattern_from_json(p.to_json()) == p
        True
    """
    data: Any = json.loads(pattern_json)
    if not isinstance(data, dict) or "pattern" not in data:
        raise ValueError(
            "pattern JSON must be an object with a 'pattern' entry naming a registered "
            f"type; got {pattern_json[:80]!r}"
        )
    name = str(data["pattern"]).rsplit(".", 1)[-1]
    if name not in _REGISTRY:
        raise ValueError(
            f"pattern type {data['pattern']!r} is not registered for JSON; known: "
            f"{sorted(_REGISTRY)}; register it with ppl.patterns.register_pattern_json"
        )
    return _REGISTRY[name].from_json(pattern_json)  # type: ignore[attr-defined]
