"""Export trained networks for deployment: ONNX graph + JSON sidecar, and an onnxruntime runner.

from heatmark.export import export_checkpoint, OnnxLandmarkModel
path, report = export_checkpoint("runs/x/best", "model.onnx", decode="max", check=True)
runner = OnnxLandmarkModel(path)
points, scores = runner.points(crops)          # (B, 3, S, S) uint8 RGB crops
"""

from heatmark.export.onnx import (
    DEFAULT_OPSET,
    FORMAT,
    FORMAT_VERSION,
    HEATMAP_TOLERANCE,
    POINT_TOLERANCE,
    ExportWrapper,
    GraphDecoder,
    OnnxLandmarkModel,
    check_parity,
    export_checkpoint,
    export_onnx,
    read_sidecar,
    sidecar_path,
)

__all__ = [
    "DEFAULT_OPSET",
    "FORMAT",
    "FORMAT_VERSION",
    "HEATMAP_TOLERANCE",
    "POINT_TOLERANCE",
    "ExportWrapper",
    "GraphDecoder",
    "OnnxLandmarkModel",
    "check_parity",
    "export_checkpoint",
    "export_onnx",
    "read_sidecar",
    "sidecar_path",
]
