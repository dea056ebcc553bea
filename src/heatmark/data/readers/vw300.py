"""300-VW: video clips annotated frame by frame with 68-point ``.pts`` files.

A clip folder (``300VW_Dataset_2015_12_14/001/``) holds ``annot/000001.pts`` ... and either the
video ``vid.avi`` (the release; ``*.mp4`` is accepted too) or the extracted frames
``imgs/000001.jpg`` ... (mmpose's ``300vw2coco.py`` extracts them with ffmpeg
``-start_number 1``, so frame file and annotation share the stem). Annotation ``000001.pts`` is
the first frame of the video: ``frame_index = int(stem) - 1``.

``subset`` is the 300-VW split of the clip: ``"category1"`` (laboratory and naturalistic
well-lit), ``"category2"`` (real-world human-computer interaction), ``"category3"`` (arbitrary
conditions) for the 64 test clips, ``"train"`` for the 50 training clips, ``""`` otherwise
(lists as in the 300-VW release and mmpose's ``300vw2coco.py``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2

from heatmark.data.readers.files import VIDEO_SUFFIXES, image_beside
from heatmark.data.readers.pts import pts_point_line, read_pts
from heatmark.data.sample import Sample, check_annotation, image_size
from heatmark.errors import DataError
from heatmark.schemes import FACE_68

VW300_CATEGORIES: dict[str, tuple[str, ...]] = {
    "category1": (
        "114",
        "124",
        "125",
        "126",
        "150",
        "158",
        "401",
        "402",
        "505",
        "506",
        "507",
        "508",
        "509",
        "510",
        "511",
        "514",
        "515",
        "518",
        "519",
        "520",
        "521",
        "522",
        "524",
        "525",
        "537",
        "538",
        "540",
        "541",
        "546",
        "547",
        "548",
    ),
    "category2": (
        "203",
        "208",
        "211",
        "212",
        "213",
        "214",
        "218",
        "224",
        "403",
        "404",
        "405",
        "406",
        "407",
        "408",
        "409",
        "412",
        "550",
        "551",
        "553",
    ),
    "category3": (
        "410",
        "411",
        "516",
        "517",
        "526",
        "528",
        "529",
        "530",
        "531",
        "533",
        "557",
        "558",
        "559",
        "562",
    ),
    "train": (
        "001",
        "002",
        "003",
        "004",
        "007",
        "009",
        "010",
        "011",
        "013",
        "015",
        "016",
        "017",
        "018",
        "019",
        "020",
        "022",
        "025",
        "027",
        "028",
        "029",
        "031",
        "033",
        "034",
        "035",
        "037",
        "039",
        "041",
        "043",
        "044",
        "046",
        "047",
        "048",
        "049",
        "053",
        "057",
        "059",
        "112",
        "113",
        "115",
        "119",
        "120",
        "123",
        "138",
        "143",
        "144",
        "160",
        "204",
        "205",
        "223",
        "225",
    ),
}


def is_300vw_clip(folder: Path) -> bool:
    """True for a folder with an ``annot/`` subfolder (a 300-VW clip)."""
    return (Path(folder) / "annot").is_dir()


def read_300vw(path: Path) -> list[Sample]:
    """Read one clip folder, or every clip folder (sorted) inside a 300-VW root folder."""
    path = Path(path)
    if is_300vw_clip(path):
        return read_300vw_clip(path)
    if not path.is_dir():
        raise DataError(path, "no such folder")
    clips = sorted(entry for entry in path.iterdir() if entry.is_dir() and is_300vw_clip(entry))
    if not clips:
        raise DataError(path, "no 300-VW clip folders (with an annot/ subfolder) here")
    return [sample for clip in clips for sample in read_300vw_clip(clip)]


def read_300vw_clip(clip: Path) -> list[Sample]:
    """Read ``clip/annot/*.pts`` with frames from ``clip/imgs/`` if present, else the video.

    Each face is checked against its frame's size (``check_annotation``): an image's header, or
    the video's frame size read once from its header.
    """
    clip = Path(clip)
    annotations = sorted((clip / "annot").glob("*.pts"))
    if not annotations:
        raise DataError(clip / "annot", "no .pts files in this annot folder")
    subset = next((name for name, clips in VW300_CATEGORIES.items() if clip.name in clips), "")
    frames = clip / "imgs"
    if frames.is_dir():
        names = {entry.name for entry in os.scandir(frames)}
        video, frame_count, frame_size = None, 0, (0, 0)
    else:
        names = set()
        video = _find_video(clip)
        frame_count, frame_size = _video_header(video)

    samples = []
    for pts_path in annotations:
        if not (pts_path.stem.isascii() and pts_path.stem.isdigit()) or int(pts_path.stem) < 1:
            raise DataError(pts_path, "the file name must be the 1-based frame number")
        number = int(pts_path.stem)
        points = read_pts(pts_path, FACE_68.num_points)
        if video is None:
            image = image_beside(pts_path.stem, frames, names)
            if image is None:
                raise DataError(pts_path, f"no frame image {pts_path.stem}.* in {frames}")
            sample = Sample(
                points=points, scheme=FACE_68, image_path=image, subset=subset, source=str(pts_path)
            )
            size = image_size(image, pts_path)
        else:
            if number > frame_count:
                raise DataError(
                    pts_path, f"frame {number} is past the end of {video} ({frame_count} frames)"
                )
            sample = Sample(
                points=points,
                scheme=FACE_68,
                image_path=video,
                frame_index=number - 1,
                subset=subset,
                source=str(pts_path),
            )
            size = frame_size
        check_annotation(
            sample,
            size,
            pts_path,
            point_line=lambda index, file=pts_path: pts_point_line(file, index),
        )
        samples.append(sample)
    return samples


def _find_video(clip: Path) -> Path:
    preferred = clip / "vid.avi"
    if preferred.is_file():
        return preferred
    videos = sorted(
        entry for entry in clip.iterdir() if entry.is_file() and entry.suffix in VIDEO_SUFFIXES
    )
    if len(videos) != 1:
        found = ", ".join(video.name for video in videos) or "none"
        raise DataError(
            clip, f"expected imgs/ or exactly one video (vid.avi, *.mp4); found {found}"
        )
    return videos[0]


def _video_header(video: Path) -> tuple[int, tuple[int, int]]:
    """The frame count and frame ``(width, height)`` in the video's header, read once per
    video (the file is opened, nothing is decoded)."""
    capture = cv2.VideoCapture(str(video))
    try:
        if not capture.isOpened():
            raise DataError(video, "cannot open video (unreadable or unsupported file)")
        properties = [
            capture.get(key)
            for key in (
                cv2.CAP_PROP_FRAME_COUNT,
                cv2.CAP_PROP_FRAME_WIDTH,
                cv2.CAP_PROP_FRAME_HEIGHT,
            )
        ]
    finally:
        capture.release()
    if not all(math.isfinite(value) and value >= 1 for value in properties):
        raise DataError(
            video, "the video header reports no frames or no frame size (corrupt file?)"
        )
    count, width, height = (int(value) for value in properties)
    return count, (width, height)
