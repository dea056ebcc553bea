"""``heatmark reproduce``: the CLI's one entry point into the package (plan, train, measure,
write the page). ``Request.ledger`` is where the run records go (``ledger.default_ledger``:
docs/results/records/ for the study), ``Request.retrain`` the runs to train again from scratch."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console
from rich.table import Table as RichTable

from heatmark.errors import HeatmarkError
from heatmark.reproduce.grid import SCALES, scale_rows, select_rows, shell_command
from heatmark.reproduce.ledger import TIMING, default_page
from heatmark.reproduce.runner import (
    GridOptions,
    GridRunner,
    GridSummary,
    ReproduceInterrupted,
    grid_statuses,
)


@dataclass(frozen=True)
class Request:
    """The command line, parsed."""

    scale: str = "study"
    only: str | None = None
    seeds: int = 2
    runs: Path | None = None
    out: Path | None = None
    data: Path | None = Path("../shared/data/300w")
    device: str | None = None
    jobs: int | None = None
    threads: int | None = None
    budget_minutes: float | None = None
    dry_run: bool = False
    report_only: bool = False
    measure: bool = False
    ledger: Path | None = None
    """The run records' folder (None: the scale's default, ``ledger.default_ledger``)."""
    retrain: str | None = None
    """Runs or rows to train again from scratch, comma-separated (their records are replaced)."""


default_out = default_page


def _options(request: Request) -> tuple[GridOptions, GridOptions, Path]:
    """(options of the runs to train, options of the whole grid for the page, page path)."""
    if request.scale not in SCALES:
        raise HeatmarkError(f"--scale {request.scale!r}: choose from {', '.join(SCALES)}")
    scale = SCALES[request.scale]
    if request.seeds < 1:
        raise HeatmarkError(f"--seeds must be at least 1, got {request.seeds}")
    if request.budget_minutes is not None and request.budget_minutes < 0:
        raise HeatmarkError(f"--budget-minutes must not be negative, got {request.budget_minutes}")
    for flag, value in (("--jobs", request.jobs), ("--threads", request.threads)):
        if value is not None and value < 1:
            raise HeatmarkError(f"{flag} must be at least 1, got {value}")
    if request.device not in (None, "cpu", "cuda", "auto"):
        raise HeatmarkError(f"--device must be cpu, cuda or auto, got {request.device!r}")
    if sum((request.dry_run, request.report_only, request.measure)) > 1:
        raise HeatmarkError("give at most one of --dry-run, --report-only, --measure")
    runs = request.runs or Path("runs/reproduce") / scale.name
    names = [n.strip() for n in request.only.split(",") if n.strip()] if request.only else None
    if request.only is not None and not names:
        raise HeatmarkError("--only: give row or table names, comma-separated")
    rows = select_rows(scale, names)
    retrain = tuple(n.strip() for n in (request.retrain or "").split(",") if n.strip())
    if request.retrain is not None and not retrain:
        raise HeatmarkError("--retrain: give run or row names, comma-separated")
    if retrain and (request.report_only or request.measure):
        raise HeatmarkError("--retrain trains runs: not with --report-only or --measure")
    options = GridOptions(
        scale=scale,
        rows=rows,
        seeds=request.seeds,
        runs=runs,
        data=request.data,
        device=request.device,
        jobs=request.jobs,
        threads=request.threads,
        budget_minutes=request.budget_minutes,
        ledger=request.ledger,
        retrain=retrain,
    )
    page = replace(options, rows=scale_rows(scale), retrain=())
    return options, page, request.out or default_out(scale.name, runs)


def page_command(options: GridOptions, out: Path) -> str:
    """The command that regenerates the page (and trains what it lacks)."""
    arguments = ["reproduce", "--scale", options.scale.name, "--seeds", str(options.seeds)]
    arguments += ["--runs", str(options.runs), "--out", str(out)]
    if options.data is not None and not options.scale.synthetic:
        arguments += ["--data", str(options.data)]
    return shell_command(arguments + options.ledger_arguments())


def write_page(page: GridOptions, out: Path, console: Console) -> Path:
    """The page from the ledger's records alone (``results.write_results``)."""
    from heatmark.reproduce.results import page_entries, scale_timing, write_results

    timing, source = scale_timing(page.scale, page.ledger_dir)
    entries = page_entries(page)
    path = write_results(page, entries, out, page_command(page, out), timing, source)
    console.print(f"results written to {path}", highlight=False)
    return path


def _dry_run(options: GridOptions, console: Console) -> None:
    from heatmark.reproduce.results import scale_timing, state_text

    timing, source = scale_timing(options.scale, options.ledger_dir)
    statuses = grid_statuses(options)
    table = RichTable(title=f"heatmark reproduce --scale {options.scale.name}: plan")
    for column in ("#", "run", "state", "epochs left", "est. minutes (1 thread)"):
        table.add_column(column, justify="right" if column != "run" else "left")
    total = 0.0
    for index, status in enumerate(statuses, start=1):
        left = max(0, status.epochs - status.saved_epochs) if status.state != "done" else 0
        seconds = timing.get(status.run.row.name)
        minutes = "?" if seconds is None else f"{seconds * left / 60:.0f}"
        total += (seconds or 0.0) * left
        table.add_row(str(index), status.run.name, state_text(status), str(left), minutes)
    Console().print(table)
    if not options.scale.synthetic and options.data is not None and not options.data.exists():
        console.print(
            f"note: --data {options.data}: no such folder here; training the grid needs the "
            "300-W faces (heatmark reproduce --data DIR)",
            highlight=False,
        )
    jobs = options.job_count
    if timing:
        estimate = (
            f"about {total / 3600:.1f} CPU-thread hours left ({source}); "
            f"~{total / 3600 / jobs:.1f} h with --jobs {jobs}."
        )
    else:
        estimate = f"No seconds-per-epoch figures at the {options.scale.name} scale (--measure)."
    console.print(
        f"{estimate} heatmark reproduce writes each run's command to "
        f"{options.runs}/<run>/reproduce.json and, once it is scored, its record to "
        f"{options.ledger_dir}/<run>.json; the first one:",
        highlight=False,
    )
    if statuses:
        from heatmark.reproduce.grid import train_command

        console.print(
            shell_command(train_command(statuses[0].run, options.scale, options.layout())),
            highlight=False,
            soft_wrap=True,
        )


def _measure(options: GridOptions, console: Console) -> None:
    from heatmark.reproduce.measure import measure_rows, write_timing
    from heatmark.reproduce.runner import prepare_layout

    layout = prepare_layout(options)
    timing = measure_rows(options.scale, options.rows, layout, console=console)
    path = options.ledger_dir / TIMING  # committed with the records: the page's budget
    write_timing(path, timing, threads=1)
    console.print(f"seconds per epoch written to {path}", highlight=False)


def run_request(request: Request, console: Console) -> GridSummary | None:
    """Do what the command line asks; raises ``ReproduceInterrupted`` (after writing the page)
    when a signal stopped the grid, ``HeatmarkError`` when runs failed."""
    options, page, out = _options(request)
    if request.dry_run:
        _dry_run(options, console)
        return None
    if request.measure:
        _measure(options, console)
        return None
    if request.report_only:
        write_page(page, out, console)
        return None
    runner = GridRunner(options, console)
    try:
        summary = runner.run()
    except ReproduceInterrupted:
        write_page(page, out, console)
        raise
    write_page(page, out, console)
    console.print(
        f"{len(summary.cached)} cached, {len(summary.started)} started, {len(summary.resumed)} "
        f"resumed, {len(summary.finished)} finished, {len(summary.evaluated)} scored, "
        f"{len(summary.recorded)} recorded in {runner.ledger.folder}, {len(summary.stopped)} "
        f"stopped at the budget, {len(summary.not_started)} not started"
        + (
            f"; {len(summary.rescored)} recorded runs scored under new protocols"
            if summary.rescored
            else ""
        ),
        highlight=False,
    )
    if summary.incomplete:
        console.print(
            f"{len(summary.incomplete)} recorded run(s) lack a protocol their row lists now and "
            f"their weights are not in {options.runs} ({', '.join(summary.incomplete)}); the page "
            "shows those cells for the seeds that have them (--retrain NAME scores all)",
            highlight=False,
        )
    if summary.failed:
        listed = "; ".join(f"{name}: {why}" for name, why in summary.failed.items())
        raise HeatmarkError(f"{len(summary.failed)} run(s) failed ({listed})")
    return summary
