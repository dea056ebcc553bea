"""``load_dataset``: recognise a benchmark's format from its path and read it.

Recognised, in this order:

- a ``.json`` file: COCO-style keypoints (``read_coco``);
- a ``.txt`` file of WFLW lines (``list_98pt_*``, 207 fields a line): ``read_wflw``;
- a ``.csv`` file with HRNet's AFLW header: ``read_aflw_csv``;
- a ``.mat`` file, by its variables: COFW (``IsTr``/``phisTr``, ``IsT``/``phisT``), AFLW
  (``data``, ``bbox``, ``nameList``) or LSP (``joints``);
- a ``.pts`` file: that one 300-W style face;
- a folder with ``annot/`` (a 300-VW clip), or whose subfolders have one (a 300-VW root);
- any other folder: a 300-W style tree of ``.pts`` files with their images.

Anything else raises ``DataError`` naming the path.
"""

from __future__ import annotations

from pathlib import Path

from heatmark.data.readers.aflw import AFLW_CSV_HEADER, read_aflw_csv, read_aflw_mat
from heatmark.data.readers.coco import read_coco
from heatmark.data.readers.cofw import read_cofw
from heatmark.data.readers.files import VIDEO_SUFFIXES
from heatmark.data.readers.lsp import read_lsp
from heatmark.data.readers.matlab import mat_variable_names
from heatmark.data.readers.origin import CoordinateOrigin
from heatmark.data.readers.vw300 import is_300vw_clip, read_300vw
from heatmark.data.readers.w300 import read_300w
from heatmark.data.readers.wflw import WFLW_COLUMNS, read_wflw
from heatmark.data.sample import Sample
from heatmark.errors import ConfigError, DataError

FORMATS_HELP = (
    "a folder of .pts + images (300-W), a 300-VW clip folder (annot/ + vid.avi or imgs/), "
    "a WFLW list_98pt_*.txt, a COFW/AFLW/LSP .mat, an HRNet AFLW .csv or a COCO-style .json"
)


def load_dataset(path: Path, origin: CoordinateOrigin | str | None = None) -> list[Sample]:
    """Read the benchmark at ``path`` in whatever supported format it is.

    ``origin`` overrides the coordinate convention of the formats where it is ambiguous
    (json, WFLW, COFW, AFLW, LSP); ``None`` keeps each reader's documented default. ``.pts``
    based formats are 1-based by definition and refuse another origin.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(path, "no such file or folder")
    options = {} if origin is None else {"origin": _origin(origin)}
    if path.is_dir() or path.suffix.lower() == ".pts" or path.suffix in VIDEO_SUFFIXES:
        if options and options["origin"] is not CoordinateOrigin.ONE_BASED:
            raise DataError(path, ".pts annotations are 1-based; another origin does not apply")
        return _load_pts_based(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return read_coco(path, **options)
    if suffix == ".txt" and _looks_like_wflw(path):
        return read_wflw(path, **options)
    if suffix == ".csv" and _looks_like_aflw_csv(path):
        return read_aflw_csv(path, **options)
    if suffix == ".mat":
        return _load_mat(path, options)
    raise DataError(path, f"unrecognised annotation format; expected {FORMATS_HELP}")


def _origin(value: CoordinateOrigin | str) -> CoordinateOrigin:
    try:
        return CoordinateOrigin(value)
    except ValueError:
        choices = ", ".join(origin.value for origin in CoordinateOrigin)
        raise ConfigError(f"origin must be one of {choices}; got {value!r}") from None


def _load_pts_based(path: Path) -> list[Sample]:
    if path.is_file() and path.suffix in VIDEO_SUFFIXES:
        if not is_300vw_clip(path.parent):
            raise DataError(
                path, "a video is read as a 300-VW clip, but there is no annot/ folder beside it"
            )
        return read_300vw(path.parent)
    if path.is_dir() and (
        is_300vw_clip(path)
        or any(is_300vw_clip(entry) for entry in path.iterdir() if entry.is_dir())
    ):
        return read_300vw(path)
    try:
        return read_300w(path)
    except DataError as exc:
        if exc.reason.startswith("no .pts files"):
            raise DataError(path, f"no annotations found; expected {FORMATS_HELP}") from None
        raise


def _load_mat(path: Path, options: dict) -> list[Sample]:
    names = set(mat_variable_names(path))
    if names & {"IsTr", "phisTr", "IsT", "phisT"}:
        return read_cofw(path, **options)
    if {"data", "bbox", "nameList"} <= names:
        return read_aflw_mat(path, **options)
    if "joints" in names:
        return read_lsp(path, **options)
    found = ", ".join(sorted(names)) or "none"
    raise DataError(
        path,
        f"unrecognised .mat file (variables: {found}); expected COFW "
        "(IsTr/phisTr or IsT/phisT), AFLW (data, bbox, nameList) or LSP (joints)",
    )


def _first_line(path: Path) -> str:
    try:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    return line
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read file ({exc})") from None
    return ""


def _looks_like_wflw(path: Path) -> bool:
    return path.name.startswith("list_98pt") or len(_first_line(path).split()) == WFLW_COLUMNS


def _looks_like_aflw_csv(path: Path) -> bool:
    header = [field.strip() for field in _first_line(path).split(",")]
    return tuple(header[: len(AFLW_CSV_HEADER)]) == AFLW_CSV_HEADER
