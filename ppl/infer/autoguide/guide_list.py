"""``AutoGuideList``: one guide made of several parts, each covering some latent sites.

Design notes
------------
Parts are autoguides built on a blocked view of the model (``AutoDiagonalNormal(
poutine.block(model, hide=["z"]))``) or plain callables (wrapped in
:class:`AutoCallable`), e.g. a hand-written guide for a discrete site. Like Pyro's,
the list is an ``nn.ModuleList``-like module: part ``i`` is the sub-module ``"<i>"``
(module keys ``0.loc_unconstrained`` ...), which renames it ``"AutoGuideList.<i>"``,
so its store parameters are ``AutoGuideList.0.loc`` ... (Pyro's names). The list runs
its own prototype trace to learn the model's plates, draws each subsampled plate's
minibatch once per run and hands the same plates to every part, so all parts (and the
model) agree on one minibatch. ``setup`` sets up every part, so all parameters exist,
on the model's device and dtype, before the first step (Pyro's bug #3213 left them on
the CPU).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from ppl.infer.autoguide.guide import AutoGuide

__all__ = ["AutoCallable", "AutoGuideList"]


class AutoCallable(AutoGuide):
    """Wrap a hand-written guide so it can be a part of an :class:`AutoGuideList`.

    Args:
        model: the model.
        guide: a callable guide; its return value (a dict of site values, or None)
            is the part's result.
        median: optional callable ``median(*args, **kwargs) -> dict`` of point
            estimates for the guide's sites (default: none).

    Raises:
        TypeError: if ``guide`` (or ``median``) is not callable.
    """

    _allows_discrete = True

    def __init__(
        self,
        model: Callable[..., Any],
        guide: Callable[..., Any],
        median: Callable[..., dict[str, torch.Tensor]] | None = None,
    ) -> None:
        if not callable(guide):
            raise TypeError(f"AutoCallable: guide must be callable, got {type(guide).__name__}")
        if median is not None and not callable(median):
            raise TypeError(f"AutoCallable: median must be callable, got {type(median).__name__}")
        super().__init__(model)
        self._guide = guide
        self._median = median

    def _setup_prototype(self, *args: Any, **kwargs: Any) -> None:
        from ppl.poutine.trace_struct import Trace

        self.prototype_trace = Trace()  # the wrapped guide creates its own params

    def _setup_params(self) -> None:
        return None

    def forward(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Run the wrapped guide; returns its dict (``{}`` if it returns None)."""
        result = self._guide(*args, **kwargs)
        return {} if result is None else result

    def sample_latent(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Run the wrapped guide (it has no separate latent space)."""
        return self.forward(*args, **kwargs)

    def median(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """The ``median=`` callable's result, or ``{}`` when none was given."""
        return {} if self._median is None else self._median(*args, **kwargs)

    def quantiles(
        self, quantiles: Sequence[float] | torch.Tensor, *args: Any, **kwargs: Any
    ) -> dict[str, torch.Tensor]:
        """A hand-written guide has no known quantiles: ``{}``."""
        return {}


class AutoGuideList(AutoGuide):
    """A guide made of parts (Pyro's ``AutoGuideList``).

    Args:
        model: the model (the parts must be built on it or on a blocked view of it).
        create_plates: see :class:`~.guide.AutoGuide`.

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> ppl.clear_param_store()
        >>> from ppl.infer.autoguide import AutoDelta, AutoNormal
        >>> def model():
        ...     ppl.sample("a", dist.Normal(0.0, 1.0))
        ...     ppl.sample("b", dist.LogNormal(0.0, 1.0))
        >>> guide = AutoGuideList(model)
        >>> guide.append(AutoNormal(ppl.poutine.block(model, hide=["b"])))
        >>> guide.append(AutoDelta(ppl.poutine.block(model, hide=["a"])))
        >>> sorted(guide.setup().median())
        ['a', 'b']
        >>> sorted(n for n, _ in guide.named_parameters())[0]
        '0.locs.a_unconstrained'
        >>> sorted(ppl.get_param_store())[0]
        'AutoGuideList.0.locs.a'
    """

    _allows_discrete = True

    def __init__(
        self, model: Callable[..., Any], *, create_plates: Callable[..., Any] | None = None
    ) -> None:
        super().__init__(model, create_plates=create_plates)

    @property
    def _parts(self) -> list[AutoGuide]:
        """The parts: every autoguide sub-module, appended (``"<i>"``) or assigned as an
        attribute (``guide.custom = MyGuide(model)``), in registration order."""
        return [m for m in self._modules.values() if isinstance(m, AutoGuide)]

    # ------------------------------------------------------------------ the list
    def append(self, part: AutoGuide | Callable[..., Any]) -> None:
        """Add a part: an autoguide (not yet set up) or a callable guide.

        Raises:
            ValueError: if the autoguide was already set up (its parameters would keep
                their old names) or is already in a list.
            TypeError: if ``part`` is neither an autoguide nor callable.
        """
        if not isinstance(part, AutoGuide):
            if not callable(part):
                raise TypeError(
                    f"AutoGuideList.append: expected an autoguide or a callable guide, got "
                    f"{type(part).__name__}"
                )
            part = AutoCallable(self.model, part)
        if part.prototype_trace is not None and not isinstance(part, AutoCallable):
            raise ValueError(
                f"AutoGuideList.append: the {type(part).__name__} part was already set up "
                "(run or setup() called), so its parameters are named "
                f"{part._pyro_name}.*; append parts before using them"
            )
        if any(p is part for p in self._parts) or part._pyro_name.startswith("AutoGuideList."):
            raise ValueError("AutoGuideList.append: this part is already in an AutoGuideList")
        # a sub-module "<i>": PyroModule names it "AutoGuideList.<i>" (Pyro's names)
        self.add_module(str(len(self._modules)), part)

    add = append

    def __len__(self) -> int:
        return len(self._parts)

    def __iter__(self) -> Iterator[AutoGuide]:
        return iter(self._parts)

    def __getitem__(self, index: int) -> AutoGuide:
        return self._parts[index]

    # ------------------------------------------------------------------ setup
    def _setup_params(self) -> None:
        return None

    def setup(self, *args: Any, **kwargs: Any) -> AutoGuideList:
        """Trace the model, then set up every part (all parameters exist afterwards).

        Raises:
            ValueError: if the list has no parts, or from a part's setup.
        """
        if not self._parts:
            raise ValueError(
                "AutoGuideList has no parts; append autoguides (or callables) before use"
            )
        super().setup(*args, **kwargs)
        for part in self._parts:
            part.setup(*args, **kwargs)
        self._param_names = {
            f"{i}.{attr}": full
            for i, part in enumerate(self._parts)
            for attr, full in part._param_names.items()
        }
        return self

    # ------------------------------------------------------------------ the guide
    def forward(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Run every part with shared plates; returns the union of their results."""
        plates = self._create_plates(*args, **kwargs)
        result: dict[str, torch.Tensor] = {}
        for part in self._parts:
            part._master_plates = plates
            try:
                result.update(part(*args, **kwargs))
            finally:
                part._master_plates = None
        return result

    def sample_latent(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Each part's ``sample_latent``, keyed by the part's index."""
        self.setup(*args, **kwargs)
        return {str(i): part.sample_latent(*args, **kwargs) for i, part in enumerate(self._parts)}

    def median(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """The union of the parts' medians."""
        self.setup(*args, **kwargs)
        result: dict[str, torch.Tensor] = {}
        for part in self._parts:
            result.update(part.median(*args, **kwargs))
        return result

    def quantiles(
        self, quantiles: Sequence[float] | torch.Tensor, *args: Any, **kwargs: Any
    ) -> dict[str, torch.Tensor]:
        """The union of the parts' quantiles (``AutoCallable`` parts contribute none)."""
        self.setup(*args, **kwargs)
        result: dict[str, torch.Tensor] = {}
        for part in self._parts:
            result.update(part.quantiles(quantiles, *args, **kwargs))
        return result
