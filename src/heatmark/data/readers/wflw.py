"""WFLW: ``list_98pt_rect_attr_{train,test}.txt`` (and the ``list_98pt_test_*.txt`` subsets).

One face per line, 207 whitespace-separated fields (layout of the WFLW release; checked against
mmpose's ``wflw2coco.py``, which reads coordinates from the first 196 fields and the image from
the last):

- 196 numbers: x0 y0 x1 y1 ... x97 y97;
- 4 numbers: face box x_min y_min x_max y_max;
- 6 flags (0/1): pose, expression, illumination, make-up, occlusion, blur;
- the image path relative to the ``WFLW_images`` folder.

The reference implementations (LAB, HRNet, mmpose) use the coordinates as they are, so they
are read as ``ZERO_BASED`` by default.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from heatmark.data.readers.files import choose_root, require_image
from heatmark.data.readers.origin import CoordinateOrigin
from heatmark.data.sample import ImageSizes, Sample, check_annotation
from heatmark.errors import DataError
from heatmark.schemes import WFLW_98

WFLW_ATTRIBUTES: tuple[str, ...] = (
    "pose",
    "expression",
    "illumination",
    "makeup",
    "occlusion",
    "blur",
)
WFLW_COLUMNS = 2 * WFLW_98.num_points + 4 + len(WFLW_ATTRIBUTES) + 1


def read_wflw(
    path: Path,
    image_root: Path | None = None,
    origin: CoordinateOrigin = CoordinateOrigin.ZERO_BASED,
) -> list[Sample]:
    """Read a WFLW list file; ``subset`` is ``"train"`` or ``"test"`` from the file name.

    ``image_root`` defaults to the first ``WFLW_images`` folder found beside the list file or
    up to three folders above it (the release keeps lists in
    ``WFLW_annotations/list_98pt_rect_attr_train_test/``), else the list's own folder. Every
    face is checked against its image's size (``check_annotation``); errors name the line.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataError(path, "annotation file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read list file ({exc})") from None
    body = [(number, line.split()) for number, line in enumerate(lines, start=1) if line.strip()]
    if not body:
        raise DataError(path, "the list file is empty")
    root = (
        Path(image_root)
        if image_root is not None
        else choose_root(
            [*(folder / "WFLW_images" for folder in list(path.parents)[:4]), path.parent],
            body[0][1][-1],
        )
    )
    subset = "train" if "train" in path.stem else "test" if "test" in path.stem else ""

    count = 2 * WFLW_98.num_points
    sizes = ImageSizes()
    samples = []
    for number, fields in body:
        if len(fields) != WFLW_COLUMNS:
            raise DataError(
                path,
                f"expected {WFLW_COLUMNS} fields (196 coordinates, 4 box "
                f"values, 6 attribute flags, image path), got {len(fields)}",
                number,
            )
        try:
            values = [float(field) for field in fields[: count + 4 + len(WFLW_ATTRIBUTES)]]
        except ValueError:
            raise DataError(
                path, "a coordinate, box value or flag is not a number", number
            ) from None
        if not all(math.isfinite(value) for value in values):
            raise DataError(path, "a value is not finite (NaN or inf)", number)
        flags = values[count + 4 :]
        if any(flag not in (0.0, 1.0) for flag in flags):
            raise DataError(
                path, f"attribute flags must be 0 or 1, got {fields[count + 4 : -1]}", number
            )
        image = require_image(root / fields[-1], path, number)
        sample = Sample(
            points=origin.to_heatmark(np.array(values[:count]).reshape(-1, 2)),
            scheme=WFLW_98,
            image_path=image,
            box=origin.to_heatmark(np.array(values[count : count + 4])),
            attributes={
                name: flag == 1.0 for name, flag in zip(WFLW_ATTRIBUTES, flags, strict=True)
            },
            subset=subset,
            source=f"{path}:{number}",
        )
        check_annotation(sample, sizes(image, path, number), path, number)
        samples.append(sample)
    return samples
