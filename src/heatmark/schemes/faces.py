"""Face landmark schemes: 300W/300VW (68), WFLW (98), COFW (29), AFLW (19).

Sources (all indices 0-based, "left"/"right" as seen in the image):
- 68 points: the iBUG 300-W markup (Sagonas et al., 2013): jaw 0-16, brows 17-21 / 22-26,
  nose bridge 27-30, nose bottom 31-35, eyes 36-41 / 42-47, outer lips 48-59, inner lips 60-67.
- 98 points: the WFLW markup (Wu et al., CVPR 2018, "Look at Boundary"): contour 0-32, brows
  33-41 / 42-50 (upper line first), nose bridge 51-54, nose bottom 55-59, eyes 60-67 / 68-75
  (outer corners 60 and 72), outer lips 76-87, inner lips 88-95, pupils 96 / 97.
- 29 points: the COFW markup (Burgos-Artizzu et al., ICCV 2013), checked on the COFW samples of
  mmpose's test data: brow corners 0-3, brow middles 4-7, eye corners 8-11 (outer 8 / 9),
  eyelids 12-15, pupils 16 / 17, nose 18-21, mouth corners 22 / 23, lips 24-27, chin 28.
- 19 points: AFLW-Full (Zhu et al., CVPR 2016; the 21 AFLW points without the ears): brows 0-5,
  eyes 6-11 (outer corners 6 / 11, centres 7 / 10), nose 12-14, mouth 15-17, chin 18. AFLW is
  normalised by its face box size, so it has no eye-distance normaliser here.
- Boundary lines: the 13 lines of LAB / Adaptive Wing (cheek, two upper brow lines, four
  eyelids, nose bridge, nose bottom, four lip lines); for 19 points the 5 lines that exist
  (two brows, two eye lines, nose bottom).
- Mirror pairs: the flip tables of the datasets' reference implementations (mmpose's
  ``dataset_info`` swap lists), re-derived from the definitions above.
"""

from __future__ import annotations

from heatmark.schemes.base import Boundary, Scheme, mirror_pairs, span


def _mirror_range(first: int, last: int) -> list[tuple[int, int]]:
    """Pairs of a line that is symmetric about its middle (a jaw, a lip line)."""
    return [(first + i, last - i) for i in range((last - first + 1) // 2)]


def _pairs(left: tuple[int, ...], right: tuple[int, ...]) -> list[tuple[int, int]]:
    return list(zip(left, right, strict=True))


FACE_68 = Scheme(
    name="300w-68",
    num_points=68,
    flip_permutation=mirror_pairs(
        68,
        _mirror_range(0, 16)  # jaw
        + _mirror_range(17, 26)  # brows
        + _pairs((31, 32), (35, 34))  # nose bottom
        + _pairs((36, 37, 38, 39, 40, 41), (45, 44, 43, 42, 47, 46))  # eyes
        + _mirror_range(48, 54)  # outer upper lip
        + _pairs((55, 56), (59, 58))  # outer lower lip
        + _mirror_range(60, 64)  # inner upper lip
        + _pairs((65,), (67,)),  # inner lower lip
    ),
    outer_eye_corners=(36, 45),
    eye_centres=(span(36, 41), span(42, 47)),
    boundaries=(
        Boundary("cheek", span(0, 16)),
        Boundary("left_brow", span(17, 21)),
        Boundary("right_brow", span(22, 26)),
        Boundary("nose_bridge", span(27, 30)),
        Boundary("nose_bottom", span(31, 35)),
        Boundary("left_upper_eyelid", span(36, 39)),
        Boundary("left_lower_eyelid", (39, 40, 41, 36)),
        Boundary("right_upper_eyelid", span(42, 45)),
        Boundary("right_lower_eyelid", (45, 46, 47, 42)),
        Boundary("upper_outer_lip", span(48, 54)),
        Boundary("lower_outer_lip", (*span(54, 59), 48)),
        Boundary("upper_inner_lip", span(60, 64)),
        Boundary("lower_inner_lip", (*span(64, 67), 60)),
    ),
    source="iBUG 300-W 68-point markup",
)

WFLW_98 = Scheme(
    name="wflw-98",
    num_points=98,
    flip_permutation=mirror_pairs(
        98,
        _mirror_range(0, 32)  # contour
        + _pairs(span(33, 41), (46, 45, 44, 43, 42, 50, 49, 48, 47))  # brows
        + _pairs((55, 56), (59, 58))  # nose bottom
        + _pairs(span(60, 67), (72, 71, 70, 69, 68, 75, 74, 73))  # eyes
        + _mirror_range(76, 82)  # outer upper lip
        + _pairs((83, 84), (87, 86))  # outer lower lip
        + _mirror_range(88, 92)  # inner upper lip
        + _pairs((93,), (95,))  # inner lower lip
        + [(96, 97)],  # pupils
    ),
    outer_eye_corners=(60, 72),
    eye_centres=((96,), (97,)),
    boundaries=(
        Boundary("cheek", span(0, 32)),
        Boundary("left_brow", span(33, 37)),
        Boundary("right_brow", span(42, 46)),
        Boundary("nose_bridge", span(51, 54)),
        Boundary("nose_bottom", span(55, 59)),
        Boundary("left_upper_eyelid", span(60, 64)),
        Boundary("left_lower_eyelid", (*span(64, 67), 60)),
        Boundary("right_upper_eyelid", span(68, 72)),
        Boundary("right_lower_eyelid", (*span(72, 75), 68)),
        Boundary("upper_outer_lip", span(76, 82)),
        Boundary("lower_outer_lip", (*span(82, 87), 76)),
        Boundary("upper_inner_lip", span(88, 92)),
        Boundary("lower_inner_lip", (*span(92, 95), 88)),
    ),
    source="WFLW 98-point markup",
)

COFW_29 = Scheme(
    name="cofw-29",
    num_points=29,
    flip_permutation=mirror_pairs(
        29,
        [
            (0, 1),
            (2, 3),
            (4, 6),
            (5, 7),
            (8, 9),
            (10, 11),
            (12, 14),
            (13, 15),
            (16, 17),
            (18, 19),
            (22, 23),
        ],
    ),
    outer_eye_corners=(8, 9),
    eye_centres=((16,), (17,)),
    source="COFW 29-point markup",
)

AFLW_19 = Scheme(
    name="aflw-19",
    num_points=19,
    flip_permutation=mirror_pairs(
        19, [(0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9), (12, 14), (15, 17)]
    ),
    boundaries=(
        Boundary("left_brow", span(0, 2)),
        Boundary("right_brow", span(3, 5)),
        Boundary("left_eye", span(6, 8)),
        Boundary("right_eye", span(9, 11)),
        Boundary("nose_bottom", span(12, 14)),
    ),
    source="AFLW-Full 19-point markup",
)

FACE_SCHEMES: tuple[Scheme, ...] = (FACE_68, WFLW_98, COFW_29, AFLW_19)
