"""One flatten/fold mechanism: a layout of names, shapes and offsets.

Design notes
------------
Many parts of ppl need to see a collection of named tensors as one flat vector and
back: climin-style flat parameter views, paragami-style patterns (``PatternDict``),
the store-wide flatten used by L-BFGS/Newton/Laplace, AutoContinuous guides and SVGD.
They all use this one class, so the ordering and offset rules are defined once.

A :class:`Layout` is an immutable, ordered list of ``(name, shape)`` entries. Entry
``i`` occupies ``vector[..., offsets[i] : offsets[i] + sizes[i]]`` and is laid out
row-major (C order) inside its slot, exactly like ``tensor.reshape(-1)``.

* **Batch-aware.** The flat axis is always the *rightmost* one. ``fold`` takes a
  ``(..., size)`` tensor and returns ``{name: (..., *shape)}``; ``flatten`` takes
  ``{name: (..., *shape)}`` (one common batch shape ``...``) and returns ``(..., size)``.
  A batch of particles (SVGD) or a vmapped call therefore needs no special code.
* **Views, not copies.** ``fold`` uses ``narrow`` + ``unflatten`` on the last axis,
  which is always expressible as a view: writing into a folded piece writes into the
  vector (this is what makes climin's ``empty_with_views`` work). ``flatten`` must
  allocate (``torch.cat``) unless an ``out`` vector is given, in which case the pieces
  are copied into its views.
* **Differentiable.** Both directions are plain torch ops, so autograd and
  ``torch.func`` transforms (``vmap``/``jacrev``/``hessian``) go through.
* **Plain data.** ``as_dict``/``from_dict`` give a description made only of strings
  and ints, so a layout can be stored in a safe checkpoint.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence

import torch

Shape = tuple[int, ...]


def _as_shape(shape: int | Sequence[int] | torch.Size, name: str) -> Shape:
    """Normalise ``shape`` (an int means a vector of that length) to a tuple of ints."""
    if isinstance(shape, bool):
        raise TypeError(f"layout entry {name!r}: shape must be an int or a tuple of ints, got bool")
    if isinstance(shape, int):
        shape = (shape,)
    try:
        if isinstance(shape, str) or any(isinstance(s, bool) for s in shape):
            raise TypeError
        out = tuple(operator.index(s) for s in shape)
    except TypeError:
        raise TypeError(
            f"layout entry {name!r}: shape must be an int or a tuple of ints, "
            f"got {type(shape).__name__}"
        ) from None
    if any(s < 0 for s in out):
        raise ValueError(f"layout entry {name!r}: shape must be non-negative, got {out}")
    return out


class Layout:
    """An ordered, immutable map ``name -> (shape, offset)`` over one flat axis.

    Args:
        entries: ``(name, shape)`` pairs, in flat order, or a mapping ``name -> shape``.
            A shape is a tuple of ints, a ``torch.Size`` or an int (a vector).

    Raises:
        ValueError: if a name repeats or a shape has a negative size.
        TypeError: if a name is not a string or a shape is not int/tuple of ints.

    Example:
        >>> lay = Layout([("w", (2, 3)), ("b", 3)])
        >>> lay.size, lay.offsets
        (9, (0, 6))
        >>> pieces = lay.fold(torch.arange(9.0))
        >>> pieces["b"]
        tensor([6., 7., 8.])
        >>> lay.flatten(pieces).shape
        torch.Size([9])
    """

    __slots__ = ("names", "shapes", "sizes", "offsets", "size", "_index")

    names: tuple[str, ...]
    shapes: tuple[Shape, ...]
    sizes: tuple[int, ...]
    offsets: tuple[int, ...]
    size: int
    _index: dict[str, int]

    def __init__(
        self,
        entries: Iterable[tuple[str, int | Sequence[int] | torch.Size]]
        | Mapping[str, int | Sequence[int] | torch.Size],
    ) -> None:
        if isinstance(entries, Mapping):
            entries = entries.items()
        names: list[str] = []
        shapes: list[Shape] = []
        for entry in entries:
            name, shape = entry
            if not isinstance(name, str):
                raise TypeError(f"layout names must be strings, got {type(name).__name__}")
            names.append(name)
            shapes.append(_as_shape(shape, name))
        index = {name: i for i, name in enumerate(names)}
        if len(index) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"layout names must be unique; repeated: {dup}")
        sizes = [math.prod(s) for s in shapes]
        offsets = [0] * len(sizes)
        total = 0
        for i, n in enumerate(sizes):
            offsets[i] = total
            total += n
        object.__setattr__(self, "names", tuple(names))
        object.__setattr__(self, "shapes", tuple(shapes))
        object.__setattr__(self, "sizes", tuple(sizes))
        object.__setattr__(self, "offsets", tuple(offsets))
        object.__setattr__(self, "size", total)
        object.__setattr__(self, "_index", index)

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("Layout is immutable")

    def __reduce__(self) -> tuple[type[Layout], tuple[tuple[tuple[str, Shape], ...]]]:
        # rebuilt from its entries, so pickling (e.g. torch.save of a guide) works
        return type(self), (tuple(zip(self.names, self.shapes)),)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_tensors(cls, tensors: Mapping[str, torch.Tensor], batch_ndims: int = 0) -> Layout:
        """The layout of ``tensors`` ignoring their ``batch_ndims`` leftmost dims.

        Example:
            >>> Layout.from_tensors({"a": torch.zeros(5, 2), "b": torch.zeros(5)}, 1).shapes
            ((2,), ())
        """
        return cls((k, tuple(v.shape[batch_ndims:])) for k, v in tensors.items())

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Layout:
        """Inverse of :meth:`as_dict`.

        Raises:
            ValueError: if ``data`` lacks ``names``/``shapes`` or their lengths differ.
        """
        try:
            names = list(data["names"])  # type: ignore[call-overload]
            shapes = list(data["shapes"])  # type: ignore[call-overload]
        except (KeyError, TypeError):
            raise ValueError(
                f"Layout.from_dict expects {{'names': [...], 'shapes': [...]}}, got {data!r}"
            ) from None
        if len(names) != len(shapes):
            raise ValueError(
                f"Layout.from_dict: {len(names)} names but {len(shapes)} shapes; "
                "they must have the same length"
            )
        return cls(zip(names, shapes))

    def as_dict(self) -> dict[str, list]:
        """A plain-data description (``names`` and ``shapes``), safe to serialise."""
        return {"names": list(self.names), "shapes": [list(s) for s in self.shapes]}

    # ------------------------------------------------------------------ mapping-ish
    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Layout):
            return NotImplemented
        return self.names == other.names and self.shapes == other.shapes

    def __hash__(self) -> int:
        return hash((self.names, self.shapes))

    def __repr__(self) -> str:
        body = ", ".join(f"{n}: {s}" for n, s in zip(self.names, self.shapes))
        return f"Layout({{{body}}}, size={self.size})"

    def _position(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(
                f"{name!r} is not in the layout; known names: {list(self.names)}"
            ) from None

    def shape(self, name: str) -> Shape:
        """The folded shape of entry ``name``."""
        return self.shapes[self._position(name)]

    def slice(self, name: str) -> slice:
        """The slice of the flat axis that entry ``name`` occupies."""
        i = self._position(name)
        return slice(self.offsets[i], self.offsets[i] + self.sizes[i])

    # ------------------------------------------------------------------ fold / flatten
    def _check_vector(self, vector: torch.Tensor) -> None:
        if not isinstance(vector, torch.Tensor):
            raise TypeError(f"Layout.fold expects a tensor, got {type(vector).__name__}")
        if vector.dim() == 0 or vector.shape[-1] != self.size:
            raise ValueError(
                f"Layout.fold: expected a flat vector with last dim {self.size} "
                f"({len(self)} entries), got shape {tuple(vector.shape)}"
            )

    def _piece(self, vector: torch.Tensor, i: int) -> torch.Tensor:
        piece = vector.narrow(-1, self.offsets[i], self.sizes[i])
        shape = self.shapes[i]
        if len(shape) == 1:
            return piece
        if len(shape) == 0:
            return piece.squeeze(-1)
        return piece.unflatten(-1, shape)

    def fold(self, vector: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split a ``(..., size)`` vector into ``{name: (..., *shape)}`` views.

        The pieces share memory with ``vector``: in-place writes go both ways.

        Raises:
            ValueError: if ``vector.shape[-1] != self.size``.
            TypeError: if ``vector`` is not a tensor.
        """
        self._check_vector(vector)
        return {name: self._piece(vector, i) for i, name in enumerate(self.names)}

    def views(self, vector: torch.Tensor) -> list[torch.Tensor]:
        """Like :meth:`fold` but returns the pieces as a list, in layout order."""
        self._check_vector(vector)
        return [self._piece(vector, i) for i in range(len(self.names))]

    def batch_shape(self, tensors: Mapping[str, torch.Tensor]) -> torch.Size:
        """The common batch shape of ``tensors`` laid out by this layout.

        Raises:
            ValueError: if a name is missing or unknown, a trailing shape is wrong, or
                the batch shapes differ; the message names the entry.
        """
        missing = [n for n in self.names if n not in tensors]
        extra = [k for k in tensors if k not in self._index]
        if missing or extra:
            raise ValueError(
                f"Layout.flatten: expected exactly the names {list(self.names)}; "
                f"missing {missing}, unexpected {extra}"
            )
        batch: torch.Size | None = None
        first = ""
        for name, shape in zip(self.names, self.shapes):
            t = tensors[name]
            if not isinstance(t, torch.Tensor):
                raise TypeError(
                    f"Layout.flatten: entry {name!r} must be a tensor, got {type(t).__name__}"
                )
            k = t.dim() - len(shape)
            if k < 0 or tuple(t.shape[k:]) != shape:
                raise ValueError(
                    f"Layout.flatten: entry {name!r} expected shape (..., *{shape}), "
                    f"got {tuple(t.shape)}"
                )
            if batch is None:
                batch, first = t.shape[:k], name
            elif t.shape[:k] != batch:
                raise ValueError(
                    f"Layout.flatten: entry {name!r} has batch shape {tuple(t.shape[:k])} "
                    f"but {first!r} has {tuple(batch)}; all entries need the same batch shape"
                )
        return batch if batch is not None else torch.Size()

    def flatten(
        self, tensors: Mapping[str, torch.Tensor], out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Concatenate ``{name: (..., *shape)}`` into one ``(..., size)`` vector.

        Args:
            tensors: one tensor per layout name, sharing a batch shape ``...``.
            out: optional ``(..., size)`` tensor to write into (no new allocation;
                not differentiable through ``out``'s previous contents).

        Returns:
            The flat vector (``out`` itself when given). Dtypes are promoted as by
            ``torch.cat``. With a single entry and no ``out`` the result may be a view
            of that entry; clone it before writing into it.

        Raises:
            ValueError: on missing/unknown names or shape mismatch (names the entry).
        """
        batch = self.batch_shape(tensors)
        if out is not None:
            if tuple(out.shape) != tuple(batch) + (self.size,):
                raise ValueError(
                    f"Layout.flatten: out must have shape {tuple(batch) + (self.size,)}, "
                    f"got {tuple(out.shape)}"
                )
            for i, name in enumerate(self.names):
                self._piece(out, i).copy_(tensors[name])
            return out
        if not self.names:
            return torch.zeros(tuple(batch) + (0,))
        parts = [tensors[n].reshape(tuple(batch) + (m,)) for n, m in zip(self.names, self.sizes)]
        if len(parts) == 1:
            return parts[0]
        return torch.cat(parts, dim=-1)
