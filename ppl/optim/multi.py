"""Optimizers that differentiate the loss themselves (Pyro's ``pyro.optim.multi``).

Design notes
------------
An ordinary optimizer wrapper consumes gradients that ``loss.backward()`` already left on
the parameters. A *multi* optimizer instead receives the differentiable ``loss`` and a
``{name: unconstrained tensor}`` dict, and calls :func:`torch.autograd.grad` as often as
it needs: once for first-order methods, ``d + 1`` times for a Newton step on
``d``-dimensional blocks. Two entry points:

* :meth:`MultiOptimizer.get_step` returns the updated values *with* their autograd graph,
  so the update itself can be differentiated (e.g. to take a gradient through an inner
  Newton solve);
* :meth:`MultiOptimizer.step` writes the detached updates into the parameters in place.

:class:`PyroMultiOptimizer` and :class:`TorchMultiOptimizer` adapt a first-order
optimizer (``ppl.optim`` wrapper or ``torch.optim`` class) to this interface;
:class:`Newton` takes a (trust-region regularised) Newton step on batched small blocks;
:class:`MixedMultiOptimizer` sends each named parameter to one of several of these.

Example::

    tr = ppl.poutine.trace(model).get_trace()
    loss = -tr.log_prob_sum()
    params = {name: site["value"].unconstrained()
              for name, site in tr.nodes.items() if site["type"] == "param"}
    Newton().step(loss, params)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from ppl.optim.optim import PPLOptimizer, PyroOptim

__all__ = [
    "MultiOptimizer",
    "PyroMultiOptimizer",
    "TorchMultiOptimizer",
    "MixedMultiOptimizer",
    "Newton",
    "newton_step",
]


class MultiOptimizer:
    """Base class: an optimizer given the loss, which it differentiates itself.

    Subclasses implement :meth:`get_step` (or override :meth:`step` when they can only
    update in place, as first-order wrappers do).

    Example:
        >>> x = torch.tensor([3.0], requires_grad=True)
        >>> Newton().step((x - 1.0).pow(2).sum(), {"x": x})
        >>> x
        tensor([1.], requires_grad=True)
    """

    def step(self, loss: torch.Tensor, params: Mapping[str, torch.Tensor]) -> None:
        """Update every tensor of ``params`` in place by one step on ``loss``.

        Args:
            loss: a differentiable scalar to minimise.
            params: ``{name: unconstrained tensor}`` as held by the ParamStore.
        """
        updated = self.get_step(loss, params)
        with torch.no_grad():
            for name, value in params.items():
                # the update may depend on the old value: copy a detached result
                value.copy_(updated[name].detach())

    def get_step(
        self, loss: torch.Tensor, params: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """The updated values of ``params`` after one step, keeping their autograd graph.

        Args:
            loss: a differentiable scalar to minimise.
            params: ``{name: unconstrained tensor}``.

        Returns:
            ``{name: updated tensor}`` with the shapes of ``params``.
        """
        raise NotImplementedError(
            f"{type(self).__name__} updates parameters only in place: call step(), not get_step()"
        )


class PyroMultiOptimizer(MultiOptimizer):
    """Run a ``ppl.optim`` optimizer (e.g. ``ppl.optim.Adam({...})``) as a MultiOptimizer.

    The gradients are computed with ``create_graph=True`` so that later parts of a
    :class:`MixedMultiOptimizer` can still differentiate the same ``loss``.

    Args:
        optim: a :class:`~ppl.optim.PyroOptim` instance.

    Raises:
        TypeError: if ``optim`` is not a ``PyroOptim``.

    Example:
        >>> import ppl
        >>> x = torch.tensor([2.0], requires_grad=True)
        >>> PyroMultiOptimizer(ppl.optim.SGD({"lr": 0.25})).step(x.pow(2).sum(), {"x": x})
        >>> x
        tensor([1.], requires_grad=True)
    """

    def __init__(self, optim: PPLOptimizer) -> None:
        if not isinstance(optim, PyroOptim):
            raise TypeError(
                f"PyroMultiOptimizer: expected a ppl.optim optimizer such as "
                f"ppl.optim.Adam({{'lr': 0.01}}), but got {type(optim).__name__}"
            )
        self.optim = optim

    def step(self, loss: torch.Tensor, params: Mapping[str, torch.Tensor]) -> None:
        names = list(params)
        values = [params[name] for name in names]
        grads = torch.autograd.grad(loss, values, create_graph=True)
        for value, grad in zip(values, grads):
            value.grad = grad.detach()
        self.optim.step(dict(zip(names, values)))


class TorchMultiOptimizer(PyroMultiOptimizer):
    """Run a ``torch.optim`` class with its keyword arguments as a MultiOptimizer.

    Args:
        optim_constructor: a ``torch.optim.Optimizer`` subclass, e.g. ``torch.optim.Adam``.
        optim_args: its keyword arguments, e.g. ``{"lr": 0.01}``.

    Example:
        >>> x = torch.tensor([2.0], requires_grad=True)
        >>> TorchMultiOptimizer(torch.optim.SGD, {"lr": 0.25}).step(x.pow(2).sum(), {"x": x})
        >>> x
        tensor([1.], requires_grad=True)
    """

    def __init__(
        self, optim_constructor: type[torch.optim.Optimizer], optim_args: Mapping[str, Any]
    ) -> None:
        super().__init__(PyroOptim(optim_constructor, optim_args))


class MixedMultiOptimizer(MultiOptimizer):
    """Optimize disjoint groups of named parameters with different optimizers.

    Args:
        parts: ``[(names, optim), ...]``; each ``optim`` is a :class:`MultiOptimizer`
            or a ``ppl.optim`` optimizer (wrapped in :class:`PyroMultiOptimizer`). Every
            parameter passed to :meth:`step` must appear in exactly one ``names``.

    Raises:
        ValueError: if a name is listed under two optimizers.

    Example:
        >>> import ppl
        >>> x = torch.tensor([3.0], requires_grad=True)
        >>> y = torch.tensor([2.0], requires_grad=True)
        >>> opt = MixedMultiOptimizer([(["x"], Newton()), (["y"], ppl.optim.SGD({"lr": 0.25}))])
        >>> opt.step((x - 1).pow(2).sum() + y.pow(2).sum(), {"x": x, "y": y})
        >>> x, y
        (tensor([1.], requires_grad=True), tensor([1.], requires_grad=True))
    """

    def __init__(
        self, parts: Iterable[tuple[Sequence[str], MultiOptimizer | PPLOptimizer]]
    ) -> None:
        owner: dict[str, MultiOptimizer] = {}
        self.parts: list[tuple[Sequence[str], MultiOptimizer]] = []
        for names, optim in parts:
            multi = PyroMultiOptimizer(optim) if isinstance(optim, PPLOptimizer) else optim
            if not isinstance(multi, MultiOptimizer):
                raise TypeError(
                    f"MixedMultiOptimizer: the optimizer for {list(names)} must be a "
                    f"MultiOptimizer or a ppl.optim optimizer, but got {type(optim).__name__}"
                )
            for name in names:
                if name in owner:
                    raise ValueError(
                        f"MixedMultiOptimizer: parameter '{name}' is given to two optimizers "
                        f"({owner[name]!r} and {multi!r}); list each name in one part only"
                    )
                owner[name] = multi
            self.parts.append((names, multi))

    def _select(
        self, params: Mapping[str, torch.Tensor], names: Sequence[str]
    ) -> dict[str, torch.Tensor]:
        missing = [name for name in names if name not in params]
        if missing:
            raise KeyError(
                f"MixedMultiOptimizer: parameters {missing} were not passed; got {sorted(params)}"
            )
        return {name: params[name] for name in names}

    def step(self, loss: torch.Tensor, params: Mapping[str, torch.Tensor]) -> None:
        for names, optim in self.parts:
            optim.step(loss, self._select(params, names))

    def get_step(
        self, loss: torch.Tensor, params: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        updated: dict[str, torch.Tensor] = {}
        for names, optim in self.parts:
            updated.update(optim.get_step(loss, self._select(params, names)))
        return updated


def newton_step(
    loss: torch.Tensor, x: torch.Tensor, trust_radius: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One Newton step on the rightmost dimension of ``x``, batched over the others.

    ``x`` of shape ``batch_shape + (d,)`` is treated as independent ``d``-vectors: the
    loss must be a sum of one term per batch element (cross terms would be folded into
    the diagonal blocks). With ``trust_radius`` the Hessian is shifted by
    ``lam I`` with ``lam = max(0, |g| / r - eig_min(H))``, so ``H + lam I`` is positive
    definite with smallest eigenvalue at least ``|g| / r`` and the step length is at
    most ``r``.

    Args:
        loss: a scalar, twice differentiable in ``x``.
        x: a tensor of shape ``batch_shape + (d,)`` (a 0-dim ``x`` is one 1-vector).
        trust_radius: the largest allowed step norm, or None for a plain Newton step.

    Returns:
        ``(x_new, cov)``: the updated value (differentiable through the gradient and
        Hessian, not through the old ``x``) and the inverse of the (regularised)
        Hessian, of shape ``batch_shape + (d, d)``.

    Raises:
        ValueError: if ``trust_radius`` is not positive.

    Example:
        >>> x = torch.tensor([0.0, 0.0], requires_grad=True)
        >>> loss = (x - torch.tensor([1.0, -2.0])).pow(2).sum()
        >>> newton_step(loss, x)[0]
        tensor([ 1., -2.], grad_fn=<SubBackward0>)
    """
    if trust_radius is not None and not trust_radius > 0:
        raise ValueError(f"newton_step: trust_radius must be positive, got {trust_radius}")
    scalar = x.dim() == 0
    (g,) = torch.autograd.grad(loss, [x], create_graph=True)
    if scalar:
        g = g.reshape(1)
    d = g.shape[-1]
    rows = []
    for i in range(d):
        (row,) = torch.autograd.grad(g[..., i].sum(), [x], create_graph=True)
        rows.append(row.reshape(g.shape))
    H = torch.stack(rows, dim=-2)
    H = 0.5 * (H + H.transpose(-1, -2))
    eye = torch.eye(d, dtype=H.dtype, device=H.device)
    if trust_radius is not None:
        min_eig = torch.linalg.eigvalsh(H.detach())[..., :1]
        shift = (g.norm(dim=-1, keepdim=True) / trust_radius - min_eig).clamp(min=0.0)
        H = H + shift.unsqueeze(-1) * eye
    cov = torch.linalg.inv(H)
    x_new = x.detach().reshape(g.shape) - (cov @ g.unsqueeze(-1)).squeeze(-1)
    return (x_new.reshape(()) if scalar else x_new), cov


class Newton(MultiOptimizer):
    """Newton's method on batched small blocks, optionally within a trust radius.

    Each parameter's rightmost dimension is one block (see :func:`newton_step`); a
    quadratic loss is minimised in one step. :meth:`get_step` is differentiable,
    :meth:`step` writes detached values.

    Args:
        trust_radii: ``{name: radius}``; parameters not named take an unregularised step.

    Example:
        >>> x = torch.tensor([[0.0, 5.0]], requires_grad=True)
        >>> Newton().get_step(x.pow(2).sum(), {"x": x})["x"].detach()  # the exact minimum
        tensor([[0., 0.]])
        >>> Newton(trust_radii={"x": 1.0}).get_step(x.pow(2).sum(), {"x": x})["x"].detach()
        tensor([[0., 4.]])
    """

    def __init__(self, trust_radii: Mapping[str, float] | None = None) -> None:
        self.trust_radii = dict(trust_radii or {})

    def get_step(
        self, loss: torch.Tensor, params: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        return {
            name: newton_step(loss, value, self.trust_radii.get(name))[0]
            for name, value in params.items()
        }
