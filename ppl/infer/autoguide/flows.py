"""Normalizing-flow autoguides: ``AutoNormalizingFlow`` and ``AutoIAFNormal``.

Design notes
------------
Both are :class:`~.continuous.AutoContinuous` guides: the packed unconstrained latent
vector is ``transform(z)`` with ``z ~ Normal(0, 1)^D``. The transform is built once, at
setup, by ``init_transform_fn(latent_dim)``, moved to the device and dtype of the
model's latents, and registered with :func:`ppl.module` under
``"<GuideName>.transform"`` at setup and at every guide run, so its weights live in
the ParamStore as ``"<GuideName>.transform$$$<param>"`` (Pyro's names; e.g.
``AutoIAFNormal.transform$$$0.arn.layers.0.weight``) and handlers see them.

A flow has no closed-form marginals, so ``median`` and ``quantiles`` raise, as in Pyro.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.distributions import Distribution, Transform

from ppl.distributions import Normal, TransformedDistribution
from ppl.distributions.transforms import affine_autoregressive, iterated
from ppl.infer.autoguide.continuous import AutoContinuous
from ppl.infer.autoguide.initialization import init_to_feasible
from ppl.params.param_store import param_with_module_name
from ppl.primitives import module

__all__ = ["AutoIAFNormal", "AutoNormalizingFlow"]


class AutoNormalizingFlow(AutoContinuous):
    """A standard Normal pushed through a learnable bijection (Pyro's ``AutoNormalizingFlow``).

    Args:
        model: the model.
        init_transform_fn: ``latent_dim -> Transform`` (a ``TransformModule`` or
            ``ComposeTransformModule`` when it has parameters), e.g.
            ``functools.partial(iterated, 2, spline_coupling)``.
        create_plates: see :class:`~.guide.AutoGuide`.

    Raises:
        TypeError: at setup, if ``init_transform_fn`` does not return a ``Transform``.

    Example:
        >>> import functools, ppl, ppl.distributions as dist
        >>> from ppl.distributions.transforms import iterated, spline_coupling
        >>> ppl.clear_param_store()
        >>> def model():
        ...     ppl.sample("x", dist.Normal(torch.zeros(2), 1.0).to_event(1))
        >>> guide = AutoNormalizingFlow(model, functools.partial(iterated, 2, spline_coupling))
        >>> tuple(guide()["x"].shape)
        (2,)
    """

    def __init__(
        self,
        model: Callable[..., Any],
        init_transform_fn: Callable[[int], Transform],
        *,
        create_plates: Callable[..., Any] | None = None,
    ) -> None:
        if not callable(init_transform_fn):
            raise TypeError(
                f"{type(self).__name__}: init_transform_fn must be callable (latent_dim -> "
                f"Transform), got {type(init_transform_fn).__name__}"
            )
        super().__init__(model, init_loc_fn=init_to_feasible, create_plates=create_plates)
        self._init_transform_fn = init_transform_fn
        self.transform: Transform | None = None
        self._prototype = torch.zeros(())

    # ------------------------------------------------------------------ parameters
    def _setup_params(self) -> None:
        proto = self._init_loc()
        self._prototype = proto
        transform = self._init_transform_fn(self.latent_dim)
        if not isinstance(transform, Transform):
            raise TypeError(
                f"{type(self).__name__}: init_transform_fn({self.latent_dim}) must return a "
                f"torch Transform, got {type(transform).__name__}"
            )
        if isinstance(transform, torch.nn.Module):
            if proto.is_floating_point():
                transform = transform.to(device=proto.device, dtype=proto.dtype)
            else:
                transform = transform.to(device=proto.device)
        self.transform = transform
        self._register_transform()

    def _module_name(self) -> str:
        return f"{self._pyro_name}.transform"

    def _register_transform(self) -> None:
        """(Re-)register the flow's weights in the ParamStore; record their names."""
        if not isinstance(self.transform, torch.nn.Module):
            return
        name = self._module_name()
        module(name, self.transform)
        for param_name, p in self.transform.named_parameters():
            if p.requires_grad:
                attr = param_with_module_name("transform", param_name)
                self._param_names[attr] = param_with_module_name(name, param_name)

    # ------------------------------------------------------------------ distributions
    def get_base_dist(self) -> Distribution:
        """``Normal(0, 1)`` over the packed vector (event shape ``(latent_dim,)``)."""
        zero = self._prototype.new_zeros(())
        if not zero.is_floating_point():
            zero = zero.to(torch.get_default_dtype())
        return Normal(zero, zero + 1).expand([self.latent_dim]).to_event(1)

    def get_transform(self, *args: Any, **kwargs: Any) -> Transform:
        """The flow (built at setup)."""
        self._require_setup("get_transform")
        assert self.transform is not None
        return self.transform

    def get_posterior(self, *args: Any, **kwargs: Any) -> Distribution:
        """``TransformedDistribution(get_base_dist(), transform)``."""
        self._register_transform()
        return TransformedDistribution(self.get_base_dist(), self.get_transform())

    def _loc_scale(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError(
            f"{type(self).__name__} has no closed-form location and scale; draw samples "
            "instead, e.g. with ppl.infer.Predictive(model, guide=guide, num_samples=...)"
        )

    def median(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Not available for a flow (raises ``NotImplementedError``, as in Pyro)."""
        return self._loc_scale(*args, **kwargs)  # type: ignore[return-value]

    def quantiles(
        self, quantiles: Sequence[float] | torch.Tensor, *args: Any, **kwargs: Any
    ) -> dict[str, torch.Tensor]:
        """Not available for a flow (raises ``NotImplementedError``, as in Pyro)."""
        return self._loc_scale(*args, **kwargs)  # type: ignore[return-value]


class AutoIAFNormal(AutoNormalizingFlow):
    """A standard Normal through ``num_transforms`` inverse autoregressive flows (Pyro's).

    Args:
        model: the model.
        hidden_dim: hidden sizes of each IAF's network (a list, or one int; default
            ``[3 * latent_dim + 1]``).
        init_loc_fn: accepted for compatibility and ignored (warns, as in Pyro).
        num_transforms: how many :class:`~ppl.distributions.transforms.AffineAutoregressive`
            flows to compose.
        **init_transform_kwargs: passed to
            :func:`~ppl.distributions.transforms.affine_autoregressive` (e.g. ``stable``).

    Example:
        >>> import ppl, ppl.distributions as dist
        >>> ppl.clear_param_store()
        >>> guide = AutoIAFNormal(lambda: ppl.sample("x", dist.Normal(0.0, 1.0).expand([3])))
        >>> _ = guide.setup()
        >>> sorted(ppl.get_param_store().keys())[0]
        'AutoIAFNormal.transform$$$0.arn.layers.0.bias'
    """

    def __init__(
        self,
        model: Callable[..., Any],
        hidden_dim: int | Sequence[int] | None = None,
        init_loc_fn: Callable[..., Any] | None = None,
        num_transforms: int = 1,
        **init_transform_kwargs: Any,
    ) -> None:
        if init_loc_fn:
            warnings.warn(
                "AutoIAFNormal ignores init_loc_fn (the flow starts near the standard "
                "Normal); the argument is kept for compatibility and may be removed.",
                category=FutureWarning,
                stacklevel=2,
            )
        if isinstance(hidden_dim, int):
            hidden_dim = [hidden_dim]
        super().__init__(
            model,
            init_transform_fn=functools.partial(
                iterated,
                num_transforms,
                affine_autoregressive,
                hidden_dims=hidden_dim,
                **init_transform_kwargs,
            ),
        )
