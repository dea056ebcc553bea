"""Kill a real ``heatmark train`` process at random moments, resume it, and end with exactly the
weights of an uninterrupted run (resume is epoch-granular: a kill mid-epoch redoes the epoch).

SIGKILL may land anywhere, saving included (torn-proof checkpoints); SIGTERM must stop after a
step with exit status 143 and say how to resume.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import safetensors.torch
import torch
from conftest import tiny_cli

EPOCHS = 6
STEPS = 4  # an epoch: 32 faces in batches of 8
SETTINGS = {
    "train.device": "cpu",
    "data.synthetic_count": 32,
    "optimizer.name": "adam",
    "optimizer.lr": 0.002,
    "optimizer.weight_decay": 0.0,
    "schedule.epochs": EPOCHS,
    "schedule.kind": "cosine",
    "train.threads": 1,
    "train.log_every": 1,
    "train.val_every": 2,
}
"""What differs from ``TINY_CLI_SETTINGS``."""
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}


def _command(out: Path, name: str, *extra: str) -> list[str]:
    settings = tiny_cli({**SETTINGS, "output": out, "name": name})
    return [sys.executable, "-m", "heatmark.cli", "train", *settings, *extra]


def _train(
    out: Path, name: str, *extra: str, stop: tuple[int, int, float] | None = None
) -> tuple[int, str, float]:
    """Run ``heatmark train``. With ``stop = (signal, steps, delay)``, send the signal ``delay``
    seconds after the run logged its ``steps``-th step. (exit status, stderr, mean seconds
    between logged steps)."""
    steps = out / name / "steps.csv"
    size = steps.stat().st_size if steps.exists() else 0
    process = subprocess.Popen(
        _command(out, name, *extra), env=ENV, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    times: list[float] = []
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        rows = steps.read_bytes()[size:].count(b"\n") if steps.exists() else 0
        if rows > len(times):
            times += [time.monotonic()] * (rows - len(times))
            if stop is not None and rows >= stop[1]:
                time.sleep(stop[2])
                process.send_signal(stop[0])
                break
        time.sleep(0.002)
    _, stderr = process.communicate(timeout=120)
    step_seconds = (times[-1] - times[1]) / (len(times) - 2) if len(times) > 2 else 0.0
    return process.returncode, stderr.decode(), step_seconds


def _continue(out: Path, name: str, **kwargs) -> tuple[int, str, float]:
    """Resume the run if it saved a checkpoint (or began to), else start it afresh."""
    run = out / name
    if (run / "last.json").exists() or (run / "last.json.tmp").exists():
        return _train(out, name, "--resume", str(run), **kwargs)
    return _train(out, name, "--overwrite", **kwargs)


def _epochs_saved(run: Path) -> int:
    """How many epochs the run's ``last`` holds (0 without one)."""
    path = run / "last.json"
    return json.loads(path.read_text())["epoch"] + 1 if path.exists() else 0


def _tensors(run: Path) -> dict[str, torch.Tensor]:
    found = {}
    for stem in ("last", "last.optim", "best"):
        for key, value in safetensors.torch.load_file(str(run / f"{stem}.safetensors")).items():
            found[f"{stem}/{key}"] = value
    return found


@pytest.mark.slow
def test_killed_runs_resume_to_the_same_weights(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    code, stderr, step_seconds = _train(out, "straight")
    assert code == 0, stderr
    expected = _tensors(out / "straight")

    rng = random.Random(20240607)
    for _ in range(3):  # SIGKILL at seeded random moments of what is left, then resume
        left = STEPS * (EPOCHS - _epochs_saved(out / "killed"))
        if not left:
            break
        moment = (signal.SIGKILL, rng.randint(1, left), rng.uniform(0, 2 * step_seconds))
        code, stderr, _ = _continue(out, "killed", stop=moment)
        assert code in (-signal.SIGKILL, 0), stderr
    code, stderr, _ = _continue(out, "killed")
    assert code == 0, stderr

    code, stderr, _ = _train(out, "stopped", stop=(signal.SIGTERM, STEPS + 2, 0.0))
    assert code == 143, stderr
    saved = _epochs_saved(out / "stopped")  # 1, unless the signal came at the end of epoch 1
    assert "SIGTERM stopped training" in stderr and "Traceback" not in stderr, stderr
    resume = f"--resume {out / 'stopped'}"
    assert f"holds epoch {saved - 1}; continue with the same command and {resume}" in stderr
    code, stderr, _ = _continue(out, "stopped")
    assert code == 0, stderr

    for name in ("killed", "stopped"):
        found = _tensors(out / name)
        assert found.keys() == expected.keys()
        for key, tensor in expected.items():
            assert torch.equal(found[key], tensor), (name, key)
        assert not list((out / name).glob("*.tmp"))
