"""COFW (Caltech Occluded Faces in the Wild): ``COFW_train_color.mat`` / ``COFW_test_color.mat``.

Layout (MATLAB v7.3 = HDF5; checked against the HRNet facial-landmark and RCPR loaders, which
read the same variables with ``hdf5storage``), in MATLAB orientation for N faces:

- ``IsTr`` / ``IsT``: N x 1 cell of uint8 images, ``H x W x 3`` colour or ``H x W`` grey;
- ``phisTr`` / ``phisT``: N x 87 double: 29 x, then 29 y, then 29 occlusion flags (1 = occluded);
- ``bboxesTr`` / ``bboxesT``: N x 4 face boxes ``x y w h``.

The pixels live inside the file, so they are decoded into ``Sample.image`` (RGB uint8, grey
expanded to 3 channels). The coordinates come from MATLAB code (RCPR), whose pixel centres are
1-based, hence the default ``origin``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from heatmark.data.readers.matlab import load_mat
from heatmark.data.readers.origin import CoordinateOrigin
from heatmark.data.sample import Sample, check_annotation
from heatmark.errors import DataError
from heatmark.schemes import COFW_29

COFW_VARIABLES: dict[str, tuple[str, str, str]] = {
    "train": ("IsTr", "phisTr", "bboxesTr"),
    "test": ("IsT", "phisT", "bboxesT"),
}


def read_cofw(path: Path, origin: CoordinateOrigin = CoordinateOrigin.ONE_BASED) -> list[Sample]:
    """Read a COFW ``.mat`` (train and/or test variables) into samples with embedded images."""
    path = Path(path)
    names = [name for triple in COFW_VARIABLES.values() for name in triple]
    variables = load_mat(path, names)
    samples: list[Sample] = []
    for subset, (images_key, phis_key, boxes_key) in COFW_VARIABLES.items():
        if images_key not in variables and phis_key not in variables:
            continue
        for key in (images_key, phis_key):
            if key not in variables:
                raise DataError(path, f"variable {key!r} is missing (found {sorted(variables)})")
        samples += _read_part(path, subset, variables, images_key, phis_key, boxes_key, origin)
    if not samples:
        raise DataError(path, "no COFW variables (IsTr/phisTr or IsT/phisT) in this file")
    return samples


def _read_part(
    path: Path,
    subset: str,
    variables: dict,
    images_key: str,
    phis_key: str,
    boxes_key: str,
    origin: CoordinateOrigin,
) -> list[Sample]:
    images = variables[images_key]
    if not isinstance(images, np.ndarray) or images.dtype != object:
        raise DataError(path, f"{images_key} is not a cell array of images")
    images = images.reshape(-1)
    phis = _matrix(path, phis_key, variables[phis_key])
    count = COFW_29.num_points
    if phis.shape[1] not in (2 * count, 3 * count):
        raise DataError(
            path,
            f"{phis_key} has {phis.shape[1]} columns; expected {3 * count} "
            f"(29 x, 29 y, 29 occlusion flags)",
        )
    if phis.shape[0] != len(images):
        raise DataError(
            path, f"{phis_key} has {phis.shape[0]} rows but {images_key} holds {len(images)} images"
        )
    boxes = None
    if boxes_key in variables:
        boxes = _matrix(path, boxes_key, variables[boxes_key])
        if boxes.shape != (len(images), 4):
            raise DataError(
                path,
                f"{boxes_key} has shape {boxes.shape}; expected ({len(images)}, 4) boxes x y w h",
            )

    samples = []
    for row in range(len(images)):
        where = f"{phis_key} row {row + 1}"
        values = phis[row]
        if not np.isfinite(values).all():
            raise DataError(path, f"{where}: a coordinate or flag is not finite")
        points = origin.to_heatmark(np.stack([values[:count], values[count : 2 * count]], axis=1))
        visible = None
        if phis.shape[1] == 3 * count:
            flags = values[2 * count :]
            if not np.isin(flags, (0, 1)).all():
                raise DataError(path, f"{where}: occlusion flags must be 0 or 1")
            visible = flags == 0
        box = None
        if boxes is not None:
            x, y, w, h = boxes[row]
            if not np.isfinite(boxes[row]).all() or w < 0 or h < 0:
                raise DataError(path, f"{boxes_key} row {row + 1}: invalid box {boxes[row]}")
            box = np.array([x, y, x + w, y + h]) - origin.offset
        image = _rgb(path, images[row], f"{images_key}{{{row + 1}}}")
        sample = Sample(
            points=points,
            scheme=COFW_29,
            image=image,
            box=box,
            visible=visible,
            subset=subset,
            source=f"{path}:{phis_key}[{row + 1}]",
        )
        check_annotation(sample, (image.shape[1], image.shape[0]), path, label=where)
        samples.append(sample)
    return samples


def _matrix(path: Path, key: str, value: object) -> np.ndarray:
    array = np.asarray(value)
    if array.ndim != 2 or array.dtype.kind not in "fiu":
        raise DataError(path, f"{key} is not a numeric matrix (shape {array.shape})")
    return array.astype(np.float64)


def _rgb(path: Path, image: object, what: str) -> np.ndarray:
    """An embedded image as contiguous RGB uint8 (H, W, 3)."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise DataError(path, f"{what} is not a uint8 image (dtype {array.dtype})")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(path, f"{what} has shape {array.shape}; expected H x W x 3 or H x W")
    return np.ascontiguousarray(array)
