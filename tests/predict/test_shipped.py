"""The shipped models: in the package, loaded by role (``default``) or file name, terms stated,
ONNX exports in sync with the weights, accurate on real faces."""

from pathlib import Path

import numpy as np
import pytest

import heatmark
from heatmark.models.shipped import SHIPPED_MODELS, SHIPPED_STEM, load_shipped_model

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "300w"


@pytest.mark.parametrize("shipped", SHIPPED_MODELS, ids=lambda m: m.name)
def test_shipped_models_are_small_self_describing_and_state_their_terms(shipped) -> None:
    size = shipped.stem.with_suffix(".safetensors").stat().st_size
    assert size < 20 * 2**20  # at most 20 MB in the package (issue 20)
    model = load_shipped_model(shipped.name)
    d = model.description
    assert d.scheme == "300w-68" and d.heatmap_size * 4 == d.input_size
    assert "300-W" in model.terms and "non-commercial" in model.terms
    from heatmark.models.checkpoint import read_metadata

    assert read_metadata(shipped.stem)["recipe"] == shipped.recipe
    predictor = heatmark.Predictor(model=shipped.name, detector="none")
    assert predictor.terms == model.terms


@pytest.mark.parametrize("name", [m.name for m in SHIPPED_MODELS])
def test_shipped_models_on_held_out_real_faces(name: str) -> None:
    """Faces of the validation hold-out (never trained on), HOG detector boxes: most faces are
    found and landmarked well (measured: docs/predict.md)."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data/300w not available")
    from heatmark.data.readers.auto import load_dataset
    from heatmark.data.split import holdout_split
    from heatmark.evaluate.detections import box_iou

    samples = load_dataset(SHARED)
    _, val = holdout_split(samples, 0.1, seed=0, subset="helen/trainset")
    val = val[:30]
    predictor = heatmark.Predictor(model=name, detector="hog")
    errors = []
    found = predictor.predict_batch([s.image_path for s in val])
    for sample, faces in zip(val, found, strict=True):
        if not faces:
            continue
        truth = sample.landmark_box()
        best = max(faces, key=lambda f: box_iou(truth, f.point_box())[0, 0])
        inter_ocular = np.linalg.norm(sample.points[36] - sample.points[45])
        errors.append(np.linalg.norm(best.points - sample.points, axis=1).mean() / inter_ocular)
    assert len(errors) >= 0.8 * len(val)  # HOG finds 95% of the 87 hold-out faces
    assert np.median(errors) < 0.06  # mean 3.63% over the 87 (benchmarks/detector_boxes.py)


def test_default_predictor_is_yunet_with_the_shipped_onnx_export() -> None:
    from heatmark.models.shipped import SHIPPED_ONNX
    from heatmark.predict.predictor import OnnxBackend, TorchBackend

    predictor = heatmark.Predictor()
    assert predictor.detector.name == "yunet"
    assert isinstance(predictor.backend, OnnxBackend)
    assert predictor.backend.model.path == SHIPPED_ONNX  # shipped, not exported at run time
    assert isinstance(heatmark.Predictor(backend="torch").backend, TorchBackend)


def _real_faces(count: int) -> list:
    if not SHARED.is_dir():
        pytest.skip("../shared/data/300w not available")
    from heatmark.data.readers.auto import load_dataset

    return load_dataset(SHARED / "afw")[:count]


@pytest.mark.parametrize("name", [m.name for m in SHIPPED_MODELS])
def test_shipped_onnx_is_in_sync_with_the_shipped_weights(name: str) -> None:
    """The .onnx next to the weights must give the weights' points; after replacing the
    weights, re-export it: python -m heatmark.models.shipped --onnx."""
    faces = _real_faces(6)
    boxes = [face.landmark_box()[None] for face in faces]
    images = [face.load_image() for face in faces]
    runs = {
        backend: heatmark.Predictor(
            model=name, detector="none", backend=backend, refine=1
        ).predict_batch(images, boxes=boxes)
        for backend in ("torch", "onnx")
    }
    for torch_faces, onnx_faces in zip(runs["torch"], runs["onnx"], strict=True):
        gap = np.abs(torch_faces[0].points - onnx_faces[0].points).max()
        assert gap < 0.05, (
            f"the shipped .onnx disagrees with the shipped weights by {gap:.3f} px: "
            "python -m heatmark.models.shipped --onnx"
        )


def test_both_backends_give_the_same_points_with_the_default_detector() -> None:
    faces = _real_faces(4)
    for face in faces:
        image = face.load_image()
        by_onnx = heatmark.Predictor().predict(image)
        by_torch = heatmark.Predictor(backend="torch").predict(image)
        assert len(by_onnx) == len(by_torch) >= 1
        for a, b in zip(by_onnx, by_torch, strict=True):
            assert np.abs(a.points - b.points).max() < 0.05


def test_shipped_models_are_found_by_role_and_by_file_name(tmp_path: Path) -> None:
    """``default`` is a role: the same files answer to their own name, so a model replaced as
    ``default`` stays loadable for comparison; unknown names list the known ones."""
    from typer.testing import CliRunner

    from heatmark.cli import app
    from heatmark.errors import HeatmarkError
    from heatmark.models.shipped import SHIPPED_ONNX, shipped_model, shipped_names

    assert shipped_names()[0] == "default"
    assert shipped_model("default").stem == SHIPPED_STEM
    for model in SHIPPED_MODELS:
        assert shipped_model(model.file_name.removeprefix("heatmark-")) == model
        assert shipped_model(model.file_name) == model
    with pytest.raises(HeatmarkError, match="shipped models: " + ", ".join(shipped_names())):
        shipped_model("fastest")
    by_file = SHIPPED_STEM.name.removeprefix("heatmark-")
    predictor = heatmark.Predictor(model=by_file, detector="none")
    assert predictor.backend.model.path == SHIPPED_ONNX
    torch_one = heatmark.Predictor(model="default", detector="none", backend="torch")
    assert torch_one.description == predictor.description

    runner = CliRunner()
    photo = tmp_path / "face.png"
    import cv2

    cv2.imwrite(str(photo), np.full((64, 64, 3), 128, np.uint8))
    result = runner.invoke(app, ["predict", str(photo), "--model", "nope", "--detector", "none"])
    assert result.exit_code == 1 and "shipped models: default" in result.output
    both = ["predict", str(photo), "--model", "default", "--checkpoint", str(SHIPPED_STEM)]
    assert runner.invoke(app, both).exit_code == 1
    for model in SHIPPED_MODELS:
        named = runner.invoke(
            app, ["predict", str(photo), "--model", model.name, "--detector", "none"]
        )
        assert named.exit_code == 0, named.output


def test_a_shipped_name_wins_over_a_folder_of_that_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--model fast`` run where a folder ``fast/`` exists still means the shipped model (it
    was read as a path and refused); a ``Path`` still reaches a file of that name."""
    from typer.testing import CliRunner

    from heatmark.cli import app
    from heatmark.errors import HeatmarkError
    from heatmark.models.shipped import shipped_model

    monkeypatch.chdir(tmp_path)
    for name in ("fast", "default"):
        (tmp_path / name).mkdir()
        predictor = heatmark.Predictor(model=name, detector="none")
        assert predictor.backend.model.path == shipped_model(name).onnx
    import cv2

    cv2.imwrite(str(tmp_path / "face.png"), np.full((64, 64, 3), 128, np.uint8))
    result = CliRunner().invoke(
        app, ["predict", "face.png", "--model", "fast", "--detector", "none"]
    )
    assert result.exit_code == 0, result.output
    with pytest.raises((HeatmarkError, ValueError)):
        heatmark.Predictor(model=Path("fast"), detector="none")  # the folder, not the model
