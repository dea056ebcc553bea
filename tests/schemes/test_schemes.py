"""Scheme tables: permutations are involutions, normalisers and maps name the same locations."""

import numpy as np
import pytest

from heatmark.schemes import (
    AFLW_19,
    ALL_SCHEMES,
    COFW_29,
    COFW_TO_68,
    COFW_TO_AFLW,
    FACE_68,
    FACE_68_TO_AFLW,
    LSP_14,
    WFLW_98,
    WFLW_TO_68,
    Scheme,
    scheme_for,
)


@pytest.mark.parametrize("scheme", ALL_SCHEMES, ids=lambda s: s.name)
def test_flip_permutation_is_an_involution(scheme: Scheme) -> None:
    perm = np.array(scheme.flip_permutation)
    assert sorted(perm.tolist()) == list(range(scheme.num_points))
    assert np.array_equal(perm[perm], np.arange(scheme.num_points))


def test_known_mirror_pairs() -> None:
    assert FACE_68.flip_permutation[36] == 45  # outer eye corners
    assert FACE_68.flip_permutation[0] == 16 and FACE_68.flip_permutation[8] == 8
    assert FACE_68.flip_permutation[48] == 54 and FACE_68.flip_permutation[57] == 57
    assert FACE_68.flip_permutation[60] == 64 and FACE_68.flip_permutation[66] == 66
    assert WFLW_98.flip_permutation[60] == 72 and WFLW_98.flip_permutation[96] == 97
    assert WFLW_98.flip_permutation[33] == 46 and WFLW_98.flip_permutation[38] == 50
    assert COFW_29.flip_permutation[8] == 9 and COFW_29.flip_permutation[28] == 28
    assert AFLW_19.flip_permutation[6] == 11 and AFLW_19.flip_permutation[13] == 13
    assert LSP_14.flip_permutation[0] == 5 and LSP_14.flip_permutation[13] == 13


def test_not_an_involution_is_rejected() -> None:
    with pytest.raises(ValueError, match="involution"):
        Scheme("bad", 3, (1, 2, 0))


def test_normalisers_on_a_synthetic_face() -> None:
    pts = np.zeros((68, 2))
    pts[36:42] = [[10, 50], [12, 48], [14, 48], [16, 50], [14, 52], [12, 52]]
    pts[42:48] = pts[36:42][[3, 2, 1, 0, 5, 4]] * [-1, 1] + [100, 0]
    assert FACE_68.inter_ocular(pts) == pytest.approx(np.hypot(90 - 10, 0))
    # eye centres are (13, 50) and (87, 50)
    assert FACE_68.inter_pupil(pts) == pytest.approx(74.0)
    batch = np.stack([pts, pts * 2])
    np.testing.assert_allclose(FACE_68.inter_ocular(batch), [80.0, 160.0])


def test_flip_points_mirrors_and_swaps() -> None:
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 99, size=(68, 2))
    flipped = FACE_68.flip_points(pts, width=100)
    assert flipped[45, 0] == pytest.approx(99 - pts[36, 0])
    assert flipped[45, 1] == pytest.approx(pts[36, 1])
    np.testing.assert_allclose(FACE_68.flip_points(flipped, width=100), pts)


@pytest.mark.parametrize("scheme", [FACE_68, WFLW_98, AFLW_19], ids=lambda s: s.name)
def test_boundaries_mirror_onto_boundaries(scheme: Scheme) -> None:
    """The mirror image of every boundary line is a boundary line (as a point set)."""
    perm = scheme.flip_permutation
    lines = {frozenset(b.indices) for b in scheme.boundaries}
    for line in lines:
        assert frozenset(perm[i] for i in line) in lines


def test_boundary_counts() -> None:
    assert len(FACE_68.boundaries) == 13
    assert len(WFLW_98.boundaries) == 13
    assert len(AFLW_19.boundaries) == 5


def test_scheme_for() -> None:
    assert scheme_for(98) is WFLW_98
    with pytest.raises(ValueError, match="no landmark scheme has 5 points"):
        scheme_for(5)


def _mean_shape_68() -> np.ndarray:
    """A rough frontal 68-point face, built from the markup's definition (for map checks)."""
    pts = np.zeros((68, 2))
    t = np.linspace(np.pi, 0, 17)
    pts[0:17] = np.stack([50 + 40 * np.cos(t), 50 + 45 * np.sin(t)], 1)  # jaw, chin at 8
    pts[17:22] = np.stack([np.linspace(20, 44, 5), np.full(5, 30)], 1)
    pts[22:27] = np.stack([np.linspace(56, 80, 5), np.full(5, 30)], 1)
    pts[27:31] = np.stack([np.full(4, 50), np.linspace(40, 58, 4)], 1)
    pts[31:36] = np.stack([np.linspace(42, 58, 5), np.full(5, 62)], 1)
    eye = np.array([[0, 0], [4, -3], [8, -3], [12, 0], [8, 3], [4, 3]], dtype=float)
    pts[36:42] = eye + [24, 42]
    pts[42:48] = eye + [64, 42]
    pts[48:60] = np.stack(
        [
            50 + 14 * np.cos(np.linspace(np.pi, -np.pi, 13)[:12]),
            76 - 5 * np.sin(np.linspace(np.pi, -np.pi, 13)[:12]),
        ],
        1,
    )
    pts[60:68] = np.stack(
        [
            50 + 9 * np.cos(np.linspace(np.pi, -np.pi, 9)[:8]),
            76 - 2 * np.sin(np.linspace(np.pi, -np.pi, 9)[:8]),
        ],
        1,
    )
    return pts


def test_maps_are_consistent_with_the_flip() -> None:
    """A map commutes with mirroring: mapped(flip(x)) == flip(mapped(x)) as points."""
    for index_map in (WFLW_TO_68, FACE_68_TO_AFLW, COFW_TO_68, COFW_TO_AFLW):
        src, dst = index_map.source, index_map.target
        table = dict(index_map.pairs)
        for s, t in index_map.pairs:
            s_m, t_m = src.flip_permutation[s], dst.flip_permutation[t]
            assert table.get(s_m) == t_m, (index_map.source.name, s, t)


def test_mapped_points_name_the_same_location() -> None:
    """68 -> AFLW on a frontal face: eye corners land on AFLW eye corners, chin on chin..."""
    face = _mean_shape_68()
    aflw = FACE_68_TO_AFLW.apply(face)
    indices = np.sort(FACE_68_TO_AFLW.target_indices)
    named = dict(zip(indices.tolist(), aflw, strict=True))
    assert named[6][0] < named[8][0] < named[9][0] < named[11][0]  # eye corners left to right
    assert named[18][1] == face[:, 1].max()  # chin is the lowest point
    assert named[13][1] < named[15][1]  # nose tip above the mouth corners
    assert named[0][1] < named[6][1]  # brows above eyes
    # WFLW -> 68 is complete, and the 98-point eye corners map to the 68-point ones.
    assert WFLW_TO_68.is_complete
    wflw = np.arange(98 * 2, dtype=float).reshape(98, 2)
    mapped = WFLW_TO_68.apply(wflw)
    assert mapped.shape == (68, 2)
    np.testing.assert_array_equal(mapped[36], wflw[60])
    np.testing.assert_array_equal(mapped[45], wflw[72])
    np.testing.assert_array_equal(mapped[8], wflw[16])


# The published WFLW 98 -> 68 correspondence, 68-point index -> WFLW index, written out by hand
# from facexlib (xinntao/facexlib, facexlib/alignment/convert_98_to_68_landmarks.py,
# ``landmark_98_to_68``): contour = every other WFLW contour point, nose 51-59 -> 27-35, mouth
# 76-95 -> 48-67, left eye 60, 61, 63, 64, 65, 67 and right eye 68, 69, 71, 72, 73, 75 -> 36-47.
# For the brows facexlib averages the upper and the lower WFLW brow arcs (17 = 33, 18 = mean of
# 34 and 41, ..., 26 = 46); the one-point convention used in public code that converts WFLW to
# 68 points (``DLIB_68_TO_WFLW_98_IDX_MAPPING``: 17-21 -> 33-37, 22-26 -> 42-46) takes the
# upper arc, whose ends facexlib uses as they are. A point map needs one WFLW point per
# 68-point landmark, so it takes that upper arc.
WFLW_TO_68_PUBLISHED = {
    **{i: 2 * i for i in range(17)},  # contour
    17: 33, 18: 34, 19: 35, 20: 36, 21: 37,  # left brow, upper arc
    22: 42, 23: 43, 24: 44, 25: 45, 26: 46,  # right brow, upper arc
    27: 51, 28: 52, 29: 53, 30: 54, 31: 55, 32: 56, 33: 57, 34: 58, 35: 59,  # nose
    36: 60, 37: 61, 38: 63, 39: 64, 40: 65, 41: 67,  # left eye
    42: 68, 43: 69, 44: 71, 45: 72, 46: 73, 47: 75,  # right eye
    **{48 + i: 76 + i for i in range(20)},  # mouth
}  # fmt: skip


def test_wflw_to_68_is_the_published_table() -> None:
    assert len(WFLW_TO_68_PUBLISHED) == 68
    assert {t: s for s, t in WFLW_TO_68.pairs} == WFLW_TO_68_PUBLISHED
    wflw = np.arange(98 * 2, dtype=float).reshape(98, 2)
    expected = np.stack([wflw[WFLW_TO_68_PUBLISHED[i]] for i in range(68)])
    np.testing.assert_array_equal(WFLW_TO_68.apply(wflw), expected)


def test_inverse_map_round_trip() -> None:
    inv = COFW_TO_68.inverse()
    assert inv.source is FACE_68 and inv.target is COFW_29
    x = np.random.default_rng(1).normal(size=(29, 2))
    as68 = np.zeros((68, 2))
    as68[COFW_TO_68.target_indices] = x[COFW_TO_68.source_indices]
    back = inv.apply(as68)
    np.testing.assert_array_equal(back, inv.select_target(x))
