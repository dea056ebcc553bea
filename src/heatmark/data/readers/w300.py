"""300-W: a directory tree of ``.pts`` files, each with its image (same stem) beside it.

The official release is ``afw/``, ``helen/{trainset,testset}/``, ``lfpw/{trainset,testset}/``,
``ibug/`` (plus the private ``300W/01_Indoor``, ``02_Outdoor`` test set). The sample's
``subset`` is the path from the 300-W part name on (``"helen/trainset"``, ``"ibug"``), so the
benchmark splits follow from it: common = helen + lfpw test sets (554 faces), challenge = ibug
(135), full = both (689); the training set is afw + helen + lfpw training sets (3,148).
"""

from __future__ import annotations

import os
from pathlib import Path

from heatmark.data.readers.files import IMAGE_SUFFIXES, image_beside
from heatmark.data.readers.pts import pts_point_line, pts_to_points, read_pts_tokens
from heatmark.data.sample import Sample, check_annotation, image_size
from heatmark.errors import DataError
from heatmark.schemes import Scheme, scheme_for

W300_PARTS: tuple[str, ...] = ("afw", "helen", "lfpw", "ibug")


def read_300w(path: Path, scheme: Scheme | None = None) -> list[Sample]:
    """Read every ``.pts`` under ``path`` (a folder, searched recursively, or one file).

    Samples come in sorted path order. ``scheme`` defaults to the one matching the first file's
    point count; every file must then have that many points. A ``.pts`` without an image of
    the same stem (``.jpg``, ``.png``, ...) beside it, an image whose header cannot be read and
    an implausible annotation (``check_annotation``) raise ``DataError``.
    """
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() != ".pts":
            raise DataError(path, "not a .pts file")
        names = {entry.name for entry in os.scandir(path.parent)}
        found = [(path, names)]
        root = path.parent
    elif path.is_dir():
        found = _pts_files(path)
        root = path
    else:
        raise DataError(path, "no such file or folder")
    if not found:
        raise DataError(path, "no .pts files found in this folder tree")

    tokens: list[str] = []
    images: list[Path] = []
    for pts_path, names in found:
        file_tokens = read_pts_tokens(pts_path, None if scheme is None else scheme.num_points)
        if scheme is None:
            try:
                scheme = scheme_for(len(file_tokens) // 2)
            except ValueError as exc:
                raise DataError(pts_path, str(exc)) from None
        tokens += file_tokens
        image = image_beside(pts_path.stem, pts_path.parent, names)
        if image is None:
            raise DataError(
                pts_path,
                f"no image beside it (looked for {pts_path.stem}{{{','.join(IMAGE_SUFFIXES)}}})",
            )
        images.append(image)
    points = pts_to_points(tokens).reshape(len(found), scheme.num_points, 2)  # one conversion
    subsets = {folder: subset_300w(root, folder) for folder in {p.parent for p, _ in found}}
    samples = []
    for face, image, (pts_path, _) in zip(points, images, found, strict=True):
        sample = Sample(
            points=face,
            scheme=scheme,
            image_path=image,
            subset=subsets[pts_path.parent],
            source=str(pts_path),
        )
        check_annotation(
            sample,
            image_size(image, pts_path),
            pts_path,
            point_line=lambda index, file=pts_path: pts_point_line(file, index),
        )
        samples.append(sample)
    return samples


def subset_300w(root: Path, folder: Path) -> str:
    """The 300-W part of ``folder``: from the last 300-W part name in its path on.

    ``.../300w/helen/trainset`` -> ``"helen/trainset"``; a folder outside the known parts gets
    its path relative to ``root`` (``""`` for ``root`` itself).
    """
    parts = folder.parts
    for index in range(len(parts) - 1, -1, -1):
        if parts[index].lower() in W300_PARTS:
            return "/".join(parts[index:])
    try:
        relative = folder.relative_to(root)
    except ValueError:
        return folder.name
    return "" if relative == Path() else relative.as_posix()


def split_300w(subset: str) -> str:
    """The 300-W benchmark split of a subset: ``"common"``, ``"challenge"``, ``"train"`` or ``""``.

    common = helen/testset + lfpw/testset, challenge = ibug, full = common + challenge;
    train = afw + helen/trainset + lfpw/trainset.
    """
    parts = [part.lower() for part in subset.split("/") if part]
    if not parts:
        return ""
    if parts[0] == "ibug":
        return "challenge"
    if parts[0] == "afw":
        return "train"
    if parts[0] in ("helen", "lfpw") and len(parts) > 1:
        if parts[1] == "testset":
            return "common"
        if parts[1] == "trainset":
            return "train"
    return ""


def _pts_files(root: Path) -> list[tuple[Path, set[str]]]:
    """All ``.pts`` files under ``root`` in sorted order, each with its folder's file names."""
    found: list[tuple[Path, set[str]]] = []
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        names = set(files)
        directory = Path(folder)
        found.extend(
            (directory / name, names) for name in sorted(files) if name.lower().endswith(".pts")
        )
    found.sort(key=lambda item: item[0].parts)
    return found
