"""DistributedDataParallel through torchrun: 2 CPU processes on the gloo backend."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "heatmark.cli",
        "train",
        "--set",
        f"output={out}",
        "--set",
        "name=ddp",
        "--set",
        "train.device=cpu",
        "--set",
        "data.input_size=64",
        "--set",
        "data.synthetic_count=32",
        "--set",
        "data.synthetic_val_count=10",
        "--set",
        "data.workers=0",
        "--set",
        "codec.heatmap_size=16",
        "--set",
        "model.stacks=1",
        "--set",
        "model.width=16",
        "--set",
        "model.depth=2",
        "--set",
        "schedule.epochs=2",
        "--set",
        "train.batch_size=8",
        "--set",
        "train.progress=false",
        "--set",
        "train.threads=1",
        "--set",
        "train.log_every=1",
        "--set",
        "train.val_every=1",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 processes" in result.stderr
    run = out / "ddp"
    assert (run / "best.safetensors").is_file()
    steps = list(csv.DictReader((run / "steps.csv").open()))
    # 32 images over 2 ranks of batch 8: 2 steps per epoch per rank, logged once by rank 0
    assert [int(r["global_step"]) for r in steps] == [1, 2, 3, 4]
    # images/s counts both ranks' images
    assert all(float(r["images_per_second"]) > 0 for r in steps)
    validations = list(csv.DictReader((run / "validation.csv").open()))
    assert len(validations) == 2
