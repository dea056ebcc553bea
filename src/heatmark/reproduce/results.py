"""The results page: tables of every row (mean and spread over seeds), CED and loss-curve
plots, the budget arithmetic, and where every number comes from.

Written from the ledger's records alone (``heatmark.reproduce.ledger``; rows without a record
say *pending*), never from run folders: ``heatmark reproduce --report-only`` on a fresh clone
without ``runs/`` writes the same page, byte for byte (it has no clock time; its provenance
line comes from the records). Figures go to a folder named after the page
(``docs/results.md`` -> ``docs/results/*.png``); each caption names the records it is drawn
from, the run folders those came from, and the command that makes them.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from heatmark.codec import Decoding
from heatmark.data.synthetic import CROSS_DOMAIN_COUNT
from heatmark.reproduce.grid import (
    CROSS_DOMAIN,
    ROWS,
    TABLES,
    Row,
    Run,
    Scale,
    Table,
    shell_command,
)
from heatmark.reproduce.ledger import TIMING, canonical_runs, recorded_command
from heatmark.reproduce.runner import TRAIN_LOG, GridOptions, RunStatus

DECODING_TITLES = {Decoding.GET_MAX.value: "GET_MAX", Decoding.GET_BC.value: "GET_BC"}
PROTOCOL_TITLES = {
    "clean": "clean",
    "occlusion-medium": "occl. medium",
    "occlusion-large": "occl. large",
    CROSS_DOMAIN: "rendered faces",
}


# ---------------------------------------------------------------------------------- numbers


@dataclass
class Entry:
    """A run of the grid on the page: its record (None: not recorded yet) and the record's
    file; ``epochs``: what the grid trains it for."""

    run: Run
    record: dict[str, Any] | None
    path: Path
    epochs: int

    @property
    def evaluation(self) -> dict[str, Any]:
        return (self.record or {}).get("evaluation") or {}


def _values(entries: Sequence[Entry], path: Sequence[str]) -> list[float]:
    """The metric at ``path`` inside each recorded run's evaluation (missing/None left out)."""
    out = []
    for entry in entries:
        node: Any = entry.evaluation
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
    """A row with the entry of each of its seeds."""

    row: Row
    entries: list[Entry]

    @property
    def scored(self) -> list[Entry]:
        return [e for e in self.entries if e.record is not None]

    def seed0(self) -> Entry | None:
        """Seed 0's entry when it is recorded (the one the figures draw)."""
        return next((e for e in self.scored if e.run.seed == 0), None)

    @property
    def own(self) -> str:
        return self.row.decodings[0].value

    def metric(self, name: str, decoding: str | None = None) -> list[float]:
        return _values(self.scored, ("decodings", decoding or self.own, name))

    def robust(self, decoding: str, protocol: str, name: str) -> list[float]:
        return _values(self.scored, ("robustness", decoding, protocol, name))

    def seeds_cell(self) -> str:
        """``recorded/planned``, saying so when seeds are pending."""
        done = len(self.scored)
        cell = f"{done}/{len(self.entries)}"
        if done == len(self.entries):
            return cell
        return cell + (" (pending)" if done else " pending")

    def cell(self, values: list[float], scale: float = 100.0, digits: int = 2) -> str:
        """``mean_spread``, or *pending* while no seed of the row is scored."""
        return mean_spread(values, scale, digits) if self.scored else "pending"


def _last_outcome(status: RunStatus) -> str | None:
    sessions = status.info.get("sessions") or []
    return sessions[-1].get("outcome") if sessions else None


def state_text(status: RunStatus) -> str:
    """A run's state on this machine (``--dry-run``: the page knows only the records)."""
    if status.state == "done":
        return "done (recorded)"
    if status.state == "scored":
        return "scored, its record is written next time"
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
    """Seed 0's per-image NMEs of each recorded row, in its own decoding."""
    curves = {}
    for entry in rows:
        first = entry.seed0()
        if first is None:
            continue
        node = first.evaluation.get("decodings", {}).get(entry.own, {})
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
        first = entry.seed0()
        if first is None:
            continue
        cell = first.evaluation.get("robustness", {}).get(entry.own, {}).get(protocol)
        if not cell:
            continue
        values = [np.nan if v is None else v for v in cell["nme_images"]]
        label = f"{entry.row.name} ({DECODING_TITLES.get(entry.own, entry.own)})"
        curves[label] = np.array(values, dtype=np.float64)
    return curves


def _plot_ced(curves: dict, path: Path, title: str, max_error: float) -> None:
    from heatmark.evaluate.report import plot_ced

    plot_ced(curves, path, max_error=max_error, title=title, xlabel="image NME (inter-ocular)")


def plot_loss_curves(rows: Sequence[RowRuns], path: Path, title: str) -> list[Entry]:
    """Mean training loss of each epoch (relative to the first epoch's) and validation NME
    against epochs, from the seed-0 records' ``train_loss`` and ``validation``; the entries
    drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110)
    drawn = []
    for row in rows:
        entry = row.seed0()
        if entry is None:
            continue
        record = entry.record or {}
        losses = [r for r in record.get("train_loss") or [] if r.get("loss") is not None]
        if not losses or not losses[0]["loss"]:
            continue
        first = losses[0]["loss"]
        left.plot(
            [r["epoch"] + 1 for r in losses],
            [r["loss"] / first for r in losses],
            marker=".",
            label=row.row.label,
        )
        val = [r for r in record.get("validation") or [] if r.get("nme") is not None]
        if val:
            right.plot(
                [r["epoch"] + 1 for r in val],
                [100 * r["nme"] for r in val],
                marker="o",
                label=row.row.label,
            )
        drawn.append(entry)
    left.set_yscale("log")
    left.set_xlabel("epoch")
    left.set_ylabel("mean training loss / first epoch's")
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


def _provenance(entries: Sequence[Entry]) -> str:
    """Which heatmark commits and machines the records come from (sorted: deterministic)."""
    records = [e.record for e in entries if e.record is not None]
    if not records:
        return "No run is recorded yet."
    commits = sorted({str(r.get("commit") or "unknown") for r in records})
    machines = sorted({str(r.get("machine") or "unknown") for r in records})
    return (
        f"Recorded at heatmark commit(s) {', '.join(f'`{c}`' for c in commits)} "
        f"(`+dirty`: with uncommitted changes), on {'; '.join(machines)}."
    )


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines + [""]


def _link(path: Path, out: Path) -> str:
    """A link to ``path`` relative to the page ``out``, showing the path."""
    return f"[`{path.as_posix()}`]({Path(os.path.relpath(path, out.parent)).as_posix()})"


def _source(entry: Entry, out: Path) -> str:
    """The record a number comes from, and the run folder it was made in."""
    folder = (entry.record or {}).get("run_dir")
    return _link(entry.path, out) + (f" (from `{folder}`)" if folder else "")


def _sources(entries: Sequence[Entry], out: Path) -> str:
    return ", ".join(_source(e, out) for e in entries) or "none yet"


def _only_command(options: GridOptions, names: Sequence[str]) -> str:
    arguments = ["reproduce", "--scale", options.scale.name, "--only", ",".join(names)]
    arguments += ["--seeds", str(options.seeds), "--runs", str(options.runs)]
    return shell_command(arguments + options.ledger_arguments())


def budget_lines(
    options: GridOptions, entries: Sequence[Entry], timing: dict[str, float], source: str
) -> list[str]:
    """The budget arithmetic: seconds per epoch x epochs x seeds per row, and the total; then
    the training time the records hold so far."""
    rows: dict[str, list[Entry]] = {row.name: [] for row in ROWS}
    for entry in entries:
        rows[entry.run.row.name].append(entry)
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
    return [*lines, "", *_spent_lines(entries)]


def _spent_lines(entries: Sequence[Entry]) -> list[str]:
    """The training time the records hold (the sum of each run's training sessions)."""
    recorded = [e.record for e in entries if e.record is not None]
    if not recorded:
        return []
    seconds = sum(float(r.get("train_seconds") or 0.0) for r in recorded)
    return [
        f"Recorded so far: {len(recorded)} of {len(entries)} runs, {seconds / 3600:.1f} hours of "
        "training wall time (the sum of their training sessions, runs trained side by side "
        "counted each).",
        "",
    ]


def page_entries(options: GridOptions) -> list[Entry]:
    """Every run of the grid with its ledger record, read from the ledger alone (a record with
    another config than the grid gives now is a ``HeatmarkError`` naming it)."""
    ledger = options.make_ledger()
    return [
        Entry(run, ledger.load(run), ledger.path(run), ledger.config(run).schedule.epochs)
        for run in options.plan()
    ]


def write_results(
    options: GridOptions,
    entries: Sequence[Entry],
    out: Path,
    command: str,
    timing: dict[str, float] | None = None,
    timing_source: str = "",
) -> Path:
    """Write the page (and its figures next to it) from the records of ``entries``; returns
    its path. Nothing in it depends on the clock or on run folders."""
    out = Path(out)
    figures = out.parent / out.stem  # made when the first figure is drawn
    scale = options.scale
    ledger = options.ledger_dir
    by_row: dict[str, RowRuns] = {}
    for entry in entries:
        by_row.setdefault(entry.run.row.name, RowRuns(entry.run.row, [])).entries.append(entry)
    done = sum(e.record is not None for e in entries)
    lines = [
        f"# Reproduced results: {scale.name} scale",
        "",
        f"Built by `{command}` from the run records in `{ledger.as_posix()}/` alone (one JSON "
        f"file per finished and scored run, committed with this page). {_provenance(entries)}",
        "",
        f"**{done} of {len(entries)} runs finished** ({options.seeds} seed(s) per row). "
        "Regenerate this page at any time, on any clone, with the same command and "
        "`--report-only`: it reads nothing but the records; rows not yet recorded say *pending*.",
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
        f"- Source: the records `{ledger.as_posix()}/<row>-seed<k>.json`, the only input of "
        "this page. Each holds the run's config and exact `heatmark train` command (paths in "
        f"the default runs folder `{canonical_runs(scale).as_posix()}`, so records compare "
        "across machines), its scores with the per-image errors, the validation curve, the "
        "mean training loss of each epoch, its training time and the heatmark commit. "
        "`heatmark reproduce` writes a record when it has scored a run; the records are "
        "committed, so the grid continues across sessions and machines: a run whose record "
        "holds the config the grid gives now is neither trained nor scored again, even on a "
        "fresh clone without `runs/`. A record with another config is refused, naming it and "
        "the keys (`--retrain NAME` trains the run again, or delete the record).",
        f"- The run folders `{options.runs}/<row>-seed<k>/` (not committed) hold what the "
        "records are made from on the machine that trained them: `config.yaml`, the logs "
        "(`steps.csv`, `validation.csv`, `train.log`), the checkpoints, `evaluation.json` and "
        "`reproduce.json` (every training session); each record names its folder.",
        "",
        "## Budget",
        "",
        *budget_lines(options, entries, timing or {}, timing_source or "not measured"),
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
    lines += _pending_lines(entries, ledger)
    lines += _run_lines(entries, out)
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
            "Robustness (`heatmark.robustness`): NME % (FR_L@0.1 %), mean over seeds; "
            "occlusions on the same hold-out, and "
            + (
                f"*{PROTOCOL_TITLES[CROSS_DOMAIN]}* the cross-domain protocol: the "
                f"{CROSS_DOMAIN_COUNT} rendered faces of `heatmark robustness --data synthetic` "
                "(seed 7), a domain no run trains on. *n=1*: only one seed has the cell; *not "
                "scored*: no recorded seed has it (the protocol was added after their weights "
                "were gone; `--retrain` scores them)."
                if CROSS_DOMAIN in protocols
                else ""
            ),
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
                    cell = (
                        f"{100 * np.mean(nme):.2f} ({100 * np.mean(fr):.2f})" if nme else "pending"
                    )
                    if nme and len(nme) < len(entry.scored):
                        cell += f" *n={len(nme)}*"
                    elif not nme and entry.scored:  # recorded, never under this protocol
                        cell = "not scored"
                    cells.append(cell)
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

    def figure(path: Path, caption: str, sources: str) -> None:
        relative = os.path.relpath(path, out.parent)
        lines.extend(
            [
                f"![{caption}]({relative})",
                "",
                f"*{caption}.* Seed-0 records: {sources}. Made by `{command}`.",
                "",
            ]
        )

    seed0 = [entry for row in rows if (entry := row.seed0()) is not None]
    curves = _curves(rows, multi)
    if curves:
        path = figures / f"{table.name}-ced.png"
        _plot_ced(curves, path, f"{table.name}: CED on the hold-out", 0.1)
        caption = f"CED of the image NMEs, {table.name} (own decoding of each row)"
        figure(path, caption, _sources(seed0, out))
    for protocol in ("occlusion-large",):
        curves = _robust_curves(rows, protocol)
        if curves:
            path = figures / f"{table.name}-{protocol}-ced.png"
            _plot_ced(curves, path, f"{table.name}: CED under {protocol}", 0.3)
            caption = f"CED of the image NMEs under {protocol}, {table.name}"
            figure(path, caption, _sources(seed0, out))
    if table.name == "awing-ablation":
        pair = [entry for entry in rows if entry.row.name in ("t7-mse", "t7-awing", "t7-wmap")]
        if any(entry.seed0() is not None for entry in pair):
            path = figures / "mse-vs-awing-loss.png"
            drawn = plot_loss_curves(pair, path, "MSE vs AWing (seed 0)")
            relative = os.path.relpath(path, out.parent)
            lines += [
                f"![MSE vs AWing training curves]({relative})",
                "",
                "*MSE vs AWing: mean training loss of each epoch relative to the first epoch's "
                "(log scale) and hold-out NME during training, from the `train_loss` and "
                f"`validation` of {_sources(drawn, out)}.* Made by "
                f"`{_only_command(options, [e.row.name for e in pair])}`.",
                "",
            ]
    return lines


def _pending_lines(entries: Sequence[Entry], ledger: Path) -> list[str]:
    waiting = [e for e in entries if e.record is None]
    lines = ["## Pending runs", ""]
    if not waiting:
        return [*lines, "None: every run of the grid is finished, scored and recorded.", ""]
    lines += [
        f"Runs without a record in `{ledger.as_posix()}/` (`heatmark reproduce --dry-run` "
        "shows how far each one is on this machine):",
        "",
    ]
    lines += [f"- `{e.run.name}`: pending" for e in waiting]
    return [*lines, ""]


def _run_lines(entries: Sequence[Entry], out: Path) -> list[str]:
    lines = [
        "## Runs",
        "",
        "Every run, its record, the folder it was trained in, its training time (the sum of its "
        "sessions) and the heatmark commit it was recorded at; the command trains it from "
        "scratch in the default runs folder (`heatmark reproduce` adds `--resume RUN` to "
        "continue one).",
        "",
    ]
    rows = []
    for entry in entries:
        record = entry.record
        if record is None:
            rows.append([f"`{entry.run.name}`", "pending", "-", "-", "-"])
            continue
        seconds = float(record.get("train_seconds") or 0.0)
        rows.append(
            [
                f"`{entry.run.name}`",
                _link(entry.path, out),
                f"`{record.get('run_dir', '?')}`",
                f"{seconds / 60:.1f} min" if seconds else "-",
                f"`{record.get('commit') or 'unknown'}`",
            ]
        )
    lines += _md_table(("run", "record", "run folder", "training time", "commit"), rows)
    lines += ["<details><summary>Commands</summary>", ""]
    for entry in entries:
        command = recorded_command(entry.record or {})
        if command:
            lines += [f"`{entry.run.name}`:", "", "```sh", command, "```", ""]
    lines += ["</details>", ""]
    return lines


def scale_timing(scale: Scale, ledger: Path) -> tuple[dict[str, float], str]:
    """Seconds per epoch per row: the ledger's ``timing.json`` (``--measure``, committed with
    the records) if present, else the scale's built-in measurement (never a run folder's file:
    the page must be the same on a fresh clone)."""
    path = ledger / TIMING
    try:
        measured = json.loads(path.read_text())
        return {k: float(v) for k, v in measured["seconds_per_epoch"].items()}, (
            f"measured by `heatmark reproduce --measure` into `{path.as_posix()}`"
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    if scale.seconds_per_epoch:
        return dict(
            scale.seconds_per_epoch
        ), "measured when the grid was written, see heatmark.reproduce"
    return {}, "not measured"
