"""The CPU recipes' hold-out as two folders, so every seed trains and is scored on the same faces.

A training run's seed also picks its hold-out (``heatmark.data.split.run_holdout``): seed 1 of
the ``cpu_shipped_300w`` recipe would hold out other faces than seed 0. The grid wants the
seed to change only the initialisation and the augmentation, so it writes the seed-0 hold-out
(``val_fraction 0.1`` of ``helen/trainset``: 87 of the 2,012 faces of ../shared/data/300w) once
as ``train/`` and ``val/`` trees of symbolic links to the original files (same relative layout,
so subsets and sample order are unchanged), and every run sets ``data.train`` / ``data.val`` to
them. ``split.json`` lists the held-out faces; the folders are rebuilt when it no longer matches.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from heatmark.data.readers.auto import load_dataset
from heatmark.data.sample import Sample
from heatmark.data.split import run_holdout
from heatmark.errors import DataError

VAL_FRACTION = 0.1
SPLIT_SEED = 0
VAL_SUBSET = "helen/trainset"
MANIFEST = "split.json"


def _relative(sample: Sample, root: Path) -> list[Path]:
    """The files of a sample (annotation and image), relative to the dataset root."""
    files = [Path(sample.source)]
    if sample.image_path is not None:
        files.append(Path(sample.image_path))
    out = []
    for path in files:
        try:
            out.append(Path(os.path.abspath(path)).relative_to(root))
        except ValueError:
            raise DataError(path, f"not inside the dataset folder {root}") from None
    return out


def _link_tree(samples: list[Sample], root: Path, target: Path) -> None:
    for sample in samples:
        for relative in _relative(sample, root):
            link = target / relative
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(root / relative, link)


def materialise_holdout(data: Path, folder: Path) -> tuple[Path, Path]:
    """``(train, val)`` folders of ``data``'s seed-0 hold-out under ``folder``: made, reused
    when ``split.json`` says they hold the same split of the same dataset, relinked when only
    the dataset's place changed. Another hold-out than the one the folder was made with is a
    ``DataError`` (its runs were trained on it)."""
    data = Path(data)
    if not data.is_dir():
        raise DataError(data, "no such dataset folder (give --data, e.g. ../shared/data/300w)")
    root = Path(os.path.abspath(data))
    samples = load_dataset(data)
    subset = VAL_SUBSET if any(s.subset == VAL_SUBSET for s in samples) else None
    train, val = run_holdout(samples, VAL_FRACTION, SPLIT_SEED, subset)
    manifest = {
        "format": "heatmark-reproduce-split",
        "version": 1,
        "dataset": str(root),
        "seed": SPLIT_SEED,
        "val_fraction": VAL_FRACTION,
        "val_subset": subset,
        "train_faces": len(train),
        "val_faces": len(val),
        "val": [str(_relative(s, root)[0]) for s in val],
    }
    train_dir, val_dir = folder / "train", folder / "val"
    path = folder / MANIFEST
    try:
        current = json.loads(path.read_text()) if path.is_file() else None
    except (OSError, json.JSONDecodeError):
        current = None
    if current == manifest and train_dir.is_dir() and val_dir.is_dir():
        return train_dir, val_dir
    if current is not None and current.get("val") != manifest["val"]:
        raise DataError(
            path,
            f"the runs here were trained with another hold-out than {data} gives now; use "
            "another --runs folder (or remove this one)",
        )
    for stale in (train_dir, val_dir):
        if stale.exists():
            shutil.rmtree(stale)
    _link_tree(train, root, train_dir)
    _link_tree(val, root, val_dir)
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    return train_dir, val_dir
