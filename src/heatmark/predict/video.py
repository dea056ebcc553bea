"""Video in and out: frames of a file, folder or array stream, and annotated video writing.

A video file is decoded in ONE ``cv2.VideoCapture`` stream, frame after frame (never re-opened
or seeked per frame: seeking is slow and inexact for most codecs). Frame times are
``index / fps`` seconds, with ``fps`` from the container; a container that reports none (or a
nonsense value) is taken as ``DEFAULT_FPS``. Variable-frame-rate videos are thus treated as
constant-rate, which only matters for the smoothing's time constants.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import cv2
import numpy as np

from heatmark.data.readers.files import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from heatmark.data.sample import as_rgb, read_image
from heatmark.errors import DataError, HeatmarkError

if TYPE_CHECKING:
    from heatmark.predict.faces import FrameResult
    from heatmark.predict.tracking import Tracker

DEFAULT_FPS = 25.0
"""Frame rate assumed for image folders, arrays, and videos whose container states none (25 is
the PAL rate, and the frame rate of 300-VW's clips)."""
MAX_FPS = 1000.0
"""Container rates above this are time-base artefacts (e.g. 90000 or 1000), not frame rates."""

WRITER_CODECS: dict[str, str] = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG"}
"""Output suffix -> FourCC of ``VideoWriter`` (codecs every OpenCV build with FFmpeg has)."""

Frame = tuple[int, float, np.ndarray]
"""``(index, time_s, rgb)``: 0-based frame index, time in seconds, RGB uint8 (H, W, 3)."""
FrameSource = str | Path | np.ndarray | Iterable[np.ndarray]
"""A video file, an image file, a folder of images, or RGB arrays (one array or a stream)."""


def is_video(path: str | Path) -> bool:
    """Whether ``path`` names a video file, by its suffix (``VIDEO_SUFFIXES``, any case)."""
    suffix = Path(path).suffix.lower()
    return suffix in {s.lower() for s in VIDEO_SUFFIXES}


def is_image(path: str | Path) -> bool:
    """Whether ``path`` names an image file, by its suffix (``IMAGE_SUFFIXES``, any case)."""
    suffix = Path(path).suffix.lower()
    return suffix in {s.lower() for s in IMAGE_SUFFIXES}


def natural_key(path: Path) -> list[Any]:
    """Sort key putting ``frame_2.png`` before ``frame_10.png`` (digit runs compare as numbers)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def folder_images(folder: Path) -> list[Path]:
    """The image files directly in ``folder``, in natural name order (the frame order)."""
    return sorted((p for p in folder.iterdir() if p.is_file() and is_image(p)), key=natural_key)


class ClosedOnExit:
    """A context manager whose exit calls ``close`` (which subclasses define, idempotent)."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


class FrameReader(ClosedOnExit):
    """The frames of one source, read once, in order; a video file is opened here, once.

    Args:
        source: a video file, an image file (one frame), a folder of images (natural name
            order), a (T, H, W, 3) array, one (H, W, 3) array, or an iterable of RGB arrays.
        fps: frame rate for the time stamps (default: the container's, else ``DEFAULT_FPS``).

    Raises ``DataError`` naming the path when it is missing or cannot be opened. Use as a
    context manager (or call ``close``) to release the file early.

    Attributes:
        fps: the frame rate used for ``time_s``.
        frame_count: the container's frame count (an estimate; None when unknown).
        path: the file or folder read, None for arrays.
    """

    def __init__(self, source: FrameSource, fps: float | None = None) -> None:
        if fps is not None and not (math.isfinite(fps) and fps > 0):
            raise HeatmarkError(f"fps must be a positive number, got {fps}")
        self.path: Path | None = None
        self.frame_count: int | None = None
        self._capture: Any = None
        self._images: list[Path] | None = None
        self._arrays: Iterable[np.ndarray] | None = None
        self._used = False
        self.fps = float(fps) if fps is not None else DEFAULT_FPS
        if isinstance(source, str | Path):
            self._open_path(Path(source), fps)
        elif isinstance(source, np.ndarray) and source.ndim in (2, 3):
            self._arrays = [source]
        else:
            self._arrays = source

    def _open_path(self, path: Path, fps: float | None) -> None:
        self.path = path
        if path.is_dir():
            self._images = folder_images(path)
            if not self._images:
                raise DataError(path, "no image files in this folder (expected video frames)")
            self.frame_count = len(self._images)
            return
        if not path.is_file():
            raise DataError(path, "video file or image folder not found")
        if is_image(path):
            self._images = [path]
            self.frame_count = 1
            return
        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            capture.release()
            raise DataError(path, "cannot open video (not a video, or a codec OpenCV lacks)")
        self._capture = capture
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
        self.frame_count = int(count) if math.isfinite(count) and count > 0 else None
        if fps is None:
            rate = capture.get(cv2.CAP_PROP_FPS)
            if math.isfinite(rate) and 0 < rate <= MAX_FPS:
                self.fps = float(rate)

    def __iter__(self) -> Iterator[Frame]:
        if self._used:
            raise HeatmarkError(f"{self.path or 'frames'}: a FrameReader can be iterated once")
        self._used = True
        return self._frames()

    def _frames(self) -> Iterator[Frame]:
        try:
            for index, rgb in enumerate(self._decoded()):
                yield index, index / self.fps, rgb
        finally:
            self.close()

    def _decoded(self) -> Iterator[np.ndarray]:
        if self._capture is not None:
            assert self.path is not None
            index = 0
            while True:
                ok, bgr = self._capture.read()
                if not ok or bgr is None:
                    if index == 0:
                        raise DataError(self.path, "video has no readable frame")
                    return
                index += 1
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        elif self._images is not None:
            for image in self._images:
                yield read_image(image)
        else:
            assert self._arrays is not None
            for index, array in enumerate(self._arrays):
                yield as_rgb(array, f"frame {index}")

    def close(self) -> None:
        """Release the video file (idempotent)."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None


def iter_frames(source: FrameSource, fps: float | None = None) -> Iterator[Frame]:
    """``(index, time_s, rgb)`` for each frame of ``source`` (see ``FrameReader``).

    The source is opened now, so a bad path raises ``DataError`` at the call, not at the first
    frame; the file is released when the iteration ends or the iterator is closed.
    """
    return iter(FrameReader(source, fps))


class VideoWriter(ClosedOnExit):
    """Writes RGB frames to a video file: ``.mp4``/``.m4v``/``.mov`` (mp4v) or ``.avi`` (MJPG).

    The file is opened at the first frame (its size sets the video's), or at once when
    ``size=(width, height)`` is given; the parent folder is created. All frames must have the
    same size (OpenCV would silently drop the others). Odd widths or heights are padded by one
    replicated row/column at the bottom/right (the codecs' encoders would crop them instead), so
    every drawn pixel keeps its coordinates. Use as a context manager.
    """

    def __init__(
        self, path: str | Path, fps: float = DEFAULT_FPS, size: tuple[int, int] | None = None
    ) -> None:
        self.path = Path(path)
        codec = WRITER_CODECS.get(self.path.suffix.lower())
        if codec is None:
            known = ", ".join(WRITER_CODECS)
            raise DataError(self.path, f"cannot write video of this type (use one of: {known})")
        if not (math.isfinite(fps) and fps > 0):
            raise HeatmarkError(f"{self.path}: fps must be a positive number, got {fps}")
        self.fps = float(fps)
        self.codec = codec
        self.frames = 0
        self.size: tuple[int, int] | None = None
        self._writer: Any = None
        if size is not None:
            self._open((int(size[0]), int(size[1])))

    def _open(self, size: tuple[int, int]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DataError(self.path, f"cannot create the output folder ({error})") from error
        even = (size[0] + size[0] % 2, size[1] + size[1] % 2)
        writer = cv2.VideoWriter(
            str(self.path), cv2.VideoWriter_fourcc(*self.codec), self.fps, even
        )
        if not writer.isOpened():
            writer.release()
            raise DataError(
                self.path,
                f"cannot open video writer ({self.codec} codec, {size[0]}x{size[1]}): the folder"
                " is not writable or this OpenCV build lacks the codec",
            )
        self._writer, self.size = writer, size

    def write(self, rgb: np.ndarray) -> None:
        """Append one RGB uint8 (H, W, 3) frame."""
        rgb = as_rgb(rgb, f"{self.path} frame {self.frames}")
        size = (rgb.shape[1], rgb.shape[0])
        if self._writer is None:
            if self.size is not None:
                raise HeatmarkError(f"{self.path}: the writer is closed")
            self._open(size)
        if size != self.size:
            width, height = self.size or (0, 0)
            raise HeatmarkError(
                f"{self.path}: frame {self.frames} is {size[0]}x{size[1]}, the video is "
                f"{width}x{height}"
            )
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        if size[0] % 2 or size[1] % 2:
            bgr = cv2.copyMakeBorder(bgr, 0, size[1] % 2, 0, size[0] % 2, cv2.BORDER_REPLICATE)
        self._writer.write(bgr)
        self.frames += 1

    def close(self) -> None:
        """Finish the file (idempotent). A writer that got no frame writes no file."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None


def track_video(
    source: FrameSource,
    tracker: Tracker,
    video_out: str | Path | None = None,
    fps: float | None = None,
    **draw_options: Any,
) -> Iterator[FrameResult]:
    """Track the faces of ``source`` frame by frame (one stream), yielding a ``FrameResult``
    per frame, and write the frames annotated by ``draw_faces(**draw_options)`` to
    ``video_out`` (at the source's frame rate) when given."""
    from heatmark.predict.draw import draw_faces

    reader = FrameReader(source, fps)
    writer = VideoWriter(video_out, reader.fps) if video_out is not None else None
    try:
        for index, time, rgb in reader:
            result = tracker.update(index, time, rgb)
            if writer is not None:
                writer.write(draw_faces(rgb, result.faces, **draw_options))
            yield result
    finally:
        reader.close()
        if writer is not None:
            writer.close()
