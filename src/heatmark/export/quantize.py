"""Int8 ONNX export: onnxruntime static quantisation calibrated on real training crops.

The convolutions' weights become int8 (per output channel) and their inputs uint8, with
activation ranges measured on crops of real faces cut exactly as at inference (the model's
``enlarge`` around each face's landmark box, no augmentation). The decoder at the end of the
graph stays in float: only ``Conv`` nodes are quantised (QDQ format), so the points are decoded
from dequantised maps with the model's own decoding.

Quantisation changes the heatmaps, so parity is not heatmap equality: it is reported as the
distance between the int8 and the float model's points on other faces than the calibration ones
(mean and 95th percentile in input pixels, and as a share of the inter-ocular distance).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from heatmark.data.dataset import LandmarkDataset
from heatmark.data.sample import Sample
from heatmark.errors import HeatmarkError
from heatmark.export.onnx import OnnxLandmarkModel, sidecar_path

CALIBRATION_FACES = 200
"""Crops the activation ranges are measured on (``heatmark export --int8``)."""
PARITY_FACES = 100
"""Other faces the int8 points are compared on."""


def face_crops(samples: Sequence[Sample], input_size: int, enlarge: float) -> np.ndarray:
    """(N, 3, S, S) uint8 crops of ``samples`` as inference cuts them (landmark box, no
    augmentation)."""
    dataset = LandmarkDataset(list(samples), input_size, None, enlarge)
    return np.stack([dataset[i]["image"].numpy() for i in range(len(dataset))])


def split_faces(
    samples: Sequence[Sample], calibration: int | None = None, parity: int | None = None
) -> tuple[list[Sample], list[Sample]]:
    """A seeded pick of ``calibration`` faces (default ``CALIBRATION_FACES``) and of ``parity``
    other faces (default ``PARITY_FACES``) to check parity on."""
    calibration = CALIBRATION_FACES if calibration is None else calibration
    parity = PARITY_FACES if parity is None else parity
    if len(samples) < 2:
        raise HeatmarkError(f"int8 calibration needs at least 2 faces, got {len(samples)}")
    order = np.random.default_rng(0).permutation(len(samples))
    calibration = min(calibration, len(samples) - 1)
    parity = min(parity, len(samples) - calibration)
    picked = [samples[i] for i in order]
    return picked[:calibration], picked[calibration : calibration + parity]


class _Crops:
    """onnxruntime's ``CalibrationDataReader`` protocol over crops, one per feed."""

    def __init__(self, name: str, crops: np.ndarray, dtype: str) -> None:
        self.feeds = iter(
            crops[i : i + 1] if dtype == "uint8" else crops[i : i + 1].astype(np.float32) / 255
            for i in range(len(crops))
        )
        self.name = name

    def get_next(self) -> dict[str, np.ndarray] | None:
        crop = next(self.feeds, None)
        return None if crop is None else {self.name: crop}


def quantize_onnx(fp32: str | Path, out: str | Path, calibration: np.ndarray) -> Path:
    """Write the int8 version of the float export ``fp32`` (and its sidecar) to ``out``."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fp32, out = Path(fp32), Path(out)
    sidecar = json.loads(sidecar_path(fp32).read_text())
    with tempfile.TemporaryDirectory() as folder:
        prepared = Path(folder) / "prepared.onnx"
        # constant folding + shape inference (the in-graph decoder defeats the symbolic one)
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(out),
            _Crops(sidecar["input_name"], calibration, sidecar["input_dtype"]),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=["Conv"],
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    sidecar["quantization"] = {
        "kind": "int8 static (onnxruntime, QDQ, Conv only, per-channel weights)",
        "calibration_crops": len(calibration),
    }
    sidecar_path(out).write_text(json.dumps(sidecar, indent=2) + "\n")
    return out


def point_parity(
    fp32: str | Path, int8: str | Path, crops: np.ndarray, eyes: tuple[int, int] | None
) -> dict[str, Any]:
    """How far the int8 model's points land from the float model's on ``crops``: mean, 95th
    percentile and max distance in input pixels, and the mean as a percentage of the float
    points' distance between landmarks ``eyes`` (the outer eye corners), when given."""
    reference, _ = OnnxLandmarkModel(fp32, threads=1).points(crops)
    quantised, _ = OnnxLandmarkModel(int8, threads=1).points(crops)
    distance = np.linalg.norm(quantised - reference, axis=-1)
    report: dict[str, Any] = {
        "faces": len(crops),
        "mean_px": float(distance.mean()),
        "p95_px": float(np.percentile(distance, 95)),
        "max_px": float(distance.max()),
    }
    if eyes is not None:
        ocular = np.linalg.norm(reference[:, eyes[0]] - reference[:, eyes[1]], axis=-1)
        report["mean_percent_inter_ocular"] = float(
            100 * (distance.mean(axis=1) / np.maximum(ocular, 1e-6)).mean()
        )
    return report


def export_int8(
    checkpoint: str | Path,
    out: str | Path,
    data: str | Path,
    opset: int,
    decode: str = "auto",
    input_dtype: str = "uint8",
) -> tuple[Path, dict[str, Any]]:
    """Export ``checkpoint`` quantised to int8 at ``out``, calibrated on faces of the dataset
    ``data`` (any supported format); returns the path and the point parity report, which the
    sidecar also keeps."""
    from heatmark.data.readers.auto import load_dataset
    from heatmark.export.onnx import export_checkpoint
    from heatmark.models.checkpoint import load_landmark_model

    model = load_landmark_model(checkpoint)
    d = model.description
    samples = load_dataset(Path(data))
    if samples[0].scheme.name != d.scheme:
        raise HeatmarkError(
            f"{data}: its faces are annotated with {samples[0].scheme.name}, the model predicts "
            f"{d.scheme}: calibrate on the model's own kind of data"
        )
    calibration, parity = split_faces(samples)
    out = Path(out)
    with tempfile.TemporaryDirectory() as folder:
        fp32, _ = export_checkpoint(
            checkpoint, Path(folder) / "fp32.onnx", opset, decode, False, input_dtype
        )
        quantize_onnx(fp32, out, face_crops(calibration, d.input_size, d.enlarge))
        report = point_parity(
            fp32,
            out,
            face_crops(parity, d.input_size, d.enlarge),
            model.scheme.outer_eye_corners,
        )
    sidecar = json.loads(sidecar_path(out).read_text())
    sidecar["quantization"]["point_parity"] = report
    sidecar_path(out).write_text(json.dumps(sidecar, indent=2) + "\n")
    return out, report
