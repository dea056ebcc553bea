"""LandmarkDataset, EpochSampler and the seeded hold-out split."""

import numpy as np
import pytest
import torch

from heatmark.data.augment import AugmentConfig
from heatmark.data.dataset import EpochSampler, LandmarkDataset
from heatmark.data.sample import Sample
from heatmark.data.split import holdout_split
from heatmark.schemes import FACE_68


def _sample(seed: int, subset: str = "a") -> Sample:
    rng = np.random.default_rng(seed)
    image = np.zeros((120, 160, 3), np.uint8)
    points = rng.uniform([40, 30], [120, 100], size=(68, 2))
    # mark point 36 with a bright pixel so the crop can be checked against the points
    x, y = np.round(points[36]).astype(int)
    points[36] = [x, y]
    image[y, x] = 255
    return Sample(points=points, scheme=FACE_68, image=image, subset=subset, source=f"test:{seed}")


def test_crop_without_augmentation_is_deterministic_and_aligned() -> None:
    samples = [_sample(i) for i in range(3)]
    dataset = LandmarkDataset(samples, 64, augment=None, enlarge=1.25)
    item = dataset[1]
    assert item["image"].shape == (3, 64, 64) and item["image"].dtype == torch.uint8
    assert item["points"].shape == (68, 2)
    # the tight landmark box is centred in the crop and spans 64 / 1.25 pixels
    pts = item["points"].numpy()
    centre = (pts.min(0) + pts.max(0)) / 2
    np.testing.assert_allclose(centre, [31.5, 31.5], atol=1e-4)
    assert (pts.max(0) - pts.min(0)).max() == pytest.approx(64 / 1.25, rel=1e-5)
    # matrix maps the original points to the crop points
    m = item["matrix"].numpy()
    np.testing.assert_allclose(samples[1].points @ m[:2, :2].T + m[:2, 2], pts, atol=1e-4)
    second = dataset[1]
    assert np.array_equal(item["image"].numpy(), second["image"].numpy())


def test_augmentation_depends_on_seed_epoch_and_index_only() -> None:
    samples = [_sample(i) for i in range(4)]
    config = AugmentConfig()
    a = LandmarkDataset(samples, 64, config, seed=3)
    b = LandmarkDataset(samples, 64, config, seed=3)
    n = len(samples)
    # same (epoch, index) -> same item; item index encodes epoch * n + index
    assert np.array_equal(a[2 * n + 1]["image"].numpy(), b[2 * n + 1]["image"].numpy())
    assert np.array_equal(a[2 * n + 1]["points"].numpy(), b[2 * n + 1]["points"].numpy())
    assert not np.array_equal(a[1]["points"].numpy(), a[n + 1]["points"].numpy())
    assert a[n + 1]["index"].item() == 1


def test_flip_augmentation_permutes_points() -> None:
    sample = _sample(0)
    always = AugmentConfig(
        rotation_deg=0,
        translation_px=0,
        scale=0,
        flip_probability=1,
        blur_probability=0,
        noise_probability=0,
        occlusion_probability=0,
        colour_probability=0,
    )
    plain = LandmarkDataset([sample], 64)[0]["points"].numpy()
    flipped = LandmarkDataset([sample], 64, always)[0]["points"].numpy()
    # the new left outer eye corner (36) is the mirror image of the old right one (45)
    np.testing.assert_allclose(flipped[36], [63 - plain[45, 0], plain[45, 1]], atol=1e-4)
    np.testing.assert_allclose(flipped, FACE_68.flip_points(plain, 64), atol=1e-4)


GEOMETRY_ONLY = AugmentConfig(
    blur_probability=0, noise_probability=0, occlusion_probability=0, colour_probability=0
)
"""The paper's rotation (+-50 deg), scale (+-15 %), translation and flip, no pixel changes."""


def _dotted_face(seed: int) -> Sample:
    """A face whose outer eye corners carry a red (point 36) and a green (point 45) Gaussian
    dot, centred exactly on the (sub-pixel) landmark, on a black image."""
    rng = np.random.default_rng(seed)
    points = rng.uniform([60, 50], [100, 90], size=(68, 2))
    points[36] = rng.uniform([60, 60], [70, 70])
    points[45] = rng.uniform([90, 60], [100, 70])
    ys, xs = np.mgrid[0:140, 0:160]
    image = np.zeros((140, 160, 3), np.uint8)
    for index, channel in ((36, 0), (45, 1)):
        x, y = points[index]
        image[..., channel] = np.rint(255 * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / 4.5))
    return Sample(points=points, scheme=FACE_68, image=image, source=f"dots:{seed}")


def _dot_centre(channel: np.ndarray) -> np.ndarray:
    """Intensity-weighted centre (x, y) of the bright blob of one (S, S) channel."""
    weights = np.where(channel > 0.2 * channel.max(), channel.astype(np.float64), 0.0)
    ys, xs = np.nonzero(weights)
    mass = weights[ys, xs]
    return np.array([xs @ mass, ys @ mass]) / mass.sum()


def test_augmented_crops_stay_on_their_points() -> None:
    """The dot drawn at a landmark must follow that landmark through rotation, scale,
    translation and flips: within 0.3 px of the item's point in every augmented crop. A flip
    also permutes the points, so the red dot (old 36) is then at the new point 45."""
    samples = [_dotted_face(seed) for seed in range(4)]
    dataset = LandmarkDataset(samples, 64, GEOMETRY_ONLY, seed=5)
    flips, worst, angles = 0, 0.0, []
    for item_index in range(40 * len(samples)):  # 40 epochs of 4 faces
        item = dataset[item_index]
        image = item["image"].numpy().transpose(1, 2, 0)
        points = item["points"].numpy()
        corners = points[[36, 45]]
        if (corners < 4).any() or (corners > 59).any():
            continue  # a dot cut by the crop's border (the translation pushed it out)
        red, green = _dot_centre(image[..., 0]), _dot_centre(image[..., 1])
        flipped = np.linalg.norm(red - points[45]) < np.linalg.norm(red - points[36])
        flips += flipped
        red_at, green_at = (45, 36) if flipped else (36, 45)
        error = max(np.linalg.norm(red - points[red_at]), np.linalg.norm(green - points[green_at]))
        worst = max(worst, error)
        assert error < 0.3, (item_index, red, points[red_at], green, points[green_at])
        # a flipped crop shows the red (old right-eye) dot right of the green one
        assert (red[0] > green[0]) == flipped or abs(red[0] - green[0]) < 3
        direction = points[45] - points[36] if not flipped else points[36] - points[45]
        angles.append(np.degrees(np.arctan2(direction[1], direction[0])))
    assert 40 < flips < 120, flips  # about half of the items
    assert 0 < worst < 0.3  # the check ran
    spread = np.ptp(np.asarray(angles) - np.median(angles))
    assert spread > 60  # the augmentation really rotated (up to +-50 degrees)


def test_dataset_rejects_mixed_schemes_and_empty() -> None:
    from heatmark.schemes import COFW_29

    other = Sample(points=np.zeros((29, 2)), scheme=COFW_29, image=np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="several landmark schemes"):
        LandmarkDataset([_sample(0), other], 64)
    with pytest.raises(ValueError, match="empty"):
        LandmarkDataset([], 64)


def test_epoch_sampler_shards_and_shuffles() -> None:
    size = 10
    ranks = [EpochSampler(size, seed=1, rank=r, world=2) for r in range(2)]
    for sampler in ranks:
        sampler.set_epoch(3)
    items = [list(sampler) for sampler in ranks]
    assert len(items[0]) == len(items[1]) == 5
    indices = sorted(i - 3 * size for i in items[0] + items[1])
    assert indices == list(range(size))  # disjoint and complete
    again = EpochSampler(size, seed=1, rank=0, world=2)
    again.set_epoch(3)
    assert list(again) == items[0]
    odd = EpochSampler(7, seed=0, rank=1, world=2)
    assert len(list(odd)) == len(odd) == 4  # padded by wrapping


def test_holdout_split_is_seeded_and_order_independent() -> None:
    samples = [_sample(i, "helen/trainset" if i % 2 else "afw") for i in range(40)]
    train, val = holdout_split(samples, 0.1, seed=0, subset="helen/trainset")
    assert len(val) == 2 and len(train) == 38
    assert all(s.subset == "helen/trainset" for s in val)
    _, again_val = holdout_split(list(reversed(samples)), 0.1, seed=0, subset="helen/trainset")
    assert {s.source for s in again_val} == {s.source for s in val}
    _, other = holdout_split(samples, 0.5, seed=1, subset="helen/trainset")
    assert len(other) == 10
    with pytest.raises(ValueError, match="no sample in subset"):
        holdout_split(samples, 0.1, subset="ibug")
    with pytest.raises(ValueError, match="fraction"):
        holdout_split(samples, 1.5)
