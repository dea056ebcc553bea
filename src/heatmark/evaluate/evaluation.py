"""``Evaluation``: every metric of a prediction set at once, overall and per subset."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from heatmark.data.sample import Sample
from heatmark.errors import DataError
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
    scored_points: tuple[int, str, str] | None = None
    """(points scored, predicted scheme, ground-truth scheme) when the caller knows them."""
    detected: np.ndarray | None = None
    """(N,) bool for detector-based predictions: False where no predicted face matched the
    ground-truth face. A missed face has error infinity (a failure at every threshold, never
    under the CED) and is left out of the NME, which is over matched faces."""

    @property
    def in_pixels(self) -> bool:
        """Errors are raw pixels (``Normaliser.NONE``), not fractions of a distance."""
        return self.normaliser is Normaliser.NONE

    @property
    def count(self) -> int:
        return int(self.errors.shape[0])

    @property
    def nme(self) -> float:
        finite = self.nme_images[np.isfinite(self.nme_images)]
        return float(finite.mean()) if finite.size else float("nan")

    @property
    def detection_rate(self) -> float | None:
        return None if self.detected is None else float(np.mean(self.detected))

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
        nme = self.nme
        return {
            "images": self.count,
            "nme": nme if np.isfinite(nme) else None,  # None: no face was matched
            "fr_images": self.fr_images,
            "fr_landmarks": self.fr_landmarks,
            "auc_images": self.auc_images,
            "auc_landmarks": self.auc_landmarks,
            **({} if self.detected is None else {"detection_rate": self.detection_rate}),
        }

    def to_dict(self) -> dict:
        """Everything for ``--json``: ``unit`` says whether NME, thresholds and errors are
        fractions of the normalising distance or pixels."""
        payload = {
            "normaliser": self.normaliser.value,
            "unit": "pixels" if self.in_pixels else "fraction of the normalising distance",
            "threshold": self.threshold,
            **self.summary(),
            "subsets": {name: sub.summary() for name, sub in self.subsets.items()},
        }
        if self.scored_points is not None:
            count, predicted, truth = self.scored_points
            payload["points"] = {"scored": count, "predicted": predicted, "ground_truth": truth}
        return payload


def evaluate_points(
    pred: np.ndarray,
    gt: np.ndarray,
    scheme: Scheme,
    normaliser: Normaliser = Normaliser.INTER_OCULAR,
    threshold: float = 0.1,
    boxes: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    groups: dict[str, np.ndarray] | None = None,
    detected: np.ndarray | None = None,
) -> Evaluation:
    """Evaluate (N, K, 2) predictions against ground truth in the same coordinates.

    ``groups`` maps a subset name to an (N,) boolean selection; each gets its own metrics.
    ``detected`` (N,) marks the faces a detector-based predictor found; the others get error
    infinity (their ``pred`` rows are ignored).
    """
    norm = normalising_distance(gt, scheme, normaliser, boxes)
    if detected is not None:
        detected = np.asarray(detected, dtype=bool)
        pred = np.where(detected[:, None, None], pred, gt)
    errors = landmark_errors(pred, gt, norm, mask)
    if detected is not None:
        errors[~detected] = np.where(np.isnan(errors[~detected]), np.nan, np.inf)
    evaluation = Evaluation(normaliser, threshold, errors, nme_per_image(errors), detected=detected)
    for name, selected in (groups or {}).items():
        selected = np.asarray(selected, dtype=bool)
        if selected.any():
            evaluation.subsets[name] = Evaluation(
                normaliser,
                threshold,
                errors[selected],
                evaluation.nme_images[selected],
                detected=None if detected is None else detected[selected],
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
    detected: np.ndarray | None = None,
) -> Evaluation:
    """Evaluate predictions in original image coordinates against the samples' ground truth.

    ``mask`` (N, K) restricts the landmarks evaluated (cross-scheme common points);
    ``visible_only`` further drops the points annotated as occluded.
    """
    gt = np.stack([s.points for s in samples])
    scheme = samples[0].scheme
    boxes = None
    if normaliser in (Normaliser.BOX, Normaliser.BOX_DIAGONAL):
        boxes = np.stack([s.box if s.box is not None else s.landmark_box() for s in samples])
    norm = normalising_distance(gt, scheme, normaliser, boxes)
    bad = np.flatnonzero(~(np.isfinite(norm) & (norm > 0)))
    if bad.size:
        sample = samples[int(bad[0])]
        raise DataError(
            _where(sample),
            f"the {normaliser.value} normalising distance of this face is {norm[bad[0]]:g}: "
            "its errors cannot be normalised (degenerate annotation?)",
        )
    if visible_only:
        visible = np.stack(
            [s.visible if s.visible is not None else np.ones(len(s.points), bool) for s in samples]
        )
        mask = visible if mask is None else mask & visible
    if mask is not None:
        empty = np.flatnonzero(~np.asarray(mask, dtype=bool).any(axis=1))
        if empty.size:
            raise DataError(
                _where(samples[int(empty[0])]),
                "no landmark of this face is scored (all occluded under --visible-only, or "
                "no point shared with the predicted scheme)",
            )
    return evaluate_points(
        pred, gt, scheme, normaliser, threshold, boxes, mask, subset_groups(samples), detected
    )


def _where(sample: Sample) -> str:
    """The file (and line) a sample came from, for error messages."""
    return sample.source or str(sample.image_path or "<sample>")
