"""``Evaluation``: every metric of a prediction set at once, overall and per subset."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from heatmark.data.sample import Sample
from heatmark.evaluate.metrics import (
    Normaliser,
    auc,
    failure_rate_images,
    failure_rate_landmarks,
    landmark_errors,
    nme_per_image,
    normalising_distance,
)
from heatmark.schemes import Scheme

COMMON_300W = ("helen/testset", "lfpw/testset")
CHALLENGE_300W = ("ibug",)


@dataclass
class Evaluation:
    """Metrics of one prediction set. Errors are fractions of the normaliser (x100 for %)."""

    normaliser: Normaliser
    threshold: float
    errors: np.ndarray  # (N, K) normalised landmark errors, NaN where not evaluated
    nme_images: np.ndarray  # (N,)
    subsets: dict[str, Evaluation] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return int(self.errors.shape[0])

    @property
    def nme(self) -> float:
        return float(self.nme_images.mean())

    @property
    def fr_images(self) -> float:
        return failure_rate_images(self.nme_images, self.threshold)

    @property
    def fr_landmarks(self) -> float:
        return failure_rate_landmarks(self.errors, self.threshold)

    @property
    def auc_images(self) -> float:
        return auc(self.nme_images, self.threshold)

    @property
    def auc_landmarks(self) -> float:
        return auc(self.errors, self.threshold)

    def summary(self) -> dict[str, float | int]:
        """The headline numbers (as fractions), for logs and JSON."""
        return {
            "images": self.count,
            "nme": self.nme,
            "fr_images": self.fr_images,
            "fr_landmarks": self.fr_landmarks,
            "auc_images": self.auc_images,
            "auc_landmarks": self.auc_landmarks,
        }

    def to_dict(self) -> dict:
        return {
            "normaliser": self.normaliser.value,
            "threshold": self.threshold,
            **self.summary(),
            "subsets": {name: sub.summary() for name, sub in self.subsets.items()},
        }


def evaluate_points(
    pred: np.ndarray,
    gt: np.ndarray,
    scheme: Scheme,
    normaliser: Normaliser = Normaliser.INTER_OCULAR,
    threshold: float = 0.1,
    boxes: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    groups: dict[str, np.ndarray] | None = None,
) -> Evaluation:
    """Evaluate (N, K, 2) predictions against ground truth in the same coordinates.

    ``groups`` maps a subset name to an (N,) boolean selection; each gets its own metrics.
    """
    norm = normalising_distance(gt, scheme, normaliser, boxes)
    errors = landmark_errors(pred, gt, norm, mask)
    evaluation = Evaluation(normaliser, threshold, errors, nme_per_image(errors))
    for name, selected in (groups or {}).items():
        selected = np.asarray(selected, dtype=bool)
        if selected.any():
            evaluation.subsets[name] = Evaluation(
                normaliser, threshold, errors[selected], evaluation.nme_images[selected]
            )
    return evaluation


def subset_groups(samples: Sequence[Sample]) -> dict[str, np.ndarray]:
    """Subsets worth reporting: each sample ``subset``, each WFLW attribute, and the 300W
    common / challenge / full split when those parts are present."""
    subsets = np.array([s.subset for s in samples])
    groups: dict[str, np.ndarray] = {}
    names = sorted(set(subsets.tolist()) - {""})
    if len(names) > 1:
        for name in names:
            groups[name] = subsets == name
    common = np.isin(subsets, COMMON_300W)
    challenge = np.isin(subsets, CHALLENGE_300W)
    if common.any() and challenge.any():
        groups["300W common"] = common
        groups["300W challenge"] = challenge
        groups["300W full"] = common | challenge
    attributes = sorted({a for s in samples for a in s.attributes})
    for attribute in attributes:
        groups[attribute] = np.array([bool(s.attributes.get(attribute)) for s in samples])
    return groups


def evaluate_samples(
    pred: np.ndarray,
    samples: Sequence[Sample],
    normaliser: Normaliser = Normaliser.INTER_OCULAR,
    threshold: float = 0.1,
    visible_only: bool = False,
    mask: np.ndarray | None = None,
) -> Evaluation:
    """Evaluate predictions in original image coordinates against the samples' ground truth.

    ``mask`` (N, K) restricts the landmarks evaluated (cross-scheme common points);
    ``visible_only`` further drops the points annotated as occluded.
    """
    gt = np.stack([s.points for s in samples])
    boxes = None
    if normaliser in (Normaliser.BOX, Normaliser.BOX_DIAGONAL):
        boxes = np.stack([s.box if s.box is not None else s.landmark_box() for s in samples])
    if visible_only:
        visible = np.stack(
            [s.visible if s.visible is not None else np.ones(len(s.points), bool) for s in samples]
        )
        mask = visible if mask is None else mask & visible
    return evaluate_points(
        pred, gt, samples[0].scheme, normaliser, threshold, boxes, mask, subset_groups(samples)
    )
