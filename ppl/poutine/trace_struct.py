"""``Trace``: the ordered record of every site a model run visited.

A trace maps site names to the finished :class:`~ppl.poutine.runtime.Message` of
each statement, in execution order, plus the ``_INPUT``/``_RETURN`` pseudo-sites
that ``poutine.trace(fn).get_trace(...)`` adds. Sites read like Pyro's dicts
(``tr.nodes["z"]["value"]``). Log-densities are computed on demand and cached on
the site (``site["log_prob"]`` is scaled and masked, ``site["unscaled_log_prob"]``
is not), so an ELBO that asks twice pays once.

Example:
    >>> import ppl, ppl.distributions as dist
    >>> def model():
    ...     ppl.sample("x", dist.Normal(0.0, 1.0))
    >>> tr = ppl.poutine.trace(model).get_trace()
    >>> tr.stochastic_nodes
    ['x']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch

from ..ops.tensor import scale_and_mask, total
from .runtime import _FIELD_NAMES, Message

SiteFilter = Callable[[str, Message], bool]


def _always(name: str, site: Message) -> bool:
    return True


def is_subsample_site(site: Message) -> bool:
    """True for the pseudo sample site a subsampled ``plate`` records its indices in."""
    return site.type == "sample" and site.infer.get("is_subsample", False)


class Trace:
    """Ordered sites of one execution (see the module docstring)."""

    def __init__(self, graph_type: str = "flat") -> None:
        self.graph_type = graph_type
        self.nodes: dict[str, Message] = {}
        self._succ: dict[str, set[str]] = {}
        self._pred: dict[str, set[str]] = {}

    # --- building ---------------------------------------------------------------
    def add_node(self, name: str, **kwargs: Any) -> None:
        """Add a site given as Pyro-style keyword fields (``type``, ``value``, ...)."""
        msg = Message(
            type=kwargs.pop("type", ""),
            name=name,
            fn=kwargs.pop("fn", None),
            **_fields_only(kwargs),
        )
        self.add_message(msg)

    def add_message(self, msg: Message) -> None:
        """Record ``msg``; a second sample site with the same name is an error."""
        name = msg.name
        assert name is not None  # internal: handlers only record named messages
        old = self.nodes.get(name)
        if old is not None:
            if old.type != msg.type:
                raise DuplicateSiteError(
                    f"site {name!r} appears twice in one trace: first as a {old.type!r} "
                    f"site, then as a {msg.type!r} site. Give each site its own name."
                )
            if is_subsample_site(old) and is_subsample_site(msg):
                sizes = (getattr(old.fn, "size", None), getattr(msg.fn, "size", None))
                raise DuplicateSiteError(
                    f"plate {name!r} was built twice in one trace (sizes {sizes[0]} and "
                    f"{sizes[1]}); as in Pyro, build a plate once and re-enter the same "
                    f"object: p = ppl.plate({name!r}, ...); with p: ...; with p: ..."
                )
            if msg.type != "param":
                raise DuplicateSiteError(
                    f"Multiple {msg.type} sites named {name!r} in one trace. Each sample "
                    "site needs a unique name (e.g. f'{name}_{i}' inside a loop)."
                )
        self.nodes[name] = msg
        self._succ.setdefault(name, set())
        self._pred.setdefault(name, set())

    # --- graph ----------------------------------------------------------------------
    def add_edge(self, site1: str, site2: str) -> None:
        """Record that ``site2`` depends on ``site1``, adding bare nodes as needed."""
        for site in (site1, site2):
            if site not in self.nodes:
                self.add_node(site)
        self._succ[site1].add(site2)
        self._pred[site2].add(site1)

    @property
    def edges(self) -> Iterator[tuple[str, str]]:
        """Every ``(parent, child)`` edge."""
        for parent, children in self._succ.items():
            for child in children:
                yield parent, child

    def predecessors(self, name: str) -> set[str]:
        """Names of the sites ``name`` depends on."""
        return self._pred.setdefault(name, set())

    def successors(self, name: str) -> set[str]:
        """Names of the sites that depend on ``name``."""
        return self._succ.setdefault(name, set())

    def remove_node(self, name: str) -> None:
        """Remove a site by name, with every edge into or out of it."""
        del self.nodes[name]
        for parent in self._pred.pop(name, set()):
            self._succ[parent].discard(name)
        for child in self._succ.pop(name, set()):
            self._pred[child].discard(name)

    def _dfs(self, site: str, visited: set[str]) -> Iterator[str]:
        if site in visited:
            return
        for child in self._succ.get(site, ()):
            yield from self._dfs(child, visited)
        visited.add(site)
        yield site

    def topological_sort(self, reverse: bool = False) -> list[str]:
        """Site names with every parent before its children (reversed if ``reverse``)."""
        visited: set[str] = set()
        order = [node for site in list(self.nodes) for node in self._dfs(site, visited)]
        return order if reverse else order[::-1]

    def copy(self) -> Trace:
        """A trace with copies of every site message (values are shared)."""
        new = Trace(self.graph_type)
        new.nodes = {name: site.copy() for name, site in self.nodes.items()}
        new._succ = {name: set(c) for name, c in self._succ.items()}
        new._pred = {name: set(p) for name, p in self._pred.items()}
        return new

    def __contains__(self, name: str) -> bool:
        return name in self.nodes

    def __iter__(self) -> Iterator[str]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def iter_stochastic_nodes(self) -> Iterator[tuple[str, Message]]:
        """(name, site) for every unobserved sample site, in order (as Pyro: plate sites
        included; filter them with :func:`is_subsample_site`)."""
        for name, site in self.nodes.items():
            if site.type == "sample" and not site.is_observed:
                yield name, site

    # --- views --------------------------------------------------------------------
    @property
    def stochastic_nodes(self) -> list[str]:
        """Names of latent (unobserved) sample sites."""
        return [name for name, _ in self.iter_stochastic_nodes()]

    @property
    def observation_nodes(self) -> list[str]:
        """Names of observed sample sites."""
        return [n for n, s in self.nodes.items() if s.type == "sample" and s.is_observed]

    @property
    def param_nodes(self) -> list[str]:
        """Names of param sites."""
        return [n for n, s in self.nodes.items() if s.type == "param"]

    @property
    def reparameterized_nodes(self) -> list[str]:
        """Latent sites whose distribution has ``rsample`` (pathwise gradients)."""
        return [n for n, s in self.iter_stochastic_nodes() if getattr(s.fn, "has_rsample", False)]

    @property
    def nonreparam_stochastic_nodes(self) -> list[str]:
        """Latent sites needing score-function gradients."""
        return [
            n for n, s in self.iter_stochastic_nodes() if not getattr(s.fn, "has_rsample", False)
        ]

    # --- densities ----------------------------------------------------------------
    def compute_log_prob(self, site_filter: SiteFilter = _always) -> None:
        """Cache ``log_prob`` (scaled, masked), its ``log_prob_sum`` and ``unscaled_log_prob``
        on each sample site.

        Raises:
            ValueError: naming the site, when its distribution cannot score its value
                (usually a shape that does not fit the plates), with the shape table.
        """
        for name, site in self.nodes.items():
            if site.type != "sample" or is_subsample_site(site) or not site_filter(name, site):
                continue
            extras = site.extras
            if extras is not None and "log_prob" in extras:
                continue
            try:
                lp = site.fn.log_prob(site.value)
            except (ValueError, RuntimeError) as e:
                raise ValueError(
                    f"at site {name!r}: could not compute log_prob of a value of shape "
                    f"{tuple(getattr(site.value, 'shape', ()))} under {type(site.fn).__name__} "
                    f"with batch_shape {tuple(site.fn.batch_shape)} and event_shape "
                    f"{tuple(site.fn.event_shape)}: {e}\n{self.format_shapes()}"
                ) from e
            site["unscaled_log_prob"] = lp
            site["log_prob"] = scale_and_mask(lp, site.scale, site.mask)
            site["log_prob_sum"] = total(site["log_prob"])  # as Pyro: set with log_prob

    def log_prob_sum(self, site_filter: SiteFilter = _always) -> torch.Tensor | float:
        """Sum of the scaled, masked log-densities of all (filtered) sample sites."""
        self.compute_log_prob(site_filter)
        result: torch.Tensor | float = 0.0
        first = True
        for name, site in self.nodes.items():
            if site.type != "sample" or is_subsample_site(site) or not site_filter(name, site):
                continue
            extras = site.extras
            if extras is None:
                continue
            lps = extras.get("log_prob_sum")
            if lps is None:
                lps = total(extras["log_prob"])
                extras["log_prob_sum"] = lps
            result = lps if first else result + lps  # no "0.0 + x" op in the graph
            first = False
        return result

    def nonfinite_sites(self) -> list[str]:
        """Names of sample sites whose computed ``log_prob`` holds a NaN or infinity."""
        bad = []
        for name, site in self.nodes.items():
            lp = site.extras.get("log_prob") if site.extras else None
            if isinstance(lp, torch.Tensor) and not bool(torch.isfinite(lp).all()):
                bad.append(name)
        return bad

    # --- display ------------------------------------------------------------------
    def format_shapes(self, title: str = "Trace Shapes:", last_site: str | None = None) -> str:
        """A table of every site's shapes, in Pyro's layout (text identical to Pyro's).

        Each param site shows its value's shape; each sample site shows the
        distribution's ``batch | event`` shape, the value's shape split the same way and,
        once computed, the ``log_prob`` shape. Rows stop after ``last_site``.

        Example output::

            Trace Shapes:
             Param Sites:
                       a 3
            Sample Sites:
                  x dist 3 |
                   value 3 |
        """
        if not self.nodes:
            return title
        # each row: (label cells, batch cells, event cells); batch cells end in "|"
        rows: list[tuple[list[str], list[str], list[str]]] = [([title], [], [])]
        rows.append((["Param Sites:"], [], []))
        for name, site in self.nodes.items():
            if site.type == "param":
                rows.append(([name], _cells(getattr(site.value, "shape", ())), []))
            if name == last_site:
                break
        rows.append((["Sample Sites:"], [], []))
        log_probs_computed = any(
            s.type == "sample" and s.extras and "log_prob" in s.extras for s in self.nodes.values()
        )
        for name, site in self.nodes.items():
            if site.type == "sample":
                fn = site.fn
                event_shape = tuple(getattr(fn, "event_shape", ()))
                batch_shape = tuple(getattr(fn, "batch_shape", ()))
                subsample = is_subsample_site(site)
                if subsample:  # as Pyro: a plate's indices are a batch of a shapeless dist
                    event_shape = batch_shape = ()
                rows.append(([f"{name} dist"], _cells(batch_shape) + ["|"], _cells(event_shape)))
                shape = tuple(getattr(site.value, "shape", ()))
                split = len(shape) - len(event_shape)
                rows.append((["value"], _cells(shape[:split]) + ["|"], _cells(shape[split:])))
                if subsample and log_probs_computed:  # its log_prob is a scalar zero
                    rows.append((["log_prob"], ["|"], []))
                elif site.extras and "log_prob" in site.extras:
                    lp_shape = getattr(site.extras["log_prob"], "shape", ())
                    rows.append((["log_prob"], _cells(lp_shape) + ["|"], []))
            if name == last_site:
                break
        return _justify(rows)

    def __repr__(self) -> str:
        return f"Trace({list(self.nodes)})"


class DuplicateSiteError(ValueError, RuntimeError):
    """Two sites with one name in one trace.

    A ``ValueError`` and, as Pyro raises for this, a ``RuntimeError``.
    """


def _cells(shape: Any) -> list[str]:
    return [str(int(size)) for size in shape]


def _justify(rows: list[tuple[list[str], list[str], list[str]]]) -> str:
    """Lay out the three groups of cells of every row as one right-justified table.

    The label and batch groups are aligned on their right end, the event group on its
    left end; every column is as wide as its widest cell and cells are right-justified.
    """
    widths = [max(len(row[g]) for row in rows) for g in range(3)]
    table = []
    for labels, batch, event in rows:
        table.append(
            [""] * (widths[0] - len(labels))
            + labels
            + [""] * (widths[1] - len(batch))
            + batch
            + event
            + [""] * (widths[2] - len(event))
        )
    column = [max(len(line[j]) for line in table) for j in range(len(table[0]))]
    return "\n".join(" ".join(cell.rjust(w) for cell, w in zip(line, column)) for line in table)


def _fields_only(kwargs: dict[str, Any]) -> dict[str, Any]:
    known = {k: v for k, v in kwargs.items() if k in _FIELD_NAMES and k != "name"}
    extras = {k: v for k, v in kwargs.items() if k not in _FIELD_NAMES}
    if extras:
        known["extras"] = extras
    return known
