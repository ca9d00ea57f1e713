"""Launch a script on N local CPU processes with ``torchrun`` (loopback, bounded in time)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loopback_env() -> dict[str, str]:
    """The environment for local CPU workers: one thread each, gloo on the loopback device."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if Path("/sys/class/net/lo").exists():
        env["GLOO_SOCKET_IFNAME"] = "lo"
    return env


def torchrun(script: Path, nproc: int, *args: str, timeout: float = 90.0) -> str:
    """Run ``torchrun --nproc_per_node nproc script args``; return its output, raise on failure.

    The whole process group is killed when ``timeout`` seconds pass.
    """
    cmd = [
        sys.executable, "-m", "torch.distributed.run",
        "--nnodes", "1", "--nproc_per_node", str(nproc),
        "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
        str(script), *args,
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd,
        env=loopback_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        raise RuntimeError(f"torchrun timed out after {timeout} s:\n{output[-4000:]}") from None
    if proc.returncode != 0:
        raise RuntimeError(f"torchrun failed with code {proc.returncode}:\n{output[-4000:]}")
    return output
