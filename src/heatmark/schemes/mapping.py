"""Index maps between schemes, for cross-dataset evaluation (train on one markup, test on another).

A map lists ``(source_index, target_index)`` pairs of points that name the same facial location
in both markups. ``WFLW_TO_68`` is complete (every 68-point landmark has a WFLW twin, the usual
conversion); the others keep only the common points, so metrics are computed on that subset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from heatmark.schemes.base import Scheme
from heatmark.schemes.faces import AFLW_19, COFW_29, FACE_68, WFLW_98


@dataclass(frozen=True)
class IndexMap:
    """Pairs ``(source_index, target_index)`` between two schemes."""

    source: Scheme
    target: Scheme
    pairs: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        src = [s for s, _ in self.pairs]
        dst = [t for _, t in self.pairs]
        if len(set(src)) != len(src) or len(set(dst)) != len(dst):
            raise ValueError(f"{self.source.name}->{self.target.name}: repeated index")
        if not all(0 <= s < self.source.num_points for s in src) or not all(
            0 <= t < self.target.num_points for t in dst
        ):
            raise ValueError(f"{self.source.name}->{self.target.name}: index out of range")

    @property
    def source_indices(self) -> np.ndarray:
        return np.array([s for s, _ in self.pairs], dtype=np.int64)

    @property
    def target_indices(self) -> np.ndarray:
        return np.array([t for _, t in self.pairs], dtype=np.int64)

    @property
    def is_complete(self) -> bool:
        """True when every target point has a source twin."""
        return len(self.pairs) == self.target.num_points

    def inverse(self) -> IndexMap:
        return IndexMap(self.target, self.source, tuple((t, s) for s, t in self.pairs))

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Source points (..., Ks, 2) -> the common points in target order (..., len(pairs), 2).

        For a complete map this is the full target markup in target index order.
        """
        order = np.argsort(self.target_indices)
        return points[..., self.source_indices[order], :]

    def select_target(self, points: np.ndarray) -> np.ndarray:
        """Target-scheme points (..., Kt, 2) -> the same common points, same order as ``apply``."""
        return points[..., np.sort(self.target_indices), :]


def _spans(*ranges: tuple[int, int, int]) -> tuple[tuple[int, int], ...]:
    """(source_start, target_start, count) runs of consecutive indices."""
    return tuple((s + i, t + i) for s, t, n in ranges for i in range(n))


WFLW_TO_68 = IndexMap(
    WFLW_98,
    FACE_68,
    tuple((2 * i, i) for i in range(17))  # every other contour point
    + _spans((33, 17, 5), (42, 22, 5), (51, 27, 9))  # upper brow lines, nose
    + ((60, 36), (61, 37), (63, 38), (64, 39), (65, 40), (67, 41))  # left eye
    + ((68, 42), (69, 43), (71, 44), (72, 45), (73, 46), (75, 47))  # right eye
    + _spans((76, 48, 20)),  # lips
)

FACE_68_TO_AFLW = IndexMap(
    FACE_68,
    AFLW_19,
    (
        (17, 0),
        (19, 1),
        (21, 2),
        (22, 3),
        (24, 4),
        (26, 5),  # brows: outer, middle, inner
        (36, 6),
        (39, 8),
        (42, 9),
        (45, 11),  # eye corners (AFLW eye centres have no twin)
        (31, 12),
        (30, 13),
        (35, 14),  # nose wings and tip
        (48, 15),
        (54, 17),  # mouth corners (AFLW mouth centre has no twin)
        (8, 18),  # chin
    ),
)

COFW_TO_68 = IndexMap(
    COFW_29,
    FACE_68,
    (
        (0, 17),
        (2, 21),
        (3, 22),
        (1, 26),
        (4, 19),
        (6, 24),  # brow corners, upper middles
        (8, 36),
        (10, 39),
        (11, 42),
        (9, 45),  # eye corners
        (18, 31),
        (21, 33),
        (19, 35),
        (20, 30),  # nose wings, base, tip
        (22, 48),
        (24, 51),
        (23, 54),
        (27, 57),
        (25, 62),
        (26, 66),  # mouth
        (28, 8),  # chin
    ),
)

COFW_TO_AFLW = IndexMap(
    COFW_29,
    AFLW_19,
    (
        (0, 0),
        (4, 1),
        (2, 2),
        (3, 3),
        (6, 4),
        (1, 5),  # brows
        (8, 6),
        (16, 7),
        (10, 8),
        (11, 9),
        (17, 10),
        (9, 11),  # eye corners and centres
        (18, 12),
        (20, 13),
        (19, 14),  # nose
        (22, 15),
        (23, 17),  # mouth corners
        (28, 18),  # chin
    ),
)


KNOWN_MAPS: tuple[IndexMap, ...] = (WFLW_TO_68, FACE_68_TO_AFLW, COFW_TO_68, COFW_TO_AFLW)


def find_index_map(source: Scheme, target: Scheme) -> IndexMap:
    """The known map (or the inverse of one) from ``source`` to ``target`` points."""
    for index_map in KNOWN_MAPS:
        if index_map.source == source and index_map.target == target:
            return index_map
        if index_map.source == target and index_map.target == source:
            return index_map.inverse()
    raise ValueError(f"no index map between {source.name} and {target.name}")
