"""Training logs: a CSV of steps and validations, and TensorBoard event files."""

from __future__ import annotations

import csv
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from torch.utils.tensorboard import SummaryWriter

from heatmark.errors import DataError, HeatmarkError

CHANGES = "changes.csv"
"""Settings changed when a run was resumed with ``--allow-changes``."""
RUN_FILES = ("steps.csv", "validation.csv", "config.yaml", "tensorboard", CHANGES)
"""What a run writes besides its checkpoints (``last.*``, ``best.*``)."""


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn an OS error (read-only folder, disk full...) into a ``DataError`` naming ``path``."""
    try:
        yield
    except OSError as error:
        raise DataError(path, f"cannot write ({error.strerror or error})") from None


def run_files(run_dir: Path) -> list[Path]:
    """The files of a run in ``run_dir``: checkpoints (and their temporaries) and logs."""
    found = sorted(run_dir.glob("last.*")) + sorted(run_dir.glob("best.*"))
    return found + [run_dir / name for name in RUN_FILES if (run_dir / name).exists()]


def claim_run_dir(run_dir: Path, overwrite: bool, remove: bool) -> None:
    """Refuse to start a new run on top of an old one (its logs would be appended to), whether
    or not the old one saved a checkpoint.

    ``overwrite`` lets a fresh run replace the old run's files; ``remove`` says whether this
    process deletes them (the main process; the others only check).
    """
    found = run_files(run_dir)
    if not found:
        return
    if not overwrite:
        if (run_dir / "last.json").is_file():
            how = f"continue it with --resume {run_dir}, start over with --overwrite"
        else:
            how = "it saved no checkpoint to resume from: start over with --overwrite"
        raise HeatmarkError(
            f"{run_dir} already holds a run ({', '.join(p.name for p in found[:4])}"
            f"{', ...' if len(found) > 4 else ''}): {how}, or pick another name with "
            "--set name=NEW"
        )
    if remove:
        for path in found:
            with writing(path):
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()


class RunLog:
    """Appends rows to ``steps.csv`` / ``validation.csv`` and scalars to TensorBoard."""

    def __init__(self, run_dir: Path, tensorboard: bool = True) -> None:
        with writing(run_dir):
            run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir = run_dir
        self.writer = None
        if tensorboard:
            with writing(run_dir / "tensorboard"):
                self.writer = SummaryWriter(str(run_dir / "tensorboard"))

    def _append(self, name: str, row: dict[str, Any]) -> None:
        path = self.run_dir / name
        new = not path.exists()
        with writing(path), path.open("a", newline="") as handle:
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

    def changes(self, epoch: int, changes: list[tuple[str, Any, Any]]) -> None:
        """Record settings changed on resuming (``--allow-changes``) from ``epoch`` on."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        for key, old, new in changes:
            self._append(
                CHANGES, {"time": stamp, "epoch": epoch, "key": key, "old": old, "new": new}
            )

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
