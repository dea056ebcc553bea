"""The trainer: exact resume, non-finite loss detection, logs, CLI errors."""

import csv
import json
from pathlib import Path

import cv2
import pytest
import torch
from conftest import tiny_cli, tiny_config
from typer.testing import CliRunner

from heatmark.cli import app
from heatmark.data.readers.pts import write_pts
from heatmark.data.synthetic import synthetic_faces
from heatmark.errors import HeatmarkError
from heatmark.evaluate.evaluation import evaluate_samples
from heatmark.evaluate.inference import predict_dataset
from heatmark.train.trainer import NonFiniteLoss, Trainer


def test_resume_continues_exactly(tmp_path: Path, tiny_faces) -> None:
    """2 epochs straight == 1 epoch, stop, resume for the 2nd (same losses, same weights)."""
    straight = Trainer(tiny_config(tmp_path / "a", schedule={"epochs": 2}), tiny_faces)
    full = straight.fit()

    first = Trainer(tiny_config(tmp_path / "b", schedule={"epochs": 1}), tiny_faces)
    part1 = first.fit()
    second = Trainer(tiny_config(tmp_path / "b", schedule={"epochs": 2}), tiny_faces)
    second.resume(tmp_path / "b" / "runs" / "tiny", allow_changes=True)  # epochs 1 -> 2
    assert second.start_epoch == 1
    part2 = second.fit()

    assert len(full.losses) == len(part1.losses) + len(part2.losses)
    assert full.losses == part1.losses + part2.losses  # bit-identical on CPU
    for a, b in zip(
        straight.model.state_dict().values(), second.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    run = tmp_path / "b" / "runs" / "tiny"
    for name in (
        "best.safetensors",
        "best.json",
        "last.safetensors",
        "last.optim.safetensors",
        "steps.csv",
        "validation.csv",
        "config.yaml",
    ):
        assert (run / name).is_file(), name
    assert any((run / "tensorboard").iterdir())
    rows = list(csv.DictReader((run / "validation.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    # the logged NME is the one of the final weights on the validation faces, recomputed here
    pred, _ = predict_dataset(second.landmark_model, second.val_set)
    recomputed = evaluate_samples(pred, tiny_faces[1]).nme
    assert float(rows[-1]["nme"]) == pytest.approx(recomputed, rel=1e-5)
    assert float(rows[0]["nme"]) != pytest.approx(recomputed, rel=1e-5)  # the weights moved
    changes = list(csv.DictReader((run / "changes.csv").open()))
    assert [(r["epoch"], r["key"], r["old"], r["new"]) for r in changes] == [
        ("1", "schedule.epochs", "1", "2")
    ]


def test_non_finite_loss_stops_with_the_step(tmp_path: Path, tiny_faces) -> None:
    trainer = Trainer(tiny_config(tmp_path), tiny_faces)
    real_loss = trainer.supervision.loss
    calls = {"n": 0}

    def poisoned(pred, target, points):
        calls["n"] += 1
        value = real_loss(pred, target, points)
        return value * float("nan") if calls["n"] == 3 else value

    trainer.supervision.loss = poisoned
    with pytest.raises(NonFiniteLoss, match=r"the loss is nan at epoch 0, step 2"):
        trainer.fit()


def test_cli_train_reports_bad_config_key(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("model:\n  stacks: 1\n  wdith: 16\n")
    result = CliRunner().invoke(app, ["train", "--config", str(config)])
    assert result.exit_code == 1
    assert "model.wdith: unknown key" in result.output
    result = CliRunner().invoke(
        app, ["train", "--set", "data.train=/no/such/data", "--set", f"output={tmp_path}"]
    )
    assert result.exit_code == 1
    assert "/no/such/data" in result.output


def test_cli_train_and_evaluate_end_to_end(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "runs"
    args = [
        "train",
        *tiny_cli(
            {
                "output": out,
                "name": "cli",
                "model.stacks": 2,
                "codec.boundary": "true",
                "model.boundary_coords": "true",
            }
        ),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (out / "cli" / "best.safetensors").is_file()

    # evaluate the checkpoint on a dataset on disk (a .pts tree of synthetic faces)
    data = tmp_path / "faces"
    for i, sample in enumerate(synthetic_faces(3, seed=5, size=64)):
        data.mkdir(exist_ok=True)
        cv2.imwrite(str(data / f"f{i}.png"), cv2.cvtColor(sample.image, cv2.COLOR_RGB2BGR))
        write_pts(data / f"f{i}.pts", sample.points)
    for decoding in ("max", "barycenter"):
        result = runner.invoke(
            app,
            [
                "evaluate",
                "--checkpoint",
                str(out / "cli"),
                "--data",
                str(data),
                "--decoding",
                decoding,
                "--json",
                "--save-predictions",
                str(tmp_path / "p.json"),
            ],
        )
        assert result.exit_code == 0, result.output
        metrics = json.loads(result.stdout)
        assert metrics["images"] == 3 and metrics["nme"] > 0
    # the saved predictions evaluate to the same numbers through `heatmark eval`
    again = runner.invoke(
        app, ["eval", "--pred", str(tmp_path / "p.json"), "--gt", str(data), "--json"]
    )
    assert json.loads(again.stdout)["nme"] == pytest.approx(metrics["nme"], abs=1e-6)
    bad = runner.invoke(
        app, ["evaluate", "--checkpoint", str(tmp_path / "none"), "--data", str(data)]
    )
    assert bad.exit_code == 1 and "none" in bad.output


def test_wasserstein_loss_trains_like_any_loss(tmp_path: Path, tiny_faces) -> None:
    """`loss: wasserstein` with wide targets and GET_BC: finite, decreasing, softmax decoding."""
    from heatmark.losses.wasserstein import WassersteinLoss

    config = tiny_config(
        tmp_path,
        loss={"name": "wasserstein", "epsilon": 0.1},
        codec={"heatmap_size": 16, "sigma": 1.5},
        eval={"decoding": "barycenter"},
        optimizer={"name": "adam", "lr": 5e-3, "weight_decay": 0.0},
        schedule={"epochs": 6, "milestones": [5]},
    )
    trainer = Trainer(config, tiny_faces)
    assert isinstance(trainer.supervision.loss, WassersteinLoss)
    assert trainer.supervision.loss.empty_target == "ignore"  # landmarks augmented out of the crop
    assert config.description("300w-68").softmax
    result = trainer.fit()
    per_epoch = len(result.losses) // 6
    first, last = result.losses[:per_epoch], result.losses[-per_epoch:]
    assert all(torch.isfinite(torch.tensor(result.losses)))
    assert sum(last) / len(last) < 0.9 * sum(first) / len(first)


def test_a_fresh_run_never_appends_to_an_old_one(tmp_path: Path, tiny_faces) -> None:
    config = tiny_config(tmp_path, schedule={"epochs": 1})
    Trainer(config, tiny_faces).fit()
    run = tmp_path / "runs" / "tiny"
    with pytest.raises(HeatmarkError, match=r"already holds a run.*--resume"):
        Trainer(config, tiny_faces).fit()
    Trainer(config, tiny_faces, overwrite=True).fit()
    rows = list(csv.DictReader((run / "validation.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [0]  # the old run's rows are gone
