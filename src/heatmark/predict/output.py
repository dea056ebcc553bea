"""What ``heatmark predict`` writes: one versioned JSON file, a JSON-lines file, or one
``.pts``/``.csv`` per face.

The JSON format (``heatmark-detections``, version 1)::

    {"format": "heatmark-detections", "version": 1,
     "coordinates": "0-based pixel centres",
     "scheme": "300w-68", "detector": "yunet", "model": {...}, "terms": "...",
     "images": {
        "<key>": {"path": "...", "size": [width, height],
                  "faces": [{"box": [x0, y0, x1, y1], "detector_score": 0.9,
                             "points": [[x, y], ...], "scores": [...],
                             "track_id": 3, "raw_points": [[x, y], ...]}]}},
     "failures": [{"key": "<key>", "path": "...", "reason": "cannot decode image ..."}]}

``failures`` lists every input that could not be processed (unreadable or too large images,
videos that cannot be opened), with the reason; ``heatmark eval`` counts their faces as missed.

The JSON-lines form (``--format jsonl``, ``Journal``) holds the same: a first line with the
header (``"format": "heatmark-detections-jsonl"``), then one line per image or video frame
(``{"key": ..., "path": ..., "size": ..., "faces": [...]}``) or per failure (``{"key": ...,
"path": ..., "error": reason}``), each written and flushed as soon as it is known, so a killed
run keeps everything it finished and ``--resume`` continues it. A JSON ``--out`` file is
journaled the same way to ``<out>.partial.jsonl`` while it runs, and written at the end.

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from heatmark.data.readers.pts import write_pts
from heatmark.errors import DataError
from heatmark.predict.faces import Face

FORMAT = "heatmark-detections"
JSONL_FORMAT = "heatmark-detections-jsonl"
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


def record_entry(record: ImageRecord) -> dict[str, Any]:
    """The JSON entry of one image: path, size and faces."""
    return {
        "path": record.path,
        "size": list(record.size),
        "faces": [face_to_dict(face) for face in record.faces],
    }


def detections_document(
    records: Iterable[ImageRecord] | Mapping[str, dict[str, Any]],
    header: Mapping[str, Any],
    failures: Iterable[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """The JSON document for ``records`` (or ready entries by key); ``header`` adds scheme,
    detector, model, terms; ``failures``: ``{"key", "path", "reason"}`` of the inputs that
    could not be processed."""
    if isinstance(records, Mapping):
        images = dict(records)
    else:
        images = {record.key: record_entry(record) for record in records}
    return {
        "format": FORMAT,
        "version": VERSION,
        "coordinates": "0-based pixel centres",
        **header,
        "images": images,
        "failures": [dict(failure) for failure in failures],
    }


def write_json(
    path: Path,
    records: Iterable[ImageRecord] | Mapping[str, dict[str, Any]],
    header: Mapping[str, Any],
    failures: Iterable[Mapping[str, str]] = (),
) -> None:
    """Write the document atomically (a temporary file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    document = detections_document(records, header, failures)
    temporary.write_text(json.dumps(document, allow_nan=False))
    temporary.replace(path)


class Journal:
    """A JSON-lines record of a run, written as it goes (module docstring).

    ``resume``: keep what an earlier run with the same ``header`` wrote (``done`` and
    ``failed`` are read back; a failure is tried again and replaced if it succeeds); otherwise
    the file is started afresh. ``DataError`` when the file to resume is not a journal or was
    written with another model, detector or settings.
    """

    def __init__(self, path: Path, header: Mapping[str, Any], resume: bool = False) -> None:
        self.path = Path(path)
        self.header = {"format": JSONL_FORMAT, "version": VERSION, **header}
        self.done: dict[str, dict[str, Any]] = {}
        self.failed: dict[str, dict[str, str]] = {}
        if resume and self.path.is_file() and self.path.stat().st_size:
            previous, self.done, self.failed = read_journal(self.path)
            _check_same_run(self.path, previous, self.header)
            _drop_cut_line(self.path)
            self._handle = self.path.open("a", encoding="utf-8")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("w", encoding="utf-8")
            self._write(self.header)

    def add(self, record: ImageRecord) -> None:
        entry = record_entry(record)
        self.done[record.key] = entry
        self.failed.pop(record.key, None)
        self._write({"key": record.key, **entry})

    def add_failure(self, key: str, path: str, reason: str) -> None:
        self.failed[key] = {"key": key, "path": path, "reason": reason}
        self._write({"key": key, "path": path, "error": reason})

    def close(self) -> None:
        self._handle.close()

    def _write(self, value: Mapping[str, Any]) -> None:
        self._handle.write(json.dumps(value, allow_nan=False) + "\n")
        self._handle.flush()


def read_journal(
    path: Path,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, dict[str, str]]]:
    """Header, image entries by key and failures by key of a JSON-lines file. A last line cut
    short by a killed run is ignored; any other bad line is a ``DataError`` with its number."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    header: dict[str, Any] = {}
    done: dict[str, dict[str, Any]] = {}
    failed: dict[str, dict[str, str]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            if number == len(lines):
                break  # the line a killed run was writing
            raise DataError(path, f"invalid json: {error.msg}", number) from None
        if number == 1:
            if not isinstance(value, dict) or value.get("format") != JSONL_FORMAT:
                raise DataError(path, f'not a {JSONL_FORMAT} file (first line: "format")', 1)
            header = value
            continue
        if not isinstance(value, dict) or not isinstance(value.get("key"), str):
            raise DataError(path, 'expected an object with a "key"', number)
        key = value.pop("key")
        if "error" in value:
            failed[key] = {"key": key, "path": str(value.get("path", "")), "reason": value["error"]}
            done.pop(key, None)
        else:
            done[key] = value
            failed.pop(key, None)
    if not header:
        raise DataError(path, "empty file: no header line")
    return header, done, failed


def journal_document(path: Path) -> dict[str, Any]:
    """A JSON-lines file as the ``heatmark-detections`` document it stands for."""
    header, done, failed = read_journal(path)
    fields = {k: v for k, v in header.items() if k not in ("format", "version")}
    return detections_document(done, fields, failed.values())


def _drop_cut_line(path: Path) -> None:
    """Cut a last line a killed run left unfinished (no newline), so appending starts clean."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


SAME_RUN_KEYS = ("scheme", "detector", "model", "flip", "refine")


def _check_same_run(path: Path, previous: Mapping[str, Any], header: Mapping[str, Any]) -> None:
    differing = [key for key in SAME_RUN_KEYS if previous.get(key) != header.get(key)]
    if differing:
        raise DataError(
            path,
            f"cannot resume: this run was started with other {', '.join(differing)} "
            f"({', '.join(f'{k}={previous.get(k)!r}' for k in differing if k != 'model')}); "
            "use the same options, or drop --resume to start again",
        )


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
