"""``logging.getLogger("pyro")`` is set up at import as Pyro sets it up."""

import logging
import subprocess
import sys


def test_pyro_logger_has_pyros_handler_in_a_fresh_process():
    # a fresh interpreter: no root handler configured, as in a script
    code = (
        "import logging, ppl\n"
        "log = logging.getLogger('pyro')\n"
        "h = log.handlers[0]\n"
        "h.setLevel(logging.DEBUG)\n"  # what the CEVAE example does
        "print(log.level, len(log.handlers), log.propagate, h.formatter._fmt)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    level, count, propagate, fmt = out.stdout.strip().split(" ", 3)
    assert int(level) == logging.INFO and count == "1" and propagate == "False"
    assert fmt == "%(levelname)s \t %(message)s"


def test_a_configured_root_logger_gets_no_extra_handler():
    code = (
        "import logging\n"
        "logging.basicConfig()\n"
        "import ppl\n"
        "log = logging.getLogger('pyro')\n"
        "print(len(log.handlers), log.propagate)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "True"]
