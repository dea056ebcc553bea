"""COCO-style keypoint json, as written by mmpose for the face benchmarks.

Layout: ``{"images": [{"id", "file_name", ...}], "annotations": [{"image_id", "id",
"keypoints": [x, y, v] * K, "bbox": [x, y, w, h], ...}]}``. The landmark scheme follows from K.
COCO-WholeBody files carry the 68 face points in ``face_kpts`` / ``face_box`` /
``face_valid``; they are used when ``keypoints`` holds body joints of no known scheme.

Coordinate origin (``origin``): there is no single convention in practice. mmpose's face jsons
(300W, 300VW, COFW, AFLW, WFLW; the ``fixtures`` of ``../shared/data``) copy the source files'
values verbatim, and for 300W/300VW/COFW those are 1-based -- so the default is ``ONE_BASED``,
which makes a face read from such a json identical to the same face read from its ``.pts``.
The COCO spec puts integer coordinates on pixel corners: pass ``PIXEL_CORNER`` for files that
follow it, ``ZERO_BASED`` for files already in heatmark's convention (mmpose's WFLW json copies
WFLW's list values, which heatmark reads as zero-based). The box gets the same shift.

Visibility ``v``: if any point of the file has ``v == 2`` the COCO meaning applies (2 visible,
1 labelled but occluded, 0 not labelled: only 2 is visible); otherwise ``v`` only marks labelled
points (mmpose's face jsons write 1 everywhere) and every ``v > 0`` is visible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from heatmark.data.readers.files import read_json, require_image
from heatmark.data.readers.origin import CoordinateOrigin
from heatmark.data.sample import ImageSizes, Sample, check_annotation
from heatmark.errors import DataError
from heatmark.schemes import scheme_for

WHOLEBODY_FACE_FIELD = "face_kpts"


def read_coco(
    path: Path,
    image_root: Path | None = None,
    origin: CoordinateOrigin = CoordinateOrigin.ONE_BASED,
    keypoints_field: str | None = None,
) -> list[Sample]:
    """Read a COCO-style keypoint json into samples, in annotation order.

    ``image_root`` defaults to the json's folder (``file_name`` is relative to it).
    ``keypoints_field`` picks the keypoint list: ``"keypoints"``, or for COCO-WholeBody
    ``"face_kpts"`` (box from ``face_box``; annotations with ``face_valid: false`` carry no face
    and are left out). By default ``"keypoints"`` is used unless its point count matches no
    scheme and the annotations have ``face_kpts``.
    """
    path = Path(path)
    document = read_json(path, "annotation file")
    if (
        not isinstance(document, dict)
        or not isinstance(document.get("annotations"), list)
        or not isinstance(document.get("images"), list)
    ):
        raise DataError(path, "not a COCO keypoint file (needs 'images' and 'annotations' lists)")
    annotations = document["annotations"]
    if not annotations:
        raise DataError(path, "the file has no annotations")
    if not all(isinstance(annotation, dict) for annotation in annotations):
        raise DataError(path, "every annotation must be a json object")
    field = keypoints_field or _default_field(annotations)
    prefix = field.removesuffix("_kpts")
    box_field = "bbox" if field == "keypoints" else f"{prefix}_box"
    valid_field = None if field == "keypoints" else f"{prefix}_valid"
    chosen = [
        annotation
        for annotation in annotations
        if valid_field is None or annotation.get(valid_field, True) is not False
    ]
    if not chosen:
        raise DataError(path, f"no annotation has valid {field!r}")

    files = _image_files(path, document["images"])
    root = Path(image_root) if image_root is not None else path.parent
    parsed = [_keypoints(path, annotation, field) for annotation in chosen]
    counts = {len(values) for values in parsed}
    if len(counts) != 1:
        raise DataError(path, f"annotations disagree on the number of keypoints: {sorted(counts)}")
    count = counts.pop()
    try:
        scheme = scheme_for(count)
    except ValueError as exc:
        raise DataError(path, f"{field!r} holds {count} points per annotation: {exc}") from None
    coco_visibility = any((values[:, 2] == 2).any() for values in parsed)

    sizes = ImageSizes()
    samples = []
    for annotation, values in zip(chosen, parsed, strict=True):
        label = _label(annotation)
        image_id = annotation.get("image_id")
        if not _is_id(image_id) or image_id not in files:
            raise DataError(path, f"{label}: image_id {_short(image_id)} is not in 'images'")
        flags = values[:, 2]
        visible = flags == 2 if coco_visibility else flags > 0
        image = require_image(root / files[image_id], path)
        sample = Sample(
            points=origin.to_heatmark(values[:, :2]),
            scheme=scheme,
            image_path=image,
            box=_box(path, annotation, box_field, label, origin),
            visible=visible,
            source=f"{path}:{label}",
        )
        check_annotation(sample, sizes(image, path), path, label=label)
        samples.append(sample)
    return samples


def _default_field(annotations: list[dict]) -> str:
    first = annotations[0].get("keypoints")
    if isinstance(first, list) and len(first) % 3 == 0:
        try:
            scheme_for(len(first) // 3)
        except ValueError:
            if WHOLEBODY_FACE_FIELD in annotations[0]:
                return WHOLEBODY_FACE_FIELD
    return "keypoints"


def _label(annotation: dict) -> str:
    identifier = annotation.get("id")
    return f"annotation id {_short(identifier)}" if identifier is not None else "annotation"


def _short(value: object) -> str:
    """A json value for a message, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_id(value: object) -> bool:
    """Ids are json numbers or strings (a list or object cannot key the image table)."""
    return isinstance(value, (int, float, str)) and not isinstance(value, bool)


def _numbers(values: list) -> np.ndarray | None:
    """The json numbers ``values`` as float64, or None if one is not a number (booleans are
    not) or is too large for a double."""
    if not all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values):
        return None
    try:
        return np.array([float(value) for value in values], dtype=np.float64)
    except OverflowError:  # an integer beyond the double range
        return None


def _image_files(path: Path, images: list) -> dict[object, str]:
    files: dict[object, str] = {}
    for entry in images:
        if (
            not isinstance(entry, dict)
            or not _is_id(entry.get("id"))
            or not isinstance(entry.get("file_name"), str)
        ):
            raise DataError(path, f"image entry without id or file_name: {str(entry)[:80]}")
        if entry["id"] in files:
            raise DataError(path, f"image id {_short(entry['id'])} appears twice")
        files[entry["id"]] = entry["file_name"]
    return files


def _keypoints(path: Path, annotation: dict, field: str) -> np.ndarray:
    """(K, 3) float64 ``x, y, v`` of one annotation, checked."""
    label = _label(annotation)
    values = annotation.get(field)
    if not isinstance(values, list) or not values or len(values) % 3:
        size = len(values) if isinstance(values, list) else type(values).__name__
        raise DataError(path, f"{label}: {field!r} must be a flat list [x, y, v] * K (got {size})")
    array = _numbers(values)
    if array is None:
        raise DataError(path, f"{label}: {field!r} holds a value that is not a number")
    if not np.isfinite(array).all():
        raise DataError(path, f"{label}: {field!r} holds NaN or infinity")
    return array.reshape(-1, 3)


def _box(
    path: Path, annotation: dict, field: str, label: str, origin: CoordinateOrigin
) -> np.ndarray | None:
    """COCO ``[x, y, w, h]`` -> ``(x_min, y_min, x_max, y_max)`` in heatmark coordinates."""
    if field not in annotation:
        return None
    values = annotation[field]
    numbers = _numbers(values) if isinstance(values, list) and len(values) == 4 else None
    if numbers is None or not np.isfinite(numbers).all():
        raise DataError(path, f"{label}: {field!r} must be four finite numbers x, y, w, h")
    x, y, width, height = (float(value) for value in numbers)
    if width < 0 or height < 0:
        raise DataError(path, f"{label}: {field!r} has a negative size")
    return origin.to_heatmark(np.array([x, y, x + width, y + height]))
