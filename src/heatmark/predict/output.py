"""What ``heatmark predict`` writes: one versioned JSON file, or one ``.pts``/``.csv`` per face.

The JSON format (``heatmark-detections``, version 1)::

    {"format": "heatmark-detections", "version": 1,
     "coordinates": "0-based pixel centres",
     "scheme": "300w-68", "detector": "hog", "model": {...}, "terms": "...",
     "images": {
        "<key>": {"path": "...", "size": [width, height],
                  "faces": [{"box": [x0, y0, x1, y1], "detector_score": 0.9,
                             "points": [[x, y], ...], "scores": [...],
                             "track_id": 3, "raw_points": [[x, y], ...]}]}}}

``track_id`` and ``raw_points`` appear for video frames (``raw_points`` when smoothing). An
image where no face was found has ``"faces": []``: it is reported, never dropped. Keys follow
``heatmark eval``'s rule: the image path relative to the folder given on the command line,
without suffix (a file given by itself: its name without suffix); a video frame is
``<video key>/<1-based frame number, 6 digits>``, as in 300-VW's ``annot`` files. So
``heatmark eval --pred out.json --gt FOLDER`` scores ``heatmark predict FOLDER --out out.json``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from heatmark.data.readers.pts import write_pts
from heatmark.predict.faces import Face

FORMAT = "heatmark-detections"
VERSION = 1


@dataclass
class ImageRecord:
    """The faces found in one image (or video frame)."""

    key: str
    path: str
    size: tuple[int, int]  # width, height
    faces: list[Face] = field(default_factory=list)


def face_to_dict(face: Face) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "box": np.round(face.box, 3).tolist(),
        "detector_score": round(float(face.detector_score), 5),
        "points": np.round(face.points, 4).tolist(),
        "scores": np.round(face.scores, 5).tolist(),
    }
    if face.track_id is not None:
        entry["track_id"] = int(face.track_id)
    if face.raw_points is not None:
        entry["raw_points"] = np.round(face.raw_points, 4).tolist()
    return entry


def detections_document(records: list[ImageRecord], header: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON document for ``records``; ``header`` adds scheme, detector, model, terms."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "coordinates": "0-based pixel centres",
        **header,
        "images": {
            record.key: {
                "path": record.path,
                "size": list(record.size),
                "faces": [face_to_dict(face) for face in record.faces],
            }
            for record in records
        },
    }


def write_json(path: Path, records: list[ImageRecord], header: Mapping[str, Any]) -> None:
    """Write the document atomically (a temporary file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(detections_document(records, header), allow_nan=False))
    temporary.replace(path)


def write_per_face(folder: Path, records: list[ImageRecord], kind: str) -> list[Path]:
    """One ``<key>.pts`` (1-based, like 300-W) or ``<key>.csv`` (0-based, x,y,score) per face;
    ``_face<k>`` is appended when an image has several faces."""
    written = []
    for record in records:
        for k, face in enumerate(record.faces, start=1):
            suffix = f"_face{k}" if len(record.faces) > 1 else ""
            target = Path(folder) / f"{record.key}{suffix}.{kind}"
            if kind == "pts":
                written.append(write_pts(target, face.points))
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["x", "y", "score"])
                for (x, y), s in zip(face.points, face.scores, strict=True):
                    writer.writerow([f"{x:.4f}", f"{y:.4f}", f"{s:.5f}"])
            written.append(target)
    return written
