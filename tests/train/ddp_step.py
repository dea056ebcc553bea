"""One training step of a rank of a 2-process gloo group (run by test_distributed.py).

    python ddp_step.py OUT   (with RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set)

Builds the trainer of ``step_config(OUT)``, takes its rank's first batch, runs
``Trainer.train_step`` on it and saves the parameters to ``OUT/rank<RANK>.pt``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from heatmark.data.synthetic import synthetic_faces
from heatmark.train.config import Config, config_from_dict
from heatmark.train.distributed import shutdown_distributed
from heatmark.train.trainer import Trainer


def step_config(out: Path) -> Config:
    """A tiny model and plain SGD (its update is linear in the gradient, so the averaged
    gradient of DDP shows in the weights as it is)."""
    return config_from_dict(
        {
            "name": "ddp-step",
            "output": str(out / "runs"),
            "data": {"input_size": 64, "workers": 0},
            "codec": {"heatmap_size": 16, "sigma": 1.0},
            "model": {"stacks": 1, "width": 16, "depth": 2},
            "optimizer": {"name": "sgd", "lr": 0.5, "weight_decay": 0.0, "momentum": 0.0},
            "train": {"batch_size": 4, "progress": False, "threads": 1, "device": "cpu"},
        },
        "ddp_step",
    )


def faces() -> tuple[list, list]:
    return synthetic_faces(16, seed=3, size=64), synthetic_faces(2, seed=4, size=64)


def main(out: Path) -> None:
    trainer = Trainer(step_config(out), faces())
    assert trainer.context.enabled, "run with RANK / WORLD_SIZE of 2 processes"
    trainer.sampler.set_epoch(0)
    batch = next(iter(trainer.loader))
    trainer.train_step(batch, 0, 0)
    parameters = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    torch.save(
        {"parameters": parameters, "index": batch["index"]},
        out / f"rank{trainer.context.rank}.pt",
    )
    shutdown_distributed(trainer.context)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
