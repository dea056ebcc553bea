"""A fixed, seeded validation split (the data sets here have no test split on purpose)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from heatmark.data.sample import Sample
from heatmark.errors import ConfigError

AUTO_SUBSET = "auto"
"""``data.val_subset: auto``: hold out from ``AUTO_SUBSET_CHOICE`` when the dataset has it."""
AUTO_SUBSET_CHOICE = "helen/trainset"


def holdout_split(
    samples: Sequence[Sample], fraction: float = 0.1, seed: int = 0, subset: str | None = None
) -> tuple[list[Sample], list[Sample]]:
    """Split into (train, validation): a seeded ``fraction`` of the samples of ``subset`` (all
    samples if None) is held out. The choice depends only on the seed and the sorted sample
    sources, not on the order the samples come in."""
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    pool = [i for i, s in enumerate(samples) if subset is None or s.subset == subset]
    if not pool:
        found = sorted({s.subset for s in samples})
        raise ValueError(f"no sample in subset {subset!r} to hold out (subsets: {found})")
    pool.sort(key=lambda i: (samples[i].source, str(samples[i].image_path)))
    count = max(1, round(fraction * len(pool)))
    chosen = set(np.random.default_rng(seed).permutation(len(pool))[:count].tolist())
    held = {pool[j] for j in chosen}
    train = [s for i, s in enumerate(samples) if i not in held]
    val = [s for i, s in enumerate(samples) if i in held]
    return train, val


def run_holdout(
    samples: Sequence[Sample], fraction: float, seed: int, subset: str | None
) -> tuple[list[Sample], list[Sample]]:
    """The (train, validation) hold-out of a training run with ``data.val_fraction``,
    ``seed`` and ``data.val_subset``: the one rule training and ``heatmark eval --split`` share.

    ``auto`` is helen/trainset when present, else all samples; ``None`` is all samples; a named
    subset the samples lack is a ``ConfigError`` (a typo would otherwise silently hold out from
    everything).
    """
    present = {s.subset for s in samples}
    if subset == AUTO_SUBSET:
        subset = AUTO_SUBSET_CHOICE if AUTO_SUBSET_CHOICE in present else None
    elif subset is not None and subset not in present:
        names = sorted(present)
        listed = ", ".join(repr(n) for n in names[:12]) + (", ..." if len(names) > 12 else "")
        raise ConfigError(
            f"data.val_subset: no sample of subset {subset!r} in the dataset; its subsets are "
            f"{listed} (or use auto, or null for the whole dataset)"
        )
    return holdout_split(samples, fraction, seed=seed, subset=subset)
