"""Property-based fuzzing of every reader and prediction loader.

Arbitrary bytes and mutated valid files (byte flips, truncation, inserted garbage, numbers
replaced by nan / inf / 1e400 / huge / negative values, lines and values dropped or repeated,
and for .mat / json files values of the wrong type or shape) must end in a ``DataError`` whose
message names the file (or the folder read), or in a successful read with finite points --
never in another exception.

The runs are derandomised so the suite is reproducible; ``HEATMARK_FUZZ=20`` multiplies the
examples by 20 and draws fresh random ones (a deeper search, minutes rather than seconds).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from heatmark.data.readers import (
    format_pts,
    load_dataset,
    parse_pts,
    read_300vw_clip,
    read_300w,
    read_aflw_csv,
    read_aflw_mat,
    read_coco,
    read_cofw,
    read_lsp,
    read_predictions,
    read_pts,
    read_wflw,
    write_predictions,
    write_pts,
)
from heatmark.data.sample import Sample
from heatmark.errors import DataError
from heatmark.evaluate.prediction_file import read_prediction_file, write_prediction_json

SCALE = int(os.environ.get("HEATMARK_FUZZ", "1"))


def fuzz(examples: int) -> settings:
    """Hypothesis settings for ``examples`` examples (times ``HEATMARK_FUZZ``)."""
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        database=None,
        derandomize=SCALE == 1,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# --- mutations -------------------------------------------------------------------------------

NUMBER = re.compile(rb"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
NASTY_TEXTS = [
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e400",
    "-1e400",
    "1e30",
    "-1e30",
    "1e308",
    "-0",
    "0",
    "-1",
    "-5000",
    "99999999999999999999",
    "1" * 400,
    "7" * 5000,
    "",
    "x",
    "1_0",
    "\u0663",
    "\u00b2",
    "2.5.1",
    "0x10",
    "1e",
    "--1",
    ".",
    "1,5",
    "true",
    "null",
    "[]",
    "{}",
    '"',
    " ",
    "\n",
    "\t{",
    "}",
]
NASTY_FLOATS = [
    float("nan"),
    float("inf"),
    -float("inf"),
    1e30,
    -1e30,
    1e308,
    -1e308,
    0.0,
    -1.0,
    2.0,
    1e-300,
    3.5,
]
nasty_texts = st.sampled_from(NASTY_TEXTS) | st.floats().map(repr) | st.integers().map(str)


@st.composite
def mutated(draw: st.DrawFn, original: bytes, text: bool = True) -> bytes:
    """``original`` with 1-3 random edits, or (one time in ten) arbitrary bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=400))
    data = original
    kinds = ["flip", "truncate", "insert", "delete"]
    if text:
        kinds += ["number", "number", "number", "line"]
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(kinds))
        at = draw(st.integers(0, len(data)))
        if kind == "flip" and data:
            at = min(at, len(data) - 1)
            data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
        elif kind == "truncate":
            data = data[:at]
        elif kind == "insert":
            garbage = draw(st.binary(min_size=1, max_size=20) | nasty_texts.map(str.encode))
            data = data[:at] + garbage + data[at:]
        elif kind == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 40)) :]
        elif kind == "number":
            matches = list(NUMBER.finditer(data))
            if matches:
                match = matches[draw(st.integers(0, len(matches) - 1))]
                new = draw(nasty_texts).encode("utf-8")
                data = data[: match.start()] + new + data[match.end() :]
        elif kind == "line":
            lines = data.split(b"\n")
            index = draw(st.integers(0, len(lines) - 1))
            if draw(st.booleans()):
                del lines[index]
            else:
                lines.insert(index, lines[index])
            data = b"\n".join(lines)
    return data


def nasty_array(draw: st.DrawFn, array: np.ndarray) -> np.ndarray:
    """A numeric array with a few entries replaced, its shape cut or its type changed."""
    if np.asarray(array).dtype.kind not in "biuf":  # already made text or complex
        return array
    array = np.array(array, dtype=np.float64, copy=True)
    kind = draw(st.sampled_from(["values", "values", "values", "shape", "type", "empty"]))
    if kind == "values" and array.size:
        for _ in range(draw(st.integers(1, 4))):
            index = draw(st.integers(0, array.size - 1))
            array.reshape(-1)[index] = draw(st.sampled_from(NASTY_FLOATS) | st.floats())
        return array
    if kind == "shape" and array.size:
        axis = draw(st.integers(0, array.ndim - 1))
        keep = draw(st.integers(0, array.shape[axis] + 2))
        if keep <= array.shape[axis]:
            return np.take(array, range(keep), axis=axis)
        return np.concatenate([array, np.take(array, [0] * (keep - array.shape[axis]), axis)], axis)
    if kind == "type":
        choice = draw(st.integers(0, 5))
        with np.errstate(invalid="ignore"):  # int8 of nan: any value will do
            return [
                lambda: array.astype(np.int8),
                lambda: array.astype(np.complex128),
                lambda: array.astype(bool),
                lambda: np.array("not numbers"),
                lambda: array.reshape(-1),
                lambda: array[..., None],
            ][choice]()
    return np.zeros((0,))


def check_outcome(read: Callable[[], object], named: Path | str) -> object:
    """Run ``read``: a ``DataError`` must name ``named``; any other exception fails the test."""
    try:
        result = read()
    except DataError as error:
        assert str(named) in str(error), f"{named} not in: {error}"
        event("DataError")  # shares shown by pytest --hypothesis-show-statistics
        return None
    event("read")
    if isinstance(result, list):
        for sample in result:
            assert isinstance(sample, Sample) and np.isfinite(sample.points).all()
    elif isinstance(result, np.ndarray):
        assert np.isfinite(result).all()
    return result


def scratch(base: Path) -> tempfile.TemporaryDirectory:
    """A fresh folder per example (hypothesis and function-scoped tmp_path do not mix)."""
    return tempfile.TemporaryDirectory(dir=base)


# --- small valid files in every format --------------------------------------------------------


def write_image(path: Path, height: int = 48, width: int = 64) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2] = (40, 200, 90)
    assert cv2.imwrite(str(path), image)
    return path


def points(count: int, seed: int, low: float = 2.0, high: float = 38.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, size=(count, 2)).round(2)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One valid file (or tree) of every format, written once for the module."""
    root = tmp_path_factory.mktemp("fuzz")
    # 300-W tree
    for stem, suffix, seed in (("afw/a", ".png", 1), ("helen/trainset/b", ".jpg", 2)):
        write_pts(root / "300w" / f"{stem}.pts", points(68, seed))
        write_image(root / "300w" / f"{stem}{suffix}")
    # 300-VW clips: video and frames
    clip = root / "300vw" / "114"
    (clip / "annot").mkdir(parents=True)
    writer = cv2.VideoWriter(str(clip / "vid.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    for level in (30, 120, 220):
        writer.write(np.full((48, 64, 3), level, np.uint8))
    writer.release()
    frames = root / "300vw" / "001"
    for number in (1, 2):
        write_pts(clip / "annot" / f"{number:06d}.pts", points(68, 10 + number))
        write_pts(frames / "annot" / f"{number:06d}.pts", points(68, 20 + number))
        write_image(frames / "imgs" / f"{number:06d}.jpg")
    # shared images of the single-file formats
    for name in ("a.jpg", "b.png", "im0001.jpg", "im0002.jpg"):
        write_image(root / "images" / name)
    # WFLW list
    lines = []
    for seed, image in ((1, "a.jpg"), (2, "b.png")):
        values = [*points(98, seed).reshape(-1).tolist(), 1.0, 2.0, 50.0, 45.0, 1, 0, 0, 1, 0, 0]
        lines.append(" ".join(map(repr, values)) + f" {image}")
    (root / "list_98pt_rect_attr_test.txt").write_text("\n".join(lines) + "\n")
    # AFLW csv
    header = "image_name,scale,box_size,center_w,center_h," + ",".join(
        f"original_{i}_x,original_{i}_y" for i in range(19)
    )
    rows = [
        ",".join(
            [image, "1.5", "30.0", "20.0", "20.0", *map(repr, points(19, seed).ravel().tolist())]
        )
        for seed, image in ((3, "a.jpg"), (4, "b.png"))
    ]
    (root / "face_landmarks_aflw_test.csv").write_text("\n".join([header, *rows]) + "\n")
    # COCO json
    document = coco_document()
    (root / "faces.json").write_text(json.dumps(document))
    # .mat files
    scipy.io.savemat(str(root / "cofw_v5.mat"), cofw_variables())
    write_cofw_v73(root / "cofw_v73.mat", cofw_variables())
    scipy.io.savemat(str(root / "aflw.mat"), aflw_variables())
    scipy.io.savemat(str(root / "joints.mat"), lsp_variables())
    return root


def coco_document() -> dict:
    annotations = []
    for index, image_id in enumerate((7, 7, 9)):
        flat = np.concatenate([points(19, 30 + index), np.ones((19, 1))], axis=1)
        annotations.append(
            {
                "id": 100 + index,
                "image_id": image_id,
                "keypoints": flat.reshape(-1).tolist(),
                "bbox": [4.0, 6.0, 30.0, 20.0],
            }
        )
    images = [{"id": 7, "file_name": "a.jpg"}, {"id": 9, "file_name": "b.png"}]
    return {"images": images, "annotations": annotations}


def cofw_variables() -> dict:
    cell = np.empty((2, 1), dtype=object)
    cell[0, 0] = np.full((48, 64, 3), 77, np.uint8)
    cell[1, 0] = np.full((40, 56), 99, np.uint8)
    phis = np.zeros((2, 87))
    for row in range(2):
        face = points(29, 40 + row) + 1
        phis[row, :29], phis[row, 29:58] = face[:, 0], face[:, 1]
    phis[0, 60] = 1
    return {"IsT": cell, "phisT": phis, "bboxesT": np.array([[1.0, 2, 30, 30], [2, 3, 20, 20]])}


def write_cofw_v73(path: Path, variables: dict) -> Path:
    """MATLAB v7.3 layout: transposed datasets, the image cell as references into #refs#."""
    with h5py.File(path, "w", userblock_size=512) as file:
        refs = file.create_group("#refs#")
        references = []
        for index, image in enumerate(np.asarray(variables["IsT"], dtype=object).reshape(-1)):
            dataset = refs.create_dataset(f"i{index}", data=np.asarray(image).T)
            dataset.attrs["MATLAB_class"] = np.bytes_("uint8")
            references.append(dataset.ref)
        cell = file.create_dataset("IsT", data=np.array([references], dtype=h5py.ref_dtype))
        cell.attrs["MATLAB_class"] = np.bytes_("cell")
        for key in ("phisT", "bboxesT"):
            if key in variables:
                value = np.asarray(variables[key])
                dataset = file.create_dataset(key, data=value.T)
                dataset.attrs["MATLAB_class"] = np.bytes_("double")
    return path


def aflw_variables() -> dict:
    data = np.zeros((3, 38))
    names = np.empty((3, 1), dtype=object)
    for row in range(3):
        face = points(19, 50 + row)
        data[row, :19], data[row, 19:] = face[:, 0], face[:, 1]
        names[row, 0] = ("a.jpg", "b.png", "a.jpg")[row]
    return {
        "data": data,
        "bbox": np.array([[2.0, 40, 3, 40]] * 3),
        "mask_new": np.ones((3, 19)),
        "nameList": names,
        "ra": np.array([[2.0, 3, 1]]),
    }


def lsp_variables() -> dict:
    joints = np.zeros((3, 14, 2))  # LSP: 3 x 14 x N
    for index in range(2):
        joints[:2, :, index] = points(14, 60 + index).T + 1
    joints[2, 4, 1] = 1  # an occluded joint
    return {"joints": joints}


def test_the_files_being_mutated_are_valid(base):
    """Every mutation starts from a file its reader accepts."""
    images = base / "images"
    counts = [
        len(read_300w(base / "300w")),
        len(read_300vw_clip(base / "300vw" / "114")),
        len(read_300vw_clip(base / "300vw" / "001")),
        len(read_wflw(base / WFLW_TEXT_NAME, images)),
        len(read_aflw_csv(base / "face_landmarks_aflw_test.csv", images)),
        len(read_coco(base / "faces.json", images)),
        len(read_cofw(base / "cofw_v5.mat")),
        len(read_cofw(base / "cofw_v73.mat")),
        len(read_aflw_mat(base / "aflw.mat", images)),
        len(read_lsp(base / "joints.mat", images)),
    ]
    assert counts == [2, 2, 2, 2, 2, 3, 2, 2, 3, 2]


# --- .pts and the trees made of them -----------------------------------------------------------

PTS_TEXT = format_pts(points(68, 0)).encode()


@fuzz(1000)
@given(data=mutated(PTS_TEXT))
def test_fuzz_parse_pts(data):
    text = data.decode("utf-8", errors="replace")
    check_outcome(lambda: parse_pts(text, "fuzz/x.pts"), "fuzz/x.pts")
    check_outcome(lambda: parse_pts(text, "fuzz/x.pts", 68), "fuzz/x.pts")


@fuzz(200)
@given(data=mutated(PTS_TEXT))
def test_fuzz_read_pts_bytes(base, data):
    with scratch(base) as folder:
        path = Path(folder) / "face.pts"
        path.write_bytes(data)
        check_outcome(lambda: read_pts(path), path)


@fuzz(250)
@given(which=st.sampled_from(["afw/a.pts", "helen/trainset/b.pts", "afw/a.png"]), st_data=st.data())
def test_fuzz_read_300w_tree(base, which, st_data):
    with scratch(base) as folder:
        root = Path(folder) / "300w"
        shutil.copytree(base / "300w", root)
        original = (root / which).read_bytes()
        (root / which).write_bytes(st_data.draw(mutated(original, which.endswith(".pts"))))
        check_outcome(lambda: read_300w(root), root)
        check_outcome(lambda: load_dataset(root), root)


@fuzz(150)
@given(
    clip=st.sampled_from(["114", "001"]),
    which=st.sampled_from(["annot/000001.pts", "annot/000002.pts", "media", "rename"]),
    st_data=st.data(),
)
def test_fuzz_read_300vw_clip(base, clip, which, st_data):
    with scratch(base) as folder:
        root = Path(folder) / clip
        shutil.copytree(base / "300vw" / clip, root)
        if which == "rename":  # the file name is the frame number
            name = st_data.draw(
                st.sampled_from(["0", "000000", "\u00b2", "\u0663", "abc", "9" * 30])
            )
            (root / "annot" / "000002.pts").rename(root / "annot" / f"{name}.pts")
        else:
            if which == "media":
                which = "vid.avi" if clip == "114" else "imgs/000001.jpg"
            original = (root / which).read_bytes()
            (root / which).write_bytes(st_data.draw(mutated(original, which.endswith(".pts"))))
        check_outcome(lambda: read_300vw_clip(root), root)
        check_outcome(lambda: load_dataset(root), root)


# --- single-file formats ------------------------------------------------------------------------


def text_file_case(
    base: Path, name: str, data: bytes, read: Callable[[Path], object], images: bool = False
) -> None:
    """Write ``data`` as ``name`` in a fresh folder (with links to the images beside it when
    ``images``, where readers look by default) and read it."""
    with scratch(base) as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        if images:
            (Path(folder) / "images").symlink_to(base / "images")
            for image in (base / "images").iterdir():
                (Path(folder) / image.name).symlink_to(image)
        check_outcome(lambda: read(path), path)


WFLW_TEXT_NAME = "list_98pt_rect_attr_test.txt"


@fuzz(250)
@given(st_data=st.data())
def test_fuzz_read_wflw(base, st_data):
    data = st_data.draw(mutated((base / WFLW_TEXT_NAME).read_bytes()))
    text_file_case(base, WFLW_TEXT_NAME, data, lambda path: read_wflw(path, base / "images"))


@fuzz(250)
@given(st_data=st.data())
def test_fuzz_read_aflw_csv(base, st_data):
    name = "face_landmarks_aflw_test.csv"
    data = st_data.draw(mutated((base / name).read_bytes()))
    text_file_case(base, name, data, lambda path: read_aflw_csv(path, base / "images"))


@st.composite
def json_values(draw: st.DrawFn) -> object:
    leaves = (
        st.none()
        | st.booleans()
        | st.floats()
        | st.integers()
        | st.sampled_from([10**400, -(10**30), 2**64, 7, 9, 100])
        | st.text(max_size=6)
    )
    return draw(
        st.recursive(
            leaves,
            lambda children: (
                st.lists(children, max_size=5)
                | st.dictionaries(st.text(max_size=5), children, max_size=3)
            ),
            max_leaves=10,
        )
    )


def json_slots(node: object) -> list[tuple[dict | list, object]]:
    """Every (container, key) pair of a parsed json document, depth first."""
    if not isinstance(node, (dict, list)):
        return []
    slots: list[tuple[dict | list, object]] = []
    for key, value in list(node.items() if isinstance(node, dict) else enumerate(node)):
        slots.append((node, key))
        slots += json_slots(value)
    return slots


@st.composite
def mutated_json(draw: st.DrawFn, document: object) -> bytes:
    """``document`` with a few of its values replaced, removed or given company, as json text;
    or the text mutated byte-wise."""
    if draw(st.booleans()):
        return draw(mutated(json.dumps(document, indent=1).encode()))
    document = json.loads(json.dumps(document))
    for _ in range(draw(st.integers(1, 3))):
        slots = json_slots(document)
        if not slots:
            break
        node, key = slots[draw(st.integers(0, len(slots) - 1))]
        action = draw(st.sampled_from(["replace", "replace", "number", "delete", "append"]))
        if action == "replace":
            node[key] = draw(json_values())
        elif action == "number":
            node[key] = draw(st.sampled_from([*NASTY_FLOATS, 10**400, -(10**30), True, "1"]))
        elif action == "delete":
            del node[key]
        elif isinstance(node, list):
            node.append(draw(json_values()))
        else:
            node[draw(st.text(max_size=8))] = draw(json_values())
    return json.dumps(document).encode()


@fuzz(400)
@given(st_data=st.data())
def test_fuzz_read_coco(base, st_data):
    data = st_data.draw(mutated_json(coco_document()))
    text_file_case(base, "faces.json", data, lambda path: read_coco(path, base / "images"))


@st.composite
def mutated_mat(draw: st.DrawFn, variables: dict, path: Path) -> tuple[str, object]:
    """A mutation of a .mat file: ("bytes", data) or ("variables", dict)."""
    if draw(st.integers(0, 2)) == 0:
        return "bytes", draw(mutated(path.read_bytes(), text=False))
    variables = dict(variables)
    for _ in range(draw(st.integers(1, 2))):
        if not variables:
            break
        key = draw(st.sampled_from(sorted(variables)))
        value = variables[key]
        if draw(st.integers(0, 5)) == 0:
            del variables[key]
        elif isinstance(value, np.ndarray) and value.dtype == object:  # a cell array
            cell = value.copy()
            index = draw(st.integers(0, cell.size - 1))
            cell.reshape(-1)[index] = draw(
                st.sampled_from(
                    [
                        np.zeros((0, 0), np.uint8),
                        np.full((3, 4, 4), 9, np.uint8),
                        np.full((6, 6, 3), 1.5),
                        "text",
                        np.array([1e30]),
                    ]
                )
            )
            variables[key] = cell
        else:
            variables[key] = nasty_array(draw, value)
    return "variables", variables


def mat_case(
    base: Path,
    variables: dict,
    mutation: tuple[str, object],
    read: Callable[[Path], object],
    write: Callable[[Path, dict], object],
) -> None:
    kind, payload = mutation
    with scratch(base) as folder:
        path = Path(folder) / "file.mat"
        if kind == "bytes":
            path.write_bytes(payload)
        else:
            try:
                write(path, payload)
            except (ValueError, TypeError, OverflowError):  # the writer refused: nothing to read
                return
        check_outcome(lambda: read(path), path)
        check_outcome(lambda: load_dataset(path), path)


def savemat(path: Path, variables: dict) -> None:
    scipy.io.savemat(str(path), variables)


@fuzz(200)
@given(st_data=st.data())
def test_fuzz_read_cofw_v5(base, st_data):
    variables = cofw_variables()
    mutation = st_data.draw(mutated_mat(variables, base / "cofw_v5.mat"))
    mat_case(base, variables, mutation, read_cofw, savemat)


@fuzz(150)
@given(st_data=st.data())
def test_fuzz_read_cofw_v73(base, st_data):
    variables = cofw_variables()
    mutation = st_data.draw(mutated_mat(variables, base / "cofw_v73.mat"))
    if mutation[0] == "variables" and "IsT" not in mutation[1]:
        mutation[1]["IsT"] = np.empty((0, 1), dtype=object)
    mat_case(base, variables, mutation, read_cofw, write_cofw_v73)


@fuzz(200)
@given(st_data=st.data())
def test_fuzz_read_aflw_mat(base, st_data):
    variables = aflw_variables()
    mutation = st_data.draw(mutated_mat(variables, base / "aflw.mat"))
    mat_case(base, variables, mutation, lambda path: read_aflw_mat(path, base / "images"), savemat)


@fuzz(200)
@given(st_data=st.data())
def test_fuzz_read_lsp(base, st_data):
    variables = lsp_variables()
    mutation = st_data.draw(mutated_mat(variables, base / "joints.mat"))
    mat_case(base, variables, mutation, lambda path: read_lsp(path, base / "images"), savemat)


FORMAT_FILES = [
    "list_98pt_rect_attr_test.txt",
    "face_landmarks_aflw_test.csv",
    "faces.json",
    "cofw_v5.mat",
    "cofw_v73.mat",
    "aflw.mat",
    "joints.mat",
]


@fuzz(300)
@given(
    source=st.sampled_from(FORMAT_FILES),
    suffix=st.sampled_from([".json", ".txt", ".csv", ".mat", ".pts", ".avi", ".yaml", ""]),
    prefix=st.sampled_from(["list_98pt_x", "data", "face_landmarks_aflw_y"]),
    st_data=st.data(),
)
def test_fuzz_load_dataset_detection(base, source, suffix, prefix, st_data):
    """Any content under any of the recognised suffixes, images where readers look for them."""
    if st_data.draw(st.booleans()):
        suffix = Path(source).suffix  # half the time, the format's own suffix
    original = (base / source).read_bytes()
    data = st_data.draw(mutated(original, text=not source.endswith(".mat")))
    text_file_case(base, prefix + suffix, data, load_dataset, images=True)


# --- prediction loaders -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def predicted(base: Path) -> tuple[list[Sample], Path, Path]:
    """Ground truth of the 300-W tree, with its predictions as a .pts tree and as json."""
    samples = read_300w(base / "300w")
    predictions = np.stack([sample.points + 0.5 for sample in samples])
    write_predictions(base / "pred", samples, predictions)
    write_prediction_json(base / "pred.json", samples, predictions)
    return samples, base / "pred", base / "pred.json"


@fuzz(200)
@given(which=st.sampled_from(["afw/a.pts", "helen/trainset/b.pts"]), st_data=st.data())
def test_fuzz_read_predictions_tree(base, predicted, which, st_data):
    samples, tree, _ = predicted
    with scratch(base) as folder:
        root = Path(folder) / "pred"
        shutil.copytree(tree, root)
        (root / which).write_bytes(st_data.draw(mutated((root / which).read_bytes())))
        check_outcome(lambda: read_predictions(root, samples), root)
        check_outcome(lambda: read_prediction_file(root, samples), root)


@fuzz(400)
@given(st_data=st.data())
def test_fuzz_read_prediction_json(base, predicted, st_data):
    samples, _, json_path = predicted
    data = st_data.draw(mutated_json(json.loads(json_path.read_text())))
    text_file_case(base, "pred.json", data, lambda path: read_prediction_file(path, samples))


# --- regressions the fuzzing found ---------------------------------------------------------------


def test_prediction_json_huge_integer_strings_and_booleans_are_data_errors(base, predicted):
    samples, _, json_path = predicted
    document = json.loads(json_path.read_text())
    key = next(iter(document["predictions"]))
    path = base / "regression.json"
    for bad in ([[10**400, 1.0]] * 68, [["1.5", "2"]] * 68, [[True, False]] * 68):
        document["predictions"][key] = bad
        path.write_text(json.dumps(document))
        with pytest.raises(DataError, match="is not a list of") as caught:
            read_prediction_file(path, samples)
        assert caught.value.path == path
    assert read_prediction_file(path, []).shape == (0, 0, 2)  # no samples: no predictions


def test_300vw_frame_name_with_non_ascii_digits_is_a_data_error(base):
    with tempfile.TemporaryDirectory(dir=base) as folder:
        root = Path(folder) / "001"
        shutil.copytree(base / "300vw" / "001", root)
        (root / "annot" / "000002.pts").rename(root / "annot" / "\u00b2.pts")  # isdigit()
        with pytest.raises(DataError, match="1-based frame number") as caught:
            read_300vw_clip(root)
        assert caught.value.path == root / "annot" / "\u00b2.pts"


def test_aflw_mat_text_permutation_is_a_data_error(base):
    variables = aflw_variables()
    variables["ra"] = "not a permutation"
    path = base / "aflw_ra.mat"
    scipy.io.savemat(str(path), variables)
    with pytest.raises(DataError, match="ra must be a permutation") as caught:
        read_aflw_mat(path, base / "images")
    assert caught.value.path == path


def test_image_name_too_long_for_the_os_is_a_data_error(base):
    """``Path.is_file`` raises OSError (ENAMETOOLONG) rather than answering False."""
    path = base / "long_name.txt"
    line = (base / WFLW_TEXT_NAME).read_text().splitlines()[0].rsplit(" ", 1)[0]
    path.write_text(f"{line} {'n' * 300}.jpg\n")
    for image_root in (None, base / "images"):  # guessing the root, and given it
        with pytest.raises(DataError, match="image file not found") as caught:
            read_wflw(path, image_root)
        assert caught.value.path == path and caught.value.line == 1
