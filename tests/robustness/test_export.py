"""Exporting a perturbed dataset as a 300-W style tree, read back and scored by ``heatmark``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from heatmark.cli import app
from heatmark.data.readers.auto import load_dataset
from heatmark.data.readers.predictions import prediction_keys, write_predictions
from heatmark.data.readers.pts import write_pts
from heatmark.data.sample import Sample, read_image
from heatmark.data.synthetic import synthetic_faces
from heatmark.errors import DataError
from heatmark.robustness.export import (
    PROTOCOL_FILE,
    export_protocol,
    sequence_positions,
    write_png,
)
from heatmark.robustness.perturbations import (
    Severity,
    apply_protocol,
    motion_blur,
    sequence_blur,
)
from heatmark.schemes import FACE_68


def _tree(folder: Path, count: int = 6) -> list[Sample]:
    """Synthetic faces written as a 300-W tree (``<name>.png`` + ``<name>.pts``), read back."""
    for index, face in enumerate(synthetic_faces(count, seed=7, size=96)):
        name = folder / ("indoor" if index % 2 else "outdoor") / f"face_{index:02d}"
        write_png(name.with_suffix(".png"), face.load_image())
        write_pts(name.with_suffix(".pts"), face.points)
    return load_dataset(folder)


def test_export_writes_a_tree_that_reads_back_with_the_same_points(tmp_path: Path) -> None:
    data = tmp_path / "data"
    samples = _tree(data)
    out = tmp_path / "occluded"
    written = export_protocol(samples, "occlusion-large", out, root=data)
    keys = prediction_keys(samples, data)
    assert written == [out / f"{key}.png" for key in keys]
    back = load_dataset(out)
    assert prediction_keys(back, out) == keys
    for sample, again, key in zip(samples, back, keys, strict=True):
        np.testing.assert_array_equal(again.points, sample.points)
        expected = apply_protocol(
            "occlusion-large", sample.load_image(), sample.points, sample.scheme, key
        )
        np.testing.assert_array_equal(again.load_image(), expected)
        assert not np.array_equal(expected, sample.load_image())
    summary = json.loads((out / PROTOCOL_FILE).read_text())
    assert summary["protocol"] == "occlusion-large" and summary["count"] == len(samples)
    assert summary["parameters"] == {"semi_axes_iod": [0.6, 1.0]}
    assert set(summary["covered_fraction"]) == set(keys)
    assert summary["covered_fraction_mean"] == pytest.approx(
        np.mean(list(summary["covered_fraction"].values()))
    )
    assert 0 < summary["covered_fraction_mean"] < 1


def test_export_is_identical_across_runs_and_records_no_coverage_without_occlusion(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    samples = _tree(data, count=3)
    first = export_protocol(samples, "noise-large", tmp_path / "a", root=data)
    second = export_protocol(samples, "noise-large", tmp_path / "b", root=data)
    for one, two in zip(first, second, strict=True):
        assert one.read_bytes() == two.read_bytes()
    summary = json.loads((tmp_path / "a" / PROTOCOL_FILE).read_text())
    assert "covered_fraction_mean" not in summary and summary["parameters"] == {"std": 25.0}


def test_ground_truth_scored_against_the_exported_tree_has_zero_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    samples = _tree(data, count=4)
    out = tmp_path / "jpeg"
    export_protocol(samples, "jpeg-large", out, root=data)
    exported = load_dataset(out)
    predictions = tmp_path / "pred"
    write_predictions(predictions, exported, [s.points for s in exported], root=out)
    result = CliRunner().invoke(
        app, ["eval", "--pred", str(predictions), "--gt", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output[result.output.index("{") :])
    assert metrics["nme"] == 0.0


def test_sequence_protocols_refuse_still_images(tmp_path: Path) -> None:
    data = tmp_path / "data"
    samples = _tree(data, count=2)
    with pytest.raises(DataError, match=r"blur-medium needs video frames.*2 of 2.*blur-random"):
        export_protocol(samples, "blur-medium", tmp_path / "out", root=data)
    assert not (tmp_path / "out").exists()


def test_sequences_group_video_frames_by_video_and_subset_in_frame_order() -> None:
    base = synthetic_faces(1, seed=1, size=64)[0].points

    def frame(video: str, index: int, subset: str = "train") -> Sample:
        return Sample(
            base + index,
            FACE_68,
            image_path=Path(f"/videos/{video}/vid.avi"),
            frame_index=index,
            subset=subset,
        )

    samples = [frame("001", 5), frame("002", 1), frame("001", 2), frame("001", 9, "test")]
    samples.append(Sample(base, FACE_68, image_path=Path("/photos/portrait.jpg")))
    positions = sequence_positions(samples, prediction_keys(samples))
    assert set(positions) == {0, 1, 2, 3}
    points, t = positions[0]
    assert t == 1 and points.shape == (2, 68, 2)
    np.testing.assert_array_equal(points[0], base + 2)
    assert positions[2][1] == 0
    assert len(positions[1][0]) == 1 and len(positions[3][0]) == 1


def test_300vw_clips_export_with_sequence_blur(shared, tmp_path: Path) -> None:
    root = shared("fixtures/300vw")
    samples = load_dataset(root)
    out = tmp_path / "blur"
    written = export_protocol(samples, "blur-large", out, root=root)
    assert len(written) == len(samples)
    back = load_dataset(out)
    keys = prediction_keys(samples, root)
    assert prediction_keys(back, out) == keys
    positions = sequence_positions(samples, keys)
    for index, (sample, again) in enumerate(zip(samples, back, strict=True)):
        np.testing.assert_array_equal(again.points, sample.points)
        frames, t = positions[index]
        direction, length = sequence_blur(frames, t, Severity.LARGE)
        assert length > 1  # the fixture faces move between annotated frames
        expected = motion_blur(sample.load_image(), direction, length)
        np.testing.assert_array_equal(read_image(written[index]), expected)
        assert not np.array_equal(expected, sample.load_image())
    assert json.loads((out / PROTOCOL_FILE).read_text())["sequence"] is True
