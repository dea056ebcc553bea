"""Score a detector + landmarker pipeline: ``heatmark predict`` output against ground truth.

A ``heatmark-detections`` file (``heatmark.predict.output``) lists, per image, the faces a
pipeline found. Each ground-truth face is matched to the predicted face of the same image with
the best overlap: the IoU of the predicted points' box and the ground-truth points' box,
one-to-one (Hungarian assignment on IoU), accepted at IoU >= ``MIN_IOU``. A ground-truth face
without a match is a missed face: it counts as a failure at every threshold (error infinity in
FR and CED) and is left out of the NME, which is reported over matched faces together with the
detection rate. Images listed under ``failures`` (inputs ``heatmark predict`` could not process)
count as images where no face was found.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from heatmark.data.readers.predictions import image_keys
from heatmark.data.sample import Sample
from heatmark.errors import DataError

FORMAT = "heatmark-detections"
MIN_IOU = 0.3
"""Below this overlap a predicted face is another face (or a false detection), not a match."""


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) boxes (x0, y0, x1, y1) -> (N, M) intersection over union."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def is_detections_file(payload: object) -> bool:
    return isinstance(payload, dict) and payload.get("format") == FORMAT


def _faces(path: Path, key: str, entry: object) -> list[np.ndarray]:
    """The (K, 2) point arrays of one image entry, validated."""
    if not isinstance(entry, dict) or not isinstance(entry.get("faces"), list):
        raise DataError(path, f'image {key!r}: expected an object with a "faces" list')
    faces = []
    for number, face in enumerate(entry["faces"], start=1):
        points = face.get("points") if isinstance(face, dict) else None
        try:
            array = np.asarray(points, dtype=np.float64)
        except (TypeError, ValueError):
            array = np.zeros(0)
        if array.ndim != 2 or array.shape[1] != 2 or len(array) == 0:
            raise DataError(path, f"image {key!r}, face {number}: points must be a (K, 2) list")
        if not np.isfinite(array).all():
            raise DataError(path, f"image {key!r}, face {number}: points contain NaN or infinity")
        faces.append(array)
    return faces


def match_detections(
    path: Path, payload: dict, samples: Sequence[Sample], root: Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(N, K, 2) matched predictions (zeros where missed) and the (N,) detected mask."""
    images = payload.get("images")
    if not isinstance(images, dict):
        raise DataError(path, '"images" must map image keys to their faces')
    # the same two key layouts as prediction files, on image keys (no _face suffix)
    layouts = [image_keys(samples, root)]
    if root is not None and image_keys(samples) != layouts[0]:
        layouts.append(image_keys(samples))
    failures = payload.get("failures") or []
    failed = {f.get("key") for f in failures if isinstance(f, dict)}  # their faces are missed
    listed = images.keys() | failed
    keys = next((ks for ks in layouts if all(k in listed for k in ks)), layouts[0])
    missing = [k for k in dict.fromkeys(keys) if k not in listed]
    if missing:
        raise DataError(
            path,
            f"no entry for image {missing[0]!r} ({len(missing)} of {len(set(keys))} images "
            "missing): was the prediction run on this dataset?",
        )
    by_image: dict[str, list[int]] = defaultdict(list)
    for index, key in enumerate(keys):
        by_image[key].append(index)
    num_points = None
    matched = np.zeros((len(samples), 0, 2))
    detected = np.zeros(len(samples), dtype=bool)
    for key, indices in by_image.items():
        if key not in images:  # listed under "failures": nothing was found
            continue
        faces = _faces(path, key, images[key])
        if not faces:
            continue
        if num_points is None:
            num_points = len(faces[0])
            matched = np.zeros((len(samples), num_points, 2))
        if any(len(f) != num_points for f in faces):
            raise DataError(path, f"image {key!r}: faces with different point counts")
        truth_boxes = np.stack([samples[i].landmark_box() for i in indices])
        face_boxes = np.stack([np.concatenate([f.min(0), f.max(0)]) for f in faces])
        iou = box_iou(truth_boxes, face_boxes)
        rows, cols = linear_sum_assignment(-iou)
        for r, c in zip(rows, cols, strict=True):
            if iou[r, c] >= MIN_IOU:
                matched[indices[r]] = faces[c]
                detected[indices[r]] = True
    if num_points is None:
        raise DataError(path, "no face was found in any image: nothing to score")
    return matched, detected
