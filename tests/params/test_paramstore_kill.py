"""A process killed at random moments while saving never leaves an unloadable file.

One helper process imports torch once, then for each round forks a saver that writes an
8 MB store to the same file in a loop, and SIGKILLs it after a random delay. The test
loads the file after every kill: it must hold one complete snapshot of that round.
"""

import os
import subprocess
import sys

import pytest

from ppl.params.param_store import ParamStoreDict

ROUNDS = 6

_CHILD = r"""
import os, random, signal, sys, time
import torch
from ppl.params.param_store import ParamStoreDict

path, rounds, rng = sys.argv[1], int(sys.argv[2]), random.Random(0)
for r in range(rounds):
    ready, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the saver: snapshot k of round r holds r * 1000 + k everywhere
        torch.set_num_threads(1)
        store = ParamStoreDict()
        for k in range(1000):
            for i in range(8):
                store[f"p{i}"] = torch.full((250_000,), float(r * 1000 + k))
            store.save(path)
            if k == 0:
                os.write(ready_w, b"x")
        os._exit(0)
    os.read(ready, 1)  # one save of this round is complete
    time.sleep(rng.uniform(0.0, 0.25))
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    print(r, flush=True)
    sys.stdin.readline()  # the test has checked the file
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_killed_saves_always_leave_a_complete_snapshot(tmp_path):
    path = tmp_path / "params.pt"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path), str(ROUNDS)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        for r in range(ROUNDS):
            assert child.stdout.readline().strip() == str(r)
            store = ParamStoreDict()
            store.load(path)
            first = store["p0"].detach()
            value = float(first[0])
            assert value // 1000 == r  # a snapshot written in this round
            for i in range(8):  # one snapshot, never a mix of two
                assert bool((store[f"p{i}"].detach() == value).all())
            child.stdin.write("\n")
            child.stdin.flush()
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
