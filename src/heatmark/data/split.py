"""A fixed, seeded validation split (the data sets here have no test split on purpose)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from heatmark.data.sample import Sample


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
