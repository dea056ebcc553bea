"""``LandmarkDataset``: samples -> cropped (and, for training, augmented) network inputs.

Each item is cropped from the sample's face box (the dataset's box, or the tight box of the
ground-truth points: the usual "GT box" protocol), warped once with the augmentation folded into
the same matrix, and returned with the points in input pixels and the matrix that maps original
image coordinates to input coordinates (so predictions can be mapped back). Heatmap targets are
not made here: the trainer encodes whole batches on the training device with the codec.

Augmentation randomness is a pure function of (seed, epoch, index), so a run is reproducible
whatever the number of data-loader workers and can be resumed at any epoch exactly. The sampler
passes ``epoch * len(dataset) + index`` as the item index (see ``EpochSampler``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

from heatmark.data.augment import AugmentConfig, random_geometry, random_photometric
from heatmark.data.geometry import box_crop_matrix, transform_points, warp_image
from heatmark.data.sample import Sample
from heatmark.errors import HeatmarkError


def face_box(sample: Sample, use_dataset_box: bool = False) -> np.ndarray:
    """The box a crop is taken from: the dataset's box if asked for and present, else the tight
    box of the ground-truth points."""
    if use_dataset_box and sample.box is not None:
        return sample.box
    return sample.landmark_box()


class LandmarkDataset(Dataset):
    """Crops (and augments) samples for a network with a square ``input_size`` input.

    Items are dicts of tensors: ``image`` (3, S, S) uint8 RGB, ``points`` (K, 2) float32 input
    pixels, ``visible`` (K,) bool, ``matrix`` (3, 3) float64 original -> input, ``index``.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        input_size: int,
        augment: AugmentConfig | None = None,
        enlarge: float = 1.25,
        seed: int = 0,
        use_dataset_box: bool = False,
    ) -> None:
        if not samples:
            raise ValueError("the dataset is empty")
        schemes = {s.scheme.name for s in samples}
        if len(schemes) > 1:
            raise ValueError(
                f"samples of several landmark schemes in one dataset: {sorted(schemes)}"
            )
        self.samples = list(samples)
        self.scheme = self.samples[0].scheme
        self.input_size = input_size
        self.augment = augment
        self.enlarge = enlarge
        self.seed = seed
        self.use_dataset_box = use_dataset_box

    def __len__(self) -> int:
        return len(self.samples)

    def crop_matrix(self, sample: Sample) -> np.ndarray:
        """Original image -> input pixels, before augmentation."""
        return box_crop_matrix(
            face_box(sample, self.use_dataset_box), self.input_size, self.enlarge
        )

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        epoch, index = divmod(int(item), len(self.samples))
        sample = self.samples[index]
        image = sample.load_image()
        matrix = self.crop_matrix(sample)
        points = sample.points
        visible = sample.visible if sample.visible is not None else np.ones(len(points), bool)
        rng = None
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, epoch, index])
            augmentation, flipped = random_geometry(rng, self.input_size, self.augment)
            matrix = augmentation @ matrix
            if flipped:
                order = list(self.scheme.flip_permutation)
                points, visible = points[order], visible[order]
        crop = warp_image(image, matrix, self.input_size)
        if rng is not None:
            crop = random_photometric(rng, crop, self.augment)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1))),
            "points": torch.from_numpy(transform_points(matrix, points).astype(np.float32)),
            "visible": torch.from_numpy(np.asarray(visible, dtype=bool)),
            "matrix": torch.from_numpy(matrix),
            "index": torch.tensor(index),
        }


class EpochSampler(Sampler[int]):
    """Yields ``epoch * n + i`` item indices: a seeded shuffle per epoch, sharded across ranks.

    With several ranks (DistributedDataParallel) each rank takes every ``world``-th index of the
    same permutation, padded by wrapping so all ranks run the same number of steps.
    """

    def __init__(
        self, size: int, seed: int = 0, shuffle: bool = True, rank: int = 0, world: int = 1
    ) -> None:
        self.size, self.seed, self.shuffle = size, seed, shuffle
        self.rank, self.world = rank, world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self) -> np.ndarray:
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch, 7]).permutation(self.size)
        else:
            order = np.arange(self.size)
        per_rank = -(-self.size // self.world)
        order = np.resize(order, per_rank * self.world)
        return order[self.rank :: self.world]

    def __iter__(self) -> Iterator[int]:
        return iter((self.epoch * self.size + self.indices()).tolist())

    def __len__(self) -> int:
        return -(-self.size // self.world)


class ItemError:
    """A ``HeatmarkError`` raised while loading an item, carried as data to the main process.

    torch re-raises a worker's exception as ``type(error)(traceback_text)``, or as a
    ``RuntimeError`` with the whole worker traceback when that constructor fails (``DataError``
    needs a path): returning the error as an item keeps its type and one-line message.
    """

    def __init__(self, error: HeatmarkError) -> None:
        self.error = error


class _CarryErrors(Dataset):
    """``dataset``, with a ``HeatmarkError`` of an item returned as an ``ItemError``."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, item: int) -> Any:
        try:
            return self.dataset[item]
        except HeatmarkError as error:
            return ItemError(error)


def _collate(items: list[Any]) -> Any:
    """The default collation, or the first ``ItemError`` of the batch."""
    for item in items:
        if isinstance(item, ItemError):
            return item
    return default_collate(items)


class ErrorCarryingLoader(DataLoader):
    """A ``DataLoader`` that re-raises a ``HeatmarkError`` of a worker as itself in the main
    process (same type and message), instead of torch's ``RuntimeError`` with a traceback.

    ``self.dataset`` is a wrapper (the given dataset is ``self.dataset.dataset``); batches are
    collated by torch's default collation.
    """

    def __init__(self, dataset: Dataset, **options: Any) -> None:
        if "collate_fn" in options:
            raise TypeError("ErrorCarryingLoader uses the default collation")
        super().__init__(_CarryErrors(dataset), collate_fn=_collate, **options)

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        batches = super().__iter__()
        for batch in batches:
            if isinstance(batch, ItemError):
                # Stop the workers now: left to the garbage collector (the error's traceback
                # keeps them), torch waits 5 s for each. Persistent ones restart next time.
                self._iterator = None
                shutdown = getattr(batches, "_shutdown_workers", None)
                if shutdown is not None:
                    shutdown()
                raise batch.error
            yield batch
