"""Training the grid on synthetic faces: cache, resume after a budget stop, the budget, the
ledger of run records, the page, and the command line. Each run is a real ``heatmark train``
process of a few seconds."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from heatmark.cli import app
from heatmark.errors import HeatmarkError
from heatmark.reproduce.command import write_page
from heatmark.reproduce.grid import (
    CROSS_DOMAIN,
    SMOKE,
    Run,
    Scale,
    row_named,
    run_config,
    scale_rows,
    select_rows,
)
from heatmark.reproduce.ledger import FORMAT
from heatmark.reproduce.results import page_entries, write_results
from heatmark.reproduce.runner import GridOptions, GridRunner, grid_statuses, inspect_run
from heatmark.train.config import config_to_yaml


def _scale(epochs: int = 2, faces: int = 16) -> Scale:
    """The smoke scale with fewer faces (and other epochs)."""
    extra = (
        ("schedule.epochs", epochs),
        ("data.synthetic_count", faces),
        ("data.synthetic_val_count", 10),
    )
    recipes = tuple(
        (name, replace(recipe, overrides=(*recipe.overrides, *extra)))
        for name, recipe in SMOKE.recipes
    )
    return replace(SMOKE, recipes=recipes)


def _options(tmp_path: Path, scale: Scale, names: list[str], **kwargs) -> GridOptions:
    rows = select_rows(scale, names)
    return GridOptions(scale, rows, seeds=1, runs=tmp_path / "runs", data=None, threads=1, **kwargs)


def _quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


def test_second_invocation_trains_nothing_and_the_page_lists_every_row(tmp_path: Path) -> None:
    scale = _scale()
    options = _options(tmp_path, scale, ["t7-mse", "wass-s3"], jobs=2)
    first = GridRunner(options, _quiet(), poll_seconds=0.1).run()
    names = ["t7-mse-seed0", "wass-s3-seed0"]
    assert not first.failed
    assert sorted(first.started) == sorted(first.finished) == sorted(first.evaluated) == names
    assert sorted(first.recorded) == names
    runs = tmp_path / "runs"
    ledger = runs / "results" / "records"  # the smoke scale's default: inside its runs folder
    assert sorted(p.name for p in ledger.glob("*.json")) == [f"{n}.json" for n in names]
    watched = [*runs.glob("*/last.safetensors"), *runs.glob("*/evaluation.json")]
    assert len(watched) == 4
    stamps = {path: path.stat().st_mtime_ns for path in watched}

    second = GridRunner(options, _quiet(), poll_seconds=0.1).run()
    assert second.trained == [] and second.evaluated == []
    assert sorted(second.cached) == names
    assert {path: path.stat().st_mtime_ns for path in watched} == stamps

    # both decodings and the robustness protocols come from the one run of the row
    assert sorted(p.name for p in runs.iterdir() if p.name.startswith("wass-s3")) == [
        "wass-s3-seed0"
    ]
    scored = json.loads((runs / "wass-s3-seed0" / "evaluation.json").read_text())
    assert set(scored["decodings"]) == {"barycenter", "max"}
    assert set(scored["robustness"]["max"]) == {
        "clean",
        "occlusion-medium",
        "occlusion-large",
        CROSS_DOMAIN,
    }
    assert scored["epoch"] == 1 and len(scored["decodings"]["max"]["nme_images"]) == 10
    info = json.loads((runs / "t7-mse-seed0" / "reproduce.json").read_text())
    assert info["command"].startswith("heatmark train --set data.train=synthetic")
    assert [s["outcome"] for s in info["sessions"]] == ["finished"]

    page = replace(options, rows=scale_rows(scale))
    out = tmp_path / "docs" / "results.md"
    text = write_results(page, page_entries(page), out, "heatmark reproduce ...").read_text()
    assert "**2 of 29 runs finished**" in text
    assert re.search(r"\| `t7-mse` \| MSE \| 1/1 \| \d+\.\d\d \| \d+\.\d\d \|", text), text
    assert "| `t7-awing` | AWing | 0/1 pending | pending | pending |" in text
    assert re.search(r"\| `wass-s3` \| GET_BC \| \d+\.\d\d \(\d+\.\d\d\) \|", text)
    assert "| `l2-s3` | GET_MAX | pending | pending | pending |" in text
    assert "own: GET_MAX | 0/1 pending | pending | pending | pending |" in text  # l2-s3's row
    assert "- `t7-awing-seed0`: pending" in text
    # figures and rows name their records (linked from the page) and the run folders
    record = ledger / "t7-mse-seed0.json"
    assert f"[`{record}`](../runs/results/records/t7-mse-seed0.json)" in text
    assert "(from `.../runs/t7-mse-seed0`)" in text
    for figure in ("awing-ablation-ced", "wasserstein-ced", "mse-vs-awing-loss"):
        assert (tmp_path / "docs" / "results" / f"{figure}.png").stat().st_size > 1000
        assert f"](results/{figure}.png)" in text


def test_a_protocol_added_after_a_run_was_recorded_is_scored_on_its_recorded_weights(
    tmp_path: Path,
) -> None:
    options = _options(tmp_path, _scale(), ["wass-s3"])
    assert not GridRunner(options, _quiet(), poll_seconds=0.1).run().failed
    path = tmp_path / "runs" / "results" / "records" / "wass-s3-seed0.json"
    full = json.loads(path.read_text())
    older = json.loads(path.read_text())  # as recorded before the row had the protocol
    for cells in older["evaluation"]["robustness"].values():
        del cells[CROSS_DOMAIN]
    older["commit"] = "0123456789ab"
    path.write_text(json.dumps(older))

    again = GridRunner(options, _quiet(), poll_seconds=0.1).run()
    assert again.rescored == ["wass-s3-seed0"] and again.trained == [] and not again.failed
    record = json.loads(path.read_text())
    assert record["commit"] == "0123456789ab"  # still the commit that trained it
    assert [entry["protocols"] for entry in record["rescored"]] == [[CROSS_DOMAIN]]
    for decoding, cells in record["evaluation"]["robustness"].items():
        assert cells[CROSS_DOMAIN] == full["evaluation"]["robustness"][decoding][CROSS_DOMAIN]
        assert cells["clean"] == full["evaluation"]["robustness"][decoding]["clean"]
    assert record["evaluation"]["decodings"] == full["evaluation"]["decodings"]
    assert GridRunner(options, _quiet(), poll_seconds=0.1).run().rescored == []

    # without the weights that were scored, the record stays as it is and the run is listed
    path.write_text(json.dumps(older))
    (tmp_path / "runs" / "wass-s3-seed0" / "last.safetensors").unlink()
    last = GridRunner(options, _quiet(), poll_seconds=0.1).run()
    assert last.incomplete == ["wass-s3-seed0"] and last.rescored == [] and not last.failed
    assert json.loads(path.read_text()) == older
    page = write_results(options, page_entries(options), tmp_path / "results.md", "cmd").read_text()
    assert re.search(
        r"\| `wass-s3` \| GET_BC \| \d+\.\d\d \(\d+\.\d\d\) \|.* \| not scored \|", page
    )


def test_a_run_stopped_at_the_budget_resumes_to_its_last_epoch(tmp_path: Path) -> None:
    options = _options(tmp_path, _scale(epochs=4, faces=48), ["t7-mse"], jobs=1)
    run_dir = tmp_path / "runs" / "t7-mse-seed0"

    def one_epoch_saved(jobs) -> bool:  # the budget runs out once epoch 0 is saved
        return (run_dir / "last.json").exists()

    first = GridRunner(options, _quiet(), stop_rule=one_epoch_saved, poll_seconds=0.02).run()
    assert first.budget_reached and first.stopped == ["t7-mse-seed0"] and not first.finished
    saved = json.loads((run_dir / "last.json").read_text())["epoch"] + 1
    assert 1 <= saved < 4
    assert inspect_run(Run(row_named("t7-mse"), 0), options.scale, options.layout()).state == (
        "partial"
    )

    second = GridRunner(options, _quiet(), poll_seconds=0.05).run()
    assert second.resumed == second.finished == ["t7-mse-seed0"] and second.started == []
    assert json.loads((run_dir / "last.json").read_text())["epoch"] == 3  # 4 epochs in all
    with (run_dir / "validation.csv").open() as handle:
        assert [int(row["epoch"]) for row in csv.DictReader(handle)] == [0, 1, 2, 3]
    sessions = json.loads((run_dir / "reproduce.json").read_text())["sessions"]
    assert [s["outcome"] for s in sessions] == ["stopped", "finished"]
    assert sessions[1]["from_epoch"] == saved
    assert f"--resume {run_dir}" in sessions[1]["arguments"]
    assert (run_dir / "evaluation.json").is_file()
    record = json.loads(
        (tmp_path / "runs" / "results" / "records" / "t7-mse-seed0.json").read_text()
    )
    assert [s["outcome"] for s in record["sessions"]] == ["stopped", "finished"]
    assert [r["epoch"] for r in record["validation"]] == [0, 1, 2, 3]  # one row per epoch
    assert [r["epoch"] for r in record["train_loss"]] == [0, 1, 2, 3]


def test_the_budget_stops_starting_runs(tmp_path: Path) -> None:
    """The budget runs out while the first run trains: a rule instead of a 0.3 s clock (which
    a loaded machine could spend before the first run starts); the clock itself is checked
    with a budget of 0 below."""
    options = _options(tmp_path, _scale(), ["t7-mse", "t7-awing"], jobs=1, budget_minutes=60)

    def spent_once_a_run_trains(jobs) -> bool:
        return len(jobs) > 0

    runner = GridRunner(options, _quiet(), stop_rule=spent_once_a_run_trains, poll_seconds=0.05)
    summary = runner.run()
    assert summary.budget_reached
    assert summary.started == summary.stopped == ["t7-mse-seed0"]
    assert summary.not_started == ["t7-awing-seed0"]
    assert not (tmp_path / "runs" / "t7-awing-seed0").exists()
    states = {s.run.name: s.state for s in grid_statuses(options)}
    assert states["t7-awing-seed0"] == "pending"
    assert states["t7-mse-seed0"] in ("pending", "partial")  # stopped before an epoch ended

    nothing = _options(tmp_path, _scale(), ["t7-awing"], budget_minutes=0)
    summary = GridRunner(nothing, _quiet()).run()
    assert summary.trained == [] and summary.not_started == ["t7-awing-seed0"]


def test_a_run_trained_with_another_config_is_refused(tmp_path: Path) -> None:
    scale = _scale()
    options = _options(tmp_path, scale, ["t7-mse"])
    run = Run(row_named("t7-mse"), 0)
    config = run_config(run, scale, options.layout())
    run_dir = options.layout().run_dir(run)
    run_dir.mkdir(parents=True)
    changed = config.model_copy(update={"seed": 5})
    (run_dir / "config.yaml").write_text(config_to_yaml(changed))
    with pytest.raises(HeatmarkError, match=r"t7-mse-seed0: trained with another config.*seed"):
        inspect_run(run, scale, options.layout())
    # a different device is not a different run: it continues (with --allow-changes)
    moved = config.model_copy(update={"train": config.train.model_copy(update={"device": "auto"})})
    (run_dir / "config.yaml").write_text(config_to_yaml(moved))
    status = inspect_run(run, scale, options.layout())
    assert status.neutral_changes and status.state == "partial"


def test_command_line(tmp_path: Path) -> None:
    runner = CliRunner()
    runs = tmp_path / "runs"
    base = ["reproduce", "--scale", "smoke", "--runs", str(runs)]
    bad = runner.invoke(app, [*base, "--only", "t7-mse,nope"])
    assert bad.exit_code == 1 and "'nope'" in bad.output and "t7-mse" in bad.output
    for flags, message in (
        (["--seeds", "0"], "--seeds must be at least 1"),
        (["--dry-run", "--report-only"], "at most one of"),
        (["--jobs", "0"], "--jobs must be at least 1"),
        (["--device", "tpu"], "--device must be"),
    ):
        result = runner.invoke(app, [*base, *flags])
        assert result.exit_code == 1 and message in result.output, result.output

    plan = runner.invoke(app, [*base, "--only", "wasserstein", "--dry-run"])
    assert plan.exit_code == 0, plan.output
    assert "wass-s3-seed0" in plan.output and "heatmark train --set" in plan.output
    assert "t7-mse" not in plan.output and not runs.exists()  # a dry run creates nothing

    out = tmp_path / "page.md"
    page = runner.invoke(app, [*base, "--report-only", "--out", str(out)])
    assert page.exit_code == 0, page.output
    text = out.read_text()
    assert "**0 of 58 runs finished**" in text and "- `wass-s3-seed1`: pending" in text


def test_sigterm_stops_the_grid_cleanly_and_writes_the_page(tmp_path: Path) -> None:
    runs, out = tmp_path / "runs", tmp_path / "page.md"
    command = [sys.executable, "-m", "heatmark.cli", "reproduce", "--scale", "smoke"]
    command += ["--only", "t7-mse,t7-awing", "--seeds", "1", "--runs", str(runs)]
    command += ["--out", str(out), "--threads", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    steps = runs / "t7-mse-seed0" / "steps.csv"
    deadline = time.monotonic() + 120
    while not steps.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)  # the first run is training
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert "SIGTERM stopped the grid" in stderr and "Traceback" not in stderr
    assert not (runs / "t7-awing-seed0" / "last.json").exists()  # never started
    sessions = json.loads((runs / "t7-mse-seed0" / "reproduce.json").read_text())["sessions"]
    assert sessions[-1]["outcome"] in ("stopped", "finished")
    assert "- `t7-awing-seed0`: pending" in out.read_text()


def test_the_ledger_outlives_the_runs_folder(tmp_path: Path) -> None:
    """Records are written once a run is scored; a run scored before its record gets one
    without training or scoring; without the runs folder nothing trains again and
    ``--report-only`` writes the same page; a changed config is refused naming the record."""
    scale = _scale()
    runs, ledger = tmp_path / "runs", tmp_path / "ledger"
    options = _options(tmp_path, scale, ["t7-mse"], ledger=ledger)
    first = GridRunner(options, _quiet(), poll_seconds=0.05).run()
    assert first.started == first.evaluated == first.recorded == ["t7-mse-seed0"]
    path = ledger / "t7-mse-seed0.json"
    text = path.read_text()
    record = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the record"))
    assert record["format"] == FORMAT and record["run"] == "t7-mse-seed0"
    assert str(tmp_path) not in text and "/tmp" not in text  # no path of this machine
    assert record["config"]["output"] == "runs/reproduce/smoke"  # as in the default folder
    assert record["config"]["schedule"]["epochs"] == 2 and record["seed"] == 0
    assert record["command"].startswith("heatmark train --set data.train=synthetic")
    assert "output=runs/reproduce/smoke" in record["command"]
    assert record["run_dir"] == ".../runs/t7-mse-seed0"
    assert record["evaluation"]["epoch"] == 1 and "stat" not in record["evaluation"]
    assert len(record["evaluation"]["decodings"]["max"]["nme_images"]) == 10
    assert [r["epoch"] for r in record["validation"]] == [0, 1]
    assert [r["epoch"] for r in record["train_loss"]] == [0, 1]
    assert record["train_loss"][0]["logged"] == 2  # 16 faces / batch 8, every step logged
    assert record["train_seconds"] > 0 and [s["outcome"] for s in record["sessions"]] == [
        "finished"
    ]
    assert len(text) < 8000

    # scored in its folder but not recorded (a grid from before the ledger): recorded again,
    # neither trained nor scored, the same record
    path.unlink()
    again = GridRunner(options, _quiet()).run()
    assert again.trained == again.evaluated == [] and again.recorded == ["t7-mse-seed0"]
    assert path.read_text() == text

    # a changed row: its record is refused, naming the file and the key ...
    changed = _options(tmp_path, _scale(epochs=1), ["t7-mse"], ledger=ledger)
    with pytest.raises(HeatmarkError, match=rf"{re.escape(str(path))}: .*schedule\.epochs: 2 -> 1"):
        GridRunner(changed, _quiet()).run()
    with pytest.raises(HeatmarkError, match=r"--retrain t7-mse-seed0"):
        grid_statuses(changed)
    assert path.read_text() == text  # left as it was
    # ... until --retrain trains it again from scratch (over the old folder) and replaces it
    retrained = GridRunner(replace(changed, retrain=("t7-mse",)), _quiet()).run()
    assert retrained.started == retrained.recorded == ["t7-mse-seed0"], retrained
    record = json.loads(path.read_text())
    assert record["config"]["schedule"]["epochs"] == 1 and len(record["sessions"]) == 1
    info = json.loads((runs / "t7-mse-seed0" / "reproduce.json").read_text())
    assert info["sessions"][-1]["arguments"].endswith("--overwrite")

    out, whole = tmp_path / "page.md", replace(changed, rows=scale_rows(changed.scale))
    write_page(whole, out, _quiet())  # what --report-only does
    page = out.read_text()
    assert re.search(r"\| `t7-mse` \| MSE \| 1/1 \| \d+\.\d\d \|", page), page
    assert "[`" + str(path) + "`](ledger/t7-mse-seed0.json)" in page
    assert f"--ledger {ledger}" in page  # the page's command names a ledger off the default
    figures = sorted(p.name for p in (tmp_path / "page").iterdir())
    assert figures == ["awing-ablation-ced.png", "mse-vs-awing-loss.png"]

    # a fresh clone: no runs folder at all; the record alone says the run is done
    shutil.rmtree(runs)
    summary = GridRunner(changed, _quiet()).run()
    assert summary.cached == ["t7-mse-seed0"]
    assert summary.trained == summary.evaluated == summary.recorded == []
    assert not (runs / "t7-mse-seed0").exists()
    out.unlink()
    write_page(whole, out, _quiet())
    assert out.read_text() == page  # the page comes from the records alone: byte-identical
