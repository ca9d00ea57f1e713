"""``LocScaleReparam``: (partially) non-centered parameterization of loc-scale families.

For ``x ~ D(loc, scale)`` with centering ``c`` in ``[0, 1]`` the site is rewritten as

    x_decentered ~ D(c * loc, scale ** c)
    x = loc + scale ** (1 - c) * (x_decentered - c * loc)

which has exactly the law of ``x`` for every ``c``: ``c = 1`` keeps the centered
model, ``c = 0`` is the fully non-centered one (``x = loc + scale * eps``). Hierarchical
models whose posteriors form funnels in the centered parameterization are often
easy to sample or fit in the non-centered one (Gorinova, Moore and Hoffman, 2019,
"Automatic Reparameterisation of Probabilistic Programs"). With ``centered=None``
the centering is a learnable param ``<site>_centered`` (one per element of the event),
so SVI can choose the parameterization.

Example:
    >>> import ppl, ppl.distributions as dist
    >>> model = lambda: ppl.sample("x", dist.Normal(3.0, 2.0))
    >>> rmodel = ppl.poutine.reparam(model, {"x": LocScaleReparam(centered=0.0)})
    >>> tr = ppl.poutine.trace(rmodel).get_trace()
    >>> d = tr.nodes["x_decentered"]["fn"]
    >>> float(d.loc), float(d.scale)
    (0.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.distributions import constraints

from ... import primitives
from ...distributions import Delta
from ...ops.tensor import is_identically_one
from ...settings import is_validation_enabled
from .reparam import Reparam, ReparamMessage, ReparamResult

__all__ = ["LocScaleReparam"]


class LocScaleReparam(Reparam):
    """Decenter a latent site whose distribution has ``loc`` and ``scale`` parameters.

    Works for latent sites only (an observed site has no freedom to reparameterize).

    Args:
        centered: ``0.0`` fully non-centered ... ``1.0`` unchanged; a tensor gives
            elementwise centering; None (default) learns it as the param
            ``<site>_centered`` constrained to ``[0, 1]``.
        shape_params: names of further parameters copied unchanged to the decentered
            distribution (e.g. ``("df",)`` for StudentT); default: every
            ``arg_constraints`` entry other than ``loc`` and ``scale``.

    Raises:
        TypeError: for a ``centered`` that is not a float, tensor or None, or
            ``shape_params`` that is not a sequence of names.
        ValueError: with validation on, for ``centered`` outside ``[0, 1]``.
    """

    def __init__(
        self,
        centered: float | torch.Tensor | None = None,
        shape_params: Sequence[str] | None = None,
    ) -> None:
        if isinstance(centered, int) and not isinstance(centered, bool):
            centered = float(centered)
        if centered is not None and not isinstance(centered, (float, torch.Tensor)):
            raise TypeError(
                f"LocScaleReparam: centered must be a float, a tensor or None, got "
                f"{type(centered).__name__}"
            )
        if shape_params is not None:
            if isinstance(shape_params, str) or not all(isinstance(k, str) for k in shape_params):
                raise TypeError(
                    f"LocScaleReparam: shape_params must be a list of parameter names, got "
                    f"{shape_params!r}"
                )
            shape_params = tuple(shape_params)
        if centered is not None and is_validation_enabled():
            c = torch.as_tensor(centered)
            if not bool(((c >= 0) & (c <= 1)).all()):
                raise ValueError(f"LocScaleReparam: centered must lie in [0, 1], got {centered}")
        self.centered = centered
        self.shape_params: tuple[str, ...] | None = shape_params

    def apply(self, msg: ReparamMessage) -> ReparamResult:
        name = msg["name"]
        fn: Any = msg["fn"]
        value = msg["value"]
        centered: Any = self.centered
        if is_identically_one(centered):
            return {"fn": fn, "value": value, "is_observed": bool(msg["is_observed"])}
        event_shape = fn.event_shape
        fn, event_dim = self._unwrap(fn)
        for attr in ("loc", "scale"):
            if not hasattr(fn, attr):
                raise TypeError(
                    f"at site {name!r}: LocScaleReparam needs a distribution with .loc and "
                    f".scale, got {type(fn).__name__}"
                )

        if self.shape_params is None:
            self.shape_params = tuple(k for k in fn.arg_constraints if k not in ("loc", "scale"))
        params = {key: getattr(fn, key) for key in self.shape_params}
        if centered is None:
            loc0 = fn.loc
            centered = primitives.param(
                f"{name}_centered",
                lambda: torch.full(event_shape, 0.5, dtype=loc0.dtype, device=loc0.device),
                constraint=constraints.unit_interval,
            )
        params["loc"] = fn.loc * centered
        params["scale"] = fn.scale**centered
        decentered_fn = type(fn)(**params)

        # pull an initial value back to the decentered coordinates (differentiably)
        decentered_value = None
        if value is not None:
            decentered_value = (value - fn.loc) * fn.scale.pow(centered - 1) + centered * fn.loc

        decentered_value = primitives.sample(
            f"{name}_decentered",
            self._wrap(decentered_fn, event_dim),
            obs=decentered_value,
            infer={"is_observed": msg["is_observed"]},
        )
        if value is None:
            value = fn.loc + fn.scale.pow(1 - centered) * (decentered_value - centered * fn.loc)

        # a deterministic site: the density lives at the decentered site
        new_fn = Delta(value, event_dim=event_dim).mask(False)
        return {"fn": new_fn, "value": value, "is_observed": True}
