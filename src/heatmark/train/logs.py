"""Training logs: a CSV of steps and validations, and TensorBoard event files."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

from torch.utils.tensorboard import SummaryWriter

from heatmark.errors import HeatmarkError

RUN_FILES = ("steps.csv", "validation.csv", "config.yaml", "tensorboard")
"""What a run writes besides its checkpoints (``last.*``, ``best.*``)."""


def claim_run_dir(run_dir: Path, overwrite: bool, remove: bool) -> None:
    """Refuse to start a new run on top of an old one (its logs would be appended to).

    ``overwrite`` lets a fresh run replace the old run's files; ``remove`` says whether this
    process deletes them (the main process; the others only check).
    """
    checkpoints = sorted(run_dir.glob("last.*")) + sorted(run_dir.glob("best.*"))
    if not checkpoints:
        return
    if not overwrite:
        raise HeatmarkError(
            f"{run_dir} already holds a run: continue it with --resume {run_dir}, start over "
            "with --overwrite, or pick another name with --set name=NEW"
        )
    if remove:
        for path in checkpoints:
            path.unlink()
        for name in RUN_FILES:
            path = run_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


class RunLog:
    """Appends rows to ``steps.csv`` / ``validation.csv`` and scalars to TensorBoard."""

    def __init__(self, run_dir: Path, tensorboard: bool = True) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir = run_dir
        self.writer = SummaryWriter(str(run_dir / "tensorboard")) if tensorboard else None

    def _append(self, name: str, row: dict[str, Any]) -> None:
        path = self.run_dir / name
        new = not path.exists()
        with path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)

    def step(self, row: dict[str, Any]) -> None:
        self._append("steps.csv", row)
        if self.writer is not None:
            for key in ("loss", "lr", "images_per_second"):
                if key in row:
                    self.writer.add_scalar(f"train/{key}", row[key], row["global_step"])

    def validation(self, epoch: int, global_step: int, metrics: dict[str, float]) -> None:
        self._append("validation.csv", {"epoch": epoch, "global_step": global_step, **metrics})
        if self.writer is not None:
            for key, value in metrics.items():
                self.writer.add_scalar(f"val/{key}", value, global_step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
