"""Landmark schemes (one definition per markup) and index maps between them."""

from heatmark.schemes.base import Boundary, Scheme
from heatmark.schemes.body import LSP_14
from heatmark.schemes.faces import AFLW_19, COFW_29, FACE_68, FACE_SCHEMES, WFLW_98
from heatmark.schemes.mapping import (
    COFW_TO_68,
    COFW_TO_AFLW,
    FACE_68_TO_AFLW,
    WFLW_TO_68,
    IndexMap,
    find_index_map,
)

ALL_SCHEMES: tuple[Scheme, ...] = (*FACE_SCHEMES, LSP_14)


def scheme_for(num_points: int) -> Scheme:
    """The scheme with ``num_points`` points (the markups here all differ in size)."""
    for scheme in ALL_SCHEMES:
        if scheme.num_points == num_points:
            return scheme
    known = ", ".join(str(s.num_points) for s in ALL_SCHEMES)
    raise ValueError(f"no landmark scheme has {num_points} points (known: {known})")


__all__ = [
    "AFLW_19",
    "ALL_SCHEMES",
    "COFW_29",
    "COFW_TO_68",
    "COFW_TO_AFLW",
    "FACE_68",
    "FACE_68_TO_AFLW",
    "LSP_14",
    "WFLW_98",
    "WFLW_TO_68",
    "Boundary",
    "IndexMap",
    "Scheme",
    "find_index_map",
    "scheme_for",
]
