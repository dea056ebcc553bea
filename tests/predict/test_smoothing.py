"""One-Euro filter: passes the first sample, removes jitter, follows motion with bounded lag."""

from __future__ import annotations

import numpy as np
import pytest

from heatmark.predict.smoothing import OneEuroFilter, PointSmoother

FPS = 30.0


def run(smoother, samples: np.ndarray, fps: float = FPS) -> np.ndarray:
    return np.stack([smoother(x, i / fps) for i, x in enumerate(samples)])


def test_first_sample_passes_through_unchanged() -> None:
    x = np.array([[3.5, -2.0], [100.25, 7.0]])
    for smoother in (OneEuroFilter(1.0, 0.5), PointSmoother()):
        out = smoother(x, 12.0)
        np.testing.assert_array_equal(out, x)
        assert out is not x
    second = OneEuroFilter(1.0, 0.0)
    second(x, 0.0)
    assert not np.allclose(second(x + 10.0, 1 / FPS), x + 10.0)  # later samples are filtered


def test_constant_plus_noise_loses_most_variance() -> None:
    rng = np.random.default_rng(0)
    truth = rng.uniform(0, 200, size=(20, 2))
    noisy = truth + rng.normal(0, 2.0, size=(300, 20, 2))
    for smoother, factor in ((OneEuroFilter(1.0, 0.0), 8.0), (PointSmoother(), 4.0)):
        out = run(smoother, noisy)[30:]  # past the start-up transient
        reduction = noisy[30:].var(axis=0).mean() / out.var(axis=0).mean()
        assert reduction > factor
        assert np.abs(out.mean(axis=0) - truth).max() < 1.0  # no bias


def test_beta_bounds_the_lag_on_a_ramp() -> None:
    """A face moving 1 face size per second: beta cuts the lag from frames to a fraction."""
    rng = np.random.default_rng(1)
    template = rng.uniform(0, 200, size=(30, 2))
    steps = np.arange(90)
    truth = template[None] + np.stack([200.0 * steps / FPS, 0 * steps], axis=1)[:, None, :]
    lags = {}
    for beta in (0.0, 5.0):
        out = run(PointSmoother(beta=beta), truth)
        lags[beta] = float((truth - out)[45:, :, 0].mean())
    frame_motion = 200.0 / FPS
    assert lags[0.0] > 3 * frame_motion  # a plain low-pass lags several frames
    assert 0 < lags[5.0] < 1.0 * frame_motion
    assert lags[5.0] < 0.25 * lags[0.0]


def test_step_is_followed_without_overshoot() -> None:
    signal = np.concatenate([np.zeros(10), np.full(40, 50.0)])[:, None]
    fast = run(OneEuroFilter(1.0, beta=1.0), signal)[:, 0]
    slow = run(OneEuroFilter(1.0, beta=0.0), signal)[:, 0]
    assert np.all((fast >= 0) & (fast <= 50.0)) and np.all((slow >= 0) & (slow <= 50.0))
    assert np.all(np.diff(fast) >= -1e-9)  # monotone approach

    def settled(y: np.ndarray) -> int:
        """Frames after the step until 95 % of it is reached."""
        return int(np.argmax(y > 47.5)) - 10

    assert settled(fast) <= 4
    assert settled(slow) > 2 * settled(fast)


def test_coordinates_are_filtered_independently() -> None:
    rng = np.random.default_rng(2)
    samples = rng.normal(0, 5, size=(25, 4, 2)) + np.linspace(0, 30, 25)[:, None, None]
    together = run(OneEuroFilter(1.5, 0.3, 1.0), samples)
    for k in range(4):
        for c in range(2):
            alone = run(OneEuroFilter(1.5, 0.3, 1.0), samples[:, k, c])
            np.testing.assert_allclose(together[:, k, c], alone)


def test_point_smoother_beta_is_per_face_size() -> None:
    """Scaling a track by 10 scales its smoothed points by 10: parameters fit any face size."""
    rng = np.random.default_rng(3)
    template = rng.uniform(0, 60, size=(12, 2))
    motion = np.linspace(0, 40, 40)[:, None, None] * np.array([1.0, 0.5])
    samples = template + motion + rng.normal(0, 1.0, size=(40, 12, 2))
    small = run(PointSmoother(), samples)
    large = run(PointSmoother(), samples * 10.0)
    np.testing.assert_allclose(large, small * 10.0, rtol=1e-9, atol=1e-9)


def test_repeated_time_stamps_and_restarts() -> None:
    f = OneEuroFilter(1.0, 0.5)
    f(np.zeros(3), 1.0)
    out = f(np.ones(3), 1.0)  # same time stamp: a fallback step, not a division by zero
    assert np.all(np.isfinite(out)) and np.all((out > 0) & (out < 1))
    restarted = f(np.full(5, 7.0), 2.0)  # a new shape restarts the filter
    np.testing.assert_array_equal(restarted, np.full(5, 7.0))
    f.reset()
    np.testing.assert_array_equal(f(np.full(3, 4.0), 3.0), np.full(3, 4.0))
    s = PointSmoother()
    s(np.zeros((2, 2)), 0.0)
    with_nan = np.array([[np.nan, 0.0], [1.0, 1.0]])
    np.testing.assert_array_equal(s(with_nan, 0.1), with_nan)  # passed on, filter restarted
    np.testing.assert_array_equal(s(np.full((2, 2), 9.0), 0.2), np.full((2, 2), 9.0))


@pytest.mark.parametrize("kwargs", [{"min_cutoff": 0.0}, {"d_cutoff": -1.0}, {"beta": -0.1}])
def test_bad_parameters_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        OneEuroFilter(**kwargs)
