"""The results page: tables of every row (mean and spread over seeds), CED and loss-curve
plots, the budget arithmetic, and where every number comes from.

Written from whatever is finished (rows without a scored run say so), so it can be regenerated
at any time (``heatmark reproduce --report-only``). Figures go to a folder named after the page
(``docs/results.md`` -> ``docs/results/*.png``); each caption names its run folders and the
command that makes them.
"""

from __future__ import annotations

import csv
import math
import os
import platform
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from heatmark.codec import Decoding
from heatmark.reproduce.grid import ROWS, TABLES, Row, Scale, Table, shell_command
from heatmark.reproduce.runner import TRAIN_LOG, GridOptions, RunStatus

DECODING_TITLES = {Decoding.GET_MAX.value: "GET_MAX", Decoding.GET_BC.value: "GET_BC"}
PROTOCOL_TITLES = {
    "clean": "clean",
    "occlusion-medium": "occl. medium",
    "occlusion-large": "occl. large",
}


# ---------------------------------------------------------------------------------- numbers


def _values(statuses: Sequence[RunStatus], path: Sequence[str]) -> list[float]:
    """The metric at ``path`` inside each scored run's evaluation (missing/None left out)."""
    out = []
    for status in statuses:
        node: Any = status.evaluation
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, int | float) and math.isfinite(node):
            out.append(float(node))
    return out


def mean_spread(values: Sequence[float], scale: float = 100.0, digits: int = 2) -> str:
    """``mean ± sd`` (sample sd over seeds), the value alone for one seed, ``-`` for none."""
    if not values:
        return "-"
    mean = scale * float(np.mean(values))
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    sd = scale * float(np.std(values, ddof=1))
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


@dataclass
class RowRuns:
    """A row with the status of each of its seeds."""

    row: Row
    statuses: list[RunStatus]

    @property
    def scored(self) -> list[RunStatus]:
        return [s for s in self.statuses if s.state == "done"]

    @property
    def own(self) -> str:
        return self.row.decodings[0].value

    def metric(self, name: str, decoding: str | None = None) -> list[float]:
        return _values(self.scored, ("decodings", decoding or self.own, name))

    def robust(self, decoding: str, protocol: str, name: str) -> list[float]:
        return _values(self.scored, ("robustness", decoding, protocol, name))

    def seeds_cell(self) -> str:
        """``scored/planned``, with what the unscored seeds are doing (pending runs say so)."""
        done = len(self.scored)
        cell = f"{done}/{len(self.statuses)}"
        busy = [s for s in self.statuses if s.state != "done"]
        if busy and all(s.state == "pending" for s in busy):
            return cell + (" (pending)" if done else " pending")
        if busy:
            cell += " (" + ", ".join(_short_state(s) for s in busy) + ")"
        return cell

    def cell(self, values: list[float], scale: float = 100.0, digits: int = 2) -> str:
        """``mean_spread``, or *pending* while no seed of the row is scored."""
        return mean_spread(values, scale, digits) if self.scored else "pending"


def _last_outcome(status: RunStatus) -> str | None:
    sessions = status.info.get("sessions") or []
    return sessions[-1].get("outcome") if sessions else None


def _short_state(status: RunStatus) -> str:
    seed = f"seed {status.run.seed}"
    if status.state == "pending":
        return f"{seed} pending"
    if _last_outcome(status) == "failed":
        return f"{seed} failed"
    if status.state == "trained":
        return f"{seed} not scored yet"
    return f"{seed} at epoch {status.saved_epochs}/{status.epochs}"


def state_text(status: RunStatus) -> str:
    if status.state == "done":
        return "done"
    if _last_outcome(status) == "failed":
        return f"failed (see {status.run_dir / TRAIN_LOG})"
    if status.state == "trained":
        return "trained, not scored yet"
    if status.state == "partial":
        return f"partial: {status.saved_epochs}/{status.epochs} epochs"
    return "pending"


def difference_cell(row: RowRuns, other: RowRuns | None) -> str:
    """Own-decoding NME difference to the comparison row, with the verdict against the seed
    spread (the larger max-min range over seeds of the two rows)."""
    if other is None:
        return "(reference)"
    mine = row.metric("nme")
    theirs = other.metric("nme", row.own)
    if not mine or not theirs:
        return f"vs `{other.row.name}`: pending"
    delta = 100 * (np.mean(mine) - np.mean(theirs))
    text = f"{delta:+.2f} vs `{other.row.name}`"
    if len(mine) < 2 or len(theirs) < 2:
        return text + " (1 seed: spread unknown)"
    spread = 100 * max(np.ptp(mine), np.ptp(theirs))
    verdict = "within" if abs(delta) <= spread else "beyond"
    return text + f" ({verdict} the seed spread {spread:.2f})"


# ---------------------------------------------------------------------------------- figures


def _curves(rows: Sequence[RowRuns], label_decoding: bool) -> dict:
    """Seed 0's per-image NMEs of each scored row, in its own decoding."""
    curves = {}
    for entry in rows:
        first = next((s for s in entry.scored if s.run.seed == 0), None)
        if first is None:
            continue
        node = (first.evaluation or {}).get("decodings", {}).get(entry.own, {})
        if not node.get("nme_images"):
            continue
        values = [np.nan if v is None else v for v in node["nme_images"]]
        label = entry.row.name
        if label_decoding:
            label += f" ({DECODING_TITLES.get(entry.own, entry.own)})"
        curves[label] = np.array(values, dtype=np.float64)
    return curves


def _robust_curves(rows: Sequence[RowRuns], protocol: str) -> dict:
    curves = {}
    for entry in rows:
        first = next((s for s in entry.scored if s.run.seed == 0), None)
        if first is None:
            continue
        cell = (first.evaluation or {}).get("robustness", {}).get(entry.own, {}).get(protocol)
        if not cell:
            continue
        values = [np.nan if v is None else v for v in cell["nme_images"]]
        label = f"{entry.row.name} ({DECODING_TITLES.get(entry.own, entry.own)})"
        curves[label] = np.array(values, dtype=np.float64)
    return curves


def _plot_ced(curves: dict, path: Path, title: str, max_error: float) -> None:
    from heatmark.evaluate.report import plot_ced

    plot_ced(curves, path, max_error=max_error, title=title, xlabel="image NME (inter-ocular)")


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle))
    except OSError:
        return []


def plot_loss_curves(rows: Sequence[RowRuns], path: Path, title: str) -> list[Path]:
    """Training loss (relative to its first logged value) and validation NME against epochs,
    from the seed-0 runs' ``steps.csv`` and ``validation.csv``; the run folders drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110)
    drawn = []
    for entry in rows:
        status = next((s for s in entry.statuses if s.run.seed == 0), None)
        if status is None:
            continue
        steps = _read_csv(status.run_dir / "steps.csv")
        if not steps:
            continue
        per_epoch = max(int(r["step"]) for r in steps) + 1
        x = [int(r["epoch"]) + (int(r["step"]) + 1) / per_epoch for r in steps]
        loss = np.array([float(r["loss"]) for r in steps])
        left.plot(x, loss / loss[0], label=entry.row.label, linewidth=0.9)
        val = _read_csv(status.run_dir / "validation.csv")
        if val:
            right.plot(
                [int(r["epoch"]) + 1 for r in val],
                [100 * float(r["nme"]) for r in val],
                marker="o",
                label=entry.row.label,
            )
        drawn.append(status.run_dir)
    left.set_yscale("log")
    left.set_xlabel("epoch")
    left.set_ylabel("training loss / first logged value")
    left.set_title("training loss (each loss in its own unit)")
    right.set_xlabel("epoch")
    right.set_ylabel("validation NME (%)")
    right.set_title("hold-out NME during training")
    for axis in (left, right):
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return drawn


# ---------------------------------------------------------------------------------- page


def _git_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (" with uncommitted changes" if dirty else "")


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines + [""]


def _dirs(rows: Sequence[RowRuns], seed0: bool = True) -> str:
    dirs = [
        str(s.run_dir) for entry in rows for s in entry.scored if (s.run.seed == 0 or not seed0)
    ]
    return ", ".join(f"`{d}`" for d in dirs) or "none yet"


def _only_command(options: GridOptions, names: Sequence[str]) -> str:
    arguments = ["reproduce", "--scale", options.scale.name, "--only", ",".join(names)]
    arguments += ["--seeds", str(options.seeds), "--runs", str(options.runs)]
    return shell_command(arguments)


def budget_lines(
    options: GridOptions, statuses: Sequence[RunStatus], timing: dict[str, float], source: str
) -> list[str]:
    """The budget arithmetic: seconds per epoch x epochs x seeds per row, and the total."""
    rows: dict[str, list[RunStatus]] = {row.name: [] for row in ROWS}
    for status in statuses:
        rows[status.run.row.name].append(status)
    rows = {name: group for name, group in rows.items() if group}
    table, total, missing = [], 0.0, []
    for name, group in rows.items():
        seconds = timing.get(name)
        epochs = group[0].epochs
        if seconds is None:
            missing.append(name)
            table.append((f"`{name}`", "not measured", str(epochs), str(len(group)), "-"))
            continue
        hours = seconds * epochs * len(group) / 3600
        total += hours
        table.append((f"`{name}`", f"{seconds:.0f}", str(epochs), str(len(group)), f"{hours:.2f}"))
    if not any(name in timing for name in rows):
        return [
            f"No per-epoch measurement at the {options.scale.name} scale "
            "(`heatmark reproduce --measure` times a few steps of each row).",
            "",
        ]
    lines = [
        f"Seconds per epoch of each row at one CPU thread ({source}), times epochs and seeds:",
        "",
        *_md_table(("row", "s/epoch (1 thread)", "epochs", "seeds", "CPU-thread hours"), table),
    ]
    jobs = options.job_count
    if total:
        per_epoch = sum(timing.get(name, 0.0) for name in rows)
        lines.append(
            f"One epoch of every row: {per_epoch:.0f} s; the whole grid: {total:.1f} CPU-thread "
            f"hours. `--jobs {jobs}` trains {jobs} single-thread run(s) at once: about "
            f"{total / jobs:.1f} hours of wall time"
            + (
                f" ({total / (0.85 * jobs):.1f} if {jobs} runs at once only reach "
                f"{0.85 * jobs:.1f}x one)"
                if jobs > 1
                else ""
            )
            + ", plus scoring (about 10-20 s a run). The seconds are process CPU time on one "
            "thread (`heatmark reproduce --measure`), which other work on the machine barely "
            "changes; a machine busy with other work stretches the wall time."
        )
    if missing:
        lines.append(f"Not measured at this scale: {', '.join(missing)}.")
    return [*lines, ""]


def write_results(
    options: GridOptions,
    statuses: Sequence[RunStatus],
    out: Path,
    command: str,
    timing: dict[str, float] | None = None,
    timing_source: str = "",
) -> Path:
    """Write the page (and its figures next to it); returns its path."""
    out = Path(out)
    figures = out.parent / out.stem  # made when the first figure is drawn
    scale = options.scale
    by_row: dict[str, RowRuns] = {}
    for status in statuses:
        by_row.setdefault(status.run.row.name, RowRuns(status.run.row, [])).statuses.append(status)
    done = sum(s.state == "done" for s in statuses)
    lines = [
        f"# Reproduced results: {scale.name} scale",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M')} by `{command}` from commit "
        f"{_git_revision()}; {os.cpu_count()} CPU(s), {platform.machine()}, Python "
        f"{platform.python_version()}.",
        "",
        f"**{done} of {len(statuses)} runs finished** ({options.seeds} seed(s) per row). "
        "Regenerate this page at any time with the same command and `--report-only`; rows not "
        "yet run say *pending*.",
        "",
        "## How it was made",
        "",
        f"- Recipe: {scale.summary}.",
    ]
    if scale.synthetic:
        lines.append("- Data: synthetic faces (seed 0's validation faces score every run).")
    else:
        lines.append(
            f"- Data: `{options.data}`, with the CPU recipes' fixed hold-out (seed 0, 10% of "
            "helen/trainset: the faces listed in "
            f"`{options.runs / 'split' / 'split.json'}`), written as `split/train` and "
            "`split/val` folders so that the seed of a run changes only its initialisation and "
            "augmentation, never its hold-out."
        )
    lines += [
        "- Scored: the last epoch's weights (never the best by validation: that would tune on "
        "the hold-out), faces cropped from their ground-truth boxes; NME normalised by the "
        "inter-ocular (outer eye corner) distance, failure rates FR_I (images) and FR_L "
        "(landmarks) at 0.1, AUC@0.1 of the image NMEs. GET_MAX and GET_BC are two decodings of "
        "the same run.",
        "- Each row: mean ± sample standard deviation over its scored seeds. Every row trains "
        + (f"seeds 0 to {options.seeds - 1}" if options.seeds > 1 else "seed 0 only")
        + " (seed 0 of every row first), and each row is compared "
        "with the row it changes (Δ NME): *within the seed spread* means the difference is no "
        "larger than the max-min range over seeds of either row, i.e. not resolved at this "
        "budget; with one scored seed the spread is unknown and the row says so.",
        f"- Every run folder `{options.runs}/<row>-seed<k>/` holds `config.yaml`, the logs "
        "(`steps.csv`, `validation.csv`, `train.log`), the checkpoints, `evaluation.json` (the "
        "numbers and per-image errors below) and `reproduce.json` (its exact `heatmark train` "
        "command and every training session).",
        "",
        "## Budget",
        "",
        *budget_lines(options, statuses, timing or {}, timing_source or "not measured"),
    ]
    for table in TABLES:
        rows = [by_row[r.name] for r in _rows_of(table, by_row)]
        lines += [f"## {table.title}", ""]
        if not rows:
            lines += [f"Not part of the {scale.name} scale. {table.note}", ""]
            continue
        lines += [table.note, ""] if table.note else []
        lines += _table_lines(table, rows, by_row)
        lines += _figure_lines(table, rows, options, figures, out)
    lines += _pending_lines(statuses)
    lines += _run_lines(statuses)
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_suffix(out.suffix + ".tmp")
    temporary.write_text("\n".join(lines).rstrip() + "\n")
    temporary.replace(out)
    return out


def _rows_of(table: Table, by_row: dict[str, RowRuns]) -> list[Row]:
    """The table's rows in the grid's order (not the training order)."""
    return [row for row in ROWS if row.table == table.name and row.name in by_row]


def _table_lines(table: Table, rows: Sequence[RowRuns], by_row: dict[str, RowRuns]) -> list[str]:
    decodings = list(dict.fromkeys(d.value for entry in rows for d in entry.row.decodings))
    body = []
    if len(decodings) == 1:
        header = ["row", "", "seeds", "NME %", "FR_I@0.1 %", "FR_L@0.1 %", "AUC@0.1", "Δ NME"]
        for entry in rows:
            other = by_row.get(entry.row.compare_to or "")
            body.append(
                [
                    f"`{entry.row.name}`",
                    entry.row.label,
                    entry.seeds_cell(),
                    entry.cell(entry.metric("nme")),
                    entry.cell(entry.metric("fr_images")),
                    entry.cell(entry.metric("fr_landmarks")),
                    entry.cell(entry.metric("auc_images"), 1.0, 3),
                    difference_cell(entry, other),
                ]
            )
    else:
        titles = [DECODING_TITLES.get(d, d) for d in decodings]
        header = ["row", "", "seeds"]
        header += [f"NME % {t}" for t in titles] + [f"FR_L@0.1 % {t}" for t in titles]
        header += ["AUC@0.1 (own)", "Δ NME (own decoding, both rows)"]
        for entry in rows:
            other = by_row.get(entry.row.compare_to or "")
            own = DECODING_TITLES.get(entry.own, entry.own)
            cells = [f"`{entry.row.name}`", f"{entry.row.label}; own: {own}", entry.seeds_cell()]
            cells += [entry.cell(entry.metric("nme", d)) for d in decodings]
            cells += [entry.cell(entry.metric("fr_landmarks", d)) for d in decodings]
            cells += [
                entry.cell(entry.metric("auc_images"), 1.0, 3),
                difference_cell(entry, other),
            ]
            body.append(cells)
    lines = _md_table(header, body)
    protocols = list(dict.fromkeys(p for entry in rows for p in entry.row.protocols))
    if protocols:
        lines += [
            "Robustness (`heatmark.robustness`, same hold-out): NME % (FR_L@0.1 %), mean over "
            "seeds.",
            "",
        ]
        header = ["row", "decoding", *(PROTOCOL_TITLES.get(p, p) for p in protocols)]
        body = []
        for entry in rows:
            for decoding in (d.value for d in entry.row.decodings):
                cells = [f"`{entry.row.name}`", DECODING_TITLES.get(decoding, decoding)]
                for protocol in protocols:
                    nme = entry.robust(decoding, protocol, "nme")
                    fr = entry.robust(decoding, protocol, "fr_landmarks@0.1")
                    cells.append(
                        f"{100 * np.mean(nme):.2f} ({100 * np.mean(fr):.2f})" if nme else "pending"
                    )
                body.append(cells)
        lines += _md_table(header, body)
    return lines


def _figure_lines(
    table: Table, rows: Sequence[RowRuns], options: GridOptions, figures: Path, out: Path
) -> list[str]:
    lines: list[str] = []
    names = [entry.row.name for entry in rows]
    command = _only_command(options, names)
    multi = any(len(entry.row.decodings) > 1 for entry in rows)

    def figure(path: Path, caption: str, dirs: str) -> None:
        relative = os.path.relpath(path, out.parent)
        lines.extend(
            [
                f"![{caption}]({relative})",
                "",
                f"*{caption}.* Seed-0 runs: {dirs}. Made by `{command}`.",
                "",
            ]
        )

    curves = _curves(rows, multi)
    if curves:
        path = figures / f"{table.name}-ced.png"
        _plot_ced(curves, path, f"{table.name}: CED on the hold-out", 0.1)
        figure(path, f"CED of the image NMEs, {table.name} (own decoding of each row)", _dirs(rows))
    for protocol in ("occlusion-large",):
        curves = _robust_curves(rows, protocol)
        if curves:
            path = figures / f"{table.name}-{protocol}-ced.png"
            _plot_ced(curves, path, f"{table.name}: CED under {protocol}", 0.3)
            figure(path, f"CED of the image NMEs under {protocol}, {table.name}", _dirs(rows))
    if table.name == "awing-ablation":
        pair = [entry for entry in rows if entry.row.name in ("t7-mse", "t7-awing", "t7-wmap")]
        if any(s.state != "pending" and s.run.seed == 0 for e in pair for s in e.statuses):
            path = figures / "mse-vs-awing-loss.png"
            drawn = plot_loss_curves(pair, path, "MSE vs AWing (seed 0)")
            relative = os.path.relpath(path, out.parent)
            lines += [
                f"![MSE vs AWing training curves]({relative})",
                "",
                "*MSE vs AWing: training loss relative to its first logged value (log scale) "
                "and hold-out NME during training, from `steps.csv` / `validation.csv` of "
                + (", ".join(f"`{d}`" for d in drawn) or "no run yet")
                + f".* Made by `{_only_command(options, [e.row.name for e in pair])}`.",
                "",
            ]
    return lines


def _pending_lines(statuses: Sequence[RunStatus]) -> list[str]:
    waiting = [s for s in statuses if s.state != "done"]
    lines = ["## Pending runs", ""]
    if not waiting:
        return [*lines, "None: every run of the grid is finished and scored.", ""]
    lines += [f"- `{s.run.name}`: {state_text(s)}" for s in waiting]
    return [*lines, ""]


def _run_lines(statuses: Sequence[RunStatus]) -> list[str]:
    lines = [
        "## Runs",
        "",
        "Every run, its folder, state and training time; the command trains it from scratch "
        "(`heatmark reproduce` adds `--resume RUN` to continue one).",
        "",
    ]
    rows = []
    for status in statuses:
        seconds = status.train_seconds
        rows.append(
            [
                f"`{status.run.name}`",
                f"`{status.run_dir}`",
                state_text(status),
                f"{seconds / 60:.1f} min" if seconds else "-",
            ]
        )
    lines += _md_table(("run", "folder", "state", "training time"), rows)
    lines += ["<details><summary>Commands</summary>", ""]
    for status in statuses:
        command = status.info.get("command")
        if command:
            lines += [f"`{status.run.name}`:", "", "```sh", command, "```", ""]
    lines += ["</details>", ""]
    return lines


def scale_timing(scale: Scale, runs: Path) -> tuple[dict[str, float], str]:
    """Seconds per epoch per row: ``runs/timing.json`` (``--measure``) if present, else the
    scale's built-in measurement."""
    import json

    path = runs / "timing.json"
    try:
        measured = json.loads(path.read_text())
        return {k: float(v) for k, v in measured["seconds_per_epoch"].items()}, (
            f"measured by `heatmark reproduce --measure` into `{path}`"
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    if scale.seconds_per_epoch:
        return dict(
            scale.seconds_per_epoch
        ), "measured when the grid was written, see heatmark.reproduce"
    return {}, "not measured"
