"""Reading frames in one stream, writing annotated video, drawing faces."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from heatmark.errors import DataError, HeatmarkError
from heatmark.predict.draw import draw_faces, score_color
from heatmark.predict.faces import Face
from heatmark.predict.tracking import Tracker
from heatmark.predict.video import (
    DEFAULT_FPS,
    FrameReader,
    VideoWriter,
    is_video,
    iter_frames,
    track_video,
)

W, H = 96, 64


def clip(count: int = 12) -> list[np.ndarray]:
    """Frames with a disc moving right and the frame index coded in a grey patch's level."""
    frames = []
    for i in range(count):
        rgb = np.full((H, W, 3), 40, np.uint8)
        cv2.circle(rgb, (20 + 4 * i, 36), 10, (230, 120, 60), -1)
        rgb[:16, :16] = 10 + 20 * i
        frames.append(rgb)
    return frames


def write_clip(path: Path, frames: list[np.ndarray], fps: float = 30.0) -> Path:
    with VideoWriter(path, fps=fps) as writer:
        for rgb in frames:
            writer.write(rgb)
    assert writer.frames == len(frames)
    return path


@pytest.mark.parametrize("suffix", [".avi", ".mp4"])
def test_written_clip_reads_back_in_order_from_one_capture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    path = write_clip(tmp_path / f"clip{suffix}", clip())
    opened: list[str] = []
    real = cv2.VideoCapture

    def counting(*args, **kwargs):
        opened.append(str(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(cv2, "VideoCapture", counting)
    frames = list(iter_frames(path))
    assert opened == [str(path)]  # one stream for the whole video
    assert [index for index, _, _ in frames] == list(range(12))
    assert [t for _, t, _ in frames] == pytest.approx([i / 30.0 for i in range(12)])
    assert all(rgb.shape == (H, W, 3) and rgb.dtype == np.uint8 for _, _, rgb in frames)
    levels = [float(rgb[4:12, 4:12].mean()) for _, _, rgb in frames]
    assert levels == pytest.approx([10 + 20 * i for i in range(12)], abs=8)  # order kept
    # colours come back as RGB (the disc is orange, not blue)
    disc = frames[0][2][36, 20].astype(int)
    assert disc[0] > disc[2] + 100


def test_reader_reports_fps_and_count_and_closes(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "clip.avi", clip(5), fps=12.0)
    with FrameReader(path) as reader:
        assert reader.fps == pytest.approx(12.0)
        assert reader.frame_count == 5
        assert len(list(reader)) == 5
        with pytest.raises(HeatmarkError, match="iterated once"):
            iter(reader)
    assert [t for _, t, _ in iter_frames(path, fps=50.0)][1] == pytest.approx(0.02)


class FakeCapture:
    """A capture whose container states no frame rate, with ``frames`` frames."""

    frames = 2

    def __init__(self, path: str) -> None:
        self.left = self.frames

    def isOpened(self) -> bool:
        return True

    def get(self, prop: int) -> float:
        return 0.0

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.left == 0:
            return False, None
        self.left -= 1
        return True, np.zeros((4, 6, 3), np.uint8)

    def release(self) -> None:
        pass


def test_missing_frame_rate_falls_back_and_empty_video_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "norate.mp4"
    path.write_bytes(b"x")
    monkeypatch.setattr(cv2, "VideoCapture", FakeCapture)
    frames = list(iter_frames(path))
    assert [t for _, t, _ in frames] == [0.0, 1.0 / DEFAULT_FPS]
    monkeypatch.setattr(FakeCapture, "frames", 0)
    with pytest.raises(DataError, match="no readable frame") as error:
        list(iter_frames(path))
    assert error.value.path == path


def test_bad_sources_raise_data_errors_naming_them(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.mp4"
    with pytest.raises(DataError, match="not found") as error:
        iter_frames(missing)  # raised at the call, before any frame is asked for
    assert str(missing) in str(error.value)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"this is not a video" * 10)
    with pytest.raises(DataError) as error:
        list(iter_frames(garbage))
    assert error.value.path == garbage
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no image files"):
        iter_frames(empty)


def test_image_folder_is_read_in_natural_order(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for number in (10, 2, 1):
        bgr = np.full((8, 10, 3), number * 10, np.uint8)
        cv2.imwrite(str(folder / f"frame_{number}.png"), bgr)
    (folder / "notes.txt").write_text("not a frame")
    frames = list(iter_frames(folder))
    assert [int(rgb[0, 0, 0]) for _, _, rgb in frames] == [10, 20, 100]
    assert [t for _, t, _ in frames] == pytest.approx([0.0, 1 / DEFAULT_FPS, 2 / DEFAULT_FPS])
    single = list(iter_frames(folder / "frame_2.png"))
    assert len(single) == 1 and single[0][2].shape == (8, 10, 3)


def test_arrays_are_frames(tmp_path: Path) -> None:
    grey = np.full((5, 7), 9, np.uint8)
    frames = list(iter_frames([grey, np.zeros((5, 7, 3), np.uint8)], fps=10.0))
    assert frames[0][2].shape == (5, 7, 3) and int(frames[0][2][0, 0, 1]) == 9
    assert frames[1][1] == pytest.approx(0.1)
    stack = np.zeros((3, 5, 7, 3), np.uint8)
    assert len(list(iter_frames(stack))) == 3
    assert len(list(iter_frames(stack[0]))) == 1  # one image is one frame
    with pytest.raises(HeatmarkError, match=r"frame 1.*uint8"):
        list(iter_frames([grey, grey.astype(np.float32)]))


def test_is_video_by_suffix() -> None:
    assert is_video("a/clip.mp4") and is_video("CLIP.MP4") and is_video("x.Mov")
    assert not is_video("face.png") and not is_video("clip")


def test_writer_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="use one of") as error:
        VideoWriter(tmp_path / "out.gif")
    assert error.value.path == tmp_path / "out.gif"
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DataError, match="cannot"):
        VideoWriter(blocker / "out.mp4").write(np.zeros((H, W, 3), np.uint8))
    writer = VideoWriter(tmp_path / "sizes.avi")
    writer.write(np.zeros((H, W, 3), np.uint8))
    with pytest.raises(HeatmarkError, match="is 10x8, the video is 96x64"):
        writer.write(np.zeros((8, 10, 3), np.uint8))
    writer.close()
    with pytest.raises(HeatmarkError, match="closed"):
        writer.write(np.zeros((H, W, 3), np.uint8))
    nothing = VideoWriter(tmp_path / "nothing.mp4")
    nothing.close()
    assert not (tmp_path / "nothing.mp4").exists()


def test_odd_frame_sizes_are_padded_not_cropped(tmp_path: Path) -> None:
    rgb = np.zeros((63, 95, 3), np.uint8)
    rgb[-8:, -8:] = 200  # the last row and column must survive the encoder
    write_clip(tmp_path / "odd.avi", [rgb, rgb])
    frames = [frame for _, _, frame in iter_frames(tmp_path / "odd.avi")]
    assert len(frames) == 2 and frames[0].shape == (64, 96, 3)
    assert frames[0][62, 94].mean() > 170 and frames[0][63, 95].mean() > 170
    assert frames[0][:50, :80].mean() < 10


def still_face() -> Face:
    points = np.array([[30.0, 20.0], [60.0, 20.0], [45.0, 40.0]])
    return Face(points=points, scores=np.array([0.9, 0.1, 0.5]), box=np.array([25, 15, 65, 45]))


def test_draw_faces_draws_on_a_copy() -> None:
    rgb = np.zeros((H, W, 3), np.uint8)
    face = still_face()
    face.track_id = 3
    out = draw_faces(rgb, [face], radius=2, color=(0, 255, 0))
    assert not rgb.any()  # input untouched
    assert tuple(out[20, 30]) == (0, 255, 0) and tuple(out[40, 45]) == (0, 255, 0)
    assert out[15, 25:66].any() and out[:15, 20:50].any()  # box edge and the "#3" label
    plain = draw_faces(rgb, [face], radius=2, boxes=False, ids=False)
    assert not plain[15, 35:45].any() and not plain[:13].any()
    colored = draw_faces(rgb, [face], radius=2, score_colors=True)
    assert tuple(colored[20, 30]) == score_color(0.9) == (51, 255, 0)  # sure: green
    assert tuple(colored[20, 60]) == score_color(0.1) == (255, 51, 0)  # unsure: red
    assert score_color(0.0) == (255, 0, 0) and score_color(1.0) == (0, 255, 0)
    assert score_color(0.5) == (255, 255, 0) and score_color(float("nan")) == (255, 0, 0)
    face.points = np.array([[np.nan, 1.0], [10.0, 10.0], [50.0, 30.0]])
    face.raw_points = np.array([[5.0, 5.0], [12.0, 50.0], [80.0, 50.0]])
    out = draw_faces(rgb, [face], radius=1, raw=True, boxes=False, ids=False)
    assert out[50, 12].any() and out[50, 80].any() and out[10, 10].any()


def test_track_video_writes_an_annotated_clip(tmp_path: Path) -> None:
    source = write_clip(tmp_path / "in.avi", clip(8), fps=20.0)
    face = still_face()
    calls = []

    def detect(rgb: np.ndarray) -> np.ndarray:
        calls.append(rgb.shape)
        return np.array([[*face.box, 0.9]])

    def landmark(rgb: np.ndarray, boxes: np.ndarray) -> list[Face]:
        return [Face(points=face.points.copy(), scores=face.scores, box=b) for b in boxes]

    tracker = Tracker(detect, landmark, redetect_every=4, min_score=0.1)
    out = tmp_path / "out" / "annotated.mp4"
    results = list(track_video(source, tracker, out, radius=2))
    assert [r.index for r in results] == list(range(8))
    assert [f.track_id for r in results for f in r.faces] == [0] * 8
    assert len(calls) == 2  # frames 0 and 4
    with FrameReader(out) as reader:
        assert reader.fps == pytest.approx(20.0)
        frames = [rgb for _, _, rgb in reader]
    assert len(frames) == 8 and frames[0].shape == (H, W, 3)
    assert all(rgb[20, 30, 1] > 180 and rgb[20, 30, 0] < 100 for rgb in frames)  # green point
