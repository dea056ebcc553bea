"""``heatmark robustness export`` + any predictor + ``heatmark robustness run``: one loop."""

import json
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from heatmark.cli import app
from heatmark.data.readers.pts import write_pts
from heatmark.data.synthetic import synthetic_faces
from heatmark.models.shipped import SHIPPED_STEM

runner = CliRunner()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("faces")
    for i, sample in enumerate(synthetic_faces(6, seed=4, size=128)):
        cv2.imwrite(str(root / f"f{i}.png"), cv2.cvtColor(sample.image, cv2.COLOR_RGB2BGR))
        write_pts(root / f"f{i}.pts", sample.points)
    return root


def test_exported_protocol_scored_as_files_matches_the_suite(dataset: Path, tmp_path) -> None:
    """Perturbed data exported, predicted by a 'foreign' tool (here: heatmark eval on the
    exported tree), and handed back as files: the suite scores both the same."""
    exported = tmp_path / "noise-large-data"
    result = runner.invoke(
        app,
        ["robustness", "export", "--protocol", "noise-large", "--data", str(dataset)]
        + ["--out", str(exported)],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((exported / "protocol.json").read_text())["count"] == 6
    predictions = tmp_path / "foreign" / "noise-large.json"
    predicted = runner.invoke(
        app,
        ["eval", "--checkpoint", str(SHIPPED_STEM), "--gt", str(exported)]
        + ["--save-predictions", str(predictions), "--json"],
    )
    assert predicted.exit_code == 0, predicted.output
    out = tmp_path / "report"
    suite = runner.invoke(
        app,
        ["robustness", "run", "--data", str(dataset), "--model", "ours=shipped"]
        + ["--pred", f"foreign={tmp_path / 'foreign'}", "--protocols", "noise-large"]
        + ["--out", str(out)],
    )
    assert suite.exit_code == 0, suite.output
    metrics = json.loads((out / "metrics.json").read_text())["protocols"]["noise-large"]
    ours, foreign = metrics["metrics"]["ours"], metrics["metrics"]["foreign"]
    assert foreign["nme"] == pytest.approx(ours["nme"], abs=1e-6)  # JSON keeps 6 decimals
    assert foreign["nme"] == pytest.approx(json.loads(predicted.stdout)["nme"], abs=1e-6)
    assert (out / "report.md").is_file()


def test_bad_robustness_arguments_are_clear(dataset: Path, tmp_path) -> None:
    unknown = runner.invoke(
        app, ["robustness", "run", "--data", str(dataset), "--protocols", "fog"]
    )
    assert unknown.exit_code == 1 and "unknown protocol" in unknown.output
    malformed = runner.invoke(
        app, ["robustness", "run", "--data", str(dataset), "--model", "no-equals-sign"]
    )
    assert malformed.exit_code == 1 and "NAME=PATH" in malformed.output
    still = runner.invoke(
        app,
        ["robustness", "export", "--protocol", "blur-large", "--data", str(dataset)]
        + ["--out", str(tmp_path / "x")],
    )
    assert still.exit_code == 1 and "Traceback" not in still.output


def test_detector_option_needs_the_detector_box_protocol(dataset: Path) -> None:
    stray = runner.invoke(app, ["robustness", "run", "--data", str(dataset), "--detector", "hog"])
    assert stray.exit_code == 1 and "--box detector" in stray.output
    unknown = runner.invoke(
        app,
        ["robustness", "run", "--data", str(dataset), "--box", "detector"]
        + ["--detector", "mtcnn"],
    )
    assert unknown.exit_code == 1 and "unknown face detector" in unknown.output
