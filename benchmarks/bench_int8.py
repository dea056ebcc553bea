"""Int8 against float for each shipped model: onnxruntime speed of network + in-graph decoding
per face (batch 1 and 16, one thread) and the int8 points' distance to the float model's.

Each shipped model's ONNX export is quantised the way ``heatmark export --int8`` does it
(``heatmark.export.quantize``: static, QDQ, convolutions only, per-channel weights), calibrated
on 200 crops of the training faces in ``--data`` (default ``../shared/data/300w/afw``) and
compared on 100 other faces of it. Variants are timed in interleaved rounds; each keeps its best.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_int8.py [--data DIR]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from heatmark.data.readers.auto import load_dataset
from heatmark.export import OnnxLandmarkModel
from heatmark.export.quantize import face_crops, point_parity, quantize_onnx, split_faces
from heatmark.models.shipped import SHIPPED_MODELS

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "300w" / "afw"
BATCH = 16
ROUNDS = 7


def per_face_ms(runner: OnnxLandmarkModel, crops: np.ndarray, batch: int) -> float:
    """Best milliseconds per face over ``ROUNDS`` passes over ``crops`` in batches."""
    batches = [crops[i : i + batch] for i in range(0, len(crops) - batch + 1, batch)]
    runner.points(batches[0])
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for chunk in batches:
            runner.points(chunk)
        best = min(best, time.perf_counter() - start)
    return 1e3 * best / (len(batches) * batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    calibration, parity = split_faces(load_dataset(args.data))
    print(
        "| model | batch | float ms/face | int8 ms/face | int8 / float | mean / p95 point gap px |"
    )
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for shipped in SHIPPED_MODELS:
            if not shipped.onnx.is_file():
                continue
            fp32 = OnnxLandmarkModel(shipped.onnx, threads=1)
            size, enlarge = fp32.input_size, fp32.enlarge
            int8_path = quantize_onnx(
                shipped.onnx,
                Path(folder) / f"{shipped.name}.onnx",
                face_crops(calibration, size, enlarge),
            )
            crops = face_crops(parity, size, enlarge)
            gap = point_parity(shipped.onnx, int8_path, crops, (36, 45))
            int8 = OnnxLandmarkModel(int8_path, threads=1)
            for batch in (1, BATCH):
                a, b = per_face_ms(fp32, crops, batch), per_face_ms(int8, crops, batch)
                print(
                    f"| {shipped.name} ({shipped.file_name}) | {batch} | {a:.2f} | {b:.2f} | "
                    f"{b / a:.2f}x | {gap['mean_px']:.2f} / {gap['p95_px']:.2f} |"
                )


if __name__ == "__main__":
    main()
