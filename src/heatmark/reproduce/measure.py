"""Seconds per training epoch of each row, from a few steps: what the budget arithmetic uses.

Each row's seed-0 config is built as the grid would train it (same data, network and loss) and
``steps`` training steps are timed after ``warmup`` ones on one CPU thread (the figure per
core the ``--jobs`` arithmetic needs). The time is the process's CPU time, not the wall clock:
on one thread it is what the step costs a core of its own, and other work on the machine (which
stretches the wall clock) barely changes it. Seconds per epoch = seconds per step x steps per
epoch. Nothing is written to the run folders; the result goes to the ledger's ``timing.json``
(``docs/results/records/timing.json`` for the study: committed, the page's budget). Rough by
nature: memory-bandwidth contention still counts, and the Sinkhorn loss's cost changes as the
maps sharpen (its iterations run to a tolerance).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from rich.console import Console

from heatmark.reproduce.grid import Layout, Row, Run, Scale, run_config


def measure_rows(
    scale: Scale,
    rows: Sequence[Row],
    layout: Layout,
    steps: int = 10,
    warmup: int = 2,
    console: Console | None = None,
) -> dict[str, float]:
    """``{row: CPU seconds per epoch}`` on one thread (see the module docstring)."""
    from heatmark.train.trainer import Trainer

    console = console or Console(stderr=True)
    threads = 1
    torch.set_num_threads(threads)
    timing: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for row in rows:
            config = run_config(Run(row, 0), scale, layout)
            train = config.train.model_copy(update={"progress": False, "threads": threads})
            config = config.model_copy(update={"output": scratch, "train": train})
            trainer = Trainer(config, console=console, overwrite=True)
            batches = iter(trainer.loader)
            per_epoch = len(trainer.loader)
            cpu, wall = [], []
            for step in range(min(warmup + steps, per_epoch)):
                begin, begin_wall = time.process_time(), time.perf_counter()
                trainer.train_step(next(batches), 0, step)
                cpu.append(time.process_time() - begin)
                wall.append(time.perf_counter() - begin_wall)
            cpu, wall = cpu[warmup:] or cpu, wall[warmup:] or wall
            step_seconds = sum(cpu) / len(cpu)
            timing[row.name] = per_epoch * step_seconds
            console.print(
                f"{row.name}: {step_seconds:.3f} CPU s/step ({sum(wall) / len(wall):.3f} s wall) "
                f"x {per_epoch} steps = {timing[row.name]:.0f} s/epoch on one thread",
                highlight=False,
            )
    return timing


def write_timing(path: Path, timing: dict[str, float], threads: int) -> None:
    """Merge ``timing`` into ``path`` (rows measured earlier are kept)."""
    try:
        current = json.loads(path.read_text())["seconds_per_epoch"]
    except (OSError, ValueError, KeyError, TypeError):
        current = {}
    current.update({k: round(v, 1) for k, v in timing.items()})
    payload = {
        "format": "heatmark-reproduce-timing",
        "threads": threads,
        "measured": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "seconds_per_epoch": current,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1) + "\n")
