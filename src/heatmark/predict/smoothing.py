"""One-Euro smoothing of landmark tracks (Casiez, Roussel & Vogel, CHI 2012).

A low-pass filter whose cutoff rises with the signal's speed: a still face gets a low cutoff
(little jitter), a moving one a high cutoff (little lag). ``OneEuroFilter`` is the filter on any
array of coordinates; ``PointSmoother`` is one per track and states the speed in face sizes per
second, so one set of parameters fits small and large faces alike.
"""

from __future__ import annotations

import math

import numpy as np

DEFAULT_MIN_CUTOFF = 1.0
"""Hz. The cutoff of a still face (alone it would cut white jitter's variance ~10x at 30 fps)."""
DEFAULT_BETA = 5.0
"""Per face size per second (``PointSmoother``). Simulated at 30 fps with jitter of 1 % of the
face size: a still face's jitter variance drops ~7x, and a head moving 1 face size/s lags ~0.5
frame (beta 0: ~5 frames; beta 2: ~1 frame, variance ~9x; beta 10: ~0.3 frame, ~5x)."""
DEFAULT_D_CUTOFF = 1.0
"""Hz. The cutoff of the speed estimate (the paper's recommended value)."""
FALLBACK_DT = 1.0 / 25.0
"""Seconds assumed between samples whose time stamps do not increase (repeated frames)."""


def smoothing_factor(cutoff: float | np.ndarray, dt: float) -> float | np.ndarray:
    """The exponential smoothing weight of a first-order low-pass with ``cutoff`` Hz."""
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """One-Euro filter on an array of coordinates, each filtered on its own (vectorised).

    Args:
        min_cutoff: cutoff in Hz at zero speed; lower = smoother and laggier when still.
        beta: cutoff increase per unit of speed (coordinate units per second); higher = less
            lag when moving.
        d_cutoff: cutoff in Hz of the speed estimate.

    The first sample passes through unchanged; ``reset`` forgets the history.
    """

    def __init__(
        self,
        min_cutoff: float = DEFAULT_MIN_CUTOFF,
        beta: float = 0.0,
        d_cutoff: float = DEFAULT_D_CUTOFF,
    ) -> None:
        if min_cutoff <= 0 or d_cutoff <= 0:
            raise ValueError(f"cutoffs must be positive, got {min_cutoff=} and {d_cutoff=}")
        if beta < 0:
            raise ValueError(f"beta must be non-negative, got {beta}")
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self.reset()

    def reset(self) -> None:
        """Forget the history: the next sample passes through unchanged."""
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """Filter the sample ``x`` taken at time ``t`` (seconds); returns a new array.

        A sample whose shape differs from the previous one restarts the filter. Time stamps that
        do not increase are taken as ``FALLBACK_DT`` apart.
        """
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._dx is None or self._t is None or self._x.shape != x.shape:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), float(t)
            return x.copy()
        dt = float(t) - self._t
        if not dt > 0:
            dt = FALLBACK_DT
        speed = (x - self._x) / dt
        a_d = smoothing_factor(self.d_cutoff, dt)
        self._dx = a_d * speed + (1.0 - a_d) * self._dx
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        a = smoothing_factor(cutoff, dt)
        self._x = a * x + (1.0 - a) * self._x
        self._t = float(t)
        return self._x.copy()


class PointSmoother:
    """One-Euro smoothing of one track's (K, 2) landmarks, with ``beta`` per face size.

    The filter's speed term uses the face size (longer side of the landmark box), so ``beta``
    means the same for a 50 px and a 500 px face. Points that are not finite restart the filter.
    """

    def __init__(
        self,
        min_cutoff: float = DEFAULT_MIN_CUTOFF,
        beta: float = DEFAULT_BETA,
        d_cutoff: float = DEFAULT_D_CUTOFF,
    ) -> None:
        self.beta = float(beta)
        self.filter = OneEuroFilter(min_cutoff, beta, d_cutoff)

    def reset(self) -> None:
        """Forget the history (e.g. when the track jumps to a new detection)."""
        self.filter.reset()

    def __call__(self, points: np.ndarray, t: float) -> np.ndarray:
        """The smoothed (K, 2) points at time ``t`` (seconds); the input is not changed."""
        points = np.asarray(points, dtype=np.float64)
        if not np.all(np.isfinite(points)):
            self.filter.reset()
            return points.copy()
        size = float(np.max(points.max(axis=0) - points.min(axis=0))) if len(points) else 0.0
        self.filter.beta = self.beta / max(size, 1.0)
        return self.filter(points, t)
