"""The HMC/NUTS fast path: potential energy and its gradient as one traced graph.

Design notes
------------
Per gradient, an eager HMC step runs the model under ``trace``/``condition`` handlers,
sums log densities and walks the autograd graph backwards; for small models this Python
and autograd overhead, not arithmetic, is the cost. :class:`CompiledPotential` removes it:
the latent sites are laid out in one flat 1-D vector (sites in name order, each
flattened), and ``flat -> (energy, d energy / d flat)`` is traced once with ``make_fx``
(forward and backward ops land in one ATen graph, no handlers and no autograd engine on
later calls), then run by TorchScript's interpreter (``torch.jit.trace`` of the ATen
graph), so a gradient costs no Python per op. The graph is a pure function of the flat
vector; the model's arguments are constants of it.

A traced graph is frozen: Python control flow on latent values happens at trace time
only. So the graph is accepted only after it reproduces the eager energy and gradient at
a second point (the trace point moved by a seeded perturbation, without touching the
global generator); otherwise, or when tracing raises, or when a later call raises, the
potential falls back to eager for good (one ``RuntimeWarning``). A registered exception
handler (:func:`ppl.ops.integrator.register_exception_handler`) sees the eager error, as
without the fast path.

``HMC(..., jit_compile=True)`` and ``NUTS(..., jit_compile=True)`` use it; calling the
object itself (``potential_fn(z)``) stays eager and differentiable, as Pyro's is.

Example:
    >>> import torch
    >>> pe = CompiledPotential(lambda z: 0.5 * (z["x"] ** 2).sum() + z["y"].exp().sum())
    >>> z = {"x": torch.tensor([1.0, -2.0]), "y": torch.tensor(0.0)}
    >>> grads, energy = pe.grad_and_value(z)   # first call: traced and checked
    >>> grads["x"].tolist(), round(float(energy), 4), pe.compiled
    ([1.0, -2.0], 3.5, True)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ppl import settings
from ppl.ops.integrator import _EXCEPTION_HANDLERS, potential_grad

__all__ = ["CompiledPotential"]

Params = dict[str, torch.Tensor]
Layout = tuple[tuple[str, torch.Size, torch.dtype, torch.device], ...]


def _close(a: torch.Tensor, b: torch.Tensor, tol: float) -> bool:
    return torch.allclose(a, b, rtol=tol, atol=tol, equal_nan=True)


def _layout(z: Params) -> Layout:
    return tuple((k, v.shape, v.dtype, v.device) for k, v in sorted(z.items()))


class CompiledPotential:
    """A potential energy ``dict -> scalar`` with a compiled ``grad_and_value``.

    Args:
        potential_fn: the eager potential energy of unconstrained latent values.
        rtol: relative tolerance of the check of the graph against eager mode.
        jit_options: keyword arguments of ``torch.jit.trace`` (Pyro's ``jit_options``;
            ``check_trace`` defaults to False: the graph is checked against eager here).
        skip_jit_warnings: silence the tracer's warnings.

    Attributes:
        compiled: True once a checked graph is in use; False after a fallback (or
            before the first :meth:`grad_and_value`).
    """

    def __init__(
        self,
        potential_fn: Callable[[Params], torch.Tensor],
        rtol: float = 1e-5,
        jit_options: Mapping[str, Any] | None = None,
        skip_jit_warnings: bool = True,
    ):
        self.potential_fn = potential_fn
        self.rtol = rtol
        self.jit_options = {"check_trace": False, **(jit_options or {})}
        self.skip_jit_warnings = skip_jit_warnings
        self._graph: Callable[..., Any] | None = None
        self._fx_graph: Callable[..., Any] | None = None
        self._layout: Layout | None = None
        self._failed = False

    @property
    def compiled(self) -> bool:
        return self._graph is not None and not self._failed

    def __call__(self, z: Params) -> torch.Tensor:
        return self.potential_fn(z)

    # ------------------------------------------------------------------ flat layout
    @staticmethod
    def pack(z: Params) -> torch.Tensor:
        """The values of ``z`` in name order, flattened into one 1-D tensor."""
        return torch.cat([v.reshape(-1) for _, v in sorted(z.items())])

    def unpack(self, flat: torch.Tensor) -> Params:
        """The inverse of :meth:`pack` for this potential's layout (views of ``flat``)."""
        assert self._layout is not None
        out: Params = {}
        start = 0
        for name, shape, _, _ in self._layout:
            n = math.prod(shape)
            out[name] = flat[start : start + n].view(shape)
            start += n
        return out

    def _joint(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.enable_grad():
            leaf = flat if flat.requires_grad else flat.detach().requires_grad_(True)
            energy = self.potential_fn(self.unpack(leaf))
            if not energy.requires_grad:
                return energy.detach(), torch.zeros_like(flat)
            (grad,) = torch.autograd.grad(energy, [leaf], allow_unused=True)
        if grad is None:
            grad = torch.zeros_like(flat)
        return energy.detach(), grad.detach()

    # ------------------------------------------------------------------ build / check
    def _fall_back(self, why: str) -> None:
        self._failed = True
        self._graph = None
        warnings.warn(
            f"HMC/NUTS jit_compile: the potential energy runs eagerly ({why})",
            RuntimeWarning,
            stacklevel=4,
        )

    def _build(self, flat: torch.Tensor) -> None:
        from torch.fx.experimental.proxy_tensor import make_fx

        def joint(flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self._joint(flat)

        static = settings.set_static_tracing(True)
        try:
            devices = [flat.device] if flat.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices), settings.validation_enabled(False):
                graph = make_fx(joint, tracing_mode="real")(flat.detach().clone())
        except Exception as e:
            self._fall_back(f"tracing failed: {type(e).__name__}: {e}")
            return
        finally:
            settings.set_static_tracing(static)
        # the ATen graph runs fastest in TorchScript's interpreter (no Python per op)
        try:
            with torch.no_grad(), warnings.catch_warnings():
                if self.skip_jit_warnings:
                    warnings.simplefilter("ignore")
                scripted = torch.jit.trace(graph, (flat.detach().clone(),), **self.jit_options)
        except Exception:
            scripted = graph
        if self._agrees(scripted, flat):
            self._graph = scripted
            self._fx_graph = graph

    def _agrees(self, graph: Callable[..., Any], flat: torch.Tensor) -> bool:
        """Does ``graph`` match eager mode at ``flat`` and at a point away from it?

        Control flow on values, or values read at trace time, would make a frozen graph
        disagree with the model away from its trace point."""
        gen = torch.Generator().manual_seed(0)
        noise = torch.randn(flat.shape, generator=gen, dtype=flat.dtype).to(flat.device)
        for point in (flat, flat + 0.1 * noise):
            try:
                pe_graph, g_graph = graph(point.detach().clone())
                pe_eager, g_eager = self._joint(point.detach().clone())
            except Exception as e:
                self._fall_back(f"checking the graph raised {type(e).__name__}: {e}")
                return False
            finite = bool(torch.isfinite(pe_eager)) and bool(torch.isfinite(g_eager).all())
            if finite and not (
                torch.allclose(pe_graph, pe_eager, rtol=self.rtol, atol=self.rtol)
                and torch.allclose(g_graph, g_eager, rtol=self.rtol, atol=self.rtol)
            ):
                self._fall_back("the traced graph disagrees with the model away from its trace")
                return False
        return True

    # ------------------------------------------------------------------ evaluation
    def grad_and_value(self, z: Params) -> tuple[Params, torch.Tensor]:
        """``(d energy / d z, energy)`` at ``z`` (detached), through the graph when possible."""
        if self._failed or not z:
            return potential_grad(self.potential_fn, z)
        layout = _layout(z)
        if self._layout != layout:
            if len({(dtype, device) for _, _, dtype, device in layout}) > 1:
                self._fall_back("latent sites of several dtypes or devices share no flat vector")
                return potential_grad(self.potential_fn, z)
            if self._layout is not None:  # a new layout: trace again
                self._graph = None
            self._layout = layout
        flat = self.pack(z).detach()
        if self._graph is None:
            self._build(flat)
            if self._failed:
                return potential_grad(self.potential_fn, z)
        try:
            energy, grad = self._graph(flat)  # type: ignore[misc]
        except Exception as e:
            if any(handler(e) for handler in _EXCEPTION_HANDLERS.values()):
                return potential_grad(self.potential_fn, z)
            self._fall_back(f"the graph raised {type(e).__name__}: {e}")
            return potential_grad(self.potential_fn, z)
        return self.unpack(grad), energy

    def accepts(self, z: Params) -> bool:
        """Is the graph in use, and laid out for sites like ``z``'s (see :meth:`flat_grad`)?"""
        return self.compiled and self._layout == _layout(z)

    def flat_grad(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(d energy / d flat, energy)`` for a flat vector in this potential's layout.

        The graph when possible; eager mode (and :meth:`pack` of its gradients) after a
        fallback or when the graph raises."""
        if self._graph is not None and not self._failed:
            try:
                energy, grad = self._graph(flat)
                return grad, energy
            except Exception as e:
                if not any(handler(e) for handler in _EXCEPTION_HANDLERS.values()):
                    self._fall_back(f"the graph raised {type(e).__name__}: {e}")
        grads, energy = potential_grad(self.potential_fn, self.unpack(flat))
        return self.pack(grads), energy

    def batched_graph(
        self, flat: torch.Tensor
    ) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None:
        """The checked graph mapped over a leading batch dim (vectorized chains), or None.

        ``flat`` is a ``(batch, size)`` example batch in this potential's layout; the
        result maps such a batch to ``(energies (batch,), gradients (batch, size))`` in
        one call. It is ``torch.func.vmap`` of the single-point ATen graph, traced again
        into one ATen graph (a ``torch.fx.GraphModule``, which callers may trace into
        larger graphs or hand to ``torch.jit.trace``), and it is kept only if it agrees,
        row by row, with the single-point graph at ``flat`` (None when that graph is not
        in use, or when mapping, tracing or the check fails)."""
        if not self.compiled or self._fx_graph is None or flat.dim() != 2:
            return None
        from torch.fx.experimental.proxy_tensor import make_fx

        single = self._fx_graph
        example = flat.detach().clone()
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                graph = make_fx(torch.func.vmap(single), tracing_mode="real")(example)
                energy, grad = graph(example)
                for i in range(example.shape[0]):
                    e_i, g_i = single(example[i])
                    if not (_close(energy[i], e_i, self.rtol) and _close(grad[i], g_i, self.rtol)):
                        return None
        except Exception:
            return None
        return graph  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        state = "compiled" if self.compiled else ("eager" if self._failed else "untraced")
        return f"CompiledPotential({state})"
