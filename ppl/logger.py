"""The ``"pyro"`` logger, set up at import as Pyro 1.9 sets it up (``pyro.logger``).

Pyro scripts reach it by name and change its handler, e.g. the CEVAE example's
``logging.getLogger("pyro").handlers[0].setLevel(logging.DEBUG)``, so ppl gives that
logger what Pyro gives it: level INFO and, when the application has configured no root
handler, one stream handler (INFO, ``LEVEL <tab> message``) with propagation off, so
messages are printed once. If the logger already has handlers (real Pyro imported in the
same process), nothing is added. ppl's own modules log under ``"ppl"`` children
(``logging.getLogger(__name__)``), which propagate to the root as usual.

Example:
    >>> import logging
    >>> from ppl.logger import log
    >>> log.name, log.level == logging.INFO
    ('pyro', True)
"""

from __future__ import annotations

import logging

__all__ = ["default_format", "log"]

default_format = "%(levelname)s \t %(message)s"
log = logging.getLogger("pyro")
log.setLevel(logging.INFO)

if not logging.root.handlers and not log.handlers:
    _handler = logging.StreamHandler()
    _handler.setLevel(logging.INFO)
    _handler.setFormatter(logging.Formatter(default_format))
    log.addHandler(_handler)
    log.propagate = False
