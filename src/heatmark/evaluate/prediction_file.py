"""Predictions of any landmark detector, for ``heatmark eval``.

Two formats, both keyed by ``heatmark.data.readers.predictions.prediction_keys`` (the sample's
image path relative to the dataset's image folder, without suffix, e.g. ``afw/1051618982_1``):

- a folder of ``.pts`` files, ``<key>.pts`` (1-based, like the 300-W ground truth);
- a JSON file (points 0-based pixel centres, the heatmark convention)::

    {"format": "heatmark-predictions", "version": 1,
     "coordinates": "0-based pixel centres",
     "predictions": {"afw/1051618982_1": [[x0, y0], [x1, y1], ...], ...}}

Every sample of the ground truth needs a prediction; all predictions have the same number of
points, which may be another scheme's (e.g. 98-point WFLW predictions on 68-point ground truth).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from heatmark.data.readers.files import read_json
from heatmark.data.readers.predictions import prediction_keys, read_predictions
from heatmark.data.sample import Sample
from heatmark.errors import DataError

FORMAT = "heatmark-predictions"


def write_prediction_json(
    path: Path, samples: Sequence[Sample], points: np.ndarray, scores: np.ndarray | None = None
) -> None:
    """Write (N, K, 2) 0-based predictions for ``samples`` as a heatmark JSON file."""
    keys = prediction_keys(samples)
    payload = {
        "format": FORMAT,
        "version": 1,
        "coordinates": "0-based pixel centres",
        "predictions": {k: np.round(p, 6).tolist() for k, p in zip(keys, points, strict=True)},
    }
    if scores is not None:
        payload["scores"] = {k: np.round(s, 5).tolist() for k, s in zip(keys, scores, strict=True)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))


def read_prediction_json(path: Path, samples: Sequence[Sample]) -> np.ndarray:
    payload = read_json(path, "prediction file")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise DataError(path, f'not a heatmark predictions file (needs "format": "{FORMAT}")')
    table = payload.get("predictions")
    if not isinstance(table, dict):
        raise DataError(path, '"predictions" must map sample keys to point lists')
    points = []
    for key in prediction_keys(samples):
        if key not in table:
            raise DataError(path, f"no prediction for sample {key!r}")
        try:
            value = np.asarray(table[key], dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(path, f"prediction {key!r} is not a list of [x, y] numbers") from None
        if value.ndim != 2 or value.shape[1] != 2:
            raise DataError(path, f"prediction {key!r} has shape {value.shape}, expected (K, 2)")
        if not np.isfinite(value).all():
            raise DataError(path, f"prediction {key!r} contains NaN or infinity")
        if points and value.shape != points[0].shape:
            raise DataError(
                path, f"prediction {key!r} has {len(value)} points, others {len(points[0])}"
            )
        points.append(value)
    return np.stack(points)


def read_prediction_file(path: Path, samples: Sequence[Sample]) -> np.ndarray:
    """(N, K, 2) predictions for ``samples`` from a ``.pts`` folder or a JSON file."""
    path = Path(path)
    if path.is_dir():
        return read_predictions(path, samples)
    if not path.is_file():
        raise DataError(path, "prediction file or folder not found")
    if path.suffix.lower() != ".json":
        raise DataError(path, "predictions must be a folder of .pts files or a .json file")
    return read_prediction_json(path, samples)
