"""Scoring for ``heatmark eval``: a checkpoint run over a dataset, or any predictor's files.

Both paths end in the same ``Evaluation`` (same tables, JSON and plots). Arguments a user types
are checked here, before any metric is computed, so a bad value is an error and never a number:
the threshold must be a positive finite number, and with ``--norm none`` (errors in pixels) it
must be given in pixels. A normaliser of None is the ground truth's scheme's usual one
(``metrics.default_normaliser``: torso for bodies, inter-ocular for faces).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

import numpy as np

from heatmark.codec import Decoding
from heatmark.data.sample import Sample
from heatmark.data.split import run_holdout
from heatmark.errors import DataError, HeatmarkError
from heatmark.evaluate.cross_scheme import to_ground_truth_scheme
from heatmark.evaluate.evaluation import Evaluation, evaluate_samples
from heatmark.evaluate.metrics import Normaliser
from heatmark.models.landmark_model import LandmarkModel
from heatmark.schemes import Scheme

DEFAULT_THRESHOLD = 0.1
"""Failure threshold / AUC limit as a fraction of the normalising distance (the literature's)."""


class Split(str, Enum):
    """Which samples of a dataset a checkpoint is scored on."""

    ALL = "all"
    TRAIN = "train"
    VAL = "val"


def checked_threshold(threshold: float | None, normaliser: Normaliser | None) -> float:
    """The failure threshold to use: a positive finite number, in the unit of the errors.

    ``None`` means the default 0.1 (a fraction of the normaliser); with ``Normaliser.NONE`` the
    errors are pixels, where no default makes sense, so the caller must give one.
    """
    if threshold is None:
        if normaliser is Normaliser.NONE:
            raise HeatmarkError(
                "--norm none measures errors in pixels: give --threshold in pixels too "
                "(e.g. --threshold 5)"
            )
        return DEFAULT_THRESHOLD
    if not (math.isfinite(threshold) and threshold > 0):
        raise HeatmarkError(f"--threshold must be a positive finite number, got {threshold}")
    return float(threshold)


@dataclass
class Scored:
    """An evaluation plus what the user should be told about how it was made."""

    evaluation: Evaluation
    notes: list[str]


def score_aligned(
    points: np.ndarray,
    predicted_scheme: Scheme,
    samples: Sequence[Sample],
    normaliser: Normaliser | None,
    threshold: float,
    visible_only: bool = False,
    detected: np.ndarray | None = None,
) -> Scored:
    """Score (N, K, 2) predictions in ``predicted_scheme`` against ``samples``' ground truth,
    on the points both schemes share when they differ (and say so). ``detected`` marks the
    faces a detector-based pipeline found (the others fail at every threshold)."""
    truth_scheme = samples[0].scheme
    aligned, mask = to_ground_truth_scheme(points, predicted_scheme, truth_scheme)
    notes = []
    if predicted_scheme != truth_scheme:
        shared = truth_scheme.num_points if mask is None else int(mask[0].sum())
        notes.append(
            f"{predicted_scheme.num_points}-point predictions ({predicted_scheme.name}) scored "
            f"on the {shared} points they share with the {truth_scheme.num_points}-point "
            f"ground truth ({truth_scheme.name})"
        )
    evaluation = evaluate_samples(
        aligned, samples, normaliser, threshold, visible_only, mask, detected
    )
    if detected is not None:
        notes.append(
            f"faces matched to detections by box overlap: {int(np.sum(detected))} of "
            f"{len(detected)} detected; NME over those, a missed face fails at every threshold"
        )
    evaluation.scored_points = (
        truth_scheme.num_points if mask is None else int(mask[0].sum()),
        predicted_scheme.name,
        truth_scheme.name,
    )
    return Scored(evaluation, notes)


def score_predictions(
    pred: Path,
    gt: Path,
    normaliser: Normaliser | None,
    threshold: float,
    visible_only: bool = False,
) -> Scored:
    """Score a predictor's ``.pts`` folder or JSON file against the dataset at ``gt``.

    A ``heatmark predict`` output (``heatmark-detections``) is matched face to face by box
    overlap and scored with its detection rate (``heatmark.evaluate.detections``)."""
    from heatmark.data.readers.auto import load_dataset
    from heatmark.data.readers.files import read_json
    from heatmark.evaluate.detections import is_detections_file, match_detections
    from heatmark.evaluate.prediction_file import read_prediction_file
    from heatmark.schemes import scheme_for

    samples = load_dataset(gt)
    pred = Path(pred)
    detected = None
    if pred.suffix.lower() == ".jsonl":  # heatmark predict --format jsonl
        from heatmark.predict.output import journal_document

        payload = journal_document(pred)
    else:
        payload = read_json(pred, "prediction file") if pred.suffix.lower() == ".json" else None
    if is_detections_file(payload):
        points, detected = match_detections(pred, payload, samples, root=gt)
    else:
        points = read_prediction_file(pred, samples, root=gt)
    return score_aligned(
        points, scheme_for(points.shape[1]), samples, normaliser, threshold, visible_only, detected
    )


def holdout_settings(checkpoint: Path) -> tuple[float, int, str | None]:
    """``(data.val_fraction, seed, data.val_subset)`` of the run that saved ``checkpoint``,
    read from its sidecar (plain JSON: no training code is needed to re-create the hold-out)."""
    from heatmark.models.checkpoint import checkpoint_stem, meta_path, read_metadata

    stem = checkpoint_stem(checkpoint)
    config = read_metadata(stem).get("config")
    data = config.get("data") if isinstance(config, dict) else None
    if not isinstance(data, dict):
        raise DataError(
            meta_path(stem), "no training config: --split cannot re-create the hold-out"
        )
    fraction, seed, subset = data.get("val_fraction"), config.get("seed"), data.get("val_subset")
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, int | float)
        or not 0 < fraction < 1
        or isinstance(seed, bool)
        or not isinstance(seed, int)
        or not (subset is None or isinstance(subset, str))
    ):
        raise DataError(
            meta_path(stem),
            "config.data.val_fraction / seed / data.val_subset are missing or invalid: "
            "--split cannot re-create the hold-out",
        )
    return float(fraction), seed, subset


def score_checkpoint(
    checkpoint: Path,
    data: Path,
    normaliser: Normaliser | None,
    threshold: float,
    visible_only: bool = False,
    decoding: Decoding | None = None,
    split: Split = Split.ALL,
    batch_size: int = 16,
    save_predictions: Path | None = None,
    flip: bool = False,
) -> Scored:
    """Run a trained checkpoint over the ground-truth box crops of ``data`` and score it.

    ``split`` selects the run's seeded hold-out (``val``), the rest (``train``) or everything;
    ``save_predictions`` writes the points as a heatmark JSON file ``heatmark eval --pred``
    reads back; ``flip`` averages each crop with its mirror image (test-time augmentation).
    """
    from heatmark.data.dataset import LandmarkDataset
    from heatmark.data.readers.auto import load_dataset
    from heatmark.evaluate.inference import predict_dataset
    from heatmark.evaluate.prediction_file import check_output_file, write_prediction_json
    from heatmark.models.checkpoint import load_landmark_model

    if batch_size < 1:
        raise HeatmarkError(f"--batch-size must be at least 1, got {batch_size}")
    if save_predictions is not None:
        check_output_file(save_predictions, ".json")
    model = load_landmark_model(checkpoint)
    if decoding is not None and decoding is not model.description.decoding:
        model = LandmarkModel(model.network, replace(model.description, decoding=decoding))
    samples = load_dataset(data)
    if split is not Split.ALL:  # the run's hold-out, re-created from its sidecar
        train_part, val_part = run_holdout(samples, *holdout_settings(checkpoint))
        samples = val_part if split is Split.VAL else train_part
    d = model.description
    dataset = LandmarkDataset(samples, d.input_size, None, d.enlarge)
    pred, scores = predict_dataset(model, dataset, batch_size=batch_size, flip=flip)
    if save_predictions is not None:
        write_prediction_json(save_predictions, samples, pred, scores, root=data)
    scored = score_aligned(pred, model.scheme, samples, normaliser, threshold, visible_only)
    if model.terms:
        scored.notes.insert(0, model.terms)
    return scored
