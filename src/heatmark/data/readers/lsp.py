"""Leeds Sports Pose: ``joints.mat`` with images ``images/im0001.jpg`` ... (14 body joints).

Two layouts exist and their third channel means opposite things (checked against the
convolutional-pose-machines ``genJSON.m`` converter, which flips the original's flag with
``1 - joints(3,:,:)`` and uses the extended set's as it is):

- LSP (2,000 images): ``joints`` is 3 x 14 x N (x, y, flag) with flag 1 = *occluded*;
  images ``im%04d.jpg``; the first 1,000 are the training set, the last 1,000 the test set.
- LSP-extended (10,000 images): ``joints`` is 14 x 3 x N with flag 1 = *visible*;
  images ``im%05d.jpg``; all training.

The coordinates were made with MATLAB tools, so they are read as 1-based by default. Invisible
joints may hold placeholder coordinates (-1, or a value past the image edge); they are not
required to lie near the image (see ``check_annotation``). Errors name the file and the image
the joints belong to (``joints`` column ``n`` is image ``n``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from heatmark.data.readers.files import require_image
from heatmark.data.readers.matlab import load_mat
from heatmark.data.readers.origin import CoordinateOrigin
from heatmark.data.sample import Sample, check_annotation, image_size
from heatmark.errors import DataError
from heatmark.schemes import LSP_14

LSP_TRAIN_SIZE = 1_000


def read_lsp(
    path: Path, image_dir: Path | None = None, origin: CoordinateOrigin = CoordinateOrigin.ONE_BASED
) -> list[Sample]:
    """Read an LSP or LSP-extended ``joints.mat``; the layout is told apart by its shape.

    ``image_dir`` defaults to ``images/`` beside the file.
    """
    path = Path(path)
    variables = load_mat(path, ["joints"])
    if "joints" not in variables:
        raise DataError(path, "variable 'joints' is missing: not an LSP joints.mat")
    joints = np.asarray(variables["joints"])
    count = LSP_14.num_points
    if joints.ndim == 2:
        joints = joints[:, :, None]
    if joints.ndim != 3 or joints.dtype.kind not in "fiu":
        raise DataError(path, f"joints has shape {joints.shape}; expected 3 x 14 x N or 14 x 3 x N")
    if joints.shape[:2] == (3, count):  # original LSP: (x, y, occluded) rows
        per_image = np.transpose(joints, (2, 1, 0)).astype(np.float64)
        visible_flag, pattern, extended = 0, "im{:04d}.jpg", False
    elif joints.shape[:2] == (count, 3):  # LSP-extended: (x, y, visible) columns
        per_image = np.transpose(joints, (2, 0, 1)).astype(np.float64)
        visible_flag, pattern, extended = 1, "im{:05d}.jpg", True
    else:
        raise DataError(
            path,
            f"joints has shape {joints.shape}; expected 3 x 14 x N (LSP) or "
            "14 x 3 x N (LSP-extended)",
        )
    if per_image.shape[0] == 0:
        raise DataError(path, "joints holds no images")

    folder = Path(image_dir) if image_dir is not None else path.parent / "images"
    samples = []
    for index, annotation in enumerate(per_image):
        number = index + 1
        name = pattern.format(number)
        label = f"joints of {name}"
        if not np.isfinite(annotation).all():
            raise DataError(path, f"{label}: a joint value is not finite")
        flags = annotation[:, 2]
        if not np.isin(flags, (0, 1)).all():
            raise DataError(path, f"{label}: visibility flags must be 0 or 1")
        subset = "train" if extended or number <= LSP_TRAIN_SIZE else "test"
        image = require_image(folder / name, path)
        sample = Sample(
            points=origin.to_heatmark(annotation[:, :2]),
            scheme=LSP_14,
            image_path=image,
            visible=flags == visible_flag,
            subset=subset,
            source=f"{path}:joints[{number}]",
        )
        check_annotation(sample, image_size(image, path), path, label=label)
        samples.append(sample)
    return samples
