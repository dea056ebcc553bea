"""``Evaluation``: every metric of a prediction set at once, overall and per subset.

Body schemes (LSP) are also scored by PCK@0.2 per body part (``heatmark.evaluate.metrics``).
Their invisible joints are never scored (they may hold placeholder coordinates), and an image
whose torso size is undefined (a torso joint invisible, or the two at the same place) cannot be
normalised: it is left out of every metric and counted in ``Evaluation.left_out``.

300W results are grouped as the literature reports them (``w300_groups``): common (LFPW test
224 + HELEN test 330 = 554 faces), challenge (iBUG, 135), full (both, 689) and the private test
set (``01_Indoor`` 300 + ``02_Outdoor`` 300 = 600). A group with fewer faces than the official
set is labelled partial with its count, e.g. ``300W common (partial: 224 of 554 faces)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from heatmark.data.readers.w300 import split_300w
from heatmark.data.sample import MIN_NORMALISER, Sample, is_body_scheme
from heatmark.errors import DataError
from heatmark.evaluate.metrics import (
    PCK_THRESHOLD,
    Normaliser,
    auc,
    body_parts,
    check_normaliser,
    default_normaliser,
    failure_rate_images,
    failure_rate_landmarks,
    landmark_errors,
    nme_per_image,
    normalising_distance,
    pck,
    pck_landmarks,
    pck_parts,
)
from heatmark.schemes import Scheme

W300_COMMON_FACES = {"lfpw/testset": 224, "helen/testset": 330}
"""The common subset of the 300W test protocol: 554 faces."""
W300_CHALLENGE_FACES = 135  # iBUG
W300_PRIVATE_FACES = {"indoor": 300, "outdoor": 300}
"""The 300W private test set (the 300-W challenge's official test release, ``01_Indoor`` and
``02_Outdoor``): 600 faces."""
W300_PRIVATE_FOLDERS = {"01_indoor": "indoor", "02_outdoor": "outdoor"}


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
    parts: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """Body parts (point indices) of the PCK table; empty for faces, which get no PCK."""
    point_names: tuple[str, ...] = ()
    pck_threshold: float = PCK_THRESHOLD
    left_out: int = 0
    """Images not scored at all because their normalising distance is undefined (body schemes:
    a torso joint invisible, or a zero torso size); they are not among the ``count``."""
    torso: tuple[str, str] | None = None
    """Names of the torso joints when errors are normalised by the torso size."""

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

    @property
    def has_pck(self) -> bool:
        """Whether PCK is reported (body schemes)."""
        return bool(self.parts)

    @property
    def pck(self) -> float:
        """PCK@``pck_threshold`` pooled over every scored joint (the table's "mean")."""
        return pck(self.errors, self.pck_threshold)

    @property
    def pck_landmarks(self) -> np.ndarray:
        """(K,) PCK of each joint (NaN for a joint never scored)."""
        return pck_landmarks(self.errors, self.pck_threshold)

    @property
    def pck_parts(self) -> dict[str, float]:
        """PCK of each body part, left and right averaged."""
        return pck_parts(self.errors, self.parts, self.pck_threshold)

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
            **({"pck": _finite_or_none(self.pck)} if self.has_pck else {}),
        }

    def pck_dict(self) -> dict:
        """The PCK table for ``--json``: threshold, pooled mean, per part and per joint."""
        names = self.point_names or tuple(str(i) for i in range(self.errors.shape[1]))
        return {
            "threshold": self.pck_threshold,
            "normaliser": "torso size" if self.torso is None else "-".join(self.torso),
            "mean": _finite_or_none(self.pck),
            "parts": {k: _finite_or_none(v) for k, v in self.pck_parts.items()},
            "joints": {
                n: _finite_or_none(v) for n, v in zip(names, self.pck_landmarks, strict=True)
            },
            "joints_scored": int(np.sum(~np.isnan(self.errors))),
        }

    def to_dict(self) -> dict:
        """Everything for ``--json``: ``unit`` says whether NME, thresholds and errors are
        fractions of the normalising distance or pixels."""
        payload = {
            "normaliser": self.normaliser.value,
            "unit": "pixels" if self.in_pixels else "fraction of the normalising distance",
            "threshold": self.threshold,
            **self.summary(),
            "subsets": {
                name: {**sub.summary(), **({"pck": sub.pck_dict()} if sub.has_pck else {})}
                for name, sub in self.subsets.items()
            },
        }
        if self.has_pck:
            payload["pck"] = self.pck_dict()
        if self.has_pck or self.left_out:
            payload["left_out"] = self.left_out
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
    left_out: int = 0,
) -> Evaluation:
    """Evaluate (N, K, 2) predictions against ground truth in the same coordinates.

    ``groups`` maps a subset name to an (N,) boolean selection; each gets its own metrics.
    ``detected`` (N,) marks the faces a detector-based predictor found; the others get error
    infinity (their ``pred`` rows are ignored). Body schemes also get PCK per body part;
    ``left_out`` is the number of images the caller could not score (reported with them).
    """
    norm = normalising_distance(gt, scheme, normaliser, boxes)
    if detected is not None:
        detected = np.asarray(detected, dtype=bool)
        pred = np.where(detected[:, None, None], pred, gt)
    errors = landmark_errors(pred, gt, norm, mask)
    if detected is not None:
        errors[~detected] = np.where(np.isnan(errors[~detected]), np.nan, np.inf)
    names = scheme.point_names
    body = {
        "parts": body_parts(scheme),
        "point_names": names,
        "torso": (
            (names[scheme.torso[0]], names[scheme.torso[1]])
            if normaliser is Normaliser.TORSO and scheme.torso is not None and names
            else None
        ),
    }
    evaluation = Evaluation(
        normaliser,
        threshold,
        errors,
        nme_per_image(errors),
        detected=detected,
        left_out=left_out,
        **body,
    )
    for name, selected in (groups or {}).items():
        selected = np.asarray(selected, dtype=bool)
        if selected.any():
            evaluation.subsets[name] = Evaluation(
                normaliser,
                threshold,
                errors[selected],
                evaluation.nme_images[selected],
                detected=None if detected is None else detected[selected],
                **body,
            )
    return evaluation


def w300_label(name: str, count: int, official: int) -> str:
    """A 300W group's name, with its face count when it differs from the official set's."""
    if count < official:
        return f"{name} (partial: {count} of {official} faces)"
    if count > official:
        return f"{name} ({count} faces; the official set has {official})"
    return name


def w300_part(subset: str) -> str:
    """The 300W test part of a sample ``subset``: ``"common"``, ``"challenge"``, ``"indoor"``,
    ``"outdoor"`` (the private test set's folders), or ``""``."""
    split = split_300w(subset)
    if split in ("common", "challenge"):
        return split
    for part in subset.lower().split("/"):
        if part in W300_PRIVATE_FOLDERS:
            return W300_PRIVATE_FOLDERS[part]
    return ""


def w300_groups(samples: Sequence[Sample]) -> dict[str, np.ndarray]:
    """The 300W test groups present among ``samples``, as the literature reports them:
    common, challenge, full (when both are present), the private test set and its indoor and
    outdoor halves. Labels say when a group holds fewer (or more) faces than the official set.
    """
    parts = np.array([w300_part(s.subset) for s in samples])
    common, challenge = parts == "common", parts == "challenge"
    indoor, outdoor = parts == "indoor", parts == "outdoor"
    private = indoor | outdoor
    common_faces = sum(W300_COMMON_FACES.values())
    private_faces = sum(W300_PRIVATE_FACES.values())
    candidates = [
        ("300W common", common, common_faces),
        ("300W challenge", challenge, W300_CHALLENGE_FACES),
    ]
    if common.any() and challenge.any():
        candidates.append(("300W full", common | challenge, common_faces + W300_CHALLENGE_FACES))
    candidates.append(("300W private test", private, private_faces))
    if indoor.any() and outdoor.any():
        candidates.append(("300W private indoor", indoor, W300_PRIVATE_FACES["indoor"]))
        candidates.append(("300W private outdoor", outdoor, W300_PRIVATE_FACES["outdoor"]))
    return {
        w300_label(name, int(selected.sum()), official): selected
        for name, selected, official in candidates
        if selected.any()
    }


def subset_groups(samples: Sequence[Sample]) -> dict[str, np.ndarray]:
    """Subsets worth reporting: each sample ``subset``, each WFLW attribute, and the 300W test
    groups present (``w300_groups``)."""
    subsets = np.array([s.subset for s in samples])
    groups: dict[str, np.ndarray] = {}
    names = sorted(set(subsets.tolist()) - {""})
    if len(names) > 1:
        for name in names:
            groups[name] = subsets == name
    groups.update(w300_groups(samples))
    attributes = sorted({a for s in samples for a in s.attributes})
    for attribute in attributes:
        groups[attribute] = np.array([bool(s.attributes.get(attribute)) for s in samples])
    return groups


def evaluate_samples(
    pred: np.ndarray,
    samples: Sequence[Sample],
    normaliser: Normaliser | None = None,
    threshold: float = 0.1,
    visible_only: bool = False,
    mask: np.ndarray | None = None,
    detected: np.ndarray | None = None,
) -> Evaluation:
    """Evaluate predictions in original image coordinates against the samples' ground truth.

    ``normaliser`` None is the scheme's usual one (``default_normaliser``: the torso for
    bodies, the inter-ocular distance for faces). ``mask`` (N, K) restricts the landmarks
    evaluated (cross-scheme common points); ``visible_only`` further drops the points annotated
    as occluded, which body schemes always do (their invisible joints may be placeholders).
    With the torso normaliser, images whose torso size is undefined (a torso joint invisible,
    or a torso under ``MIN_NORMALISER`` pixels) are left out and counted (``left_out``).
    """
    gt = np.stack([s.points for s in samples])
    scheme = samples[0].scheme
    if normaliser is None:
        normaliser = default_normaliser(scheme)
    check_normaliser(scheme, normaliser)
    boxes = None
    if normaliser in (Normaliser.BOX, Normaliser.BOX_DIAGONAL):
        boxes = np.stack([s.box if s.box is not None else s.landmark_box() for s in samples])
    norm = normalising_distance(gt, scheme, normaliser, boxes)
    visible = np.stack(
        [s.visible if s.visible is not None else np.ones(len(s.points), bool) for s in samples]
    )
    keep = np.ones(len(samples), bool)
    if normaliser is Normaliser.TORSO and scheme.torso is not None:
        a, b = scheme.torso
        keep = visible[:, a] & visible[:, b] & np.isfinite(norm) & (norm >= MIN_NORMALISER)
        if not keep.any():
            raise DataError(
                _where(samples[0]),
                f"no image of these {len(samples)} has a torso size (both torso joints visible "
                "and apart): PCK cannot be normalised",
            )
    bad = np.flatnonzero(keep & ~(np.isfinite(norm) & (norm > 0)))
    if bad.size:
        sample = samples[int(bad[0])]
        raise DataError(
            _where(sample),
            f"the {normaliser.value} normalising distance of this face is {norm[bad[0]]:g}: "
            "its errors cannot be normalised (degenerate annotation?)",
        )
    if visible_only or is_body_scheme(scheme):
        mask = visible if mask is None else mask & visible
    if not keep.all():
        samples = [s for s, kept in zip(samples, keep, strict=True) if kept]
        gt, pred = gt[keep], np.asarray(pred)[keep]
        boxes = None if boxes is None else boxes[keep]
        mask = None if mask is None else np.asarray(mask)[keep]
        detected = None if detected is None else np.asarray(detected)[keep]
    if mask is not None:
        empty = np.flatnonzero(~np.asarray(mask, dtype=bool).any(axis=1))
        if empty.size:
            raise DataError(
                _where(samples[int(empty[0])]),
                "no landmark of this face is scored (all occluded under --visible-only, or "
                "no point shared with the predicted scheme)",
            )
    return evaluate_points(
        pred,
        gt,
        scheme,
        normaliser,
        threshold,
        boxes,
        mask,
        subset_groups(samples),
        detected,
        left_out=int((~keep).sum()),
    )


def _where(sample: Sample) -> str:
    """The file (and line) a sample came from, for error messages."""
    return sample.source or str(sample.image_path or "<sample>")


def _finite_or_none(value: float) -> float | None:
    """``value``, or None when it is NaN (JSON has no NaN)."""
    return value if np.isfinite(value) else None
