"""Training and validation samples from a config: a dataset on disk or synthetic faces."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from heatmark.data.readers.auto import load_dataset
from heatmark.data.sample import Sample
from heatmark.data.split import run_holdout
from heatmark.data.synthetic import synthetic_faces
from heatmark.train.config import Config

SYNTHETIC = "synthetic"


def training_samples(config: Config) -> tuple[list[Sample], list[Sample]]:
    """(train, validation) samples. A dataset without a separate validation set gets a seeded
    hold-out (``val_fraction`` of ``val_subset``), fixed by the seed, never tuned on.
    ``data.label_noise`` then moves some training points (``add_label_noise``, seeded by the
    config seed); validation samples are never touched."""
    train, val = _clean_samples(config)
    noise = config.data.label_noise
    if noise.fraction > 0 and noise.shift > 0:
        train = add_label_noise(train, noise.fraction, noise.shift, config.seed)
    return train, val


def _clean_samples(config: Config) -> tuple[list[Sample], list[Sample]]:
    data = config.data
    if data.train == SYNTHETIC:
        train = synthetic_faces(data.synthetic_count, seed=config.seed, size=data.input_size)
        val = synthetic_faces(
            data.synthetic_val_count, seed=config.seed + 10_000, size=data.input_size
        )
        return train, val
    samples = load_dataset(Path(data.train))
    if data.val is not None:
        return samples, load_dataset(Path(data.val))
    return validation_split(samples, config)


def face_scale(sample: Sample) -> float:
    """The distance label noise is measured in: the inter-ocular (outer-eye-corner) distance of
    schemes that define the eyes, else the geometric mean of the landmark box's sides."""
    pair = sample.scheme.outer_eye_corners
    if pair is not None:
        a, b = pair
        return float(np.linalg.norm(sample.points[a] - sample.points[b]))
    low, high = sample.points.min(axis=0), sample.points.max(axis=0)
    return float(math.sqrt(max(high[0] - low[0], 0.0) * max(high[1] - low[1], 0.0)))


def add_label_noise(
    samples: Sequence[Sample], fraction: float, shift: float, seed: int
) -> list[Sample]:
    """Copies of ``samples`` with annotation noise (AWing supplementary, Table 11).

    ``round(fraction * total points)`` points, drawn without replacement uniformly over all
    (sample, point) pairs, each move by ``shift`` times their face's inter-ocular distance
    (``face_scale``, measured on the clean points) in a uniformly random direction. The paper's
    "10/10" is ``fraction=0.1, shift=0.1``. Deterministic per ``seed``; the inputs are not
    modified (moved samples are new ``Sample`` objects, the others are returned as they are).
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"label noise fraction must be within [0, 1], got {fraction}")
    if shift < 0:
        raise ValueError(f"label noise shift must be non-negative, got {shift}")
    samples = list(samples)
    counts = np.array([len(s.points) for s in samples], dtype=np.int64)
    total = int(counts.sum())
    chosen = round(fraction * total)
    if chosen == 0 or shift == 0:
        return samples
    rng = np.random.default_rng([seed, 0x1ABE1])
    flat = np.sort(rng.choice(total, size=chosen, replace=False))
    angles = rng.uniform(0.0, 2.0 * math.pi, size=chosen)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    owner = np.searchsorted(starts, flat, side="right") - 1
    noisy = list(samples)
    for index in np.unique(owner):
        sample = samples[index]
        mine = owner == index
        points = sample.points.copy()
        rows = flat[mine] - starts[index]
        step = shift * face_scale(sample)
        theta = angles[mine]
        points[rows, 0] += step * np.cos(theta)
        points[rows, 1] += step * np.sin(theta)
        noisy[index] = dataclasses.replace(sample, points=points)
    return noisy


def validation_split(samples: list[Sample], config: Config) -> tuple[list[Sample], list[Sample]]:
    """The seeded (train, validation) hold-out a run with ``config`` uses on ``samples``
    (``heatmark.data.split.run_holdout``)."""
    data = config.data
    return run_holdout(samples, data.val_fraction, config.seed, data.val_subset)


def uses_300w(samples: list[Sample]) -> bool:
    """Whether the samples carry iBUG 300-W annotations (their terms follow the model)."""
    return any(s.scheme.name == "300w-68" and s.subset != "synthetic" for s in samples)
