"""Predictions as a tree of ``.pts`` files, one per sample, so any predictor can be evaluated.

Layout: the prediction for a sample lives at ``PRED_DIR/<key>.pts`` (1-based ``.pts`` like the
300-W ground truth), where ``<key>`` (see ``prediction_keys``) is

- the sample's image path relative to the dataset folder (``root``: the ``--gt`` folder of
  ``heatmark eval``), without its suffix (``afw/1051618982_1``,
  ``51--Dresses/51_Dresses_wearingdress_51_377``); without a root (annotation files: WFLW
  lists, json, .mat) relative to the folder common to all the dataset's images;
- for a video frame, the video path without suffix plus the 1-based frame number, as in 300-VW's
  ``annot`` files (``001/vid/000006``);
- for samples whose pixels live in the annotation file (COFW), ``sample_<n>`` with the 1-based
  position of the sample in the dataset;
- when several samples share an image (WFLW, COCO: several faces per picture), every one of
  them gets ``_face<k>`` appended, k = 1, 2, ... in dataset order.

The keys depend only on the ground truth, in the readers' deterministic order, so
``write_predictions`` followed by ``read_predictions`` on the same dataset round-trips. Readers
accept either layout (root-relative or common-folder-relative, see ``key_layouts``): a tree
that mirrors the ground-truth folder is found whatever the folder holds.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from heatmark.data.readers.pts import read_pts, write_pts
from heatmark.data.sample import Sample
from heatmark.errors import DataError


def prediction_keys(samples: Sequence[Sample], root: Path | None = None) -> list[str]:
    """The relative file name (without ``.pts``) of each sample's prediction; all distinct.

    Relative to ``root`` when it is a folder holding every image, else to the folder common to
    all images."""
    bases = image_keys(samples, root)
    repeats = Counter(bases)
    seen: Counter[str] = Counter()
    keys = []
    for base in bases:
        if repeats[base] > 1:
            seen[base] += 1
            keys.append(f"{base}_face{seen[base]}")
        else:
            keys.append(base)
    return keys


def image_keys(samples: Sequence[Sample], root: Path | None = None) -> list[str]:
    """The key of each sample's image (or video frame): ``prediction_keys`` before the
    ``_face<k>`` suffix, so faces of one picture share it (detector output is per image)."""
    with_images = [sample.image_path for sample in samples if sample.image_path is not None]
    common = _common_folder(with_images)
    if root is not None and Path(root).is_dir():
        base = Path(root).absolute()
        if all(_inside(Path(path).absolute(), base) for path in with_images):
            common = base
    bases = []
    for position, sample in enumerate(samples, start=1):
        if sample.image_path is None:
            bases.append(f"sample_{position:06d}")
            continue
        relative = Path(os.path.relpath(sample.image_path, common)).with_suffix("").as_posix()
        if sample.frame_index is not None:
            relative = f"{relative}/{sample.frame_index + 1:06d}"
        bases.append(relative)
    return bases


def key_layouts(samples: Sequence[Sample], root: Path | None = None) -> list[list[str]]:
    """The key lists a prediction file may use for ``samples``, preferred first: relative to
    ``root`` (the dataset folder), then relative to the images' common folder."""
    layouts = [prediction_keys(samples, root)]
    if root is not None:
        common = prediction_keys(samples)
        if common != layouts[0]:
            layouts.append(common)
    return layouts


def write_predictions(
    folder: Path,
    samples: Sequence[Sample],
    points: np.ndarray | Sequence[np.ndarray],
    root: Path | None = None,
) -> list[Path]:
    """Write one ``.pts`` per sample under ``folder``; ``points[i]`` is (K, 2), 0-based."""
    if len(points) != len(samples):
        raise ValueError(f"{len(points)} predictions for {len(samples)} samples")
    folder = Path(folder)
    return [
        write_pts(folder / f"{key}.pts", np.asarray(predicted))
        for key, predicted in zip(prediction_keys(samples, root), points, strict=True)
    ]


def read_predictions(
    folder: Path,
    samples: Sequence[Sample],
    num_points: int | None = None,
    root: Path | None = None,
) -> np.ndarray:
    """The (N, K, 2) predictions for ``samples`` from a ``write_predictions`` tree.

    Every file must exist and hold the same number of points (``num_points`` when given; the
    predicted scheme may differ from the ground truth's, e.g. 68 points for WFLW faces).
    ``root`` is the dataset folder the keys may be relative to (``key_layouts``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "prediction folder not found")
    layouts = key_layouts(samples, root)
    keys = next(
        (ks for ks in layouts if all((folder / f"{k}.pts").is_file() for k in ks)), layouts[0]
    )
    predictions = []
    for key, sample in zip(keys, samples, strict=True):
        file = folder / f"{key}.pts"
        if not file.is_file():
            raise DataError(file, f"no prediction for the sample from {sample.source or key}")
        predicted = read_pts(file, num_points)
        if num_points is None:
            num_points = len(predicted)
        predictions.append(predicted)
    if not predictions:
        return np.zeros((0, num_points or 0, 2))
    return np.stack(predictions)


def _common_folder(paths: list[Path]) -> Path:
    if not paths:
        return Path()
    folders = {str(Path(path).parent.absolute()) for path in paths}
    return Path(os.path.commonpath(sorted(folders)))


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True
