"""Parameters: the global ParamStore, the constraint codec, safe parameter files and flat views."""

from ppl.params.constraint_codec import register as register_constraint
from ppl.params.flat import (
    bound_spectral_radius,
    empty_with_views,
    flatten_grads,
    flatten_params,
    orthogonal,
    randomize_normal,
    randomize_uniform,
    shaped_from_flat,
    unflatten_params,
)
from ppl.params.param_store import (
    ParamStoreDict,
    StateDict,
    clear_param_store,
    get_param_store,
    module_from_param_with_module_name,
    normalize_param_name,
    param_transform,
    param_with_module_name,
    user_param_name,
)
from ppl.params.safe_file import (
    CorruptFileError,
    FileVersionError,
    ForeignFileError,
    SafeFileError,
    UnsafeFileError,
    atomic_save,
    safe_load,
)

__all__ = [
    "bound_spectral_radius",
    "empty_with_views",
    "flatten_grads",
    "flatten_params",
    "orthogonal",
    "randomize_normal",
    "randomize_uniform",
    "shaped_from_flat",
    "unflatten_params",
    "CorruptFileError",
    "FileVersionError",
    "ForeignFileError",
    "ParamStoreDict",
    "SafeFileError",
    "StateDict",
    "UnsafeFileError",
    "atomic_save",
    "clear_param_store",
    "get_param_store",
    "module_from_param_with_module_name",
    "normalize_param_name",
    "param_transform",
    "param_with_module_name",
    "register_constraint",
    "safe_load",
    "user_param_name",
]
