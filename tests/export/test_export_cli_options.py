"""``heatmark export`` options (--opset, --input-dtype, --decode) end to end: what lands in the
ONNX graph and its sidecar, and that onnxruntime then gives the torch model's points."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from heatmark.cli import app
from heatmark.codec import Decoding
from heatmark.models.checkpoint import load_landmark_model, save_checkpoint
from heatmark.models.config import HourglassConfig, build_network
from heatmark.models.landmark_model import ModelDescription

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")
runner = CliRunner()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny hourglass (random weights) whose checkpoint asks for barycenter decoding."""
    torch.manual_seed(3)
    config = HourglassConfig(stacks=1, width=16, depth=2)
    network = build_network(config, 68, False)
    description = ModelDescription("300w-68", 64, 1.25, 16, 1.0, decoding=Decoding.GET_BC)
    stem = tmp_path_factory.mktemp("ckpt") / "tiny"
    meta = {"config": {"model": config.model_dump()}, "description": description.to_dict()}
    save_checkpoint(stem, network, meta | {"scheme": "300w-68"})
    return stem


def _export(checkpoint: Path, out: Path, *options: str) -> tuple[onnx.ModelProto, dict]:
    result = runner.invoke(app, ["export", str(checkpoint), "-o", str(out), *options])
    assert result.exit_code == 0, result.output
    return onnx.load(str(out)), json.loads(out.with_name(out.name + ".json").read_text())


def _opset(model: onnx.ModelProto) -> int:
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def _input_type(model: onnx.ModelProto) -> int:
    return model.graph.input[0].type.tensor_type.elem_type


@pytest.mark.parametrize("opset", [13, 18])
def test_opset_is_the_graphs(checkpoint: Path, tmp_path: Path, opset: int) -> None:
    model, sidecar = _export(checkpoint, tmp_path / "m.onnx", "--opset", str(opset))
    assert _opset(model) == opset and sidecar["opset"] == opset


def test_input_dtype_and_in_graph_decoding_match_torch(checkpoint: Path, tmp_path: Path) -> None:
    """float32 input in 0..1 and GET_MAX decoded in the graph: onnxruntime's points equal the
    torch model decoding GET_MAX on the same pixels."""
    path = tmp_path / "max.onnx"
    model, sidecar = _export(checkpoint, path, "--input-dtype", "float32", "--decode", "max")
    assert _input_type(model) == onnx.TensorProto.FLOAT and sidecar["input_dtype"] == "float32"
    default, default_sidecar = _export(checkpoint, tmp_path / "auto.onnx")
    assert _input_type(default) == onnx.TensorProto.UINT8
    assert default_sidecar["input_dtype"] == "uint8"

    pixels = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (2, 3, 64, 64), np.uint8))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: pixels.numpy() / np.float32(255)})
    names = [o.name for o in session.get_outputs()]
    points = outputs[names.index("points")] if "points" in names else outputs[0]
    torch_model = load_landmark_model(checkpoint)
    torch_model.description = torch_model.description.__class__(
        **{**torch_model.description.__dict__, "decoding": Decoding.GET_MAX}
    )
    expected, _ = torch_model(pixels)
    np.testing.assert_allclose(points, expected.numpy(), atol=1e-3)


@pytest.mark.parametrize(("decode", "decoded"), [("none", False), ("auto", True), ("max", True)])
def test_decode_option_decides_the_graph_outputs(
    checkpoint: Path, tmp_path: Path, decode: str, decoded: bool
) -> None:
    model, sidecar = _export(checkpoint, tmp_path / f"{decode}.onnx", "--decode", decode)
    outputs = [o.name for o in model.graph.output]
    assert ("points" in outputs) == decoded == sidecar["decoded_in_graph"], outputs
    assert sidecar["outputs"] == outputs
    # auto and none keep the checkpoint's decoding (none: for the host to run)
    assert sidecar["decoding"] == ("max" if decode == "max" else "barycenter")
