"""Int8 export (``heatmark export --int8``): calibrated on real crops, its points stay within a
fraction of a pixel of the float model's, the file is smaller and really quantised, and the
command line reports the parity and refuses options that do not apply."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

from heatmark.cli import app
from heatmark.data.readers.auto import load_dataset
from heatmark.export import OnnxLandmarkModel, quantize, read_sidecar, sidecar_path
from heatmark.models.shipped import shipped_model

runner = CliRunner()


@pytest.fixture(scope="module")
def afw(shared) -> Path:
    return shared("300w/afw")


def test_int8_points_stay_near_the_float_models(afw: Path, tmp_path: Path) -> None:
    shipped = shipped_model("hg1-w64-300w68")
    model = OnnxLandmarkModel(shipped.onnx)
    calibration, parity = quantize.split_faces(load_dataset(afw), 24, 24)
    assert not {s.image_path for s in calibration} & {s.image_path for s in parity}
    crops = quantize.face_crops(calibration, model.input_size, model.enlarge)
    assert crops.shape == (24, 3, 128, 128) and crops.dtype == np.uint8
    out = quantize.quantize_onnx(shipped.onnx, tmp_path / "int8.onnx", crops)
    graph = onnx.load(str(out))
    kinds = {node.op_type for node in graph.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= kinds
    assert any(t.data_type == onnx.TensorProto.INT8 for t in graph.graph.initializer)
    assert out.stat().st_size < 0.6 * shipped.onnx.stat().st_size
    assert read_sidecar(sidecar_path(out))["quantization"]["calibration_crops"] == 24
    faces = quantize.face_crops(parity, model.input_size, model.enlarge)
    report = quantize.point_parity(shipped.onnx, out, faces, (36, 45))
    # measured: mean 0.18 px (0.3% of the inter-ocular distance) on 100 faces
    assert report["faces"] == 24
    assert report["mean_px"] < 0.5 and report["mean_percent_inter_ocular"] < 1.0
    assert report["mean_px"] > 0  # really quantised: not the float model again
    # the quantised file runs wherever an export does
    points, _ = OnnxLandmarkModel(out).points(faces[:2])
    reference, _ = model.points(faces[:2])
    assert np.abs(points - reference).mean() < 1.0


def test_the_command_line_reports_point_parity(
    afw: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(quantize, "CALIBRATION_FACES", 16)
    monkeypatch.setattr(quantize, "PARITY_FACES", 8)
    stem = shipped_model("hg1-w64-300w68").stem
    out = tmp_path / "m.onnx"
    result = runner.invoke(
        app, ["export", str(stem), "-o", str(out), "--int8", "--calibration", str(afw)]
    )
    assert result.exit_code == 0, result.output
    assert "point parity on 8 faces" in " ".join(result.output.split())
    parity = read_sidecar(sidecar_path(out))["quantization"]["point_parity"]
    assert parity["faces"] == 8 and parity["mean_px"] < 0.5


def test_int8_refuses_what_does_not_apply(tmp_path: Path) -> None:
    stem = str(shipped_model("hg1-w64-300w68").stem)
    out = str(tmp_path / "m.onnx")
    result = runner.invoke(app, ["export", stem, "-o", out, "--calibration", str(tmp_path)])
    assert result.exit_code == 1 and "--int8" in result.output
    result = runner.invoke(app, ["export", stem, "-o", out, "--int8", "--check"])
    assert result.exit_code == 1 and "--check" in result.output
