"""Velocity Verlet (leapfrog) integrator over dicts of tensors (Pyro's ``ops.integrator``)."""

from __future__ import annotations

from collections.abc import Callable

import torch

Tensors = dict[str, torch.Tensor]


ExceptionHandler = Callable[[Exception], bool]

# name -> predicate: an exception it accepts while evaluating a potential energy
# becomes a NaN energy (the sampler then rejects the proposal) instead of an error.
_EXCEPTION_HANDLERS: dict[str, ExceptionHandler] = {}


def register_exception_handler(name: str, handler: ExceptionHandler) -> None:
    """Treat exceptions accepted by ``handler`` in :func:`potential_grad` as a NaN energy.

    Example:
        >>> register_exception_handler("doc_zero_div", lambda e: isinstance(e, ZeroDivisionError))
        >>> g, e = potential_grad(lambda z: 1 / 0, {"x": torch.zeros(2)})
        >>> bool(e.isnan()), g["x"].tolist()
        (True, [0.0, 0.0])
        >>> del _EXCEPTION_HANDLERS["doc_zero_div"]
    """
    _EXCEPTION_HANDLERS[name] = handler


def _is_singular_matrix_error(e: Exception) -> bool:
    if isinstance(e, torch.linalg.LinAlgError):
        return True
    text = str(e)
    return isinstance(e, RuntimeError) and (
        "singular" in text or "not positive-definite" in text or "positive definite" in text
    )


register_exception_handler("torch_singular", _is_singular_matrix_error)


def potential_grad(
    potential_fn: Callable[[Tensors], torch.Tensor], z: Tensors
) -> tuple[Tensors, torch.Tensor]:
    """Gradient of ``potential_fn`` at ``z`` and its value (both detached).

    A site the energy does not depend on gets a zero gradient; an exception accepted by a
    registered handler (singular matrices by default) gives zero gradients and a NaN energy.
    A potential with its own ``grad_and_value`` (the compiled fast path of
    :class:`~ppl.infer.mcmc.fast.CompiledPotential`) computes both itself.
    """
    own = getattr(potential_fn, "grad_and_value", None)
    if own is not None:
        return own(z)
    z_leaf = {k: v.detach().requires_grad_(True) for k, v in z.items()}
    try:
        value = potential_fn(z_leaf)
    except Exception as e:
        if not any(handler(e) for handler in _EXCEPTION_HANDLERS.values()):
            raise
        nan = next(iter(z.values())).new_tensor(float("nan")) if z else torch.tensor(float("nan"))
        return {k: torch.zeros_like(v) for k, v in z.items()}, nan
    if not z_leaf or not value.requires_grad:
        return {k: torch.zeros_like(v) for k, v in z.items()}, value.detach()
    grads = torch.autograd.grad(value, list(z_leaf.values()), allow_unused=True)
    out = {
        k: (torch.zeros_like(v) if g is None else g.detach())
        for (k, v), g in zip(z_leaf.items(), grads)
    }
    return out, value.detach()


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
