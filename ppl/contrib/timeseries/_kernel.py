"""Shared pieces of the Matern models: the kernel as a ``PyroModule`` and block layouts."""

from __future__ import annotations

from typing import cast

import torch
from torch.distributions import constraints
from torch.distributions.constraints import Constraint

from ppl.nn import PyroParam, to_pyro_module_
from ppl.ops.ssm_gp import MaternKernel

__all__ = ["block_diag2", "constrained_param", "make_kernel", "positive_init"]


def make_kernel(
    nu: float,
    num_gps: int,
    length_scale_init: torch.Tensor | None = None,
    kernel_scale_init: torch.Tensor | None = None,
    freeze_kernel_scale: bool = False,
) -> MaternKernel:
    """A :class:`MaternKernel` turned into a ``PyroModule`` in place whose scales are
    ``PyroParam`` s, so that inside a model's ``pyro_method`` they are positive ``param``
    statements named as in Pyro (``kernel.length_scale``, ``kernel.kernel_scale``)."""
    kernel = MaternKernel(nu, num_gps, length_scale_init, kernel_scale_init)
    if freeze_kernel_scale:
        kernel.freeze_kernel_scale()
    to_pyro_module_(kernel)
    # Pyro's names in the ParamStore: kernel.length_scale, kernel.kernel_scale (positive)
    for name in ("length_scale", "kernel_scale"):
        if name + "_unconstrained" in dict(kernel.named_parameters(recurse=False)):
            value = getattr(kernel, name).detach()
            setattr(kernel, name, PyroParam(value, constraint=constraints.positive))
    return kernel


def constrained_param(init: torch.Tensor, constraint: Constraint) -> torch.Tensor:
    """A ``PyroParam`` to assign to a model attribute; typed as the tensor that reading the
    attribute gives back."""
    return cast(torch.Tensor, PyroParam(init, constraint=constraint))


def positive_init(model: str, name: str, init: torch.Tensor | None, size: int) -> torch.Tensor:
    """``init`` checked to be a positive ``(size,)`` tensor; ``0.2 * ones(size)`` if None."""
    if init is None:
        return 0.2 * torch.ones(size)
    if init.shape != (size,) or not bool((init > 0).all()):
        raise ValueError(
            f"{model}: {name} must be a positive tensor of shape ({size},), "
            f"got shape {tuple(init.shape)}"
        )
    return init


def block_diag2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Batched ``[[a, 0], [0, b]]`` for ``a`` of shape ``(..., M, M)`` and ``b`` ``(..., N, N)``."""
    batch = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a, b = a.expand(batch + a.shape[-2:]), b.expand(batch + b.shape[-2:])
    top = torch.cat([a, a.new_zeros(batch + (a.size(-2), b.size(-1)))], dim=-1)
    bottom = torch.cat([b.new_zeros(batch + (b.size(-2), a.size(-1))), b], dim=-1)
    return torch.cat([top, bottom], dim=-2)
