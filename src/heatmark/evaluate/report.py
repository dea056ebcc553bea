"""Presenting an ``Evaluation``: rich and markdown tables (plus the PCK table of body schemes),
and CED plots (matplotlib)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from rich.table import Table

from heatmark.evaluate.evaluation import Evaluation
from heatmark.evaluate.metrics import ced

COLUMNS = ("images", "NME %", "FR_I %", "FR_L %", "AUC_I", "AUC_L")


def columns(evaluation: Evaluation) -> tuple[str, ...]:
    """Column titles; the NME is in pixels, not percent, with ``--norm none``."""
    titles = ("images", "NME px", *COLUMNS[2:]) if evaluation.in_pixels else COLUMNS
    if evaluation.detected is not None:
        titles = (*titles, "detected %")
    return titles


def _row(evaluation: Evaluation) -> tuple[str, ...]:
    nme_scale = 1.0 if evaluation.in_pixels else 100.0
    return (
        str(evaluation.count),
        f"{nme_scale * evaluation.nme:.2f}" if np.isfinite(evaluation.nme) else "-",
        f"{100 * evaluation.fr_images:.2f}",
        f"{100 * evaluation.fr_landmarks:.2f}",
        f"{evaluation.auc_images:.4f}",
        f"{evaluation.auc_landmarks:.4f}",
    ) + (() if evaluation.detected is None else (f"{100 * evaluation.detection_rate:.2f}",))


def _rows(evaluation: Evaluation) -> list[tuple[str, ...]]:
    rows = [("all", *_row(evaluation))]
    rows += [(name, *_row(sub)) for name, sub in evaluation.subsets.items()]
    return rows


def _caption(evaluation: Evaluation) -> str:
    t = f"{evaluation.threshold:g}"
    if evaluation.in_pixels:
        head = f"errors in pixels (not normalised); FR and AUC at {t} px"
    else:
        head = f"NME normalised by {evaluation.normaliser.value} distance; FR and AUC at {t}"
    caption = f"{head} (_I: image NME, _L: landmark errors)"
    if evaluation.detected is not None:
        caption += "; NME over detected faces, a missed face fails at every threshold"
    if evaluation.scored_points is not None:
        count, predicted, truth = evaluation.scored_points
        if predicted != truth:
            caption += f"; {count} points shared by {predicted} and {truth}"
    if evaluation.has_pck:
        caption += "; invisible joints not scored"
    if evaluation.left_out:
        images = "image" if evaluation.left_out == 1 else "images"
        caption += (
            f"; {evaluation.left_out} {images} left out (no {evaluation.normaliser.value} "
            "distance: a torso joint invisible or the torso size zero)"
        )
    return caption


def _pck_cell(value: float) -> str:
    return f"{100 * value:.1f}" if np.isfinite(value) else "-"


PART_TITLES = {
    "head": "Head",
    "shoulder": "Sho.",
    "elbow": "Elb.",
    "wrist": "Wri.",
    "hip": "Hip",
    "knee": "Knee",
    "ankle": "Ank.",
}
"""Column titles of the PCK table, abbreviated as in the pose papers' tables."""


def pck_columns(evaluation: Evaluation) -> tuple[str, ...]:
    """Titles of the PCK table: the body parts, the pooled mean, the joints scored."""
    return (*(PART_TITLES.get(p, p) for p in evaluation.parts), "Mean", "joints")


def _pck_rows(evaluation: Evaluation) -> list[tuple[str, ...]]:
    rows = []
    for name, sub in [("all", evaluation), *evaluation.subsets.items()]:
        cells = [_pck_cell(v) for v in sub.pck_parts.values()]
        scored = int(np.sum(~np.isnan(sub.errors)))
        rows.append((name, *cells, _pck_cell(sub.pck), str(scored)))
    return rows


def _pck_caption(evaluation: Evaluation) -> str:
    torso = "-".join(evaluation.torso) if evaluation.torso else evaluation.normaliser.value
    return (
        f"PCK@{evaluation.pck_threshold:g} (%): visible joints within {evaluation.pck_threshold:g}"
        f" x the {evaluation.normaliser.value} distance ({torso}); parts average left and right "
        "(head: head top and neck), mean over all scored joints"
    )


def pck_table(evaluation: Evaluation, title: str = "PCK") -> Table:
    """The per-part PCK table of a body scheme (rows: all and each subset)."""
    return _subset_table(
        title, _pck_caption(evaluation), pck_columns(evaluation), _pck_rows(evaluation)
    )


def evaluation_table(evaluation: Evaluation, title: str = "heatmark evaluation") -> Table:
    return _subset_table(title, _caption(evaluation), columns(evaluation), _rows(evaluation))


def _subset_table(
    title: str, caption: str, titles: Iterable[str], rows: Iterable[Sequence[str]]
) -> Table:
    """A rich table with a ``subset`` column, then the right-aligned ``titles``."""
    table = Table(title=title, caption=caption)
    table.add_column("subset")
    for column in titles:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*row)
    return table


def _markdown(titles: tuple[str, ...], rows: list[tuple[str, ...]], caption: str) -> str:
    lines = ["| subset | " + " | ".join(titles) + " |", "|---" * (len(titles) + 1) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + f"\n\n{caption}.\n"


def evaluation_markdown(evaluation: Evaluation) -> str:
    """The metrics table in markdown, followed by the PCK table for body schemes."""
    text = _markdown(columns(evaluation), _rows(evaluation), _caption(evaluation))
    if evaluation.has_pck:
        text += "\n" + _markdown(
            pck_columns(evaluation), _pck_rows(evaluation), _pck_caption(evaluation)
        )
    return text


def plot_ced(
    curves: Mapping[str, np.ndarray],
    path: Path,
    max_error: float,
    title: str = "Cumulative error distribution",
    xlabel: str = "NME",
    in_pixels: bool = False,
    ylabel: str = "fraction of images",
) -> None:
    """Write CED curves (one per name, from arrays of errors) to an image file.

    Errors are fractions of the normalising distance, drawn in percent, or pixels when
    ``in_pixels`` (``--norm none``), drawn as they are."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5.5, 4.2), dpi=120)
    scale, unit = (1.0, "px") if in_pixels else (100.0, "%")
    for name, errors in curves.items():
        thresholds, fractions = ced(errors, max_error)
        axis.plot(scale * thresholds, fractions, label=name)
    axis.set_xlim(0, scale * max_error)
    axis.set_ylim(0, 1)
    axis.set_xlabel(f"{xlabel} ({unit})")
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
