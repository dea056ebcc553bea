"""Training runs fail cleanly: resume refuses silent config changes, worker errors keep their
type and message, unwritable run directories and damaged checkpoints name the file, a fresh run
never appends to an old one, and SIGINT/SIGTERM stop after a step with ``last`` intact."""

import csv
import dataclasses
import errno
import json
import os
import pickle
import signal
from pathlib import Path

import pytest
from conftest import tiny_cli, tiny_config
from torch.utils.data import Dataset
from typer.testing import CliRunner

from heatmark.cli import app
from heatmark.data.dataset import ErrorCarryingLoader
from heatmark.errors import ConfigError, DataError, HeatmarkError
from heatmark.models.checkpoint import read_metadata
from heatmark.train.trainer import Trainer, TrainingInterrupted

TINY_CLI = tiny_cli({"name": "cli", "train.threads": 1})


def test_resume_refuses_changed_settings_unless_allowed(tmp_path: Path, tiny_faces) -> None:
    Trainer(tiny_config(tmp_path, schedule={"epochs": 1}), tiny_faces).fit()
    run = tmp_path / "runs" / "tiny"
    changed = tiny_config(
        tmp_path,
        schedule={"epochs": 2},
        optimizer={"name": "adam", "lr": 5e-3, "weight_decay": 0.0},
        data={"synthetic_count": 40},
    )
    with pytest.raises(ConfigError) as caught:
        Trainer(changed, tiny_faces).resume(run)
    message = str(caught.value)
    for part in (
        "last.json",
        "optimizer.lr: 0.001 -> 0.005",
        "schedule.epochs: 1 -> 2",
        "data.synthetic_count: 32 -> 40",
        "--allow-changes",
    ):
        assert part in message, message
    # another model is an error even when changes are allowed (the weights are made for it)
    wider = tiny_config(tmp_path, schedule={"epochs": 2}, model={"width": 24})
    with pytest.raises(ConfigError, match=r"model/codec differ.*model\.width: 16 -> 24"):
        Trainer(wider, tiny_faces).resume(run, allow_changes=True)
    # settings that change neither data nor numbers may differ freely
    neutral = tiny_config(tmp_path, schedule={"epochs": 1}, train={"log_every": 3})
    Trainer(neutral, tiny_faces).resume(run)

    allowed = Trainer(changed, tiny_faces)
    allowed.resume(run, allow_changes=True)
    assert allowed.optimizer.param_groups[0]["lr"] == 1e-3  # restored; the schedule sets 5e-3
    result = allowed.fit()
    assert result.epochs_done == 2
    rows = list(csv.DictReader((run / "changes.csv").open()))
    assert {(r["epoch"], r["key"], r["old"], r["new"]) for r in rows} == {
        ("1", "optimizer.lr", "0.001", "0.005"),
        ("1", "schedule.epochs", "1", "2"),
        ("1", "data.synthetic_count", "32", "40"),
    }
    assert read_metadata(run / "last")["config"]["optimizer"]["lr"] == 5e-3


def test_cli_resume_needs_allow_changes(tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["train", "--set", f"output={tmp_path}", *TINY_CLI]
    assert runner.invoke(app, base).exit_code == 0
    more = [*base, "--set", "schedule.epochs=2", "--resume", str(tmp_path / "cli")]
    refused = runner.invoke(app, more)
    assert refused.exit_code == 1
    assert "schedule.epochs: 1 -> 2" in refused.output and "Traceback" not in refused.output
    allowed = runner.invoke(app, [*more, "--allow-changes"])
    assert allowed.exit_code == 0, allowed.output
    assert "schedule.epochs: 1 -> 2" in allowed.output
    assert read_metadata(tmp_path / "cli" / "last")["epoch"] == 1
    alone = runner.invoke(app, [*base, "--allow-changes"])
    assert alone.exit_code == 1 and "--allow-changes only applies with --resume" in alone.output


def test_data_error_in_a_worker_is_raised_as_itself(tmp_path: Path, tiny_faces) -> None:
    """A missing image read by a DataLoader worker: the DataError itself, not a RuntimeError
    carrying the worker's traceback."""
    train, val = tiny_faces
    missing = tmp_path / "faces" / "gone.png"
    train = [*train[:-1], dataclasses.replace(train[-1], image=None, image_path=missing)]
    config = tiny_config(tmp_path, data={"workers": 1}, schedule={"epochs": 1})
    with pytest.raises(DataError) as caught:
        Trainer(config, (train, val)).fit()
    assert type(caught.value) is DataError
    assert str(caught.value) == f"{missing}: image file not found"
    assert caught.value.path == missing


class _Failing(Dataset):
    def __len__(self) -> int:
        return 12

    def __getitem__(self, item: int) -> int:
        if item == 9:
            raise DataError("x.png", "gone")
        return item


def test_error_carrying_loader_can_run_again() -> None:
    """After an error its (persistent) worker is stopped at once and restarts on the next pass."""
    loader = ErrorCarryingLoader(_Failing(), batch_size=4, num_workers=1, persistent_workers=True)
    for _ in range(2):
        seen = []
        with pytest.raises(DataError, match=r"^x\.png: gone$"):
            seen.extend(batch.tolist() for batch in loader)
        assert seen == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_data_error_pickles_with_its_fields() -> None:
    error = DataError("a/b.pts", "bad point", 7)
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), str(again), again.path, again.reason, again.line) == (
        DataError,
        "a/b.pts:7: bad point",
        Path("a/b.pts"),
        "bad point",
        7,
    )


def test_unwritable_output_is_one_clear_error(tmp_path: Path, tiny_faces) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output folder should be")
    config = tiny_config(tmp_path, schedule={"epochs": 1})
    config = config.model_copy(update={"output": str(blocker)})
    with pytest.raises(DataError, match="not-a-folder") as caught:
        Trainer(config, tiny_faces).fit()
    assert "cannot write" in str(caught.value)
    result = CliRunner().invoke(app, ["train", "--set", f"output={blocker}", *TINY_CLI])
    assert result.exit_code == 1
    assert "not-a-folder" in result.output and "Traceback" not in result.output


def test_read_only_output_is_one_clear_error(
    tmp_path: Path, tiny_faces, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder the run may not write in. chmod alone does not stop root (CI runs as root), so
    the operating system's refusal is also simulated: os.mkdir raises EACCES inside it."""
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    real_mkdir = os.mkdir

    def refused(path, *args, **kwargs):
        if Path(path).parent == out:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", refused)
    config = tiny_config(tmp_path, schedule={"epochs": 1}).model_copy(update={"output": str(out)})
    try:
        with pytest.raises(DataError, match="cannot write"):
            Trainer(config, tiny_faces).fit()
    finally:
        out.chmod(0o700)


def test_a_run_without_checkpoint_still_counts(tmp_path: Path, tiny_faces) -> None:
    """A run stopped before its first checkpoint (NaN, Ctrl-C) left steps.csv: a fresh run of
    the same name must not append to it."""
    config = tiny_config(tmp_path, schedule={"epochs": 1}, train={"log_every": 1})
    first = Trainer(config, tiny_faces)
    real_loss, calls = first.supervision.loss, []

    def poisoned(pred, target, points):
        calls.append(1)
        return real_loss(pred, target, points) * (float("nan") if len(calls) == 3 else 1.0)

    first.supervision.loss = poisoned
    with pytest.raises(HeatmarkError, match="the loss is nan"):
        first.fit()
    run = tmp_path / "runs" / "tiny"
    assert (run / "steps.csv").is_file() and not (run / "last.json").exists()
    with pytest.raises(HeatmarkError, match=r"already holds a run.*saved no checkpoint"):
        Trainer(config, tiny_faces).fit()
    Trainer(config, tiny_faces, overwrite=True).fit()
    rows = list(csv.DictReader((run / "steps.csv").open()))
    assert [int(r["global_step"]) for r in rows] == [1, 2, 3, 4]  # no NaN run's row


def _signal_at(trainer: Trainer, calls: int, signals: list[int]) -> None:
    """Send ``signals`` to this process during the ``calls``-th training step."""
    real_step = trainer.train_step
    count = {"n": 0}

    def step(batch, epoch, index):
        count["n"] += 1
        if count["n"] == calls:
            for number in signals:
                os.kill(os.getpid(), number)
        return real_step(batch, epoch, index)

    trainer.train_step = step


@pytest.mark.parametrize(("number", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_after_the_step_with_last_intact(
    tmp_path: Path, tiny_faces, number: int, code: int
) -> None:
    config = tiny_config(tmp_path, schedule={"epochs": 3}, train={"val_every": 10})
    trainer = Trainer(config, tiny_faces)
    # what the process had before (SIG_IGN, not Python's default, when started in the background)
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    _signal_at(trainer, 6, [number])  # 4 steps an epoch: the 2nd step of epoch 1
    with pytest.raises(TrainingInterrupted) as caught:
        trainer.fit()
    assert caught.value.exit_code == code
    message = str(caught.value)
    assert f"{signal.Signals(number).name} stopped training in epoch 1 after step 2/4" in message
    run = tmp_path / "runs" / "tiny"
    assert "holds epoch 0" in message and f"--resume {run}" in message
    assert trainer.global_step == 6  # the step in progress was finished
    assert read_metadata(run / "last")["epoch"] == 0
    assert {sig: signal.getsignal(sig) for sig in before} == before  # restored


def test_second_sigint_aborts_at_once(tmp_path: Path, tiny_faces) -> None:
    trainer = Trainer(tiny_config(tmp_path, schedule={"epochs": 2}), tiny_faces)
    _signal_at(trainer, 2, [signal.SIGINT, signal.SIGINT])
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert trainer.global_step == 1  # the second signal did not wait for the step


def test_cli_interrupt_exits_130_with_how_to_resume(tmp_path: Path, monkeypatch) -> None:
    def interrupted(self):
        raise TrainingInterrupted("SIGINT stopped training ...; continue with --resume x", 130)

    monkeypatch.setattr(Trainer, "fit", interrupted)
    result = CliRunner().invoke(app, ["train", "--set", f"output={tmp_path}", *TINY_CLI])
    assert result.exit_code == 130
    assert "interrupted: SIGINT stopped training" in result.output


def test_changes_are_json_in_the_log(tmp_path: Path, tiny_faces) -> None:
    """List and None values are written as JSON (unambiguous), strings as they are."""
    Trainer(tiny_config(tmp_path, schedule={"epochs": 1}), tiny_faces).fit()
    changed = tiny_config(tmp_path, schedule={"epochs": 1, "milestones": [1, 2]})
    trainer = Trainer(changed, tiny_faces)
    trainer.resume(tmp_path / "runs" / "tiny", allow_changes=True)
    assert trainer.changes == [("schedule.milestones", [1], [1, 2])]
    trainer.fit()  # nothing left to train; the change is still recorded
    rows = list(csv.DictReader((tmp_path / "runs" / "tiny" / "changes.csv").open()))
    assert json.loads(rows[0]["new"]) == [1, 2]
