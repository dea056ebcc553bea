"""Presenting an ``Evaluation``: a rich table, a markdown table, and CED plots (matplotlib)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from rich.table import Table

from heatmark.evaluate.evaluation import Evaluation
from heatmark.evaluate.metrics import ced

COLUMNS = ("images", "NME %", "FR_I %", "FR_L %", "AUC_I", "AUC_L")


def _row(evaluation: Evaluation) -> tuple[str, ...]:
    return (
        str(evaluation.count),
        f"{100 * evaluation.nme:.2f}",
        f"{100 * evaluation.fr_images:.2f}",
        f"{100 * evaluation.fr_landmarks:.2f}",
        f"{evaluation.auc_images:.4f}",
        f"{evaluation.auc_landmarks:.4f}",
    )


def _rows(evaluation: Evaluation) -> list[tuple[str, ...]]:
    rows = [("all", *_row(evaluation))]
    rows += [(name, *_row(sub)) for name, sub in evaluation.subsets.items()]
    return rows


def _caption(evaluation: Evaluation) -> str:
    t = f"{evaluation.threshold:g}"
    return (
        f"NME normalised by {evaluation.normaliser.value} distance; FR and AUC at {t} "
        f"(_I: image NME, _L: landmark errors)"
    )


def evaluation_table(evaluation: Evaluation, title: str = "heatmark evaluation") -> Table:
    table = Table(title=title, caption=_caption(evaluation))
    table.add_column("subset")
    for column in COLUMNS:
        table.add_column(column, justify="right")
    for row in _rows(evaluation):
        table.add_row(*row)
    return table


def evaluation_markdown(evaluation: Evaluation) -> str:
    lines = ["| subset | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(evaluation)]
    return "\n".join(lines) + f"\n\n{_caption(evaluation)}.\n"


def plot_ced(
    curves: Mapping[str, np.ndarray],
    path: Path,
    max_error: float,
    title: str = "Cumulative error distribution",
    xlabel: str = "NME",
) -> None:
    """Write CED curves (one per name, from arrays of normalised errors) to an image file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5.5, 4.2), dpi=120)
    for name, errors in curves.items():
        thresholds, fractions = ced(errors, max_error)
        axis.plot(100 * thresholds, fractions, label=name)
    axis.set_xlim(0, 100 * max_error)
    axis.set_ylim(0, 1)
    axis.set_xlabel(f"{xlabel} (%)")
    axis.set_ylabel("fraction of images")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
