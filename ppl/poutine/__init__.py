"""Effect handlers (Pyro's ``poutine``): each module holds one handler.

Read ``runtime.py`` then ``messenger.py`` to see how a ``ppl.sample`` statement
reaches a handler; every other module is one short handler.
"""

from .. import settings as _settings
from . import handlers, util  # Pyro's submodule attributes
from .block_messenger import BlockMessenger, block
from .condition_messenger import ConditionMessenger, condition
from .do_messenger import DoMessenger, do
from .equalize_messenger import EqualizeMessenger, equalize
from .escape_messenger import EscapeMessenger, NonlocalExit, escape
from .handlers import queue
from .infer_config_messenger import InferConfigMessenger, infer_config
from .lift_messenger import LiftMessenger, lift
from .markov_messenger import MarkovMessenger, markov
from .mask_messenger import MaskMessenger, get_mask, mask
from .messenger import HandledFunction, Messenger
from .plate_messenger import BroadcastMessenger, PlateMessenger, broadcast
from .replay_messenger import ReplayMessenger, replay
from .runtime import CondIndepStackFrame, Message, am_i_wrapped, apply_stack
from .scale_messenger import ScaleMessenger, scale
from .seed_messenger import SeedMessenger, seed
from .substitute_messenger import SubstituteMessenger, substitute
from .trace_messenger import TraceHandler, TraceMessenger, trace
from .trace_struct import DuplicateSiteError, Trace
from .uncondition_messenger import UnconditionMessenger, uncondition

is_validation_enabled = _settings.is_validation_enabled
enable_validation = _settings.enable_validation

__all__ = [
    "BlockMessenger",
    "BroadcastMessenger",
    "CondIndepStackFrame",
    "ConditionMessenger",
    "DoMessenger",
    "DuplicateSiteError",
    "EqualizeMessenger",
    "EscapeMessenger",
    "HandledFunction",
    "InferConfigMessenger",
    "LiftMessenger",
    "MarkovMessenger",
    "MaskMessenger",
    "Message",
    "Messenger",
    "NonlocalExit",
    "PlateMessenger",
    "ReplayMessenger",
    "ScaleMessenger",
    "SeedMessenger",
    "SubstituteMessenger",
    "Trace",
    "TraceHandler",
    "TraceMessenger",
    "UnconditionMessenger",
    "am_i_wrapped",
    "apply_stack",
    "block",
    "broadcast",
    "condition",
    "do",
    "enable_validation",
    "equalize",
    "escape",
    "get_mask",
    "infer_config",
    "is_validation_enabled",
    "lift",
    "markov",
    "mask",
    "queue",
    "replay",
    "scale",
    "seed",
    "substitute",
    "trace",
    "uncondition",
]

# --- enumeration (appended block) ---------------------------------------------------
from .enum_messenger import EnumMessenger, enum  # noqa: E402

__all__ += ["EnumMessenger", "enum", "queue"]

# --- reparameterization (appended block) ----------------------------------------------
from .reparam_messenger import ReparamHandler, ReparamMessenger, reparam  # noqa: E402

__all__ += ["ReparamHandler", "ReparamMessenger", "reparam"]
