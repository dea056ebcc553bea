"""The CUDA / AMP / NCCL code paths, as far as a CPU-only machine can check them: which path
is chosen, and that the CUDA-only features stay off on CPU. (Running them needs a GPU.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import tiny_config

from heatmark.errors import HeatmarkError
from heatmark.train import distributed
from heatmark.train.trainer import Trainer, select_device


def test_cuda_asked_for_without_a_gpu_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(HeatmarkError, match="no CUDA device"):
        select_device("cuda")
    assert select_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device("auto") == torch.device("cuda")
    assert select_device("cpu") == torch.device("cpu")


def test_amp_is_off_on_cpu_and_changes_no_number(tmp_path: Path, tiny_faces) -> None:
    """train.amp asks for CUDA mixed precision: on CPU the scaler and autocast stay off, so a
    step with amp on is bit for bit the step with amp off."""
    weights = []
    for amp in (False, True):
        trainer = Trainer(tiny_config(tmp_path / str(amp), train={"amp": amp}), tiny_faces)
        assert not trainer.scaler.is_enabled() and not trainer.cuda_fast
        batch = next(iter(trainer.loader))
        trainer.train_step(batch, 0, 0)
        weights.append([p.detach().clone() for p in trainer.model.parameters()])
    for a, b in zip(*weights, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(("device", "backend"), [("cuda", "nccl"), ("cpu", "gloo")])
def test_process_group_backend_follows_the_device(
    monkeypatch: pytest.MonkeyPatch, device: str, backend: str
) -> None:
    """torchrun's environment joins NCCL on CUDA (each rank on its LOCAL_RANK GPU), gloo on
    CPU; without WORLD_SIZE > 1 nothing is joined."""
    joined, devices = [], []
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(
        distributed.dist, "init_process_group", lambda backend: joined.append(backend)
    )
    monkeypatch.setattr(torch.cuda, "set_device", devices.append)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not distributed.init_distributed(device).enabled and joined == []
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    context = distributed.init_distributed(device)
    assert (context.rank, context.world, context.local_rank) == (3, 4, 1)
    assert context.enabled and not context.is_main
    assert joined == [backend]
    assert devices == ([1] if device == "cuda" else [])
