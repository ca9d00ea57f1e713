"""``Parameterized``: a ``PyroModule`` whose priors get automatic guides.

Design notes
------------
A GP's hyperparameters are module attributes. A ``PyroParam`` attribute is a point
estimate; assigning ``PyroSample(prior)`` makes it random. ``Parameterized`` then
records the prior and builds a guide for it on the module itself (a ``Delta`` at a
learnable point by default, or a ``Normal``/``MultivariateNormal`` in unconstrained
space via :meth:`Parameterized.autoguide`). The attribute is re-declared as a
``PyroSample`` whose distribution depends on the module's ``mode``:

* ``"model"``: the prior;
* ``"guide"``: the guide (for a constrained support, a Normal sample in unconstrained
  space at the auxiliary site ``<name>_latent``, pushed through ``biject_to(support)``
  and scored with its log-Jacobian, so the site ``<name>`` still has the prior's
  support).

GP models switch the mode of their whole tree in ``model()``/``guide()``/``forward``
with :meth:`set_mode`, so one attribute read works in both programs.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from functools import partial
from typing import Any

import torch
from torch.distributions import biject_to, constraints
from torch.nn import Parameter

import ppl
import ppl.distributions as dist
from ppl.nn import PyroModule, PyroParam, PyroSample, pyro_method

__all__ = ["Parameterized"]

_GUIDE_ARGS = {
    dist.Delta: ("map",),
    dist.Normal: ("loc", "scale"),
    dist.MultivariateNormal: ("loc", "scale_tril"),
}


def positive_param(value: torch.Tensor) -> PyroParam:
    """``PyroParam(value, constraints.positive)`` for a kernel, likelihood or noise scale.

    An integer tensor (``lengthscale=torch.tensor(1)``, as Pyro's ``gp`` tutorial
    writes) becomes the default floating dtype: in Pyro the positive bijection's
    ``log`` makes that conversion implicitly, so such code trains the same here.

    Example:
        >>> positive_param(torch.tensor(2)).init_value.dtype == torch.get_default_dtype()
        True
    """
    if isinstance(value, torch.Tensor) and not (value.is_floating_point() or value.is_complex()):
        value = value.to(torch.get_default_dtype())
    return PyroParam(value, constraints.positive)


def _is_real_support(support: constraints.Constraint) -> bool:
    while isinstance(support, constraints.independent):
        support = support.base_constraint
    return support is constraints.real or support is constraints.real_vector


def _mode_dependent_prior(module: Parameterized, name: str) -> Any:
    """The distribution of attribute ``name``: its prior or its guide, by ``module.mode``."""
    prior = module._priors[name]
    if module.mode == "model":
        return prior
    constructor, arg_names = module._guides[name]
    if constructor is dist.Delta:
        point = getattr(module, f"{name}_map")
        return dist.Delta(point, event_dim=point.dim())
    guide = constructor(**{arg: getattr(module, f"{name}_{arg}") for arg in arg_names})
    if _is_real_support(prior.support):
        return guide.to_event()
    latent = ppl.sample(
        module._pyro_get_fullname(f"{name}_latent"),
        guide.to_event(),
        infer={"is_auxiliary": True},
    )
    transform = biject_to(prior.support)
    value = transform(latent)
    log_density = transform.inv.log_abs_det_jacobian(value, latent).sum()
    return dist.Delta(value, log_density, event_dim=value.dim())


class Parameterized(PyroModule):
    """A ``PyroModule`` whose ``PyroSample`` attributes get automatic guides.

    Assigning ``self.x = PyroSample(prior)`` (``prior`` a distribution) registers the
    prior and a ``Delta`` guide at a learnable point ``x_map``; :meth:`autoguide`
    switches to a ``Normal`` or ``MultivariateNormal`` guide; :meth:`set_mode` chooses
    whether reads of ``x`` draw from the prior (``"model"``) or the guide (``"guide"``).

    Example:
        >>> import torch, ppl.distributions as dist
        >>> from ppl.nn import PyroSample
        >>> lin = Parameterized()
        >>> lin.b = PyroSample(dist.Normal(0.0, 1.0))
        >>> lin.autoguide("b", dist.Normal)
        >>> sorted(n for n, _ in lin.named_parameters())
        ['b_loc', 'b_scale_unconstrained']
    """

    def __init__(self) -> None:
        super().__init__()
        self._priors: OrderedDict[str, Any] = OrderedDict()
        self._guides: OrderedDict[str, tuple[Any, tuple[str, ...]]] = OrderedDict()
        self.__dict__["_mode"] = "model"

    def set_prior(self, name: str, prior: Any) -> None:
        """Deprecated: same as ``self.<name> = PyroSample(prior)``.

        Raises:
            ValueError: ``name`` is not an attribute (parameter, sample or plain value)
                of this module.
        """
        warnings.warn(
            f"`self.set_prior({name!r}, prior)` is deprecated; write "
            f"`self.{name} = PyroSample(prior)` instead",
            UserWarning,
            stacklevel=2,
        )
        known = (
            name in self._pyro_params
            or name in self._pyro_samples
            or name in self._parameters
            or name in self.__dict__
        )
        if not known:
            names = sorted(set(self._pyro_params) | set(self._pyro_samples) | set(self._parameters))
            raise ValueError(
                f"{type(self).__name__}.set_prior: {name!r} is not a parameter of this "
                f"module; known parameters are {names}"
            )
        setattr(self, name, PyroSample(prior))

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "mode":  # a property of plain state; called on every model/guide run
            object.__setattr__(self, name, value)
            return
        if isinstance(value, PyroSample) and isinstance(
            value.prior, torch.distributions.Distribution
        ):
            self._priors[name] = value.prior
            self.autoguide(name, dist.Delta)
            value = PyroSample(partial(_mode_dependent_prior, name=name))
        super().__setattr__(name, value)

    def autoguide(self, name: str, dist_constructor: Any) -> None:
        """Give the random attribute ``name`` a guide of family ``dist_constructor``.

        Args:
            name: an attribute previously assigned ``PyroSample(prior)``.
            dist_constructor: ``dist.Delta`` (MAP), ``dist.Normal`` (mean field) or
                ``dist.MultivariateNormal``; the latter two live in unconstrained space.
                The guide starts at a draw from the prior.

        Raises:
            ValueError: ``name`` has no prior.
            NotImplementedError: another guide family.
        """
        if name not in self._priors:
            raise ValueError(
                f"{type(self).__name__}.autoguide: {name!r} has no prior; assign "
                f"self.{name} = PyroSample(prior) first"
            )
        if dist_constructor not in _GUIDE_ARGS:
            raise NotImplementedError(
                f"{type(self).__name__}.autoguide: unsupported guide {dist_constructor!r}; "
                "use dist.Delta, dist.Normal or dist.MultivariateNormal"
            )
        if name in self._guides:
            for arg in self._guides[name][1]:
                delattr(self, f"{name}_{arg}")
        prior = self._priors[name]
        init = prior.sample().detach()
        if dist_constructor is dist.Delta:
            if _is_real_support(prior.support):
                setattr(self, f"{name}_map", Parameter(init))
            else:
                setattr(self, f"{name}_map", PyroParam(init, prior.support))
        else:
            loc = Parameter(biject_to(prior.support).inv(init).detach())
            setattr(self, f"{name}_loc", loc)
            if dist_constructor is dist.Normal:
                setattr(
                    self, f"{name}_scale", PyroParam(torch.ones_like(loc), constraints.positive)
                )
            else:
                eye = torch.eye(loc.size(-1), dtype=loc.dtype, device=loc.device)
                scale_tril = eye.expand(loc.shape[:-1] + eye.shape).clone()
                setattr(
                    self, f"{name}_scale_tril", PyroParam(scale_tril, constraints.lower_cholesky)
                )
        self._guides[name] = (dist_constructor, _GUIDE_ARGS[dist_constructor])

    @pyro_method
    def _load_pyro_samples(self) -> None:
        """Read every ``PyroSample`` attribute of the tree (emits their sample sites)."""
        for module in self.modules():
            samples = module.__dict__.get("_pyro_samples")
            if samples:
                for name in list(samples):
                    getattr(module, name)

    def set_mode(self, mode: str) -> None:
        """Set ``mode`` (``"model"`` or ``"guide"``) on every ``Parameterized`` in the tree.

        Raises:
            ValueError: another mode.
        """
        for module in self.modules():
            if isinstance(module, Parameterized):
                object.__setattr__(module, "mode", mode)

    @property
    def mode(self) -> str:
        """``"model"`` (priors) or ``"guide"`` (guides) for random attributes."""
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        if mode not in ("model", "guide"):
            raise ValueError(
                f"{type(self).__name__}.mode: expected 'model' or 'guide', got {mode!r}"
            )
        self.__dict__["_mode"] = mode  # plain state: skip PyroModule's attribute machinery
