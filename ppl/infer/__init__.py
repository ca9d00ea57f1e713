"""Inference: ELBOs, ``SVI``, ``Predictive``, autoguides, SVGD, the ``fit`` API, checkpoints.

Names are Pyro's (``from ppl.infer import SVI, Trace_ELBO, Predictive``). Each name is
imported from its module on first use, so ``import ppl.infer`` stays cheap and one
optional piece (e.g. plotting in a tutorial) never slows down another.

Example:
    >>> from ppl.infer import SVI, Trace_ELBO
    >>> Trace_ELBO(num_particles=2).num_particles
    2
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> module (relative to this package) that defines it
_EXPORTS: dict[str, str] = {
    "ELBO": ".elbo",
    "Trace_ELBO": ".trace_elbo",
    "JitTrace_ELBO": ".compile.estimators",
    "JitTraceMeanField_ELBO": ".compile.estimators",
    "CompiledTrace_ELBO": ".compile.estimators",
    "CompiledTraceMeanField_ELBO": ".compile.estimators",
    "JitTraceGraph_ELBO": ".compile.estimators",
    "CompiledTraceGraph_ELBO": ".compile.estimators",
    "TraceMeanField_ELBO": ".trace_mean_field_elbo",
    "TraceGraph_ELBO": ".tracegraph_elbo",
    "SVI": ".svi",
    "SVIRunResult": ".svi",
    "NonFiniteLossError": ".svi",
    "register_nan_policy": ".svi",
    "Predictive": ".predictive",
    "SVGD": ".svgd",
    "RBFSteinKernel": ".kernels",
    "IMQSteinKernel": ".kernels",
    "CheckParametersConvergence": ".callbacks",
    "CheckLossConvergence": ".callbacks",
    "Tracker": ".callbacks",
    "save_checkpoint": ".checkpoint",
    "load_checkpoint": ".checkpoint",
    "Checkpoint": ".checkpoint",
    "LoadReport": ".checkpoint",
    "CheckpointMismatchError": ".checkpoint",
    "RollbackPolicy": ".nan_policy",
    "scale_learning_rate": ".nan_policy",
    "AutoGuide": ".autoguide",
    "AutoContinuous": ".autoguide",
    "AutoDelta": ".autoguide",
    "AutoNormal": ".autoguide",
    "AutoDiagonalNormal": ".autoguide",
    "AutoMultivariateNormal": ".autoguide",
    "AutoLowRankMultivariateNormal": ".autoguide",
    "AutoLaplaceApproximation": ".autoguide",
    "AutoGuideList": ".autoguide",
    "AutoCallable": ".autoguide",
    "AutoNormalizingFlow": ".autoguide",
    "AutoIAFNormal": ".autoguide",
    "init_to_feasible": ".autoguide",
    "init_to_mean": ".autoguide",
    "init_to_median": ".autoguide",
    "init_to_sample": ".autoguide",
    "init_to_uniform": ".autoguide",
    "init_to_value": ".autoguide",
    "init_to_generated": ".autoguide",
    "fit": ".vi",
    "ADVI": ".vi",
    "FullRankADVI": ".vi",
    "SVGDInference": ".vi",
    "MAP": ".vi",
    "Laplace": ".vi",
    "Empirical": ".vi",
    "Approximation": ".vi",
    # MCMC
    "MCMC": ".mcmc",
    "HMC": ".mcmc",
    "NUTS": ".mcmc",
    "RandomWalkKernel": ".mcmc",
}
_SUBMODULES: tuple[str, ...] = (
    "autoguide",
    "mcmc",
    "vi",
    "checkpoint",
    "callbacks",
    "compile",
    "kernels",
    "loop",
    "nan_policy",
    "step",
    "util",
)

# --- enumeration (appended block) ---
_EXPORTS.update(
    {
        "TraceEnum_ELBO": ".traceenum_elbo",
        "config_enumerate": ".enum",
        "infer_discrete": ".discrete",
    }
)
_SUBMODULES = _SUBMODULES + ("enum", "traceenum_elbo", "discrete")
_SUBMODULES = _SUBMODULES + ("reparam",)  # reparameterizers (appended line)

# --- sampling-based inference (appended block) ---
_EXPORTS.update(
    {
        "TracePosterior": ".abstract_infer",
        "TracePredictive": ".abstract_infer",
        "EmpiricalMarginal": ".abstract_infer",
        "Importance": ".importance",
        "CSIS": ".csis",
        "SMCFilter": ".smcfilter",
        "WeighedPredictive": ".predictive",
        "WeighedPredictiveResults": ".predictive",
        "MHResampler": ".predictive",
        "Resampler": ".resampler",
    }
)
_SUBMODULES = _SUBMODULES + ("abstract_infer", "importance", "csis", "smcfilter", "resampler")

# --- ELBO family (appended block) ---
_EXPORTS.update(
    {
        "JitTraceEnum_ELBO": ".compile.estimators",
        "CompiledTraceEnum_ELBO": ".compile.estimators",
        "RenyiELBO": ".renyi_elbo",
        "TraceTailAdaptive_ELBO": ".trace_tail_adaptive_elbo",
        "ReweightedWakeSleep": ".rws",
        "EnergyDistance": ".energy_distance",
        "Trace_MMD": ".trace_mmd",
    }
)
_SUBMODULES = _SUBMODULES + (
    "renyi_elbo",
    "trace_tail_adaptive_elbo",
    "rws",
    "energy_distance",
    "trace_mmd",
    "trace_elbo",
    "tracegraph_elbo",
    "trace_mean_field_elbo",
)

# --- enumeration conformance (appended block) ---
_EXPORTS.update(
    {
        "TraceTMC_ELBO": ".tracetmc_elbo",
        "TraceEnumSample_ELBO": ".discrete",
        "JitTraceTMC_ELBO": ".compile.estimators",
    }
)
_SUBMODULES = _SUBMODULES + ("tracetmc_elbo",)

# --- mcmc2: ArviZ export (appended block) ---
_EXPORTS.update({"to_inference_data": ".arviz"})
_SUBMODULES = _SUBMODULES + ("arviz",)

# --- model inspection and rendering (appended block) ---
_SUBMODULES = _SUBMODULES + ("inspect",)  # pyro.infer.inspect; ppl.render_model at top level

__all__ = sorted(_EXPORTS) + list(_SUBMODULES)

if TYPE_CHECKING:  # let type checkers and IDEs see the real objects
    from .autoguide import (
        AutoCallable,
        AutoContinuous,
        AutoDelta,
        AutoDiagonalNormal,
        AutoGuide,
        AutoGuideList,
        AutoIAFNormal,
        AutoLaplaceApproximation,
        AutoLowRankMultivariateNormal,
        AutoMultivariateNormal,
        AutoNormal,
        AutoNormalizingFlow,
        init_to_feasible,
        init_to_generated,
        init_to_mean,
        init_to_median,
        init_to_sample,
        init_to_uniform,
        init_to_value,
    )
    from .callbacks import CheckLossConvergence, CheckParametersConvergence, Tracker
    from .checkpoint import (
        Checkpoint,
        CheckpointMismatchError,
        LoadReport,
        load_checkpoint,
        save_checkpoint,
    )
    from .compile.estimators import (
        CompiledTrace_ELBO,
        CompiledTraceGraph_ELBO,
        CompiledTraceMeanField_ELBO,
        JitTrace_ELBO,
        JitTraceGraph_ELBO,
        JitTraceMeanField_ELBO,
    )
    from .elbo import ELBO
    from .kernels import IMQSteinKernel, RBFSteinKernel
    from .mcmc import HMC, MCMC, NUTS, RandomWalkKernel
    from .nan_policy import RollbackPolicy, scale_learning_rate
    from .predictive import Predictive
    from .svgd import SVGD
    from .svi import SVI, NonFiniteLossError, SVIRunResult, register_nan_policy
    from .trace_elbo import Trace_ELBO
    from .trace_mean_field_elbo import TraceMeanField_ELBO
    from .tracegraph_elbo import TraceGraph_ELBO
    from .vi import (
        ADVI,
        MAP,
        Approximation,
        Empirical,
        FullRankADVI,
        Laplace,
        SVGDInference,
        fit,
    )

if TYPE_CHECKING:  # enumeration (appended block)
    from .discrete import infer_discrete
    from .enum import config_enumerate
    from .traceenum_elbo import TraceEnum_ELBO

if TYPE_CHECKING:  # sampling-based inference (appended block)
    from .abstract_infer import EmpiricalMarginal, TracePosterior, TracePredictive
    from .csis import CSIS
    from .importance import Importance
    from .predictive import MHResampler, WeighedPredictive, WeighedPredictiveResults
    from .resampler import Resampler
    from .smcfilter import SMCFilter

if TYPE_CHECKING:  # ELBO family (appended block)
    from .compile.estimators import CompiledTraceEnum_ELBO, JitTraceEnum_ELBO
    from .energy_distance import EnergyDistance
    from .renyi_elbo import RenyiELBO
    from .rws import ReweightedWakeSleep
    from .trace_mmd import Trace_MMD
    from .trace_tail_adaptive_elbo import TraceTailAdaptive_ELBO

if TYPE_CHECKING:  # enumeration conformance (appended block)
    from .compile.estimators import JitTraceTMC_ELBO
    from .discrete import TraceEnumSample_ELBO
    from .tracetmc_elbo import TraceTMC_ELBO


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
