"""scripts/train.py: built-in models train, resume exactly, and survive being killed."""

import importlib.util
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("ppl_train_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


train = _load_script()
QUIET = ["--no-progress", "--samples", "200"]


def test_coin_flip_posterior_mean():
    out = train.main(["--model", "coin", "--steps", "600", "--lr", "0.05", *QUIET])
    assert out["step"] == 600 and len(out["losses"]) == 600
    # exact posterior Beta(16, 14): mean 0.5333
    assert abs(float(out["means"]["latent_fairness"]) - 16 / 30) < 0.03


def test_logreg_recovers_the_weights(capsys):
    out = train.main(["--steps", "400", "--lr", "0.05", *QUIET])
    w = out["means"]["w"]
    truth = torch.tensor([1.5, -2.0, 0.5, 0.0, 1.0])
    assert (w - truth).abs().max() < 0.35, w
    text = capsys.readouterr().out
    assert "posterior means:" in text and "(truth:" in text


@pytest.mark.parametrize(
    "guide", ["AutoNormal", "AutoDiagonalNormal", "AutoMultivariateNormal", "AutoDelta"]
)
def test_every_guide_trains_eight_schools(guide):
    out = train.main(["--model", "eight_schools", "--guide", guide, "--steps", "30", *QUIET])
    assert out["step"] == 30 and bool(torch.isfinite(out["losses"]).all())
    assert out["means"]["theta_tilde"].shape == (8,)
    assert float(out["losses"][-5:].mean()) < float(out["losses"][:5].mean())


def test_resume_equals_uninterrupted_run(tmp_path):
    base = ["--model", "logreg", "--steps", "30", "--checkpoint-every", "7", *QUIET]
    straight = train.main(base)
    path = str(tmp_path / "c.pt")
    first = train.main([*base, "--checkpoint", path, "--stop-after", "13"])
    assert first["step"] == 13
    resumed = train.main([*base, "--checkpoint", path, "--resume"])
    assert resumed["resumed_from"] == 13 and resumed["step"] == 30
    assert torch.equal(resumed["losses"], straight["losses"])
    for name, value in straight["params"].items():
        assert torch.equal(resumed["params"][name], value), name
    again = train.main([*base, "--checkpoint", path, "--resume"])  # already done: no step
    assert again["resumed_from"] == 30 and torch.equal(again["losses"], straight["losses"])


# the reference runs in this process with conftest's one torch thread; a child with more
# threads may sum in another order, so bit-for-bit comparisons need the same count
_SAME_THREADS = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _run_until_killed(cmd, path, rng, timeout=60.0):
    """Start ``cmd``; once it has written ``path`` anew, kill it at a random moment."""
    before = path.stat().st_mtime_ns if path.exists() else None
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_SAME_THREADS
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists() and path.stat().st_mtime_ns != before:
            break
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.4))
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def test_killed_runs_always_resume_from_a_valid_checkpoint(tmp_path):
    steps = 400
    args = ["--model", "logreg", "--steps", str(steps), "--checkpoint-every", "1", *QUIET]
    reference = train.main(args)
    path = tmp_path / "run.pt"
    cmd = [sys.executable, str(SCRIPT), *args, "--checkpoint", str(path), "--resume"]
    rng = random.Random(2024)
    resumed_at = [0]
    for _ in range(2):
        code, out = _run_until_killed(cmd, path, rng)
        found = re.search(r"resumed from .* at step (\d+)", out)
        if found:
            resumed_at.append(int(found.group(1)))
        if code == 0:  # finished before the kill: nothing more to interrupt
            break
        assert code == -signal.SIGKILL, out
    final = subprocess.run(
        cmd, capture_output=True, text=True, timeout=120, check=True, env=_SAME_THREADS
    )
    step = int(re.search(r"resumed from .* at step (\d+)", final.stdout).group(1))
    resumed_at.append(step)
    assert resumed_at == sorted(resumed_at) and step > 0  # never went back, never lost the file
    assert f"done: {steps} steps" in final.stdout
    assert os.listdir(tmp_path) == ["run.pt"]  # temporary files of killed saves are gone
    # the checkpoint written at the end equals the uninterrupted run, bit for bit
    from ppl.params.safe_file import safe_load

    payload = safe_load(path, "cpu", kind="ppl.checkpoint")
    assert payload["svi"]["step_count"] == steps
    for name, value in reference["params"].items():
        saved = payload["param_store"]["params"][name]
        assert torch.equal(saved, value), name


def test_plot_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    plot = tmp_path / "loss.png"
    train.main(["--model", "coin", "--steps", "20", "--plot", str(plot), *QUIET])
    assert plot.stat().st_size > 1000


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--resume"], "--resume needs --checkpoint PATH"),
        (["--steps", "0"], "--steps must be >= 1, got 0"),
        (["--lr", "-1"], "--lr must be a positive number"),
        (["--checkpoint", "/no/such/folder/c.pt"], "folder /no/such/folder does not exist"),
        (["--stop-after", "0"], "--stop-after must be >= 1, got 0"),
        (["--checkpoint-every", "0"], "--checkpoint-every must be >= 1, got 0"),
        (["--lr-decay", "2"], "--lr-decay must be in (0, 1], got 2.0"),
    ],
)
def test_argument_errors(argv, message, capsys):
    with pytest.raises(SystemExit):
        train.main(argv)
    assert message in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_cuda_without_gpu_is_refused(capsys):
    with pytest.raises(SystemExit):
        train.main(["--device", "cuda"])
    assert "CUDA is not available" in capsys.readouterr().err


def test_resume_with_another_model_is_refused(tmp_path, capsys):
    path = str(tmp_path / "c.pt")
    train.main(["--model", "coin", "--steps", "5", "--checkpoint", path, *QUIET])
    with pytest.raises(SystemExit):
        train.main(
            [
                "--model",
                "coin",
                "--guide",
                "AutoDelta",
                "--steps",
                "9",
                "--checkpoint",
                path,
                "--resume",
                *QUIET,
            ]
        )
    assert "written with --guide AutoNormal" in capsys.readouterr().err


def test_torchrun_two_processes(tmp_path):
    pytest.importorskip("torch.distributed.run")
    path = tmp_path / "run.pt"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(SCRIPT),
        "--steps",
        "20",
        "--checkpoint",
        str(path),
        "--checkpoint-every",
        "10",
        *QUIET,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("done: 20 steps") == 1  # only rank 0 prints
    assert "x 2 processes" in proc.stdout
    from ppl.params.safe_file import safe_load

    payload = safe_load(path, "cpu", kind="ppl.checkpoint")
    assert payload["svi"]["step_count"] == 20
    assert payload["extra"]["shard_steps"] == {"data": 21}  # each step drew a sharded batch


@pytest.mark.skipif(shutil.which("g++") is None, reason="inductor needs a C++ compiler")
def test_compiled_training_matches_eager_and_resumes(tmp_path):
    base = ["--model", "logreg", "--steps", "30", "--checkpoint-every", "7", *QUIET]
    eager = train.main(base)
    straight = train.main([*base, "--compile"])
    # same draws; the compiled graph and fused Adam round differently, nothing more
    assert torch.allclose(straight["losses"], eager["losses"], rtol=1e-4, atol=1e-3)
    path = str(tmp_path / "c.pt")
    train.main([*base, "--compile", "--checkpoint", path, "--stop-after", "13"])
    resumed = train.main([*base, "--compile", "--checkpoint", path, "--resume"])
    assert resumed["resumed_from"] == 13
    assert torch.allclose(resumed["losses"], straight["losses"], rtol=1e-5, atol=1e-4)
    for name, value in straight["params"].items():
        assert torch.allclose(resumed["params"][name], value, atol=1e-5), name
