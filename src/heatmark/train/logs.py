"""Training logs: a CSV of steps and validations, and TensorBoard event files."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from torch.utils.tensorboard import SummaryWriter


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
