"""Training and validation samples from a config: a dataset on disk or synthetic faces."""

from __future__ import annotations

from pathlib import Path

from heatmark.data.readers.auto import load_dataset
from heatmark.data.sample import Sample
from heatmark.data.split import holdout_split
from heatmark.data.synthetic import synthetic_faces
from heatmark.errors import ConfigError
from heatmark.train.config import AUTO_SUBSET, Config

SYNTHETIC = "synthetic"
AUTO_SUBSET_CHOICE = "helen/trainset"
"""What ``data.val_subset: auto`` holds out from when the dataset has it (300-W)."""


def training_samples(config: Config) -> tuple[list[Sample], list[Sample]]:
    """(train, validation) samples. A dataset without a separate validation set gets a seeded
    hold-out (``val_fraction`` of ``val_subset``), fixed by the seed, never tuned on."""
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


def validation_split(samples: list[Sample], config: Config) -> tuple[list[Sample], list[Sample]]:
    """The seeded (train, validation) hold-out a run with ``config`` uses on ``samples``.

    ``data.val_subset``: ``auto`` is helen/trainset when present, else all samples; ``None`` is
    all samples; a named subset the samples lack is a ``ConfigError`` (a typo would otherwise
    silently hold out from everything).
    """
    subset = config.data.val_subset
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
    return holdout_split(samples, config.data.val_fraction, seed=config.seed, subset=subset)


def uses_300w(samples: list[Sample]) -> bool:
    """Whether the samples carry iBUG 300-W annotations (their terms follow the model)."""
    return any(s.scheme.name == "300w-68" and s.subset != "synthetic" for s in samples)
