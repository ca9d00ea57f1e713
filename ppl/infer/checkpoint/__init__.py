"""Training checkpoints: everything an ``SVI`` run needs to continue exactly, in one file.

Three modules: :mod:`~ppl.infer.checkpoint.state` (capture and restore, in memory),
:mod:`~ppl.infer.checkpoint.files` (the file), :mod:`~ppl.infer.checkpoint.callback`
(``Checkpoint``, saving every N steps).

Design notes
------------
* **What is saved.** A checkpoint composes the ``state_dict()`` of every stateful piece
  into one payload: the global ParamStore (unconstrained tensors and constraint
  descriptors), the optimizer wrapper (state keyed by parameter name, param groups,
  the LR scheduler's state), the ``SVI`` object (step count, loss history, the cached
  plate nesting of its ELBO), the random number generators (torch CPU, every CUDA
  device, Python ``random``, numpy) and the user's ``extra`` plain data. Nothing is
  pickled as code: the file is written by :func:`ppl.params.safe_file.atomic_save` (a
  temporary file, ``fsync``, ``os.replace``: a crash leaves the old checkpoint intact)
  and read by :func:`ppl.params.safe_file.safe_load` (``torch.load(weights_only=True)``,
  CRC check, a versioned header refusing foreign and newer files, errors naming the
  file). There is one mechanism for safe files in ppl and this module only uses it.
* **Exact resume.** Training ``2N`` steps straight and training ``N`` steps, saving,
  loading in a new process and training ``N`` more give bit-identical parameters and
  losses on CPU. The recipe in the new process: build the model, guide, optimizer and
  ``SVI`` exactly as before, *then* call :func:`load_checkpoint`, then train. Anything
  that draws random numbers while being built (an autoguide's ``setup`` with
  ``init_to_median``/``init_to_sample``) happens before the RNG state is restored, so
  it does not shift the random stream of the resumed steps.
* **All or nothing.** :func:`load_checkpoint` reads and validates the whole file before
  anything is touched: the parameters are decoded into a scratch ``ParamStoreDict``
  (which runs every check of the real store) and compared with the live store. The
  pieces are then applied one after another with a snapshot of the previous state; if
  one of them still refuses (e.g. the optimizer was saved from another class), the
  snapshot is put back, so a failed load changes nothing and the error names the file.
* **strict.** ``strict=True`` (the default) requires the checkpoint to fit: every
  parameter already in the store must be in the file with the same shape and
  constraint, and the optimizer, SVI and RNG states must load. Parameters in the file
  but not yet in the store are added (the usual case when resuming in a new process,
  before the guide has run). ``strict=False`` restores what fits and returns a
  :class:`LoadReport` listing what did not.
* **Devices.** ``map_location`` is handed to ``torch.load``: ``"cpu"`` loads a
  checkpoint written on a GPU on a machine without one. Tensors keep their saved dtype;
  optimizer state then follows its parameter's device and dtype.
* **Distributed runs.** Only the main process (global rank 0, or a run without a
  process group) writes; every rank can load. The test is made here with
  ``torch.distributed`` itself because ``ppl.infer`` sits below ``ppl.distributed`` in
  the import layers (its ``is_main_process`` asks the same question).
"""

from .callback import Checkpoint, add_save_listener
from .files import FILE_KIND, FILE_VERSION, is_writer, load_checkpoint, save_checkpoint
from .state import CheckpointMismatchError, LoadReport, capture_state, restore_state

__all__ = [
    "Checkpoint",
    "CheckpointMismatchError",
    "FILE_KIND",
    "FILE_VERSION",
    "LoadReport",
    "add_save_listener",
    "capture_state",
    "is_writer",
    "load_checkpoint",
    "restore_state",
    "save_checkpoint",
]
