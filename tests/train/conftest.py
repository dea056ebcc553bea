"""Small synthetic training setups shared by the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from heatmark.data.synthetic import synthetic_faces
from heatmark.train.config import Config, config_from_dict


def tiny_config(tmp_path: Path, **sections: dict) -> Config:
    """A config that trains in seconds on CPU: 64 px input, 16 px maps, HG-1 of width 16."""
    raw: dict = {
        "name": "tiny",
        "output": str(tmp_path / "runs"),
        "data": {"input_size": 64, "workers": 0, "synthetic_count": 32, "synthetic_val_count": 16},
        "codec": {"heatmap_size": 16, "sigma": 1.0},
        "model": {"stacks": 1, "width": 16, "depth": 2},
        "optimizer": {"name": "adam", "lr": 1e-3, "weight_decay": 0.0},
        "schedule": {"epochs": 2, "milestones": [1]},
        "train": {"batch_size": 8, "val_every": 1, "progress": False, "threads": 2},
    }
    for section, values in sections.items():
        raw.setdefault(section, {})
        if isinstance(values, dict):
            raw[section].update(values)
        else:
            raw[section] = values
    return config_from_dict(raw, "test")


TINY_CLI_SETTINGS: dict[str, object] = {
    "data.input_size": 64,
    "data.synthetic_count": 16,
    "data.synthetic_val_count": 10,
    "data.workers": 0,
    "codec.heatmap_size": 16,
    "model.stacks": 1,
    "model.width": 16,
    "model.depth": 2,
    "schedule.epochs": 1,
    "train.batch_size": 8,
    "train.progress": "false",
}
"""The ``heatmark train --set`` values of a run that trains in seconds on CPU."""


def tiny_cli(settings: dict[str, object]) -> list[str]:
    """``--set key=value`` arguments: ``TINY_CLI_SETTINGS`` updated with ``settings``."""
    merged = {**TINY_CLI_SETTINGS, **settings}
    return [part for key, value in merged.items() for part in ("--set", f"{key}={value}")]


@pytest.fixture(scope="session")
def tiny_faces():
    return synthetic_faces(32, seed=0, size=64), synthetic_faces(16, seed=99, size=64)
