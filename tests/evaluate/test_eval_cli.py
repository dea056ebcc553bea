"""``heatmark eval``: any predictor's output (JSON or .pts folder) against a dataset."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from heatmark.cli import app
from heatmark.data.readers.auto import load_dataset
from heatmark.data.readers.predictions import prediction_keys, write_predictions
from heatmark.evaluate.prediction_file import write_prediction_json
from heatmark.schemes import WFLW_TO_68

runner = CliRunner()


def _dataset(root: Path, count: int = 3) -> list[np.ndarray]:
    """A 300-W style folder with ``count`` faces; returns the 0-based ground truth."""
    rng = np.random.default_rng(0)
    truths = []
    for i in range(count):
        folder = root / "helen" / "trainset"
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"face{i}.jpg"), np.zeros((100, 100, 3), np.uint8))
        pts = rng.uniform(10, 90, size=(68, 2))
        pts[36], pts[45] = [20, 40], [70, 40]  # inter-ocular distance 50
        lines = ["version: 1", "n_points: 68", "{"] + [f"{x + 1:.6f} {y + 1:.6f}" for x, y in pts]
        (folder / f"face{i}.pts").write_text("\n".join(lines + ["}"]) + "\n")
        truths.append(pts)
    return truths


def _offset_predictions(truths: list[np.ndarray]) -> np.ndarray:
    """Predictions 5 px right of the truth on image 0 (NME 0.1), exact elsewhere."""
    pred = np.stack(truths).copy()
    pred[0, :, 0] += 5.0
    return pred


def test_eval_json_predictions(tmp_path: Path) -> None:
    truths = _dataset(tmp_path / "gt")
    samples = load_dataset(tmp_path / "gt")
    write_prediction_json(tmp_path / "pred.json", samples, _offset_predictions(truths))
    result = runner.invoke(
        app, ["eval", "--pred", str(tmp_path / "pred.json"), "--gt", str(tmp_path / "gt"), "--json"]
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["images"] == 3
    assert metrics["nme"] == pytest.approx(0.1 / 3, abs=1e-6)  # files hold 6 decimals
    assert metrics["fr_images"] == 0.0  # 0.1 is not above the 0.1 threshold
    assert metrics["normaliser"] == "inter-ocular"
    strict = runner.invoke(
        app,
        [
            "eval",
            "--pred",
            str(tmp_path / "pred.json"),
            "--gt",
            str(tmp_path / "gt"),
            "--json",
            "--threshold",
            "0.08",
        ],
    )
    assert json.loads(strict.stdout)["fr_images"] == pytest.approx(1 / 3)


def test_eval_pts_folder_table_and_plot(tmp_path: Path) -> None:
    truths = _dataset(tmp_path / "gt")
    samples = load_dataset(tmp_path / "gt")
    write_predictions(tmp_path / "pred", samples, _offset_predictions(truths))
    assert (tmp_path / "pred" / f"{prediction_keys(samples)[0]}.pts").is_file()
    plot = tmp_path / "ced.png"
    result = runner.invoke(
        app,
        [
            "eval",
            "--pred",
            str(tmp_path / "pred"),
            "--gt",
            str(tmp_path / "gt"),
            "--plot",
            str(plot),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "3.33" in result.stdout  # NME %
    assert plot.is_file() and cv2.imread(str(plot)) is not None


def test_eval_cross_scheme_98_on_68(tmp_path: Path) -> None:
    truths = _dataset(tmp_path / "gt", count=2)
    samples = load_dataset(tmp_path / "gt")
    wflw = np.zeros((2, 98, 2))
    wflw[:, WFLW_TO_68.source_indices] = np.stack(truths)[:, WFLW_TO_68.target_indices]
    write_prediction_json(tmp_path / "pred.json", samples, wflw)
    result = runner.invoke(
        app, ["eval", "--pred", str(tmp_path / "pred.json"), "--gt", str(tmp_path / "gt"), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["nme"] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ('{"format": "other"}', "not a heatmark predictions file"),
        ('{"format": "heatmark-predictions", "predictions": {}}', "no prediction for sample"),
        (
            '{"format": "heatmark-predictions", "predictions": '
            '{"face0": [[1, 2]], "face1": [[1, 2], [3, 4]]}}',
            "has 2 points, others 1",
        ),
        (
            '{"format": "heatmark-predictions", "predictions": {"face0": [[NaN, 2]], '
            '"face1": [[1, 2]]}}',
            "NaN",
        ),
    ],
)
def test_eval_bad_predictions_name_the_file(tmp_path: Path, content: str, message: str) -> None:
    _dataset(tmp_path / "gt", count=2)
    pred = tmp_path / "pred.json"
    pred.write_text(content)
    result = runner.invoke(app, ["eval", "--pred", str(pred), "--gt", str(tmp_path / "gt")])
    assert result.exit_code == 1
    assert "pred.json" in result.output and message in result.output


def test_eval_missing_inputs(tmp_path: Path) -> None:
    _dataset(tmp_path / "gt", count=1)
    result = runner.invoke(
        app, ["eval", "--pred", str(tmp_path / "nope"), "--gt", str(tmp_path / "gt")]
    )
    assert result.exit_code == 1 and "nope" in result.output
    result = runner.invoke(
        app, ["eval", "--pred", str(tmp_path / "nope"), "--gt", str(tmp_path / "missing")]
    )
    assert result.exit_code == 1 and "missing" in result.output
