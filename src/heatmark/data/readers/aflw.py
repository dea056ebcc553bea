"""AFLW-Full, 19 points (Zhu et al., CVPR 2016): ``AFLWinfo_release.mat`` or HRNet's csv files.

``AFLWinfo_release.mat`` (MATLAB v5; layout as read by the FaRL and HRNet-derived loaders), for
N = 24,386 faces:

- ``data``: N x 38, the 19 x then the 19 y coordinates;
- ``bbox``: N x 4 face boxes ``left right top bottom``;
- ``mask_new``: N x 19 visibility (1 = visible);
- ``nameList``: N x 1 cell of image paths relative to ``data/flickr``;
- ``ra``: 1 x N random permutation (1-based); its first 20,000 entries are the training faces,
  the rest the AFLW-Full test set, of which the faces with all 19 points visible form
  AFLW-Frontal.

HRNet's ``face_landmarks_aflw_{train,test}.csv``: a header row, then per face
``image_name, scale, box_size, center_w, center_h`` and 38 values ``x0, y0, x1, y1, ...``
(43 columns); no visibility. AFLW is normalised by the box size, so the csv's ``box_size`` is
stored as a square box of that side around (``center_w``, ``center_h``): its sqrt(w*h) is the
box size.

The AFLW coordinates come from the AFLW database and are used as they are (``ZERO_BASED``);
pass ``origin`` to read them differently.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from heatmark.data.readers.files import choose_root, require_image
from heatmark.data.readers.matlab import cell_string, load_mat
from heatmark.data.readers.origin import CoordinateOrigin
from heatmark.data.sample import ImageSizes, Sample, check_annotation
from heatmark.errors import DataError
from heatmark.schemes import AFLW_19

AFLW_TRAIN_SIZE = 20_000
AFLW_MAT_VARIABLES: tuple[str, ...] = ("data", "bbox", "mask_new", "nameList", "ra")
AFLW_CSV_HEADER: tuple[str, ...] = ("image_name", "scale", "box_size", "center_w", "center_h")


def read_aflw_mat(
    path: Path,
    image_root: Path | None = None,
    origin: CoordinateOrigin = CoordinateOrigin.ZERO_BASED,
    train_size: int = AFLW_TRAIN_SIZE,
) -> list[Sample]:
    """Read ``AFLWinfo_release.mat``; ``subset`` is ``"train"`` or ``"test"`` from ``ra``.

    ``image_root`` defaults to ``data/flickr`` beside the file (or the file's folder). Every
    sample gets ``attributes["frontal"]`` = all 19 points visible.
    """
    path = Path(path)
    variables = load_mat(path, AFLW_MAT_VARIABLES)
    for key in ("data", "bbox", "nameList"):
        if key not in variables:
            raise DataError(path, f"variable {key!r} is missing: not an AFLWinfo .mat file")
    count = AFLW_19.num_points
    data = _numeric(path, "data", variables["data"], 2 * count)
    total = len(data)
    boxes = _numeric(path, "bbox", variables["bbox"], 4, total)
    masks = None
    if "mask_new" in variables:
        masks = _numeric(path, "mask_new", variables["mask_new"], count, total)
        if not np.isin(masks, (0, 1)).all():
            raise DataError(path, "mask_new must hold 0/1 visibility flags")
    names = np.asarray(variables["nameList"]).reshape(-1)
    if len(names) != total:
        raise DataError(path, f"nameList holds {len(names)} names but data has {total} rows")
    subsets = _subsets_from_permutation(path, variables.get("ra"), total, train_size)

    first = cell_string(names[0], path, "nameList{1}") if total else ""
    root = (
        Path(image_root)
        if image_root is not None
        else choose_root(
            [path.parent / "data" / "flickr", path.parent / "flickr", path.parent], first
        )
    )
    sizes = ImageSizes()
    samples = []
    for row in range(total):
        where = f"{path}:data[{row + 1}]"
        values = data[row]
        if not np.isfinite(values).all():
            raise DataError(path, f"data row {row + 1}: a coordinate is not finite")
        if not np.isfinite(boxes[row]).all():
            raise DataError(path, f"bbox row {row + 1}: a value is not finite")
        left, right, top, bottom = boxes[row]
        visible = None if masks is None else masks[row] == 1
        name = cell_string(names[row], path, f"nameList{{{row + 1}}}")
        image = require_image(root / name, path)
        sample = Sample(
            points=origin.to_heatmark(np.stack([values[:count], values[count:]], axis=1)),
            scheme=AFLW_19,
            image_path=image,
            box=origin.to_heatmark(np.array([left, top, right, bottom])),
            visible=visible,
            attributes={"frontal": bool(visible is None or visible.all())},
            subset=subsets[row],
            source=where,
        )
        check_annotation(sample, sizes(image, path), path, label=f"data row {row + 1} ({name})")
        samples.append(sample)
    if not samples:
        raise DataError(path, "the file holds no faces")
    return samples


def read_aflw_csv(
    path: Path,
    image_root: Path | None = None,
    origin: CoordinateOrigin = CoordinateOrigin.ZERO_BASED,
) -> list[Sample]:
    """Read an HRNet-style AFLW csv; ``subset`` is the file stem without ``face_landmarks_aflw_``.

    ``image_root`` defaults to ``images/`` beside the file (HRNet's layout) or the file's folder.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError:
        raise DataError(path, "annotation file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(path, f"cannot read csv ({exc})") from None
    columns = len(AFLW_CSV_HEADER) + 2 * AFLW_19.num_points
    if not rows:
        raise DataError(path, "the file is empty")
    if tuple(field.strip() for field in rows[0][: len(AFLW_CSV_HEADER)]) != AFLW_CSV_HEADER:
        raise DataError(path, f"header must start with {','.join(AFLW_CSV_HEADER)}", 1)
    body = [(number, row) for number, row in enumerate(rows[1:], start=2) if any(row)]
    if not body:
        raise DataError(path, "the file has a header but no faces")

    subset = path.stem.removeprefix("face_landmarks_aflw_")
    first = body[0][1][0].strip()
    root = (
        Path(image_root)
        if image_root is not None
        else choose_root([path.parent / "images", path.parent], first)
    )
    sizes = ImageSizes()
    samples = []
    for number, row in body:
        if len(row) != columns:
            raise DataError(path, f"expected {columns} columns, got {len(row)}", number)
        try:
            values = np.array([float(field) for field in row[1:]], dtype=np.float64)
        except ValueError:
            raise DataError(path, "a value is not a number", number) from None
        if not np.isfinite(values).all():
            raise DataError(path, "a value is not finite (NaN or inf)", number)
        _, box_size, centre_x, centre_y = values[:4]
        if box_size <= 0:
            raise DataError(path, f"box_size must be positive, got {box_size}", number)
        half = box_size / 2.0
        box = np.array([centre_x - half, centre_y - half, centre_x + half, centre_y + half])
        image = require_image(root / row[0].strip(), path, number)
        sample = Sample(
            points=origin.to_heatmark(values[4:].reshape(-1, 2)),
            scheme=AFLW_19,
            image_path=image,
            box=origin.to_heatmark(box),
            subset=subset,
            source=f"{path}:{number}",
        )
        check_annotation(sample, sizes(image, path, number), path, number)
        samples.append(sample)
    return samples


def _numeric(
    path: Path, key: str, value: object, columns: int, rows: int | None = None
) -> np.ndarray:
    array = np.asarray(value)
    if array.ndim != 2 or array.dtype.kind not in "fiub" or array.shape[1] != columns:
        raise DataError(path, f"{key} has shape {array.shape}; expected N x {columns} numbers")
    if rows is not None and array.shape[0] != rows:
        raise DataError(path, f"{key} has {array.shape[0]} rows; expected {rows}")
    return array.astype(np.float64)


def _subsets_from_permutation(path: Path, ra: object, total: int, train_size: int) -> list[str]:
    """``"train"`` for the first ``train_size`` faces of the 1-based permutation ``ra``."""
    if ra is None:
        return [""] * total
    order = np.asarray(ra)
    if order.dtype.kind not in "fiu":
        raise DataError(path, f"ra must be a permutation of 1..{total}")
    order = order.astype(np.float64).reshape(-1)
    if len(order) != total or not np.array_equal(np.sort(order), np.arange(1, total + 1)):
        raise DataError(path, f"ra must be a permutation of 1..{total}")
    subsets = ["test"] * total
    for index in order[: min(train_size, total)]:
        subsets[int(index) - 1] = "train"
    return subsets
