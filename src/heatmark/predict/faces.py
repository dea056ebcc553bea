"""What prediction returns: one ``Face`` per detected face, one ``FrameResult`` per video frame.

Coordinates are heatmark's convention everywhere: 0-based pixel centres of the original image
(the centre of the top-left pixel is (0, 0)); boxes are ``(x_min, y_min, x_max, y_max)`` in the
same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Face:
    """One face: its landmarks and where they came from.

    Attributes:
        points: (K, 2) float landmark positions (smoothed ones in a smoothed track).
        scores: (K,) per-point confidence (the heatmap peak value; higher is surer).
        box: the face box the landmarks were cropped from (after calibration), or the
            detector's box when no landmarks could be computed.
        detector_score: the detector's confidence for this face (1.0 for given boxes).
        track_id: stable identity across video frames (None for still images).
        raw_points: the unsmoothed points when smoothing is on (else None).
    """

    points: np.ndarray
    scores: np.ndarray
    box: np.ndarray
    detector_score: float = 1.0
    track_id: int | None = None
    raw_points: np.ndarray | None = None

    @property
    def mean_score(self) -> float:
        return float(np.mean(self.scores)) if len(self.scores) else 0.0

    def point_box(self) -> np.ndarray:
        """The tight box of the landmarks, ``(x_min, y_min, x_max, y_max)``."""
        return np.concatenate([self.points.min(axis=0), self.points.max(axis=0)])


@dataclass
class FrameResult:
    """The faces of one video frame (0-based ``index``, ``time`` in seconds)."""

    index: int
    time: float
    faces: list[Face] = field(default_factory=list)
    detected: bool = False  # whether the detector ran on this frame (else: tracked)
