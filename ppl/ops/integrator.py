"""Velocity Verlet (leapfrog) integrator over dicts of tensors (Pyro's ``ops.integrator``)."""

from __future__ import annotations

from collections.abc import Callable

import torch

Tensors = dict[str, torch.Tensor]


def potential_grad(
    potential_fn: Callable[[Tensors], torch.Tensor], z: Tensors
) -> tuple[Tensors, torch.Tensor]:
    """Gradient of ``potential_fn`` at ``z`` and its value (both detached)."""
    z_leaf = {k: v.detach().requires_grad_(True) for k, v in z.items()}
    value = potential_fn(z_leaf)
    grads = torch.autograd.grad(value, list(z_leaf.values()))
    return dict(zip(z_leaf, (g.detach() for g in grads))), value.detach()


def velocity_verlet(
    z: Tensors,
    r: Tensors,
    potential_fn: Callable[[Tensors], torch.Tensor],
    kinetic_grad: Callable[[Tensors], Tensors],
    step_size: float,
    num_steps: int = 1,
    z_grads: Tensors | None = None,
) -> tuple[Tensors, Tensors, Tensors, torch.Tensor]:
    """Run ``num_steps`` leapfrog steps.

    Returns:
        ``(z_next, r_next, z_grads, potential_energy)`` at the final position.

    Example:
        >>> pe = lambda z: 0.5 * (z["x"] ** 2).sum()
        >>> z, r, g, e = velocity_verlet({"x": torch.tensor([1.0])}, {"x": torch.tensor([0.0])},
        ...                              pe, lambda r: r, 0.1, 2)
        >>> round(float(e), 4) < 0.5
        True
    """
    z_next, r_next = dict(z), dict(r)
    if z_grads is None:
        z_grads, potential_energy = potential_grad(potential_fn, z_next)
    for _ in range(num_steps):
        r_next = {k: r_next[k] - 0.5 * step_size * z_grads[k] for k in r_next}
        r_grads = kinetic_grad(r_next)
        z_next = {k: z_next[k] + step_size * r_grads[k] for k in z_next}
        z_grads, potential_energy = potential_grad(potential_fn, z_next)
        r_next = {k: r_next[k] - 0.5 * step_size * z_grads[k] for k in r_next}
    if num_steps == 0:
        potential_energy = potential_fn(z_next).detach()
    return z_next, r_next, z_grads, potential_energy
