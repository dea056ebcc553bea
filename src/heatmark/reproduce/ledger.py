"""The committed ledger: one small JSON record per finished and scored run, the source of the
results page and the cache that outlives ``runs/``.

``runs/`` is git-ignored and a work session starts from a fresh clone, so whatever a session
trained is gone in the next one unless its numbers are in git. Once a run is scored,
``heatmark reproduce`` writes ``<ledger>/<row>-seed<k>.json`` (``docs/results/records/`` for the
study scale: beside the page's figures, committed with it): the run's config and its
``heatmark train`` command, the evaluation (metrics, per-image NMEs, robustness), the
validation curve, the training loss per epoch, the training time and the heatmark commit. A run
whose record holds the config the grid gives now is done: it is neither trained nor scored
again, even where its run folder does not exist, and the page is written from the records
alone (``--report-only`` on a fresh clone rebuilds the same page). The folder also holds
``timing.json`` (``heatmark reproduce --measure``), the page's budget arithmetic.

Portable records: the config and the command are recorded as the grid builds them in the
scale's default runs folder (``runs/reproduce/<scale>``), whatever ``--runs`` was, so records
compare equal on every machine; the hold-out is identified by which faces it holds out
(``holdout``: counts and a digest of ``split.json``'s list), not by where the dataset lies. A
path outside the working folder is recorded by its last two parts (``.../runs/t7-mse-seed0``),
never as an absolute path. Records are written atomically with sorted keys, numbers outside
the config rounded to 7 significant digits, and no NaN (``None`` instead).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import platform
import re
import subprocess
from dataclasses import dataclass
from importlib import metadata
from numbers import Integral, Real
from pathlib import Path
from typing import Any

from heatmark.errors import HeatmarkError
from heatmark.recipes import bundled_name
from heatmark.reproduce.grid import Layout, Run, Scale, run_config, shell_command, train_command
from heatmark.train.config import Config, config_differences, config_from_dict

FORMAT = "heatmark-reproduce-record"
VERSION = 1
TIMING = "timing.json"
"""``heatmark reproduce --measure``'s seconds per epoch, kept in the ledger with the records."""
SIGNIFICANT = 7
NEUTRAL_KEYS = frozenset({"train.progress", "train.log_every", "data.workers", "train.device"})
"""Settings that may differ between sessions of a run, or between a record and the grid: they
change neither data nor numbers (``train.device``: a run may continue on another machine)."""
HOLDOUT_KEYS = ("seed", "val_fraction", "val_subset", "train_faces", "val_faces", "val_sha256")
"""What identifies a hold-out across machines (not the dataset's place)."""
RECORD_FIELDS = ("config", "evaluation")


def default_page(scale: str, runs: Path) -> Path:
    """The page: docs/results.md for the CPU study, docs/results-paper.md for the paper scale,
    inside the runs folder for the smoke scale (never the repository's page)."""
    if scale == "study":
        return Path("docs/results.md")
    if scale == "paper":
        return Path("docs/results-paper.md")
    return runs / "results.md"


def default_ledger(scale: str, runs: Path) -> Path:
    """The records: a ``records/`` folder beside the default page's figures
    (docs/results/records/ for the study, docs/results-paper/records/ for the paper scale; the
    smoke scale's stays inside its runs folder). Not ``runs/``: .gitignore ignores every folder
    of that name, and the records must be committed."""
    return default_page(scale, runs).with_suffix("") / "records"


def canonical_runs(scale: Scale) -> Path:
    """The scale's default runs folder: the one every record's config and command name."""
    return Path("runs/reproduce") / scale.name


def canonical_layout(scale: Scale, device: str | None = None) -> Layout:
    """The grid's layout in the scale's default runs folder (nothing is created)."""
    runs = canonical_runs(scale)
    if scale.synthetic:
        return Layout(runs, device=device)
    return Layout(runs, runs / "split" / "train", runs / "split" / "val", device)


def portable(path: Path | str) -> str:
    """``path`` as a record may hold it: as given when relative, relative to the working folder
    when inside it, else ``.../<parent>/<name>`` (no absolute path of one machine)."""
    path = Path(path)
    if not path.is_absolute():
        return path.as_posix()
    try:
        return Path(os.path.abspath(path)).relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return "/".join(("...", *path.parts[-2:]))


_CODE = ("src", "pyproject.toml", "constraints.txt")
"""What a run's numbers depend on in the checkout (the recipes are in src/heatmark/recipes)."""


def heatmark_commit() -> str | None:
    """The commit of the heatmark checkout this package runs from (``+dirty`` with uncommitted
    changes to its code or recipes: records and pages the grid writes itself do not count);
    None outside a git checkout."""
    root = Path(__file__).resolve().parents[3]
    if not (root / ".git").exists():
        return None
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # a status must not rewrite the index

    def git(*arguments: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *arguments],
            capture_output=True,
            text=True,
            check=True,
            env=env,
            timeout=30,
        ).stdout.strip()

    try:
        head = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", *_CODE)
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def machine() -> str:
    """The machine a record was written on, in words (for the page's provenance line)."""
    try:
        torch = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch = "?"
    return (
        f"{os.cpu_count()} CPU(s), {platform.machine()}, Python {platform.python_version()}, "
        f"torch {torch}"
    )


def holdout_identity(split: Path, data: Path | None) -> dict[str, Any] | None:
    """The hold-out written in ``split/split.json`` (``holdout.materialise_holdout``) as a
    record holds it; None when there is none (synthetic data, a grid not prepared here)."""
    try:
        manifest = json.loads((split / "split.json").read_text())
        held_out = manifest["val"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    digest = hashlib.sha256(json.dumps(held_out).encode()).hexdigest()
    identity = {key: manifest.get(key) for key in HOLDOUT_KEYS[:-1]}
    return {**identity, "val_sha256": digest, "data": None if data is None else portable(data)}


_OLD_RECIPE_PATH = re.compile(r"(?<= -c )configs/([A-Za-z0-9_.-]+)\.yaml(?= |$)")


def recorded_command(record: dict[str, Any]) -> str | None:
    """A record's ``heatmark train`` command as it runs today: records written while the
    recipes were files in the repository's ``configs/`` name the base recipe by that path
    (``-c configs/cpu_shipped_300w.yaml``), now the bundled recipe of the same name
    (``-c cpu_shipped_300w``, the same YAML). Whether a record is current never depends on its
    command (``Ledger.differences`` compares configs), so older records stay valid."""
    command = record.get("command")
    if not isinstance(command, str):
        return None

    def bundled(match: re.Match[str]) -> str:
        name = match.group(1)
        return name if bundled_name(name) is not None else match.group(0)

    return _OLD_RECIPE_PATH.sub(bundled, command)


# ---------------------------------------------------------------------------------- JSON


def compact(value: Any) -> Any:
    """``value`` with every number rounded to ``SIGNIFICANT`` digits and NaN/inf as None."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        number = float(value)
        return float(f"{number:.{SIGNIFICANT}g}") if math.isfinite(number) else None
    if isinstance(value, dict):
        return {str(key): compact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [compact(item) for item in value]
    raise TypeError(f"{type(value).__name__} in a record")


def dumps(value: Any, indent: int = 0) -> str:
    """Deterministic JSON text: keys sorted, a container of plain values on one line (a list
    of per-image errors, a metric summary), nested containers one item a line; no NaN."""
    nested = isinstance(value, dict | list) and any(
        isinstance(item, dict | list)
        for item in (value.values() if isinstance(value, dict) else value)
    )
    if not nested:
        return json.dumps(value, sort_keys=True, allow_nan=False)
    pad = " " * (indent + 1)
    if isinstance(value, dict):
        items = [
            f"{pad}{json.dumps(str(key))}: {dumps(item, indent + 1)}"
            for key, item in sorted(value.items())
        ]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [f"{pad}{dumps(item, indent + 1)}" for item in value]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def write_json(path: Path, value: Any) -> Path:
    """Write ``value`` to ``path`` atomically (a temporary file, then a rename)."""
    text = dumps(value) + "\n"  # raises before anything is written
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    temporary.replace(path)
    return path


# ---------------------------------------------------------------------------------- curves


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle))
    except OSError:
        return []


def _number(text: str | None) -> float | None:
    try:
        value = float(text or "")
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def validation_curve(run_dir: Path) -> list[dict[str, Any]]:
    """``validation.csv``'s rows as numbers, one per epoch (the last row of an epoch a resumed
    run validated twice)."""
    by_epoch: dict[int, dict[str, Any]] = {}
    for row in _rows(run_dir / "validation.csv"):
        try:
            epoch = int(row["epoch"])
        except (KeyError, TypeError, ValueError):
            continue
        by_epoch[epoch] = {
            key: int(text) if key in ("epoch", "global_step", "images") else _number(text)
            for key, text in row.items()
            if key is not None and text not in (None, "")
        }
    return [by_epoch[epoch] for epoch in sorted(by_epoch)]


def loss_curve(run_dir: Path) -> list[dict[str, Any]]:
    """Mean training loss of each epoch over ``steps.csv``'s logged steps (``logged``: how many;
    a step logged twice by a resumed run counts once, its last value)."""
    steps: dict[tuple[int, int], float | None] = {}
    for row in _rows(run_dir / "steps.csv"):
        try:
            steps[(int(row["epoch"]), int(row["step"]))] = _number(row.get("loss"))
        except (KeyError, TypeError, ValueError):
            continue
    epochs: dict[int, list[float]] = {}
    for (epoch, _), loss in sorted(steps.items()):
        if loss is not None:
            epochs.setdefault(epoch, []).append(loss)
    return [
        {"epoch": epoch, "loss": sum(values) / len(values), "logged": len(values)}
        for epoch, values in sorted(epochs.items())
    ]


# ---------------------------------------------------------------------------------- ledger


@dataclass(frozen=True)
class Ledger:
    """The records of one grid: ``folder`` (one ``<run>.json`` each), the scale and device the
    grid trains at, and the hold-out it trains on here (None: not compared)."""

    folder: Path
    scale: Scale
    device: str | None = None
    holdout: dict[str, Any] | None = None

    def path(self, run: Run) -> Path:
        return self.folder / f"{run.name}.json"

    def config(self, run: Run) -> Config:
        """The run's config as every record holds it (in the scale's default runs folder)."""
        return run_config(run, self.scale, canonical_layout(self.scale, self.device))

    def command(self, run: Run) -> str:
        """The run's ``heatmark train`` command, in the default runs folder (what
        ``grid.train_command`` gives there)."""
        layout = canonical_layout(self.scale, self.device)
        return shell_command(train_command(run, self.scale, layout))

    def read(self, run: Run) -> dict[str, Any] | None:
        """The run's record, None when there is none; a ``HeatmarkError`` naming the file when
        it is unreadable or not this run's record (never silently treated as missing)."""
        path = self.path(run)
        if not path.is_file():
            return None
        how = f"delete {path} to train the run again"
        try:
            record = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise HeatmarkError(f"{path}: not a readable run record ({error}); {how}") from None
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise HeatmarkError(f"{path}: not a heatmark run record (format {FORMAT}); {how}")
        if not isinstance(record.get("version"), int) or record["version"] > VERSION:
            raise HeatmarkError(
                f"{path}: record version {record.get('version')!r}, this heatmark reads up to "
                f"{VERSION}; update heatmark"
            )
        if record.get("run") != run.name or record.get("scale") != self.scale.name:
            raise HeatmarkError(
                f"{path}: the record of run {record.get('run')!r} at scale "
                f"{record.get('scale')!r}, not {run.name} at {self.scale.name}; {how}"
            )
        missing = [key for key in RECORD_FIELDS if not isinstance(record.get(key), dict)]
        if missing:
            raise HeatmarkError(f"{path}: no {', '.join(missing)} in the record; {how}")
        return record

    def differences(self, run: Run, record: dict[str, Any]) -> list[tuple[str, Any, Any]]:
        """``(key, recorded, now)`` of every setting (``NEUTRAL_KEYS`` aside) and hold-out key in
        which the record differs from what the grid would train now."""
        path = self.path(run)
        try:
            recorded = config_from_dict(record["config"], str(path))
        except HeatmarkError as error:
            raise HeatmarkError(
                f"{path}: its config no longer validates ({error}); train the run again with "
                f"--retrain {run.name} (its record is replaced once it is scored) or delete it"
            ) from None
        found = [
            (key, old, new)
            for key, old, new in config_differences(recorded, self.config(run))
            if key not in NEUTRAL_KEYS
        ]
        old_holdout = record.get("holdout")
        if self.holdout is not None and isinstance(old_holdout, dict):
            found += [
                (f"holdout.{key}", old_holdout.get(key), self.holdout.get(key))
                for key in HOLDOUT_KEYS
                if old_holdout.get(key) != self.holdout.get(key)
            ]
        return found

    def load(self, run: Run) -> dict[str, Any] | None:
        """The run's record when it holds the run's current config; None when there is none; a
        ``HeatmarkError`` naming the file and the keys when the grid has changed since."""
        record = self.read(run)
        if record is None:
            return None
        changed = self.differences(run, record)
        if changed:
            listed = "; ".join(f"{key}: {old!r} -> {new!r}" for key, old, new in changed[:6])
            raise HeatmarkError(
                f"{self.path(run)}: run {run.name} was recorded with another config than row "
                f"{run.row.name} gives now ({listed}{'; ...' if len(changed) > 6 else ''}); "
                f"train it again with --retrain {run.name} (its record is replaced once it is "
                "scored) or delete the record"
            )
        return record

    def build(
        self, run: Run, run_dir: Path, evaluation: dict[str, Any], info: dict[str, Any]
    ) -> dict[str, Any]:
        """The record of a scored run from its folder (``info``: its ``reproduce.json``)."""
        sessions = [
            compact({key: session[key] for key in _SESSION_KEYS if key in session})
            for session in info.get("sessions", [])
            if isinstance(session, dict)
        ]
        seconds = sum(s.get("seconds") or 0.0 for s in sessions)
        return {
            "format": FORMAT,
            "version": VERSION,
            "run": run.name,
            "row": run.row.name,
            "table": run.row.table,
            "label": run.row.label,
            "seed": run.seed,
            "scale": self.scale.name,
            "config": self.config(run).model_dump(mode="json"),
            "command": self.command(run),
            "holdout": self.holdout,
            "run_dir": portable(run_dir),
            "evaluation": compact({k: v for k, v in evaluation.items() if k not in _LOCAL}),
            "validation": compact(validation_curve(run_dir)),
            "train_loss": compact(loss_curve(run_dir)),
            "train_seconds": compact(round(seconds, 1)),
            "sessions": sessions,
            "commit": heatmark_commit(),
            "machine": machine(),
        }

    def rescored(
        self, record: dict[str, Any], evaluation: dict[str, Any], protocols: list[str]
    ) -> dict[str, Any]:
        """``record`` with ``evaluation`` (the same weights scored under more ``protocols``)
        in place of its own; training fields, commit and sessions stay as trained, and
        ``rescored`` says which protocols were added when, by which commit."""
        added = {"protocols": protocols, "commit": heatmark_commit(), "machine": machine()}
        return {
            **record,
            "evaluation": compact({k: v for k, v in evaluation.items() if k not in _LOCAL}),
            "rescored": [*record.get("rescored", []), added],
        }

    def write(self, run: Run, record: dict[str, Any]) -> Path:
        return write_json(self.path(run), record)


_SESSION_KEYS = ("started", "from_epoch", "to_epoch", "seconds", "outcome", "threads", "commit")
_LOCAL = frozenset({"stat"})
"""Evaluation fields that only mean something on the machine that scored (file size/mtime)."""
