"""Training the grid: one ``heatmark train`` process per run, cached, resumed, within a budget.

- Cache: a run is done when the ledger (``heatmark.reproduce.ledger``: ``docs/results/records/``
  for the study, committed) holds its record and the record's config is the one the grid
  gives now; a done run is neither trained nor scored again, even where its run folder does not
  exist (a fresh clone). A record with another config is an error naming the file and the keys
  (``--retrain NAME`` trains the run again, or delete the record). A run folder whose
  ``config.yaml`` differs from what the grid would train now is an error too, never silently
  reused. A finished run scored in its folder (``evaluation.json`` of its current ``last``) but
  not recorded gets its record on the next invocation, without training or scoring.
- Resume: a run with a saved epoch continues with ``heatmark train ... --resume RUN`` (the
  trainer's own, epoch-granular resume: a stop mid-epoch redoes that epoch); one stopped before
  its first epoch ended, or named by ``--retrain``, starts again with ``--overwrite``.
- Budget: after ``budget_minutes`` no run starts, and the running ones get SIGTERM, which the
  trainer answers by stopping after the current step with ``last`` intact (exit 143); the next
  invocation resumes them. SIGINT/SIGTERM of ``heatmark reproduce`` itself do the same, then
  exit 130/143.
- Order: ``grid.expand``'s (seed 0 of every row, headline rows first, then seed 1...); with
  ``jobs`` > 1 that many runs train at once, each on ``threads`` CPU threads.

Each run folder gets ``reproduce.json`` (row, seed, scale, the exact ``heatmark train`` command
and every session: when, at which heatmark commit, from which epoch to which, exit status) and
``train.log`` (the trainer's output); once scored, the run's record goes to the ledger. Runs are
children in their own session (a terminal's Ctrl-C reaches only this process, which stops them
with exactly one signal) and, on Linux, get SIGTERM if this process dies.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from heatmark.errors import HeatmarkError
from heatmark.reproduce.evaluation import (
    checkpoint_digest,
    evaluate_run,
    evaluation_samples,
    missing_protocols,
    read_evaluation,
)
from heatmark.reproduce.grid import (
    Layout,
    Row,
    Run,
    Scale,
    expand,
    run_config,
    shell_command,
    train_command,
)
from heatmark.reproduce.holdout import materialise_holdout
from heatmark.reproduce.ledger import (
    NEUTRAL_KEYS,
    Ledger,
    default_ledger,
    heatmark_commit,
    holdout_identity,
)
from heatmark.train.config import (
    Config,
    config_differences,
    config_from_dict,
    parse_yaml,
)

RUN_INFO = "reproduce.json"
TRAIN_LOG = "train.log"
LOCK = ".reproduce.lock"
STOPPED_CODES = frozenset({130, 143, -signal.SIGINT, -signal.SIGTERM})
"""Exit statuses of a trainer stopped by SIGINT/SIGTERM (cleanly, or before it could catch it)."""
KILL_AFTER_SECONDS = 600.0
"""A run that ignores SIGTERM this long (it should stop after one step) is killed."""


class ReproduceInterrupted(HeatmarkError):
    """SIGINT/SIGTERM stopped the grid; ``exit_code`` is 128 + the signal."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class RunStatus:
    """What a run folder holds now."""

    run: Run
    run_dir: Path
    config: Config
    saved_epochs: int
    """Epochs in ``last`` (0: none saved)."""
    has_files: bool
    """The trainer has written something (a fresh start must then pass --overwrite)."""
    evaluation: dict[str, Any] | None
    info: dict[str, Any]
    neutral_changes: bool = False
    """The folder's config differs from the grid's only in ``NEUTRAL_KEYS``."""
    record: dict[str, Any] | None = None
    """The run's ledger record (it holds the current config): the run is done."""
    fresh: bool = False
    """``--retrain``: start from scratch whatever the folder holds (``--overwrite``)."""

    @property
    def epochs(self) -> int:
        return self.config.schedule.epochs

    @property
    def state(self) -> str:
        """``done`` (recorded in the ledger), ``scored`` (its folder is scored: to record),
        ``trained`` (to score), ``partial`` or ``pending``."""
        if self.record is not None:
            return "done"
        if self.saved_epochs >= self.epochs:
            return "scored" if self.evaluation is not None else "trained"
        return "partial" if self.has_files else "pending"

    @property
    def train_seconds(self) -> float:
        return float(sum(s.get("seconds", 0.0) for s in self.info.get("sessions", [])))


def _saved_epochs(run_dir: Path) -> int:
    path = run_dir / "last.json"
    try:
        return int(json.loads(path.read_text())["epoch"]) + 1
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _read_info(run_dir: Path) -> dict[str, Any]:
    try:
        info = json.loads((run_dir / RUN_INFO).read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _has_files(run_dir: Path) -> bool:
    """The trainer has written something there (a fresh start must pass ``--overwrite``)."""
    return any(
        (run_dir / name).exists()
        for name in ("config.yaml", "steps.csv", "last.json", "last.json.tmp", "last.safetensors")
    )


def inspect_run(
    run: Run,
    scale: Scale,
    layout: Layout,
    ledger: Ledger | None = None,
    retrain: bool = False,
) -> RunStatus:
    """The run's status: done when ``ledger`` holds its record, else what its folder holds; a
    ``HeatmarkError`` when the record or the folder has another config than the grid gives now.
    ``retrain``: neither the record nor the folder counts, the run starts from scratch."""
    config = run_config(run, scale, layout)
    run_dir = layout.run_dir(run)
    if retrain:
        return RunStatus(run, run_dir, config, 0, _has_files(run_dir), None, {}, fresh=True)
    record = ledger.load(run) if ledger is not None else None
    if record is not None:
        evaluation = record["evaluation"]
        info = _read_info(run_dir)
        return RunStatus(
            run, run_dir, config, config.schedule.epochs, True, evaluation, info, record=record
        )
    neutral = False
    saved_config = run_dir / "config.yaml"
    if saved_config.is_file():
        source = str(saved_config)
        old = config_from_dict(parse_yaml(saved_config.read_text(), source) or {}, source)
        differences = config_differences(old, config)
        real = [(k, a, b) for k, a, b in differences if k not in NEUTRAL_KEYS]
        if real:
            listed = "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in real[:6])
            raise HeatmarkError(
                f"{run_dir}: trained with another config than row {run.row.name} gives now "
                f"({listed}{'; ...' if len(real) > 6 else ''}); train it again with "
                f"--retrain {run.name}, remove that folder, or pass another --runs"
            )
        neutral = bool(differences)
    saved = _saved_epochs(run_dir)
    has_files = saved > 0 or _has_files(run_dir)
    evaluation = read_evaluation(run_dir) if saved >= config.schedule.epochs else None
    return RunStatus(
        run, run_dir, config, saved, has_files, evaluation, _read_info(run_dir), neutral
    )


@dataclass
class GridOptions:
    """What ``heatmark reproduce`` was asked to do."""

    scale: Scale
    rows: Sequence[Row]
    seeds: int = 2
    runs: Path = Path("runs/reproduce")
    data: Path | None = Path("../shared/data/300w")
    device: str | None = None
    jobs: int | None = None
    threads: int | None = None
    budget_minutes: float | None = None
    batch_size: int = 16
    ledger: Path | None = None
    """The records' folder (None: ``ledger.default_ledger`` of the scale)."""
    retrain: tuple[str, ...] = ()
    """Run or row names to train again from scratch (their records are replaced)."""

    @property
    def ledger_dir(self) -> Path:
        return self.ledger or default_ledger(self.scale.name, self.runs)

    def ledger_arguments(self) -> list[str]:
        """``--ledger DIR`` when the records are not in the scale's default folder."""
        if self.ledger_dir == default_ledger(self.scale.name, self.runs):
            return []
        return ["--ledger", str(self.ledger_dir)]

    def make_ledger(self) -> Ledger:
        """The grid's ledger; its hold-out is compared when this runs folder has one."""
        holdout = None
        if not self.scale.synthetic:
            holdout = holdout_identity(self.runs / "split", self.data)
        return Ledger(self.ledger_dir, self.scale, self.device, holdout)

    def retrain_runs(self) -> set[str]:
        """The run names ``retrain`` names (a row name: each of its seeds); an unknown name is
        a ``HeatmarkError`` listing the grid's runs."""
        plan = self.plan()
        chosen: set[str] = set()
        for name in self.retrain:
            found = [run.name for run in plan if name in (run.name, run.row.name)]
            if not found:
                raise HeatmarkError(
                    f"--retrain {name!r}: no such run or row in this grid; runs: "
                    + ", ".join(run.name for run in plan)
                )
            chosen.update(found)
        return chosen

    @property
    def job_count(self) -> int:
        return max(1, self.jobs or self.scale.jobs)

    @property
    def thread_count(self) -> int:
        return self.threads or max(1, (os.cpu_count() or 1) // self.job_count)

    def layout(self) -> Layout:
        """The grid's folders (nothing is created)."""
        if self.scale.synthetic:
            return Layout(self.runs, device=self.device)
        split = self.runs / "split"
        return Layout(self.runs, split / "train", split / "val", self.device)

    def plan(self) -> list[Run]:
        return expand(self.rows, self.seeds)


def prepare_layout(options: GridOptions) -> Layout:
    """Create the runs folder and, for real data, the hold-out folders."""
    options.runs.mkdir(parents=True, exist_ok=True)
    layout = options.layout()
    if not options.scale.synthetic:
        if options.data is None:
            raise HeatmarkError(f"scale {options.scale.name} needs --data")
        materialise_holdout(options.data, options.runs / "split")
    return layout


@contextlib.contextmanager
def grid_lock(runs: Path) -> Iterator[None]:
    """Hold ``runs/.reproduce.lock``: two grids training into one folder would share runs."""
    import fcntl

    path = runs / LOCK
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise HeatmarkError(
                f"{runs}: another heatmark reproduce is training here (it holds {path})"
            ) from None
        yield
    finally:
        handle.close()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the child gets SIGTERM (a clean stop) if ``heatmark reproduce`` dies."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class Job:
    """A running ``heatmark train`` process."""

    status: RunStatus
    process: subprocess.Popen
    log: IO[str]
    started: float
    session: dict[str, Any]
    stopping: bool = False
    stop_sent: float = 0.0


@dataclass
class GridSummary:
    """What one invocation did, by run name (``cached``: neither trained nor scored this time;
    ``recorded``: ledger records written, after scoring or for a run scored earlier)."""

    cached: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    evaluated: list[str] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    not_started: list[str] = field(default_factory=list)
    rescored: list[str] = field(default_factory=list)
    """Recorded runs scored under the protocols their row gained since."""
    incomplete: list[str] = field(default_factory=list)
    """Recorded runs that lack a protocol of their row and whose weights are not here."""
    budget_reached: bool = False

    @property
    def trained(self) -> list[str]:
        return self.started + self.resumed


StopRule = Callable[[Sequence[Job]], bool]


class GridRunner:
    """Runs the not-yet-done runs of a grid (module docstring); ``stop_rule`` replaces the
    budget clock (tests: "stop once an epoch is saved")."""

    def __init__(
        self,
        options: GridOptions,
        console: Console | None = None,
        stop_rule: StopRule | None = None,
        poll_seconds: float = 0.5,
    ) -> None:
        self.options = options
        self.console = console or Console(stderr=True)
        self.stop_rule = stop_rule
        self.poll = poll_seconds
        self.signal: int | None = None
        self.summary = GridSummary()
        self.ledger = options.make_ledger()
        self._samples: dict[tuple, tuple[list, Path | None]] = {}

    # ------------------------------------------------------------------ public
    def run(self) -> GridSummary:
        """Train and score what is missing. Raises ``ReproduceInterrupted`` after a signal
        (the runs stopped cleanly); failed runs are listed in the summary."""
        options = self.options
        retrain = options.retrain_runs()
        layout = prepare_layout(options)
        self.ledger = options.make_ledger()  # with the hold-out just materialised
        with grid_lock(options.runs), self._signals():
            statuses = [
                inspect_run(run, options.scale, layout, self.ledger, run.name in retrain)
                for run in options.plan()
            ]
            for status in statuses:
                if status.state == "scored":  # scored before the ledger had its record
                    self._write_record(status, status.evaluation or {})
                elif status.state == "done":
                    self._complete(status)
            self.summary.cached = [s.run.name for s in statuses if s.state == "done"]
            queue = [s for s in statuses if s.state not in ("done", "scored")]  # scored: failed
            self._loop(queue, layout)
        if self.signal is not None:
            name = signal.Signals(self.signal).name
            raise ReproduceInterrupted(
                f"{name} stopped the grid; the runs in progress were stopped cleanly and "
                "resume with the same command",
                128 + self.signal,
            )
        return self.summary

    # ------------------------------------------------------------------ loop
    def _over(self, jobs: Sequence[Job], deadline: float | None) -> bool:
        if self.signal is not None:
            return True
        if self.stop_rule is not None:
            return self.stop_rule(jobs)
        return deadline is not None and time.monotonic() >= deadline

    def _loop(self, queue: list[RunStatus], layout: Layout) -> None:
        options = self.options
        deadline = None
        if options.budget_minutes is not None:
            deadline = time.monotonic() + 60 * options.budget_minutes
        running: list[Job] = []
        total = len(queue) + len(self.summary.cached)
        self.console.print(
            f"[bold]heatmark reproduce[/] {options.scale.name}: {len(self.summary.cached)} of "
            f"{total} runs done, {len(queue)} to go; {options.job_count} at once, "
            f"{options.thread_count} thread(s) each"
            + (f"; budget {options.budget_minutes:g} min" if deadline is not None else ""),
            highlight=False,
        )
        progress = _progress(self.console)
        grid = progress.add_task("grid", total=total, completed=len(self.summary.cached), epochs="")
        tasks: dict[str, Any] = {}
        announced = False
        try:
            with progress:
                while True:
                    over = self._over(running, deadline)
                    if over and not announced:
                        announced = True
                        self.summary.budget_reached = self.signal is None
                        if self.signal is None:
                            self.console.print(
                                f"budget reached: no more runs start, {len(running)} in progress "
                                "stop after their current step (they resume next time)",
                                highlight=False,
                            )
                    if over:
                        for job in running:
                            self._stop(job)
                    while not over and queue and len(running) < options.job_count:
                        status = queue.pop(0)
                        if status.state == "trained":
                            self._evaluate(status, layout)
                            progress.advance(grid)
                        else:
                            job = self._start(status, layout)
                            running.append(job)
                            tasks[job.status.run.name] = progress.add_task(
                                job.status.run.name,
                                total=job.status.epochs,
                                completed=job.status.saved_epochs,
                                epochs="epochs",
                            )
                        over = self._over(running, deadline)
                    for job in list(running):
                        task = tasks[job.status.run.name]
                        progress.update(task, completed=_saved_epochs(job.status.run_dir))
                        if job.process.poll() is not None:
                            running.remove(job)
                            progress.remove_task(task)
                            self._finish(job, layout, evaluate=not self._over(running, deadline))
                            if job.session.get("outcome") == "finished":
                                progress.advance(grid)
                        elif job.stopping and time.monotonic() - job.stop_sent > KILL_AFTER_SECONDS:
                            job.process.kill()
                    if not running and (over or not queue):
                        break
                    time.sleep(self.poll)
        finally:
            for job in running:  # an error or a second signal: stop them, then wait
                self._stop(job)
            for job in running:
                try:
                    job.process.wait(timeout=KILL_AFTER_SECONDS)
                except subprocess.TimeoutExpired:
                    job.process.kill()
                    job.process.wait()
                self._record(job, job.process.returncode)
        self.summary.not_started = [s.run.name for s in queue]

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handle(signum: int, frame: Any) -> None:
            if self.signal is not None:
                raise KeyboardInterrupt
            self.signal = signum
            self.console.print(
                f"{signal.Signals(signum).name}: stopping the runs in progress (again: abort)",
                highlight=False,
            )

        previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # ------------------------------------------------------------------ jobs
    def _start(self, status: RunStatus, layout: Layout) -> Job:
        options = self.options
        run, run_dir = status.run, status.run_dir
        arguments = train_command(run, options.scale, layout)
        extra: list[str] = []
        resumed = not status.fresh and (
            (run_dir / "last.json").exists() or (run_dir / "last.json.tmp").exists()
        )
        if resumed:
            extra = ["--resume", str(run_dir)]
            if status.neutral_changes:
                extra.append("--allow-changes")
        elif status.has_files:
            extra = ["--overwrite"]  # stopped before its first epoch was saved, or --retrain
        if status.fresh and self.ledger.path(run).is_file():
            # --retrain: the old record goes once the new run starts (a budget that runs out
            # before keeps it); the new one is written when the run is scored
            self.ledger.path(run).unlink()
            self.console.print(f"--retrain: removed {self.ledger.path(run)}", highlight=False)
        run_dir.mkdir(parents=True, exist_ok=True)
        info = dict(status.info)
        info.update(
            format="heatmark-reproduce-run",
            version=1,
            row=run.row.name,
            table=run.row.table,
            label=run.row.label,
            seed=run.seed,
            scale=options.scale.name,
            command=shell_command(arguments),
        )
        info.setdefault("sessions", [])
        session = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "from_epoch": status.saved_epochs,
            "arguments": shell_command([*arguments, *extra]),
            "threads": options.thread_count,
            "commit": heatmark_commit(),
        }
        info["sessions"].append(session)
        status.info = info
        self._write_info(status)
        log = (run_dir / TRAIN_LOG).open("a")
        log.write(f"\n=== {session['started']}: {session['arguments']}\n")
        log.flush()
        env = dict(os.environ)
        threads = str(options.thread_count)
        env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        process = subprocess.Popen(
            [sys.executable, "-m", "heatmark.cli", *arguments, *extra],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        (self.summary.resumed if resumed else self.summary.started).append(run.name)
        where = f"resuming after epoch {status.saved_epochs}" if resumed else "from scratch"
        self.console.print(
            f"started {run.name} ({where}, {status.epochs} epochs) in {run_dir}", highlight=False
        )
        return Job(status, process, log, time.monotonic(), session)

    def _stop(self, job: Job) -> None:
        if job.stopping or job.process.poll() is not None:
            return
        job.stopping = True
        job.stop_sent = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            job.process.send_signal(signal.SIGTERM)

    def _record(self, job: Job, code: int) -> str:
        status = job.status
        saved = _saved_epochs(status.run_dir)
        if code == 0:
            outcome = "finished" if saved >= status.epochs else "ended early"
        elif code in STOPPED_CODES and job.stopping:
            outcome = "stopped"
        else:
            outcome = "failed"
        job.session.update(
            seconds=round(time.monotonic() - job.started, 1),
            to_epoch=saved,
            exit=code,
            outcome=outcome,
        )
        self._write_info(status)
        job.log.close()
        name = status.run.name
        if outcome == "stopped":
            self.summary.stopped.append(name)
        elif outcome == "failed":
            log = status.run_dir / TRAIN_LOG
            self.summary.failed[name] = f"exit status {code}; see {log}"
        return outcome

    def _finish(self, job: Job, layout: Layout, evaluate: bool) -> None:
        code = job.process.returncode
        outcome = self._record(job, code)
        status, name = job.status, job.status.run.name
        seconds = job.session["seconds"]
        if outcome == "failed":
            tail = _tail(status.run_dir / TRAIN_LOG)
            self.console.print(
                f"[red]failed[/] {name} (exit status {code}) after {seconds:.0f} s; last lines "
                f"of {status.run_dir / TRAIN_LOG}:\n{tail}",
                highlight=False,
            )
            return
        saved = job.session["to_epoch"]
        self.console.print(
            f"{outcome} {name}: {saved}/{status.epochs} epochs, {seconds:.0f} s this session",
            highlight=False,
        )
        if saved >= status.epochs:
            self.summary.finished.append(name)
            if evaluate:
                self._evaluate(inspect_run(status.run, self.options.scale, layout), layout)

    def _write_info(self, status: RunStatus) -> None:
        path = status.run_dir / RUN_INFO
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(status.info, indent=1) + "\n")
        temporary.replace(path)

    # ------------------------------------------------------------------ scoring
    def _evaluation_device(self, config: Config) -> str:
        import torch

        wanted = self.options.device or config.train.device
        if wanted == "cuda" or (wanted == "auto" and torch.cuda.is_available()):
            return "cuda"
        return "cpu"

    def _complete(self, status: RunStatus) -> None:
        """Score a recorded run under the protocols its row gained since, when its folder
        still holds the very weights the record scored (else the record stays as it is)."""
        record, row, name = status.record, status.run.row, status.run.name
        assert record is not None
        missing = missing_protocols(record["evaluation"], row.decodings, row.protocols)
        if not missing:
            return
        if not (status.run_dir / "last.safetensors").is_file() or checkpoint_digest(
            status.run_dir
        ) != record["evaluation"].get("sha256"):
            self.summary.incomplete.append(name)
            return
        result = self._score(status, previous=record["evaluation"])
        if result is None:
            return
        try:
            path = self.ledger.write(status.run, self.ledger.rescored(record, result, missing))
        except (OSError, ValueError, TypeError) as error:
            self.summary.failed[name] = f"writing its record failed: {error}"
            self.console.print(f"[red]recording {name} failed[/]: {error}")
            return
        self.summary.rescored.append(name)
        self.console.print(
            f"scored {name} under {', '.join(missing)} (its recorded weights) in "
            f"{result['seconds']:.0f} s; updated {path}",
            highlight=False,
        )

    def _score(
        self, status: RunStatus, previous: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """``evaluate_run`` for the run's row; None (and the run listed as failed) on error."""
        import torch

        config = status.config
        key = (config.data.train, config.data.val, config.data.input_size)
        if key not in self._samples:
            self._samples[key] = evaluation_samples(config)
        samples, root = self._samples[key]
        torch.set_num_threads(self.options.thread_count)  # beside the runs still training
        row = status.run.row
        try:
            result = evaluate_run(
                status.run_dir,
                row.decodings,
                row.protocols,
                samples,
                root,
                device=self._evaluation_device(config),
                batch_size=self.options.batch_size,
                previous=previous,
            )
        except (HeatmarkError, ValueError, RuntimeError, OSError) as error:
            self.summary.failed[status.run.name] = f"scoring failed: {error}"
            self.console.print(f"[red]scoring {status.run.name} failed[/]: {error}")
            return None
        return result

    def _evaluate(self, status: RunStatus, layout: Layout) -> None:
        result = self._score(status)
        if result is None:
            return
        row = status.run.row
        self.summary.evaluated.append(status.run.name)
        own = result["decodings"][row.decodings[0].value]["nme"]
        shown = "-" if own is None else f"{100 * own:.2f}%"
        self.console.print(
            f"scored {status.run.name}: NME {shown} ({row.decodings[0].value}, "
            f"{result['images']} faces) in {result['seconds']:.0f} s",
            highlight=False,
        )
        self._write_record(status, result)

    def _write_record(self, status: RunStatus, evaluation: dict[str, Any]) -> None:
        """Write the run's ledger record (the run is then done everywhere the ledger is)."""
        run, name = status.run, status.run.name
        try:
            record = self.ledger.build(run, status.run_dir, evaluation, _read_info(status.run_dir))
            path = self.ledger.write(run, record)
        except (OSError, ValueError, TypeError, HeatmarkError) as error:
            self.summary.failed[name] = f"writing its record failed: {error}"
            self.console.print(f"[red]recording {name} failed[/]: {error}")
            return
        status.record = record
        self.summary.recorded.append(name)
        self.console.print(f"recorded {name} in {path}", highlight=False)


def _progress(console: Console) -> Progress:
    """Runs done of the grid, and the epochs of each run in progress."""
    return Progress(
        TextColumn("[bold]{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[epochs]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace").rstrip().splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(f"  {line}" for line in text[-lines:])


def grid_statuses(options: GridOptions) -> list[RunStatus]:
    """The status of every run of the grid (nothing is trained or created)."""
    layout, ledger = options.layout(), options.make_ledger()
    retrain = options.retrain_runs()
    return [
        inspect_run(run, options.scale, layout, ledger, run.name in retrain)
        for run in options.plan()
    ]
