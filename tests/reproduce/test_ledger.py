"""The ledger's records without training: portable configs and commands, the curves and numbers
a record keeps, and what makes a record stale (no run is trained here)."""

from __future__ import annotations

import io
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from heatmark.errors import HeatmarkError
from heatmark.reproduce.command import Request, run_request
from heatmark.reproduce.grid import SMOKE, STUDY, Layout, Run, row_named, select_rows
from heatmark.reproduce.ledger import (
    Ledger,
    compact,
    default_ledger,
    holdout_identity,
    portable,
)
from heatmark.reproduce.runner import GridOptions, grid_statuses, inspect_run

REPOSITORY = Path(__file__).resolve().parents[2]


def _split(folder: Path, held_out: list[str]) -> Path:
    """A ``split.json`` as ``holdout.materialise_holdout`` writes it."""
    folder.mkdir(parents=True)
    manifest = {
        "format": "heatmark-reproduce-split",
        "version": 1,
        "dataset": "/data/somewhere/300w",
        "seed": 0,
        "val_fraction": 0.1,
        "val_subset": "helen/trainset",
        "train_faces": 1925,
        "val_faces": len(held_out),
        "val": held_out,
    }
    (folder / "split.json").write_text(json.dumps(manifest))
    return folder


def _run_folder(run_dir: Path) -> dict:
    """A finished run's logs (a resumed epoch logged twice, a NaN loss) and its sessions."""
    run_dir.mkdir(parents=True)
    (run_dir / "steps.csv").write_text(
        "epoch,step,global_step,loss,lr,images_per_second\n"
        "0,0,1,4.0,0.001,30\n0,9,10,9.0,0.001,30\n"  # epoch 0 logged, then stopped
        "0,9,10,2.0,0.001,30\n"  # ... and redone after the resume: the last value counts
        "1,0,121,1.0,0.001,30\n1,9,130,nan,0.001,30\n"
    )
    (run_dir / "validation.csv").write_text(
        "epoch,global_step,images,nme\n0,120,87,0.2\n1,240,87,0.1\n1,240,87,0.125\n"
    )
    arguments = f"heatmark train --set output={run_dir.parent} --resume {run_dir}"
    return {
        "sessions": [
            {
                "started": "2026-12-02T10:00:00",
                "seconds": 61.23,
                "to_epoch": 2,
                "outcome": "finished",
                "arguments": arguments,
                "threads": 1,
            }
        ]
    }


def test_a_record_is_portable_and_compares_across_machines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the base config is then found through the package's repository
    runs = tmp_path / "somewhere" / "runs"
    holdout = holdout_identity(_split(runs / "split", ["helen/trainset/1.pts"]), Path("/d/300w"))
    assert holdout is not None and holdout["data"] == ".../d/300w"
    run = Run(row_named("t7-bcoords"), 1)
    ledger = Ledger(tmp_path / "ledger", STUDY, None, holdout)
    config = ledger.config(run)
    assert (config.output, config.data.train) == (
        "runs/reproduce/study",
        "runs/reproduce/study/split/train",
    )
    assert config.data.val == "runs/reproduce/study/split/val"
    assert ledger.command(run).startswith("heatmark train -c cpu_shipped_300w --set")

    evaluation = {
        "stat": [1, 2],  # this machine's file size and time: not recorded
        "sha256": "ab",
        "decodings": {"max": {"nme": np.float64(0.0512345678), "nme_images": [0.1, math.nan]}},
        "robustness": {},
    }
    record = ledger.build(run, runs / run.name, evaluation, _run_folder(runs / run.name))
    path = ledger.write(run, record)
    text = path.read_text()
    loaded = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the record"))
    for local in (str(tmp_path), str(REPOSITORY), "/data/somewhere", "arguments"):
        assert local not in text
    assert loaded["run_dir"] == "somewhere/runs/t7-bcoords-seed1"  # inside the working folder
    assert loaded["evaluation"] == {
        "sha256": "ab",
        "decodings": {"max": {"nme": 0.05123457, "nme_images": [0.1, None]}},
        "robustness": {},
    }
    assert loaded["train_loss"] == [
        {"epoch": 0, "loss": 3.0, "logged": 2},
        {"epoch": 1, "loss": 1.0, "logged": 1},
    ]
    assert [(r["epoch"], r["nme"]) for r in loaded["validation"]] == [(0, 0.2), (1, 0.125)]
    assert loaded["train_seconds"] == 61.2 and loaded["holdout"] == holdout
    assert ledger.write(run, ledger.read(run) or {}).read_text() == text  # deterministic text

    # another machine: the dataset elsewhere, another device, any runs folder: the same run
    elsewhere = Ledger(ledger.folder, STUDY, "cuda", {**holdout, "data": "../shared/data/300w"})
    assert elsewhere.load(run) == loaded
    layout = Layout(
        tmp_path / "other", tmp_path / "other/split/train", tmp_path / "other/split/val"
    )
    status = inspect_run(run, STUDY, layout, elsewhere)
    assert status.state == "done" and not status.run_dir.exists()
    # another hold-out is another run
    other = holdout_identity(_split(tmp_path / "b" / "split", ["helen/trainset/2.pts"]), None)
    with pytest.raises(HeatmarkError, match=rf"{path}: .*holdout\.val_sha256") as error:
        Ledger(ledger.folder, STUDY, None, other).load(run)
    assert "--retrain t7-bcoords-seed1" in str(error.value)


def test_unreadable_or_foreign_records_are_errors_naming_the_file(tmp_path: Path) -> None:
    run, ledger = Run(row_named("t7-mse"), 0), Ledger(tmp_path, SMOKE)
    assert ledger.read(run) is None
    path = ledger.path(run)
    path.write_text("{not json")
    with pytest.raises(HeatmarkError, match=rf"{path}: not a readable run record"):
        ledger.read(run)
    record = ledger.build(Run(row_named("t7-awing"), 0), tmp_path / "x", {"decodings": {}}, {})
    path.write_text(json.dumps(record))
    with pytest.raises(HeatmarkError, match=rf"{path}: the record of run 't7-awing-seed0'"):
        ledger.read(run)


def test_retrain_and_defaults(tmp_path: Path) -> None:
    assert default_ledger("study", Path("runs/reproduce/study")) == Path("docs/results/records")
    assert default_ledger("paper", Path("x")) == Path("docs/results-paper/records")
    assert default_ledger("smoke", tmp_path) == tmp_path / "results" / "records"
    assert portable("runs/reproduce/study/a") == "runs/reproduce/study/a"
    assert portable("/tmp/x/runs/a") == ".../runs/a"
    assert compact({"a": [np.float32(0.5), math.inf, 3, True]}) == {"a": [0.5, None, 3, True]}

    options = GridOptions(
        SMOKE,
        select_rows(SMOKE, ["t7-mse", "t7-awing"]),
        seeds=2,
        runs=tmp_path / "runs",
        data=None,
        retrain=("t7-mse", "t7-awing-seed1"),
    )
    assert options.retrain_runs() == {"t7-mse-seed0", "t7-mse-seed1", "t7-awing-seed1"}
    with pytest.raises(HeatmarkError, match=r"--retrain 'nope': no such run or row"):
        GridOptions(SMOKE, options.rows, runs=tmp_path, data=None, retrain=("nope",)).retrain_runs()
    # a recorded run named by --retrain is planned from scratch, its record not consulted
    ledger = options.make_ledger()
    run = Run(row_named("t7-mse"), 0)
    ledger.write(run, ledger.build(run, tmp_path / "x", {"decodings": {}}, {}))
    states = {s.run.name: (s.state, s.fresh) for s in grid_statuses(options)}
    assert states["t7-mse-seed0"] == ("pending", True)
    states = {s.run.name: s.state for s in grid_statuses(replace(options, retrain=()))}
    assert states["t7-mse-seed0"] == "done" and states["t7-mse-seed1"] == "pending"


def test_retrain_on_the_command_line_is_checked(tmp_path: Path) -> None:
    base = Request(scale="smoke", runs=tmp_path / "runs", out=tmp_path / "page.md")
    for request, message in (
        (replace(base, retrain=" , "), "--retrain: give run or row names"),
        (replace(base, retrain="t7-mse", report_only=True), "not with --report-only"),
        (replace(base, retrain="nope", dry_run=True), "--retrain 'nope': no such run or row"),
    ):
        with pytest.raises(HeatmarkError, match=message):
            run_request(request, Console(file=io.StringIO()))
    assert not (tmp_path / "runs").exists()
