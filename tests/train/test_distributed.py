"""DistributedDataParallel through torchrun: 2 CPU processes on the gloo backend."""

import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import tiny_cli
from torch.utils.data import default_collate

from heatmark.train.trainer import Trainer


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
        *tiny_cli(
            {
                "output": out,
                "name": "ddp",
                "train.device": "cpu",
                "data.synthetic_count": 32,
                "schedule.epochs": 2,
                "train.threads": 1,
                "train.log_every": 1,
                "train.val_every": 1,
            }
        ),
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_ranks_step_like_one_process_on_the_combined_batch(tmp_path: Path) -> None:
    """After one DDP step both ranks hold the same weights, and they are the weights one
    process gets from the mean gradient of the two ranks' batches (each rank normalises its
    own batch, as DDP without SyncBatchNorm does). Ranks training alone would each hold the
    step of their own batch only."""
    import ddp_step

    env = {
        **os.environ,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
        "WORLD_SIZE": "2",
        "OMP_NUM_THREADS": "1",
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    script = Path(__file__).with_name("ddp_step.py")
    ranks = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path)],
            env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(2)
    ]
    for process in ranks:
        output, _ = process.communicate(timeout=180)
        assert process.returncode == 0, output
    saved = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(2)]
    shards = [saved[rank]["index"].tolist() for rank in range(2)]
    assert len(shards[0]) == len(shards[1]) == 4 and not set(shards[0]) & set(shards[1])

    for name, value in saved[0]["parameters"].items():  # bit for bit the same on both ranks
        assert torch.equal(value, saved[1]["parameters"][name]), name

    single = Trainer(ddp_step.step_config(tmp_path / "single"), ddp_step.faces())
    assert not single.context.enabled
    model, lr = single.model, single.config.optimizer.lr
    start = {name: p.detach().clone() for name, p in model.named_parameters()}
    gradients = []
    for shard in shards:
        batch = default_collate([single.train_set[i] for i in shard])
        model.zero_grad(set_to_none=True)
        outputs = model(batch["image"].float() / 255)
        single.supervision(outputs, batch["points"], None).backward()
        gradients.append({name: p.grad.clone() for name, p in model.named_parameters()})
    mean_step = {n: start[n] - lr * (gradients[0][n] + gradients[1][n]) / 2 for n in start}
    own_step = {n: start[n] - lr * gradients[0][n] for n in start}
    for name, value in saved[0]["parameters"].items():
        torch.testing.assert_close(value, mean_step[name], rtol=0, atol=1e-6)
    assert max(float((own_step[n] - mean_step[n]).abs().max()) for n in start) > 1e-3
    assert max(float((saved[0]["parameters"][n] - start[n]).abs().max()) for n in start) > 1e-3
