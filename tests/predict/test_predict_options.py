"""``heatmark predict`` options with the shipped model: --refine, --batch-size, --backend and
--redetect-every reach the pipeline and do what they say."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from heatmark.cli import app
from heatmark.data.synthetic import synthetic_faces

runner = CliRunner()


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> tuple[Path, dict[str, np.ndarray]]:
    """Three rendered faces, each a third to three quarters of its 160 px image."""
    root = tmp_path_factory.mktemp("photos")
    truth = {}
    for i, face in enumerate(synthetic_faces(3, seed=31, size=160)):
        cv2.imwrite(str(root / f"p{i}.png"), cv2.cvtColor(face.image, cv2.COLOR_RGB2BGR))
        truth[f"p{i}"] = face.points
    return root, truth


def _predict(folder: Path, out: Path, *options: str) -> dict[str, np.ndarray]:
    """Points of the first face of every image (whole image as the box: --detector none)."""
    args = ["predict", str(folder), "--detector", "none", "--out", str(out), *options]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    images = json.loads(out.read_text())["images"]
    return {key: np.asarray(value["faces"][0]["points"]) for key, value in images.items()}


def _nme(points: dict[str, np.ndarray], truth: dict[str, np.ndarray]) -> float:
    return float(
        np.mean(
            [
                np.linalg.norm(points[k] - t, axis=1).mean() / np.linalg.norm(t[36] - t[45])
                for k, t in truth.items()
            ]
        )
    )


def test_refine_recrops_from_the_points(photos, tmp_path: Path) -> None:
    """The whole image is a loose box; re-cropping from the predicted points tightens it
    (measured NME: 0.194 without re-crop, 0.068 after two)."""
    folder, truth = photos
    loose = _nme(_predict(folder, tmp_path / "r0.json", "--refine", "0"), truth)
    refined = _nme(_predict(folder, tmp_path / "r2.json", "--refine", "2"), truth)
    assert refined < 0.6 * loose, (loose, refined)
    bad = runner.invoke(app, ["predict", str(folder), "--detector", "none", "--refine", "-1"])
    assert bad.exit_code != 0 and "refine must be >= 0" in bad.output


def test_batch_size_changes_nothing_but_the_batches(photos, tmp_path: Path) -> None:
    folder, _ = photos
    one = _predict(folder, tmp_path / "b1.json", "--batch-size", "1")
    many = _predict(folder, tmp_path / "b16.json", "--batch-size", "16")
    assert one.keys() == many.keys() and len(one) == 3
    for key, value in one.items():
        np.testing.assert_allclose(many[key], value, atol=1e-3)


def test_onnx_backend_gives_the_torch_points(photos, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    folder, _ = photos
    torch_points = _predict(folder, tmp_path / "torch.json", "--backend", "torch")
    onnx_points = _predict(folder, tmp_path / "onnx.json", "--backend", "onnx")
    for key, value in torch_points.items():
        np.testing.assert_allclose(onnx_points[key], value, atol=0.05)


def test_redetect_every_reaches_the_video_options(
    photos, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tracker's use of it is tested in test_tracking.py; here: the CLI passes it on."""
    from heatmark.predict import run

    seen = []

    def record(inputs, predictor, options, console) -> run.PredictSummary:
        seen.append(options)
        return run.PredictSummary()

    monkeypatch.setattr(run, "run_predict", record)
    folder, _ = photos
    args = ["predict", str(folder), "--detector", "none", "--redetect-every", "3"]
    assert runner.invoke(app, args).exit_code == 0
    assert [options.redetect_every for options in seen] == [3]
