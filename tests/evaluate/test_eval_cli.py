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


# --- arguments that used to give silent wrong numbers ------------------------------------------


@pytest.mark.parametrize("threshold", ["-0.1", "0", "nan", "inf", "-inf"])
def test_eval_rejects_a_threshold_that_is_not_positive_and_finite(
    tmp_path: Path, threshold: str
) -> None:
    truths = _dataset(tmp_path / "gt", count=2)
    samples = load_dataset(tmp_path / "gt")
    write_prediction_json(tmp_path / "pred.json", samples, _offset_predictions(truths))
    args = ["eval", "--pred", str(tmp_path / "pred.json"), "--gt", str(tmp_path / "gt")]
    result = runner.invoke(app, [*args, "--json", "--threshold", threshold])
    assert result.exit_code == 1
    assert "--threshold must be a positive finite number" in result.output
    assert "AUC" not in result.stdout and "nme" not in result.stdout


def test_eval_norm_none_reports_pixels_not_percent(tmp_path: Path) -> None:
    truths = _dataset(tmp_path / "gt", count=2)
    samples = load_dataset(tmp_path / "gt")
    pred = np.stack(truths).copy()
    pred[:, :, 0] += 3.8  # every point 3.8 px off
    write_prediction_json(tmp_path / "pred.json", samples, pred)
    args = ["eval", "--pred", str(tmp_path / "pred.json"), "--gt", str(tmp_path / "gt")]
    args += ["--norm", "none"]
    missing = runner.invoke(app, args)  # a fraction default means nothing in pixels
    assert missing.exit_code == 1 and "give --threshold in pixels" in missing.output
    table = runner.invoke(app, [*args, "--threshold", "5"])
    assert table.exit_code == 0, table.output
    assert "NME px" in table.stdout and "NME %" not in table.stdout
    assert "3.80" in table.stdout and "380" not in table.stdout
    metrics = json.loads(runner.invoke(app, [*args, "--threshold", "5", "--json"]).stdout)
    assert metrics["unit"] == "pixels" and metrics["nme"] == pytest.approx(3.8, abs=1e-5)
    assert metrics["fr_images"] == 0.0 and metrics["auc_images"] == pytest.approx(1 - 3.8 / 5)


def test_ced_plot_axis_follows_the_unit(tmp_path: Path, monkeypatch) -> None:
    from matplotlib.axes import Axes

    from heatmark.evaluate.report import plot_ced

    labels: list[str] = []
    original = Axes.set_xlabel
    monkeypatch.setattr(
        Axes, "set_xlabel", lambda self, text, *a, **k: labels.append(text) or original(self, text)
    )
    plot_ced({"all": np.array([1.0, 2.0])}, tmp_path / "px.png", 5.0, in_pixels=True)
    plot_ced({"all": np.array([0.01, 0.02])}, tmp_path / "pc.png", 0.1)
    assert labels == ["NME (px)", "NME (%)"]


# --- keys, schemes and outputs -------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["mirror", "common"])
def test_eval_takes_a_prediction_tree_laid_out_like_the_ground_truth(
    tmp_path: Path, layout: str
) -> None:
    """The gt tree has one folder (helen/trainset): keys relative to --gt are
    ``helen/trainset/face0``; the older common-folder keys (``face0``) still work."""
    truths = _dataset(tmp_path / "gt")
    samples = load_dataset(tmp_path / "gt")
    root = tmp_path / "gt" if layout == "mirror" else None
    write_predictions(tmp_path / "pred", samples, _offset_predictions(truths), root=root)
    expected = "helen/trainset/face0.pts" if layout == "mirror" else "face0.pts"
    assert (tmp_path / "pred" / expected).is_file()
    result = runner.invoke(
        app, ["eval", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["nme"] == pytest.approx(0.1 / 3, abs=1e-6)


def test_eval_says_when_it_scores_common_points_only(tmp_path: Path) -> None:
    truths = _dataset(tmp_path / "gt", count=2)
    samples = load_dataset(tmp_path / "gt")
    wflw = np.zeros((2, 98, 2))
    wflw[:, WFLW_TO_68.source_indices] = np.stack(truths)[:, WFLW_TO_68.target_indices]
    write_prediction_json(tmp_path / "pred.json", samples, wflw)
    args = ["eval", "--pred", str(tmp_path / "pred.json"), "--gt", str(tmp_path / "gt")]
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "98-point predictions" in table.output and "68 points they share" in table.output
    metrics = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert metrics["points"] == {"scored": 68, "predicted": "wflw-98", "ground_truth": "300w-68"}


def test_eval_needs_exactly_one_source_and_checkpoint_only_flags(tmp_path: Path) -> None:
    _dataset(tmp_path / "gt", count=1)
    neither = runner.invoke(app, ["eval", "--gt", str(tmp_path / "gt")])
    assert neither.exit_code == 1 and "exactly one of --checkpoint" in neither.output
    both = ["eval", "--gt", str(tmp_path / "gt"), "--pred", "p.json", "--checkpoint", "c"]
    assert runner.invoke(app, both).exit_code == 1
    misplaced = runner.invoke(
        app, ["eval", "--gt", str(tmp_path / "gt"), "--pred", "p.json", "--split", "val"]
    )
    assert misplaced.exit_code == 1 and "--split only applies to --checkpoint" in misplaced.output


def test_eval_output_paths_that_cannot_be_written_are_named(tmp_path: Path) -> None:
    truths = _dataset(tmp_path / "gt", count=2)
    samples = load_dataset(tmp_path / "gt")
    write_prediction_json(tmp_path / "pred.json", samples, _offset_predictions(truths))
    args = ["eval", "--pred", str(tmp_path / "pred.json"), "--gt", str(tmp_path / "gt")]
    folder = runner.invoke(app, [*args, "--plot", str(tmp_path)])
    assert folder.exit_code == 1 and "is a folder" in folder.output
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where a folder should be: the tests run as root, so a
    result = runner.invoke(app, [*args, "--plot", str(blocker / "ced.png")])  # read-only dir
    assert result.exit_code == 1  # would not stop them; this OSError takes the same path
    assert "file" in result.output and "Traceback" not in result.output
    with pytest.raises(Exception, match="is a folder"):
        write_prediction_json(tmp_path, samples, _offset_predictions(truths))


def test_eval_plots_a_landmark_wise_ced(tmp_path: Path, monkeypatch) -> None:
    import heatmark.evaluate.report as report

    truths = _dataset(tmp_path / "gt", count=2)
    samples = load_dataset(tmp_path / "gt")
    write_prediction_json(tmp_path / "pred.json", samples, _offset_predictions(truths))
    seen = {}
    original = report.plot_ced
    monkeypatch.setattr(
        report, "plot_ced", lambda curves, *a, **k: seen.update(curves) or original(curves, *a, **k)
    )
    args = ["eval", "--pred", str(tmp_path / "pred.json"), "--gt", str(tmp_path / "gt")]
    result = runner.invoke(app, [*args, "--plot", str(tmp_path / "l.png"), "--ced", "landmarks"])
    assert result.exit_code == 0, result.output
    assert seen["all"].shape == (2, 68)  # every landmark error, not one NME per image
    assert cv2.imread(str(tmp_path / "l.png")) is not None


def test_split_hold_out_comes_from_the_sidecar_as_training_made_it(tmp_path: Path) -> None:
    """``eval --split`` re-creates a run's hold-out from the sidecar's plain JSON, the same
    samples ``train.data.validation_split`` holds out; a sidecar without the settings is a
    clear error."""
    from heatmark.data.split import run_holdout
    from heatmark.evaluate.scoring import holdout_settings
    from heatmark.models.shipped import SHIPPED_STEM
    from heatmark.train.data import validation_split
    from heatmark.train.restore import load_trained

    _dataset(tmp_path / "gt", count=12)
    samples = load_dataset(tmp_path / "gt")
    from_sidecar = run_holdout(samples, *holdout_settings(SHIPPED_STEM))
    from_training = validation_split(samples, load_trained(SHIPPED_STEM).config)
    assert [s.source for s in from_sidecar[1]] == [s.source for s in from_training[1]]
    assert len(from_sidecar[1]) == 1  # 10% of 12 faces of helen/trainset
    stem = tmp_path / "bare"
    meta = json.loads(SHIPPED_STEM.with_suffix(".json").read_text())
    del meta["config"]["data"]["val_fraction"]
    stem.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(Exception, match="cannot re-create the hold-out"):
        holdout_settings(stem)
