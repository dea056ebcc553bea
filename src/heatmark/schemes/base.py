"""The ``Scheme`` type: what a set of K landmarks means, defined once and used everywhere.

A scheme carries everything that depends on the meaning of the points rather than on a dataset
file: how points swap under a horizontal flip, which points define the normalising distances,
and which points form the boundary lines of the Adaptive Wing paper.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Boundary:
    """A facial boundary line: the polyline through ``indices`` in that order."""

    name: str
    indices: tuple[int, ...]


@dataclass(frozen=True)
class Scheme:
    """A landmark scheme.

    Attributes:
        name: short name, e.g. ``"300w-68"``.
        num_points: K.
        flip_permutation: ``p[i]`` is the index that point ``i`` becomes after a horizontal flip
            (mirror pairs swap, points on the symmetry axis stay). An involution.
        outer_eye_corners: the two points whose distance is the inter-ocular normaliser.
        eye_centres: two groups of indices whose means are the pupils (inter-pupil normaliser).
        boundaries: the boundary lines drawn into the boundary heatmap channel.
        torso: for body schemes, the pair whose distance is the torso normaliser.
        source: where the tables come from.
    """

    name: str
    num_points: int
    flip_permutation: tuple[int, ...]
    outer_eye_corners: tuple[int, int] | None = None
    eye_centres: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    boundaries: tuple[Boundary, ...] = ()
    torso: tuple[int, int] | None = None
    source: str = ""
    point_names: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        perm = self.flip_permutation
        if sorted(perm) != list(range(self.num_points)):
            raise ValueError(f"{self.name}: flip_permutation is not a permutation of 0..K-1")
        if any(perm[perm[i]] != i for i in range(self.num_points)):
            raise ValueError(f"{self.name}: flip_permutation is not an involution")
        used = [i for b in self.boundaries for i in b.indices]
        if self.outer_eye_corners:
            used += list(self.outer_eye_corners)
        if self.eye_centres:
            used += [i for group in self.eye_centres for i in group]
        if any(not 0 <= i < self.num_points for i in used):
            raise ValueError(f"{self.name}: an index is outside 0..{self.num_points - 1}")

    def inter_ocular(self, points: np.ndarray) -> np.ndarray:
        """Distance between the outer eye corners; ``points`` is (..., K, 2)."""
        if self.outer_eye_corners is None:
            raise ValueError(f"scheme {self.name} has no outer eye corners")
        a, b = self.outer_eye_corners
        return np.linalg.norm(points[..., a, :] - points[..., b, :], axis=-1)

    def inter_pupil(self, points: np.ndarray) -> np.ndarray:
        """Distance between the eye centres; ``points`` is (..., K, 2)."""
        if self.eye_centres is None:
            raise ValueError(f"scheme {self.name} has no eye centres")
        left, right = (points[..., list(group), :].mean(axis=-2) for group in self.eye_centres)
        return np.linalg.norm(left - right, axis=-1)

    def torso_size(self, points: np.ndarray) -> np.ndarray:
        """Distance between the torso pair (body schemes); ``points`` is (..., K, 2)."""
        if self.torso is None:
            raise ValueError(f"scheme {self.name} has no torso pair")
        a, b = self.torso
        return np.linalg.norm(points[..., a, :] - points[..., b, :], axis=-1)

    def flip_points(self, points: np.ndarray, width: int) -> np.ndarray:
        """Mirror (..., K, 2) points of an image ``width`` pixels wide and swap the pairs.

        With 0-based pixel centres the mirror of x is ``width - 1 - x``.
        """
        flipped = points[..., list(self.flip_permutation), :].copy()
        flipped[..., 0] = (width - 1) - flipped[..., 0]
        return flipped


def mirror_pairs(num_points: int, pairs: list[tuple[int, int]]) -> tuple[int, ...]:
    """Build a flip permutation from mirror pairs; unlisted points map to themselves."""
    perm = list(range(num_points))
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return tuple(perm)


def span(start: int, stop: int) -> tuple[int, ...]:
    """Inclusive index range, the way annotation protocols describe lines (``17-21``)."""
    return tuple(range(start, stop + 1))
