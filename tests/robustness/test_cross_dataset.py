"""Cross-dataset protocols, box protocols and in-process baselines in the robustness suite."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from heatmark.cli import app
from heatmark.data.readers.auto import load_dataset
from heatmark.data.sample import Sample
from heatmark.data.synthetic import synthetic_faces
from heatmark.errors import DataError, HeatmarkError
from heatmark.models.config import HourglassConfig, build_network
from heatmark.models.landmark_model import LandmarkModel, ModelDescription
from heatmark.models.shipped import load_shipped_model
from heatmark.predict.calibration import BoxCalibration
from heatmark.robustness.boxes import BoxProtocol, common_indices, gt_boxes
from heatmark.robustness.cross_dataset import (
    CROSS_DATASET_PROTOCOLS,
    check_cross_dataset,
    cross_dataset,
)
from heatmark.robustness.report import write_report
from heatmark.robustness.suite import ModelEntry, run_suite
from heatmark.schemes import AFLW_19, COFW_29, FACE_68, WFLW_98, WFLW_TO_68

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "fixtures"


def fixture_path(name: str) -> Path:
    """The shared fixture annotation file of a format (``wflw`` -> wflw/test_wflw.json)."""
    path = FIXTURES / name / f"test_{name}.json"
    if not path.is_file():
        pytest.skip(f"needs {path}")
    return path


def fixture_samples(name: str) -> list[Sample]:
    return load_dataset(fixture_path(name))


@pytest.fixture(scope="module")
def shipped():
    return load_shipped_model()


def tiny_model(scheme_name: str) -> LandmarkModel:
    """An untrained HG-1 predicting ``scheme_name`` (cross-dataset plumbing, not accuracy)."""
    torch.manual_seed(0)
    description = ModelDescription(
        scheme=scheme_name, input_size=64, enlarge=1.25, heatmap_size=16, sigma=1.0
    )
    config = HourglassConfig(stacks=1, width=16, depth=2)
    network = build_network(config, description.num_points, boundary=False)
    return LandmarkModel(network, description).eval()


def as_68(sample: Sample) -> Sample:
    """A WFLW face re-annotated with its 68-point twins (the same face, another markup)."""
    return dataclasses.replace(
        sample, points=WFLW_TO_68.apply(sample.points), scheme=FACE_68, visible=None
    )


def test_the_four_named_protocols_and_their_common_points():
    assert list(CROSS_DATASET_PROTOCOLS) == [
        "300w->300vw",
        "300w->wflw",
        "wflw->300vw",
        "cofw->aflw",
    ]
    assert cross_dataset("300w->wflw").scored_points == 68
    assert cross_dataset("wflw->300vw").scored_points == 68
    assert cross_dataset("cofw->aflw").scored_points == 18  # AFLW's mouth centre has no twin
    assert "box-normalised" in cross_dataset("cofw->aflw").describe()
    with pytest.raises(HeatmarkError, match="choose from"):
        cross_dataset("300w->lsp")
    with pytest.raises(HeatmarkError, match="wflw-98 data"):
        check_cross_dataset(cross_dataset("300w->wflw"), FACE_68, {"m": FACE_68})
    with pytest.raises(HeatmarkError, match="model 'm' predicts wflw-98"):
        check_cross_dataset(cross_dataset("300w->wflw"), WFLW_98, {"m": WFLW_98})


def test_gt_box_follows_the_models_markup_not_the_ground_truths():
    """A 68-point model gets the same box on a face annotated with 98 or with 68 points, while
    the tight box of all 98 points (the old protocol) is a different box."""
    wflw = fixture_samples("wflw")
    converted = [as_68(s) for s in wflw]
    on_98 = gt_boxes(wflw, FACE_68).boxes
    on_68 = gt_boxes(converted, FACE_68).boxes
    np.testing.assert_array_equal(on_98, on_68)
    full_98 = np.stack([s.landmark_box() for s in wflw])
    assert np.abs(full_98 - on_98).max() > 0.5
    assert common_indices(COFW_29, AFLW_19).tolist() == [*range(16), 17, 18]  # no mouth centre


def test_300w_model_on_wflw_equals_the_same_faces_in_68_points(shipped):
    """300w->wflw: scoring on the 98-point ground truth gives the numbers of the same faces
    re-annotated in 68 points (same box, same common points, same inter-ocular distance)."""
    wflw = fixture_samples("wflw")
    protocols = ["clean", "noise-large"]  # (occluders are sized from each markup's points)
    entry = [ModelEntry("hg", shipped)]
    on_98 = run_suite(entry, wflw, protocols, progress=False)
    on_68 = run_suite(entry, [as_68(s) for s in wflw], protocols, progress=False)
    twins = WFLW_TO_68.source_indices
    for protocol in protocols:
        a, b = on_98.cell("hg", protocol), on_68.cell("hg", protocol)
        assert a.scored is not None and int(a.scored.sum()) == 68
        assert np.isnan(a.errors[:, ~a.scored]).all()
        np.testing.assert_allclose(a.errors[:, twins], b.errors[:, WFLW_TO_68.target_indices])
        assert a.nme == pytest.approx(b.nme, rel=1e-9)
        assert a.fr_landmarks == pytest.approx(b.fr_landmarks)


def test_cofw_model_on_aflw_scores_the_common_points_box_normalised(tmp_path):
    aflw = fixture_samples("aflw")
    result = run_suite(
        [ModelEntry("cofw", tiny_model(COFW_29.name))],
        aflw,
        ["clean"],
        progress=False,
        cross_dataset="cofw->aflw",
    )
    cell = result.cell("cofw", "clean")
    assert result.normaliser == "box"
    assert cell.points.shape == (len(aflw), 19, 2)
    assert cell.scored is not None and int(cell.scored.sum()) == 18
    assert np.isfinite(cell.errors[:, cell.scored]).all()
    assert np.isnan(cell.errors[:, ~cell.scored]).all()
    report = write_report(result, tmp_path).read_text()
    assert "18 of 19 (common points)" in report
    assert "cross-dataset protocol: cofw->aflw" in report
    assert "face box size" in report


def test_unrelated_schemes_are_refused(shipped):
    from heatmark.schemes import LSP_14

    rng = np.random.default_rng(0)
    bodies = [
        Sample(rng.uniform(10, 90, (14, 2)), LSP_14, image=np.zeros((100, 100, 3), np.uint8))
        for _ in range(2)
    ]
    with pytest.raises(ValueError, match="no index map"):
        run_suite([ModelEntry("hg", shipped)], bodies, ["clean"], progress=False)


def test_dataset_box_needs_a_box_and_names_the_sample(shipped):
    faces = synthetic_faces(2, seed=0, size=128)
    faces = [dataclasses.replace(f, box=None) for f in faces]
    with pytest.raises(DataError, match="no face box"):
        run_suite([ModelEntry("hg", shipped)], faces, ["clean"], progress=False, box="dataset")


def test_dataset_box_is_used_as_given(shipped):
    """Giving each face its own tight box as the dataset box reproduces the gt protocol."""
    faces = synthetic_faces(4, seed=1, size=128)
    boxed = [dataclasses.replace(f, box=f.landmark_box()) for f in faces]
    gt = run_suite([ModelEntry("hg", shipped)], faces, ["clean"], progress=False)
    dataset = run_suite(
        [ModelEntry("hg", shipped)], boxed, ["clean"], progress=False, box=BoxProtocol.DATASET
    )
    np.testing.assert_allclose(gt.cell("hg", "clean").points, dataset.cell("hg", "clean").points)
    assert dataset.box_protocol == "dataset"


def test_detector_box_counts_a_missed_face_as_a_failure(shipped):
    faces = fixture_samples("300w")
    blank = dataclasses.replace(
        faces[0], image=np.zeros_like(faces[0].load_image()), image_path=None
    )
    result = run_suite(
        [ModelEntry("hg", shipped)], [*faces, blank], ["clean"], progress=False, box="detector"
    )
    cell = result.cell("hg", "clean")
    assert result.box_protocol == "detector"
    assert cell.detection_rate is not None and cell.detection_rate < 1
    assert np.isinf(cell.nme_images[-1])  # the blank image: nobody to find
    assert cell.fr_images >= 1 / len(cell.nme_images)
    assert "detection_rate" in cell.summary()
    # the default detector is yunet; the report names it with its rate per protocol
    assert result.detector == "yunet"
    assert result.detection_rates["clean"] == cell.detection_rate
    assert result.to_dict()["detector"] == "yunet" and "yunet" in result.box_description
    from heatmark.robustness.report import overview_table

    assert "yunet found" in overview_table(result)
    hog = run_suite(
        [ModelEntry("hg", shipped)],
        faces,
        ["clean"],
        progress=False,
        box="detector",
        detector="hog:0",
    )
    assert hog.detector == "hog:0" and "hog:0" in hog.to_dict()["box"]


class CornerLandmarker:
    """A stand-in for another tool: the 68 points spread over the box it is given."""

    scheme = FACE_68
    label = "corners"

    def __init__(self) -> None:
        self.boxes: list[np.ndarray] = []

    def __call__(self, rgb: np.ndarray, landmark_box: np.ndarray) -> np.ndarray:
        self.boxes.append(np.asarray(landmark_box))
        x0, y0, x1, y1 = landmark_box
        t = np.linspace(0, 1, 68)
        return np.stack([x0 + t * (x1 - x0), y0 + t * (y1 - y0)], axis=1)


def test_a_landmarker_entry_gets_the_protocols_boxes(shipped):
    faces = synthetic_faces(3, seed=2, size=128)
    tool = CornerLandmarker()
    result = run_suite(
        [ModelEntry("hg", shipped), ModelEntry("tool", landmarker=tool)],
        faces,
        ["clean"],
        progress=False,
    )
    np.testing.assert_allclose(np.stack(tool.boxes), np.stack([f.landmark_box() for f in faces]))
    assert result.decodings["tool"] == "corners"
    hg, other = result.cell("hg", "clean"), result.cell("tool", "clean")
    assert hg.nme < other.nme  # a diagonal line is not a face
    with pytest.raises(ValueError, match="exactly one"):
        ModelEntry("both", shipped, landmarker=tool)


def test_box_calibration_inverse_round_trip():
    calibration = BoxCalibration(scale_x=0.9, scale_y=1.1, offset_x=-0.05, offset_y=0.08)
    boxes = np.array([[10.0, 20.0, 110.0, 140.0], [0.0, 0.0, 50.0, 60.0]])
    np.testing.assert_allclose(calibration.apply(calibration.invert(boxes)), boxes)
    np.testing.assert_allclose(calibration.invert(calibration.apply(boxes)), boxes)


def test_dlib_baseline_beside_the_model_on_real_faces():
    pytest.importorskip("dlib")
    from heatmark.baselines import DlibLandmarker, dlib_model_path

    if dlib_model_path() is None:
        pytest.skip("needs the 'baselines' extra (face-recognition-models)")
    faces = fixture_samples("300w")
    result = run_suite(
        [ModelEntry("dlib", landmarker=DlibLandmarker())], faces, ["clean"], progress=False
    )
    assert result.cell("dlib", "clean").nme < 0.1  # dlib finds these faces' points


def test_cli_cross_dataset_run_and_errors(tmp_path):
    folder = fixture_path("wflw")
    runner = CliRunner()
    out = tmp_path / "report"
    result = runner.invoke(
        app,
        [
            "robustness",
            "run",
            "--data",
            str(folder),
            "--cross",
            "300w->wflw",
            "--protocols",
            "clean",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "scored on the 68 of 98 wflw-98 points" in result.output
    assert "cross-dataset protocol: 300w->wflw" in (out / "report.md").read_text()
    wrong = runner.invoke(
        app, ["robustness", "run", "--data", str(folder), "--cross", "cofw->aflw"]
    )
    assert wrong.exit_code != 0 and "cofw->aflw scores on aflw-19 data" in wrong.output
    bad_box = runner.invoke(app, ["robustness", "run", "--data", str(folder), "--box", "tight"])
    assert bad_box.exit_code != 0 and "unknown box protocol 'tight'" in bad_box.output


def test_cli_runs_on_synthetic_faces_as_a_cross_domain_set(tmp_path):
    runner = CliRunner()
    out = tmp_path / "synthetic"
    args = ["robustness", "run", "--data", "synthetic:3", "--protocols", "clean", "--out"]
    result = runner.invoke(app, [*args, str(out)])
    assert result.exit_code == 0, result.output
    assert "samples: 3 (300w-68)" in (out / "report.md").read_text()
    bad = runner.invoke(app, ["robustness", "run", "--data", "synthetic:0", "--out", str(out)])
    assert bad.exit_code != 0 and "expected synthetic or synthetic:N" in bad.output


def fixture_300vw() -> list[Sample]:
    """The 300-VW fixture: 2 videos x 2 frames, read from its original annot/imgs layout."""
    root = FIXTURES / "300vw"
    if not root.is_dir():
        pytest.skip(f"needs {root}")
    return [s for s in load_dataset(root) if s.scheme == FACE_68]


def test_300w_model_on_300vw_end_to_end(shipped, tmp_path):
    """300w->300vw: the same markup, so every point is scored and the numbers are those of a
    plain run; the shipped model finds these real video faces."""
    frames = fixture_300vw()
    assert len(frames) == 4
    entry = [ModelEntry("hg", shipped)]
    cross = run_suite(
        entry, frames, ["clean", "noise-large"], progress=False, cross_dataset="300w->300vw"
    )
    plain = run_suite(entry, frames, ["clean", "noise-large"], progress=False)
    for protocol in ("clean", "noise-large"):
        a, b = cross.cell("hg", protocol), plain.cell("hg", protocol)
        assert np.isfinite(a.errors).all() and a.errors.shape == (4, 68)
        np.testing.assert_allclose(a.errors, b.errors)
    assert cross.cell("hg", "clean").nme < 0.08  # measured 0.057 on these 4 frames
    report = write_report(cross, tmp_path).read_text()
    assert "cross-dataset protocol: 300w->300vw" in report


def test_wflw_model_on_300vw_scores_its_68_twins(tmp_path):
    """wflw->300vw: a 98-point model's points, mapped to their 68-point twins, against the
    300-VW ground truth; the errors are recomputed here from the cell's own points."""
    frames = fixture_300vw()
    result = run_suite(
        [ModelEntry("wflw", tiny_model(WFLW_98.name))],
        frames,
        ["clean"],
        progress=False,
        cross_dataset="wflw->300vw",
    )
    cell = result.cell("wflw", "clean")
    # the map is complete: all 68 points scored, in the ground truth's markup
    assert cell.scored is None and cell.points.shape == (4, 68, 2)
    model = tiny_model(WFLW_98.name)
    d = model.description
    from heatmark.data.dataset import LandmarkDataset
    from heatmark.evaluate.inference import predict_dataset

    # the 98-point model cropped from the 68-point ground-truth boxes, mapped here by hand
    raw, _ = predict_dataset(model, LandmarkDataset(frames, d.input_size, None, d.enlarge))
    twins = {t: s for s, t in WFLW_TO_68.pairs}
    mapped = raw[:, [twins[k] for k in range(68)]]
    np.testing.assert_allclose(cell.points, mapped, atol=1e-4)
    for i, frame in enumerate(frames):
        iod = np.linalg.norm(frame.points[36] - frame.points[45])
        expected = np.linalg.norm(mapped[i] - frame.points, axis=1) / iod
        np.testing.assert_allclose(cell.errors[i], expected, rtol=1e-5)
    report = write_report(result, tmp_path).read_text()
    assert "cross-dataset protocol: wflw->300vw" in report
