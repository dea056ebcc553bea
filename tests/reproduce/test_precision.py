"""The precision campaign's plumbing: commands, the ablation split, scoring and the table."""

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from heatmark.data.readers.pts import write_pts
from heatmark.data.synthetic import synthetic_faces
from heatmark.reproduce import precision
from heatmark.reproduce.precision import (
    ABLATIONS,
    Ablation,
    ablation_samples,
    finished,
    score,
    train_command,
    write_table,
)
from heatmark.train.config import config_from_dict, load_config
from heatmark.train.data import training_samples
from heatmark.train.trainer import Trainer


def test_every_ablation_is_a_valid_config_that_changes_one_thing(tmp_path: Path) -> None:
    base = load_config(precision.BASE_RECIPE)
    names = [a.name for a in ABLATIONS]
    assert len(set(names)) == len(names)
    for ablation in ABLATIONS:
        command = train_command(ablation, tmp_path / "train", tmp_path / "runs")
        assert command[:5] == [sys.executable, "-m", "heatmark.cli", "train", "-c"]
        sets = [command[i + 1] for i, part in enumerate(command) if part == "--set"]
        config = load_config(precision.BASE_RECIPE, sets)
        assert config.schedule.epochs == ablation.epochs
        assert config.data.val_subset is None and config.data.val_fraction == 0.1
        assert config.train.threads == 1
        assert ablation.compare_to is None or ablation.compare_to in names
        changed = {key for key, _ in ablation.overrides}
        dumped, original = config.model_dump(), base.model_dump()
        for key in changed:
            section, _, name = key.partition(".")
            assert dumped[section][name] != original[section][name], (ablation.name, key)


def test_a_started_run_resumes(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "base-e30"
    run.mkdir(parents=True)
    (run / "last.json").write_text("{}")
    command = train_command(ABLATIONS[1], tmp_path / "train", tmp_path / "runs")
    assert command[-2:] == ["--resume", str(run)]


def test_a_run_stopped_before_its_first_checkpoint_starts_over(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "base-e30"
    run.mkdir(parents=True)
    (run / "steps.csv").write_text("epoch,step\n")
    command = train_command(ABLATIONS[1], tmp_path / "train", tmp_path / "runs")
    assert "--overwrite" in command and "--resume" not in command
    assert "--overwrite" not in train_command(ABLATIONS[2], tmp_path / "train", tmp_path / "runs")


def test_the_split_is_the_one_the_trainer_holds_out(tmp_path: Path) -> None:
    data = tmp_path / "faces"
    for index, face in enumerate(synthetic_faces(30, seed=3, size=64)):
        folder = data / ("a" if index % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{index}.png"), face.image)
        write_pts(folder / f"{index}.pts", face.points)
    config = config_from_dict(
        {
            "data": {"train": str(data), "val_subset": None, "val_fraction": 0.1},
            "seed": 0,
        }
    )
    _, held = training_samples(config)
    chosen = ablation_samples(data)
    assert sorted(s.source for s in chosen) == sorted(s.source for s in held)
    assert len(chosen) == 3


def test_score_and_table(tmp_path: Path, monkeypatch) -> None:
    train = synthetic_faces(24, seed=0, size=64)
    val = synthetic_faces(8, seed=9, size=64)
    raw = {
        "name": "base-e30",
        "output": str(tmp_path / "runs"),
        "data": {"input_size": 64, "workers": 0},
        "codec": {"heatmap_size": 16},
        "model": {"stacks": 1, "width": 16, "depth": 2},
        "optimizer": {"name": "adam", "lr": 1e-3},
        "schedule": {"epochs": 1},
        "train": {"batch_size": 8, "progress": False, "threads": 1, "ema_decay": 0.9},
    }
    torch.manual_seed(0)
    Trainer(config_from_dict(raw), (train, val)).fit()
    run = tmp_path / "runs" / "base-e30"
    short = Ablation("base-e30", "baseline", epochs=1, compare_to=None)
    assert finished(short, run) and not finished(Ablation("x", "x", epochs=2), run)
    result = score(run, val)
    assert set(result) >= {"max", "bc", "bc+flip", precision.OCCLUSION, "ms_per_face"}
    for key in ("max", "bc", "bc+flip", precision.OCCLUSION):
        assert 0 < result[key]["nme"] < 5
    first, again = precision.occluded(val[:2]), precision.occluded(val[:2])
    for sample, image, repeat in zip(val, first, again, strict=False):
        assert (image.image != sample.load_image()).mean() > 0.05  # a large occluder
        assert np.array_equal(image.image, repeat.image)  # the same one every time
    # the scored network is the moving average, not the live weights
    scored = precision.scored_model(run).network.state_dict()
    trainer_live = precision.load_landmark_model(run / "last").network.state_dict()
    assert any(not torch.equal(scored[k], trainer_live[k]) for k in scored)

    records = tmp_path / "records"
    records.mkdir()
    for name, nme in (("base-e30", 0.05), ("fine64-e30", 0.04)):
        entry = {name: {"nme": nme, "fr_landmarks": 0.1} for name in ("max", "bc", "bc+flip")}
        entry |= {"ms_per_face": 3.0, "train_cpu_seconds": 7200.0}
        (records / f"{name}.json").write_text(json.dumps(entry))
    text = write_table(records, tmp_path / "page.md")
    fine = next(line for line in text.splitlines() if line.startswith("| 64x64"))
    assert "| 4.00 |" in fine and "| +1.00 |" in fine and "| 2.00 |" in fine
    assert "not run yet" in text
