"""Label noise (AWing supplementary, Table 11): a seeded fraction of training points shifted."""

from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_config

from heatmark.data.synthetic import synthetic_faces
from heatmark.errors import ConfigError
from heatmark.train.config import load_config
from heatmark.train.data import add_label_noise, face_scale, training_samples
from heatmark.train.trainer import Trainer


@pytest.fixture(scope="module")
def faces():
    return synthetic_faces(10, seed=5, size=64)


@pytest.mark.parametrize("fraction, shift", [(0.1, 0.1), (0.2, 0.2), (0.3, 0.3), (0.013, 0.5)])
def test_exact_count_moves_by_exact_distance(faces, fraction: float, shift: float) -> None:
    before = [s.points.copy() for s in faces]
    noisy = add_label_noise(faces, fraction, shift, seed=1)
    total = sum(len(s.points) for s in faces)
    moved = 0
    for sample, clean, points in zip(noisy, faces, before, strict=True):
        assert np.array_equal(clean.points, points)  # the input is untouched
        distance = np.linalg.norm(sample.points - clean.points, axis=1)
        changed = distance > 0
        moved += int(changed.sum())
        # the shift is in inter-ocular distances (outer eye corners 36 and 45 of 68 points),
        # computed here independently of the module's own face_scale
        iod = float(np.hypot(*(clean.points[36] - clean.points[45])))
        np.testing.assert_allclose(distance[changed], shift * iod, rtol=0, atol=1e-9)
        assert face_scale(clean) == pytest.approx(iod)
        if changed.any():
            assert sample is not clean
            assert sample.image is clean.image and sample.subset == clean.subset
    assert moved == round(fraction * total)


def test_deterministic_per_seed(faces) -> None:
    a = add_label_noise(faces, 0.2, 0.2, seed=7)
    b = add_label_noise(faces, 0.2, 0.2, seed=7)
    c = add_label_noise(faces, 0.2, 0.2, seed=8)
    assert all(np.array_equal(x.points, y.points) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x.points, y.points) for x, y in zip(a, c, strict=True))


def test_directions_are_spread(faces) -> None:
    noisy = add_label_noise(faces, 0.5, 0.1, seed=0)
    moves = np.concatenate([n.points - s.points for n, s in zip(noisy, faces, strict=True)])
    moves = moves[np.linalg.norm(moves, axis=1) > 0]
    angles = np.arctan2(moves[:, 1], moves[:, 0])
    counts, _ = np.histogram(angles, bins=4, range=(-np.pi, np.pi))
    assert counts.min() > 0.15 * len(angles)


@pytest.mark.parametrize("fraction, shift", [(0.0, 0.3), (0.3, 0.0)])
def test_zero_is_identity(faces, fraction: float, shift: float) -> None:
    noisy = add_label_noise(faces, fraction, shift, seed=0)
    assert len(noisy) == len(faces)
    assert all(np.array_equal(n.points, s.points) for n, s in zip(noisy, faces, strict=True))


def test_config_default_off_and_validated() -> None:
    config = load_config(None)
    assert config.data.label_noise.fraction == 0 and config.data.label_noise.shift == 0
    set_ = load_config(None, ["data.label_noise.fraction=0.1", "data.label_noise.shift=0.1"])
    assert set_.data.label_noise.fraction == 0.1
    for key in ("fraction", "shift"):
        for bad in ("-0.1", "1.5"):
            with pytest.raises(ConfigError, match=rf"data\.label_noise\.{key}"):
                load_config(None, [f"data.label_noise.{key}={bad}"])
    with pytest.raises(ConfigError, match=r"data\.label_noise\.fractoin"):
        load_config(None, ["data.label_noise.fractoin=0.1"])


def test_training_samples_noise_only_the_training_part(tmp_path: Path) -> None:
    clean = tiny_config(tmp_path)
    noisy = tiny_config(tmp_path, data={"label_noise": {"fraction": 0.3, "shift": 0.3}})
    clean_train, clean_val = training_samples(clean)
    noisy_train, noisy_val = training_samples(noisy)
    for a, b in zip(clean_val, noisy_val, strict=True):
        assert np.array_equal(a.points, b.points)
    moved = sum(
        int((np.linalg.norm(a.points - b.points, axis=1) > 0).sum())
        for a, b in zip(clean_train, noisy_train, strict=True)
    )
    assert moved == round(0.3 * 68 * len(clean_train))


def test_trainer_trains_with_label_noise(tmp_path: Path) -> None:
    config = tiny_config(
        tmp_path,
        data={"label_noise": {"fraction": 0.2, "shift": 0.2}},
        schedule={"epochs": 1, "milestones": []},
    )
    trainer = Trainer(config)
    result = trainer.fit()
    assert result.losses and all(np.isfinite(result.losses))
