"""An ordered dictionary of patterns (paragami's ``PatternDict``).

Design notes
------------
A ``PatternDict`` is itself a pattern: its flat vector is its members' flat vectors
concatenated in insertion order. The offsets come from :class:`ppl.ops.layout.Layout`
(one layout for the free and one for the non-free lengths, rebuilt whenever a member
changes), so the dict shares the project's single flatten/fold mechanism; folding
returns views of the input vector handed to each member.

Semantics kept from paragami:

* folded values are ``OrderedDict`` in the pattern's key order;
* the container passes its (resolved) ``free`` to every member -- free and non-free
  values are never mixed;
* ``lock()`` forbids adding, replacing or deleting members (``ValueError`` mentioning
  "locked"); a ``PatternDict`` stored as a member of another is locked, because the
  parent could not see a later change of its length.

Batching: members fold a ``(..., n)`` vector to values with the same leading dims,
and flattening needs one common batch shape across members.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterator, KeysView, Mapping
from typing import Any

import torch

from ppl.ops.layout import Layout
from ppl.patterns.base import Pattern, as_float_tensor
from ppl.patterns.registry import get_pattern_from_json, register_pattern_json

_LOCKED_MSG = "The dictionary is locked, and its values cannot be changed."


class PatternDict(Pattern):
    """An ordered, nestable dictionary of patterns, itself a pattern.

    Args:
        free_default: default for ``free`` (members follow the container's ``free``).

    Example:
        >>> from ppl.patterns import NumericVectorPattern, PSDSymmetricMatrixPattern
        >>> p = PatternDict(free_default=True)
        >>> p["mean"] = NumericVectorPattern(length=2)
        >>> p["cov"] = PSDSymmetricMatrixPattern(size=2)
        >>> p.flat_length(), p.flat_length(free=False)
        (5, 6)
    """

    def __init__(self, free_default: bool | None = None) -> None:
        self._patterns: OrderedDict[str, Pattern] = OrderedDict()
        self._locked = False
        self._layouts: dict[bool, Layout] = {}
        super().__init__(0, 0, free_default)

    # ------------------------------------------------------------------ container
    def lock(self) -> None:
        """Forbid further changes (adding, replacing or deleting members)."""
        self._locked = True

    @property
    def locked(self) -> bool:
        """Whether :meth:`lock` was called."""
        return self._locked

    def _check_lock(self, key: str) -> None:
        if self._locked:
            raise ValueError(
                f"{_LOCKED_MSG} (PatternDict key {key!r}; build a new PatternDict to change it)"
            )

    def __setitem__(self, key: str, pattern: Pattern) -> None:
        self._check_lock(key)
        if not isinstance(key, str):
            raise TypeError(f"PatternDict keys must be strings, got {type(key).__name__}")
        if not isinstance(pattern, Pattern):
            raise TypeError(f"PatternDict[{key!r}] must be a Pattern, got {type(pattern).__name__}")
        self._patterns[key] = pattern
        if isinstance(pattern, PatternDict):
            pattern.lock()
        self._update_lengths()

    def __delitem__(self, key: str) -> None:
        self._check_lock(key)
        del self._patterns[key]
        self._update_lengths()

    def __getitem__(self, key: str) -> Pattern:
        try:
            return self._patterns[key]
        except KeyError:
            raise KeyError(
                f"PatternDict has no key {key!r}; keys: {list(self._patterns)}"
            ) from None

    def __contains__(self, key: object) -> bool:
        return key in self._patterns

    def __iter__(self) -> Iterator[str]:
        return iter(self._patterns)

    def __len__(self) -> int:
        return len(self._patterns)

    def keys(self) -> KeysView[str]:
        """The member names, in flat order."""
        return self._patterns.keys()

    def items(self):
        """``(name, pattern)`` pairs, in flat order."""
        return self._patterns.items()

    def _update_lengths(self) -> None:
        self._layouts = {
            free: Layout((k, (p.flat_length(free),)) for k, p in self._patterns.items())
            for free in (True, False)
        }
        self._free_flat_length = self._layouts[True].size
        self._flat_length = self._layouts[False].size

    def layout(self, free: bool | None = None) -> Layout:
        """The :class:`~ppl.ops.layout.Layout` of the members' flat vectors."""
        return self._layouts.get(self._free_with_default(free), Layout([]))

    def __str__(self) -> str:
        body = ", ".join(f"{k!r}: {p}" for k, p in self._patterns.items())
        return f"PatternDict({{{body}}})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "pattern": self.json_typename(),
            "keys": list(self._patterns),
            "contents": {k: p.to_json() for k, p in self._patterns.items()},
            "free_default": self.free_default,
        }

    @classmethod
    def from_json(cls, json_string: str) -> PatternDict:
        data = json.loads(json_string)
        cls._check_json_type(data)
        out = cls(free_default=data.get("free_default"))
        for key in data["keys"]:
            out[key] = get_pattern_from_json(data["contents"][key])
        return out

    # ------------------------------------------------------------------ values
    def empty(
        self, valid: bool, dtype: torch.dtype | None = None, device: Any = None
    ) -> OrderedDict[str, Any]:
        """An ``OrderedDict`` of each member's ``empty(valid)``."""
        return OrderedDict(
            (k, p.empty(valid, dtype=dtype, device=device)) for k, p in self._patterns.items()
        )

    def _check_keys(self, folded_val: Any) -> str | None:
        if not isinstance(folded_val, Mapping):
            return f"{self}: expected a dict of values, got {type(folded_val).__name__}"
        missing = [k for k in self._patterns if k not in folded_val]
        extra = [k for k in folded_val if k not in self._patterns]
        if missing or extra:
            return (
                f"PatternDict: expected keys {list(self._patterns)}; missing {missing}, "
                f"unexpected {extra}"
            )
        return None

    def validate_folded(
        self, folded_val: Any, validate_value: bool | None = None
    ) -> tuple[bool, str]:
        """Check the keys and each member's value; the message names the key."""
        msg = self._check_keys(folded_val)
        if msg is not None:
            return False, msg
        for key, pattern in self._patterns.items():
            ok, err = pattern.validate_folded(folded_val[key], validate_value=validate_value)
            if not ok:
                return False, f"PatternDict key {key!r}: {err}"
        return True, ""

    def fold(
        self, flat_val: Any, free: bool | None = None, validate_value: bool | None = None
    ) -> OrderedDict[str, Any]:
        """Fold a ``(..., flat_length(free))`` vector into an ``OrderedDict``.

        Raises:
            ValueError: wrong length, or a member's value is invalid (names the key).
        """
        free = self._free_with_default(free)
        flat = as_float_tensor(flat_val, "PatternDict.fold")
        layout = self._layouts.get(free, Layout([]))
        if flat.dim() == 0 or flat.shape[-1] != layout.size:
            raise ValueError(
                f"PatternDict with keys {list(self._patterns)}: fold(free={free}) expected "
                f"a flat vector of length {layout.size}, got shape {tuple(flat.shape)}"
            )
        out: OrderedDict[str, Any] = OrderedDict()
        for key, piece in layout.fold(flat).items():
            try:
                out[key] = self._patterns[key].fold(piece, free=free, validate_value=validate_value)
            except ValueError as err:
                raise ValueError(f"PatternDict key {key!r}: {err}") from err
        return out

    def flatten(
        self, folded_val: Any, free: bool | None = None, validate_value: bool | None = None
    ) -> torch.Tensor:
        """Flatten a dict of member values into one ``(..., flat_length(free))`` vector.

        Raises:
            ValueError: missing/extra keys, or a member value of the wrong shape or
                outside its support (the message names the key).
        """
        free = self._free_with_default(free)
        msg = self._check_keys(folded_val)
        if msg is not None:
            raise ValueError(msg)
        pieces: dict[str, torch.Tensor] = {}
        for key, pattern in self._patterns.items():
            try:
                pieces[key] = pattern.flatten(
                    folded_val[key], free=free, validate_value=validate_value
                )
            except ValueError as err:
                raise ValueError(f"PatternDict key {key!r}: {err}") from err
        if not pieces:
            return torch.zeros(0)
        try:
            return self._layouts[free].flatten(pieces)
        except ValueError as err:
            raise ValueError(f"PatternDict.flatten: {err}") from err

    def flat_names(self, free: bool | None = None, delim: str = "_") -> list[str]:
        """Member names prefixed by their key and ``delim`` (paragami's convention)."""
        free = self._free_with_default(free)
        return [
            f"{key}{delim}{name}"
            for key, p in self._patterns.items()
            for name in p.flat_names(free)
        ]


register_pattern_json(PatternDict)
