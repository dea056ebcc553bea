"""Nothing lost on bad input: failures recorded, the rest written, runs resumable, any photo read.

``heatmark predict`` skips every input that fails with one line, lists it with its reason under
"failures", writes everything else as it goes and says in its exit status whether all, part or
nothing was processed. Photos of any pixel format and size are read with bounded memory.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import PIL.Image
import pytest
import torch
from rich.console import Console
from typer.testing import CliRunner

from heatmark.cli import app
from heatmark.data.readers.pts import write_pts
from heatmark.data.synthetic import synthetic_faces
from heatmark.errors import DataError
from heatmark.models.checkpoint import save_checkpoint
from heatmark.models.config import HourglassConfig, build_network
from heatmark.models.landmark_model import ModelDescription
from heatmark.predict import photos
from heatmark.predict.output import read_journal
from heatmark.predict.predictor import Predictor
from heatmark.predict.run import EXIT_ALL, EXIT_NOTHING, EXIT_PARTIAL, PredictOptions, run_predict

runner = CliRunner()
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "300w"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny untrained hourglass: the tests here are about inputs and outputs, not accuracy."""
    torch.manual_seed(0)
    network = build_network(HourglassConfig(stacks=1, width=16, depth=2), 68, False)
    stem = tmp_path_factory.mktemp("ckpt") / "tiny"
    save_checkpoint(
        stem,
        network,
        {
            "config": {"model": HourglassConfig(stacks=1, width=16, depth=2).model_dump()},
            "scheme": "300w-68",
            "description": ModelDescription("300w-68", 64, 1.25, 16, 1.0).to_dict(),
        },
    )
    return stem


def make_folder(root: Path, count: int) -> Path:
    """``count`` synthetic face images (+ .pts) in ``root/faces``."""
    folder = root / "faces"
    folder.mkdir(parents=True, exist_ok=True)
    for i, sample in enumerate(synthetic_faces(count, seed=3, size=96)):
        cv2.imwrite(str(folder / f"f{i}.png"), cv2.cvtColor(sample.image, cv2.COLOR_RGB2BGR))
        write_pts(folder / f"f{i}.pts", sample.points)
    return folder


def said(result) -> str:
    """The command's output with line wrapping undone."""
    return " ".join(result.output.split())


def predict(*args: str | Path, checkpoint: Path):
    command = ["predict", *map(str, args), "--checkpoint", str(checkpoint), "--detector", "none"]
    return runner.invoke(app, command)


# ---------------------------------------------------------------- failures are recorded
def test_a_bad_video_among_good_images_loses_nothing(checkpoint: Path, tmp_path: Path) -> None:
    folder = make_folder(tmp_path, 3)
    (folder / "clip.mp4").write_bytes(b"not a video at all")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff truncated jpeg")
    out = tmp_path / "out.json"
    result = predict(folder, "--out", out, checkpoint=checkpoint)
    assert result.exit_code == EXIT_PARTIAL == 3, result.output
    assert result.output.count("skipped:") == 2 and "Traceback" not in result.output
    document = json.loads(out.read_text())
    assert sorted(document["images"]) == ["f0", "f1", "f2"]  # every good image written
    assert all(len(entry["faces"]) == 1 for entry in document["images"].values())
    failures = {failure["key"]: failure for failure in document["failures"]}
    assert set(failures) == {"clip", "broken"}
    assert failures["clip"]["path"] == str(folder / "clip.mp4")
    assert "cannot open video" in failures["clip"]["reason"]
    assert "cannot decode image" in failures["broken"]["reason"]
    assert not (tmp_path / "out.json.partial.jsonl").exists()  # the journal is folded in


def test_exit_status_all_part_nothing(checkpoint: Path, tmp_path: Path) -> None:
    folder = make_folder(tmp_path, 1)
    good = predict(folder, "--out", tmp_path / "a.json", checkpoint=checkpoint)
    assert good.exit_code == EXIT_ALL == 0, good.output
    assert json.loads((tmp_path / "a.json").read_text())["failures"] == []
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"")
    nothing = predict(broken, "--out", tmp_path / "b.json", checkpoint=checkpoint)
    assert nothing.exit_code == EXIT_NOTHING == 1
    assert "nothing could be processed" in said(nothing)
    recorded = json.loads((tmp_path / "b.json").read_text())  # written all the same
    assert recorded["images"] == {} and recorded["failures"][0]["path"] == str(broken)
    part = predict(folder, broken, "--out", tmp_path / "c.json", checkpoint=checkpoint)
    assert part.exit_code == EXIT_PARTIAL
    help_text = said(runner.invoke(app, ["predict", "--help"]))
    assert "Exit status" in help_text and "3 some failed" in help_text


def test_eval_counts_the_faces_of_failed_images_as_missed(checkpoint: Path, tmp_path: Path) -> None:
    folder = make_folder(tmp_path, 2)
    out = tmp_path / "out.json"
    assert predict(folder, "--out", out, checkpoint=checkpoint).exit_code == 0
    document = json.loads(out.read_text())
    del document["images"]["f1"]  # as if f1 had failed to decode
    document["failures"] = [{"key": "f1", "path": "f1.png", "reason": "cannot decode image"}]
    out.write_text(json.dumps(document))
    scored = runner.invoke(app, ["eval", "--pred", str(out), "--gt", str(folder), "--json"])
    assert scored.exit_code == 0, scored.output
    metrics = json.loads(scored.stdout)
    assert metrics["images"] == 2 and metrics["detection_rate"] <= 0.5


# ---------------------------------------------------------------- written as it goes, resumed
class Killed(BaseException):
    """Stands for the run being killed (not an error heatmark would catch)."""


def test_a_killed_folder_run_keeps_its_work_and_resumes(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_folder(tmp_path, 5)
    out = tmp_path / "run.jsonl"
    from heatmark.models.checkpoint import load_landmark_model

    predictor = Predictor(load_landmark_model(checkpoint), detector="none", batch_size=2)
    calls = {"n": 0}
    real = Predictor.predict_batch

    def dies_on_the_second_batch(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise Killed
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Predictor, "predict_batch", dies_on_the_second_batch)
    quiet = Console(file=io.StringIO())
    with pytest.raises(Killed):
        run_predict([str(folder)], predictor, PredictOptions(out=out, format="jsonl"), quiet)
    header, done, failed = read_journal(out)
    assert sorted(done) == ["f0", "f1"] and not failed  # the first batch is on disk
    assert header["detector"] == "none"
    with out.open("a") as handle:  # a SIGKILL in the middle of writing a line
        handle.write('{"key": "f2", "path": "f2.pn')
    monkeypatch.setattr(Predictor, "predict_batch", real)

    resumed = predict(folder, "--out", out, "--format", "jsonl", "--resume", checkpoint=checkpoint)
    assert resumed.exit_code == 0, resumed.output
    assert "2 of 5 inputs done" in said(resumed)
    _, done, _ = read_journal(out)
    assert sorted(done) == [f"f{i}" for i in range(5)]
    again = predict(folder, "--out", out, "--format", "jsonl", "--resume", checkpoint=checkpoint)
    assert "5 of 5 inputs done, 0 to go" in said(again)
    scored = runner.invoke(app, ["eval", "--pred", str(out), "--gt", str(folder), "--json"])
    assert scored.exit_code == 0 and json.loads(scored.stdout)["images"] == 5


def test_a_killed_json_run_resumes_from_its_journal(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_folder(tmp_path, 4)
    out = tmp_path / "run.json"
    from heatmark.models.checkpoint import load_landmark_model

    predictor = Predictor(load_landmark_model(checkpoint), detector="none", batch_size=3)
    real = Predictor.predict_batch
    calls = {"n": 0}

    def dies(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise Killed
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Predictor, "predict_batch", dies)
    with pytest.raises(Killed):
        run_predict([str(folder)], predictor, PredictOptions(out=out), Console(file=io.StringIO()))
    journal = tmp_path / "run.json.partial.jsonl"
    assert journal.is_file() and not out.exists()
    monkeypatch.setattr(Predictor, "predict_batch", real)
    other = runner.invoke(
        app,
        ["predict", str(folder), "--out", str(out), "--resume", "--detector", "hog"]
        + ["--checkpoint", str(checkpoint)],
    )
    assert other.exit_code == 1 and "cannot resume" in said(other)  # another detector
    resumed = predict(folder, "--out", out, "--resume", checkpoint=checkpoint)
    assert resumed.exit_code == 0, resumed.output
    assert "3 of 4 inputs done" in said(resumed)
    assert sorted(json.loads(out.read_text())["images"]) == ["f0", "f1", "f2", "f3"]
    assert not journal.exists()


# ---------------------------------------------------------------- any photo
def face_photo() -> np.ndarray:
    if not SHARED.is_dir():
        pytest.skip("../shared/data/300w not available")
    return np.asarray(PIL.Image.open(SHARED / "afw" / "1051618982_1.jpg").convert("RGB"))


def test_grey_16_bit_rgba_and_cmyk_photos_are_read(tmp_path: Path) -> None:
    rgb = face_photo()
    image = PIL.Image.fromarray(rgb)
    image.convert("L").save(tmp_path / "grey.png")
    image.convert("RGBA").save(tmp_path / "rgba.png")
    image.convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    image.convert("CMYK").save(tmp_path / "cmyk.tif")
    deep = rgb.astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / "deep16.png"), deep[..., ::-1])
    cv2.imwrite(str(tmp_path / "grey16.tif"), deep[..., 0])
    grey = np.asarray(image.convert("L")).astype(int)
    for name in ("grey.png", "rgba.png", "cmyk.jpg", "cmyk.tif", "deep16.png", "grey16.tif"):
        photo = photos.read_photo(tmp_path / name)
        assert photo.rgb.dtype == np.uint8 and photo.rgb.shape == rgb.shape, name
        assert photo.factor == 1 and photo.size == (rgb.shape[1], rgb.shape[0])
        expected = {"grey.png": grey[..., None], "grey16.tif": rgb[..., :1].astype(int)}.get(
            name, rgb.astype(int)
        )
        assert np.abs(photo.rgb.astype(int) - expected).mean() < 6, name
    predictor = Predictor()
    for name in ("grey16.tif", "cmyk.jpg", "rgba.png"):
        assert len(predictor.predict(tmp_path / name)) >= 1, name


def test_reduced_decoding_keeps_points_in_the_photos_pixels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rgb = cv2.resize(face_photo(), None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    predictor = Predictor()
    full = predictor.predict(path)
    monkeypatch.setattr(photos, "MAX_PIXELS", rgb.shape[0] * rgb.shape[1] // 3)
    photo = photos.read_photo(path, photos.MAX_PIXELS)
    assert photo.factor == 2 and photo.rgb.shape[0] == rgb.shape[0] // 2
    monkeypatch.setattr(photos.as_photo, "__defaults__", (photos.MAX_PIXELS,))
    reduced = predictor.predict(path)
    assert len(full) == len(reduced) >= 1
    face_size = np.ptp(full[0].points, axis=0).max()
    gap = np.linalg.norm(full[0].points - reduced[0].points, axis=1).mean()
    assert gap < 0.03 * face_size  # same place in the photo's own pixels


@pytest.mark.slow
def test_a_huge_photo_is_decoded_reduced_and_landmarked(tmp_path: Path) -> None:
    """12,000 x 12,000 px (grey, to keep the test's own memory low): decoded at 1/2 (108 MB
    instead of 432 MB as RGB), the face found, points in the stored photo's pixels."""
    face = cv2.cvtColor(face_photo(), cv2.COLOR_RGB2GRAY)
    scale = 3000 / face.shape[0]
    big_face = cv2.resize(face, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    canvas = np.full((12000, 12000), 128, np.uint8)
    top, left = 5000, 6000
    canvas[top : top + big_face.shape[0], left : left + big_face.shape[1]] = big_face
    path = tmp_path / "huge.jpg"
    assert cv2.imwrite(str(path), canvas, [cv2.IMWRITE_JPEG_QUALITY, 80])
    del canvas
    photo = photos.read_photo(path)
    assert photo.size == (12000, 12000) and photo.factor == 2
    assert photo.rgb.shape == (6000, 6000, 3)
    del photo
    out = tmp_path / "huge.json"
    result = runner.invoke(app, ["predict", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    entry = json.loads(out.read_text())["images"]["huge"]
    assert entry["size"] == [12000, 12000] and len(entry["faces"]) >= 1
    points = np.array(entry["faces"][0]["points"])
    centre = points.mean(axis=0)
    assert left < centre[0] < left + big_face.shape[1]
    assert top < centre[1] < top + big_face.shape[0]


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header announces ``width`` x ``height`` (no real pixel data)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def test_images_beyond_the_limits_are_refused_clearly(checkpoint: Path, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(40000, 40000))
    with pytest.raises(DataError, match="too large") as caught:
        photos.read_photo(bomb)
    assert caught.value.path == bomb
    folder = make_folder(tmp_path, 1)
    (folder / "bomb.png").write_bytes(bomb.read_bytes())
    out = tmp_path / "out.json"
    result = predict(folder, "--out", out, checkpoint=checkpoint)
    assert result.exit_code == EXIT_PARTIAL, result.output
    (failure,) = json.loads(out.read_text())["failures"]
    assert failure["key"] == "bomb" and "too large" in failure["reason"]
    assert photos.reduction((100_000, 100_000), 40_000_000) == 0  # even 1/8 is too large
