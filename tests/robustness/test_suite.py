"""The robustness suite and its report, on synthetic faces with the shipped model."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from heatmark.data.dataset import LandmarkDataset
from heatmark.data.readers.predictions import write_predictions
from heatmark.data.synthetic import synthetic_faces
from heatmark.errors import DataError
from heatmark.evaluate.inference import predict_dataset
from heatmark.models.shipped import load_shipped_model
from heatmark.robustness.report import write_report
from heatmark.robustness.suite import ModelEntry, run_suite

PROTOCOLS = ("clean", "occlusion-large", "noise-large")


@pytest.fixture(scope="module")
def perturbations():
    from heatmark.robustness.perturbations import PROTOCOLS as table

    return table


@pytest.fixture(scope="module")
def faces():
    return synthetic_faces(12, seed=0, size=128)


@pytest.fixture(scope="module")
def model():
    return load_shipped_model()


@pytest.fixture(scope="module")
def predictions(tmp_path_factory, faces, model):
    """The shipped model's clean predictions as a .pts tree in DIR/clean/."""
    folder = tmp_path_factory.mktemp("predictions")
    d = model.description
    points, _ = predict_dataset(model, LandmarkDataset(faces, d.input_size, None, d.enlarge))
    write_predictions(folder / "clean", faces, points)
    return folder


@pytest.fixture(scope="module")
def result(perturbations, faces, model):
    return run_suite([ModelEntry("shipped", model)], faces, PROTOCOLS, progress=False)


@pytest.fixture(scope="module")
def report_dir(result, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    write_report(result, out)
    return out


def test_metrics_are_finite(result):
    assert [run.name for run in result.protocols] == list(PROTOCOLS)
    assert result.box_protocol == "gt"
    assert result.decodings == {"shipped": "barycenter"}
    for protocol in PROTOCOLS:
        cell = result.cell("shipped", protocol)
        assert cell.errors.shape == (12, 68)
        assert np.isfinite(cell.errors).all()
        values = [cell.nme, cell.fr_images, cell.auc_images, *cell.fr_landmarks.values()]
        assert np.isfinite(values).all()
        assert sorted(cell.fr_landmarks) == [0.1, 0.15, 0.2]
        assert cell.fr_landmarks[0.1] >= cell.fr_landmarks[0.15] >= cell.fr_landmarks[0.2]


def test_occlusion_is_worse_than_clean(result):
    clean = result.cell("shipped", "clean")
    occluded = result.cell("shipped", "occlusion-large")
    noisy = result.cell("shipped", "noise-large")
    # Measured on these 12 faces: clean NME 0.036 (FR_I 0), noise-large 0.056, occlusion-large
    # 0.115 (FR_I 0.5, 39% of the points covered). Bounds about 1.4x the measured values.
    assert clean.nme < 0.05 and clean.fr_images == 0.0
    assert clean.nme * 1.2 < noisy.nme < 0.08
    assert noisy.nme * 1.5 < occluded.nme < 0.16
    run = next(r for r in result.protocols if r.name == "occlusion-large")
    assert run.covered is not None and 0.25 < run.covered < 0.55
    assert next(r for r in result.protocols if r.name == "clean").covered is None


def test_files_entry_reproduces_the_model_on_clean(perturbations, faces, model, predictions):
    entries = [ModelEntry("shipped", model), ModelEntry("files", predictions=predictions)]
    both = run_suite(entries, faces, ["clean"], progress=False)
    assert both.decodings["files"] == "files"
    from_model, from_files = both.cell("shipped", "clean"), both.cell("files", "clean")
    np.testing.assert_allclose(from_files.errors, from_model.errors, rtol=0, atol=1e-9)
    assert from_files.summary() | {"decoding": ""} == from_model.summary() | {"decoding": ""}


def test_files_entry_without_the_protocol_is_a_data_error(perturbations, faces, predictions):
    with pytest.raises(DataError, match="noise-large"):
        run_suite(
            [ModelEntry("files", predictions=predictions)], faces, ["noise-large"], progress=False
        )


def test_model_entry_needs_exactly_one_source(model, tmp_path):
    with pytest.raises(ValueError):
        ModelEntry("none")
    with pytest.raises(ValueError):
        ModelEntry("both", model, tmp_path)


def test_unknown_protocol_is_refused(perturbations, faces, model):
    with pytest.raises(ValueError, match="unknown protocol"):
        run_suite([ModelEntry("m", model)], faces[:2], ["no-such-protocol"], progress=False)


def test_sequence_protocol_skips_still_images(perturbations, faces, model):
    still = run_suite([ModelEntry("m", model)], faces[:3], ["blur-medium"], progress=False)
    assert still.protocols == [] and "blur-medium" in still.skipped
    frames = [
        dataclasses.replace(face, image_path=Path("clip.avi"), frame_index=3 - i)
        for i, face in enumerate(faces[:3])
    ]
    mixed = run_suite(
        [ModelEntry("m", model)], [*frames, faces[3]], ["blur-medium"], progress=False
    )
    (run,) = mixed.protocols
    assert run.indices.tolist() == [0, 1, 2]
    assert "1 still image" in run.note
    assert mixed.cell("m", "blur-medium").errors.shape == (3, 68)


def test_report_files(result, report_dir):
    text = (report_dir / "report.md").read_text()
    for protocol in PROTOCOLS:
        assert f"## {protocol}" in text
    rows = [line for line in text.splitlines() if line.startswith("| shipped | barycenter | 12 |")]
    assert len(rows) == len(PROTOCOLS)  # one row per model and protocol
    assert "box protocol: gt" in text
    metrics = json.loads((report_dir / "metrics.json").read_text())
    assert metrics["box_protocol"] == "gt"
    assert set(metrics["protocols"]) == set(PROTOCOLS)
    shipped = metrics["protocols"]["clean"]["metrics"]["shipped"]
    assert shipped["decoding"] == "barycenter" and shipped["images"] == 12
    pictures = [report_dir / "failure_maps.png"]
    for protocol in PROTOCOLS:
        pictures += [report_dir / "ced" / f"{protocol}.png"]
        pictures += [report_dir / "examples" / f"{protocol}.png"]
    for picture in pictures:
        image = cv2.imread(str(picture))
        assert image is not None and image.size > 0, picture


def test_same_run_twice_gives_identical_metrics(result, faces, model, report_dir, tmp_path):
    again = run_suite([ModelEntry("shipped", model)], faces, PROTOCOLS, progress=False)
    for protocol in PROTOCOLS:
        np.testing.assert_array_equal(
            again.cell("shipped", protocol).errors, result.cell("shipped", protocol).errors
        )
    write_report(again, tmp_path)
    first = json.loads((report_dir / "metrics.json").read_text())
    second = json.loads((tmp_path / "metrics.json").read_text())
    first.pop("seconds"), second.pop("seconds")
    assert first == second


def test_sequence_blur_end_to_end_on_a_synthetic_clip(model):
    """A rendered face that moves and turns: the paper's motion-blur protocol runs on every
    frame, and a longer blur hurts more than a shorter one."""
    from heatmark.data.synthetic.sequence import synthetic_sequence

    clip = synthetic_sequence(12, seed=1, size=128)
    names = ["clean", "blur-medium", "blur-large"]
    result = run_suite([ModelEntry("m", model)], clip, names, progress=False)
    assert [run.name for run in result.protocols] == names
    assert all(run.indices.size == 12 for run in result.protocols)
    nme = {name: result.cell("m", name).nme for name in names}
    assert nme["blur-large"] > nme["clean"]
