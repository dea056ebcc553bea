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
from heatmark.data.readers.predictions import key_layouts, prediction_keys, read_predictions
from heatmark.data.sample import Sample
from heatmark.errors import DataError

FORMAT = "heatmark-predictions"


def check_output_file(path: Path, suffix: str) -> None:
    """Fail early (before any work) when ``path`` cannot become an output file: it is a
    folder, or has another suffix than ``suffix``."""
    path = Path(path)
    if path.is_dir():
        raise DataError(path, f"is a folder; give a file name ending in {suffix}")
    if path.suffix.lower() != suffix:
        raise DataError(path, f"output file name must end in {suffix}")


def write_prediction_json(
    path: Path,
    samples: Sequence[Sample],
    points: np.ndarray,
    scores: np.ndarray | None = None,
    root: Path | None = None,
) -> None:
    """Write (N, K, 2) 0-based predictions for ``samples`` as a heatmark JSON file, keyed
    relative to the dataset folder ``root`` when given (``prediction_keys``)."""
    check_output_file(path, ".json")
    keys = prediction_keys(samples, root)
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


def read_prediction_json(
    path: Path, samples: Sequence[Sample], root: Path | None = None
) -> np.ndarray:
    """(N, K, 2) 0-based predictions for ``samples`` from a heatmark JSON file.

    Any defect of the file (not JSON, wrong format, a missing key, a value that is not a finite
    number, ragged or inconsistent point lists) raises ``DataError`` naming it.
    """
    payload = read_json(path, "prediction file")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise DataError(path, f'not a heatmark predictions file (needs "format": "{FORMAT}")')
    table = payload.get("predictions")
    if not isinstance(table, dict):
        raise DataError(path, '"predictions" must map sample keys to point lists')
    layouts = key_layouts(samples, root)
    keys = next((ks for ks in layouts if all(k in table for k in ks)), layouts[0])
    points = []
    for key in keys:
        if key not in table:
            raise DataError(path, f"no prediction for sample {key!r}")
        try:
            value = np.asarray(table[key])
        except (TypeError, ValueError):  # ragged lists
            value = np.zeros(0, dtype=object)
        if value.dtype.kind not in "iuf":  # strings, booleans, objects, integers beyond int64
            raise DataError(path, f"prediction {key!r} is not a list of [x, y] numbers")
        value = value.astype(np.float64)
        if value.ndim != 2 or value.shape[1] != 2:
            raise DataError(path, f"prediction {key!r} has shape {value.shape}, expected (K, 2)")
        if not np.isfinite(value).all():
            raise DataError(path, f"prediction {key!r} contains NaN or infinity")
        if points and value.shape != points[0].shape:
            raise DataError(
                path, f"prediction {key!r} has {len(value)} points, others {len(points[0])}"
            )
        points.append(value)
    if not points:
        return np.zeros((0, 0, 2))
    return np.stack(points)


def read_prediction_file(
    path: Path, samples: Sequence[Sample], root: Path | None = None
) -> np.ndarray:
    """(N, K, 2) predictions for ``samples`` from a ``.pts`` folder or a JSON file; keys may
    be relative to the dataset folder ``root`` (``key_layouts``)."""
    path = Path(path)
    if path.is_dir():
        return read_predictions(path, samples, root=root)
    if not path.is_file():
        raise DataError(path, "prediction file or folder not found")
    if path.suffix.lower() != ".json":
        raise DataError(path, "predictions must be a folder of .pts files or a .json file")
    return read_prediction_json(path, samples, root)
