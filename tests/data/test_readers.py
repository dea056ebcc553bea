"""Readers of .pts-based benchmarks (300-W trees, 300-VW clips), the auto-loader and the
prediction tree; files are written in the original layouts inside each test."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from heatmark.data.readers import (
    format_pts,
    load_dataset,
    parse_pts,
    prediction_keys,
    read_300vw,
    read_300w,
    read_lsp,
    read_predictions,
    read_pts,
    split_300w,
    write_predictions,
    write_pts,
)
from heatmark.errors import ConfigError, DataError
from heatmark.schemes import FACE_68, WFLW_98


def face_points(seed: int = 0, count: int = 68) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 40, size=(count, 2)).round(3)


def write_image(path: Path, height: int = 48, width: int = 64) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.zeros((height, width, 3), np.uint8)
    image[:, :, 2] = 200  # red in BGR
    assert cv2.imwrite(str(path), image)
    return path


def pts_text(rows: list[str], n_points: int | str | None = None) -> str:
    header = "version: 1\n" + (f"n_points: {n_points}\n" if n_points is not None else "")
    return header + "{\n" + "\n".join(rows) + "\n}\n"


def face_tree(root: Path, parts: dict[str, int]) -> dict[str, np.ndarray]:
    """Write ``parts`` -> number of faces as a 300-W tree; return points by .pts path."""
    written = {}
    for part, number in parts.items():
        for index in range(number):
            stem = root / part / f"face{index:02d}"
            points = face_points(len(written))
            write_pts(stem.with_suffix(".pts"), points)
            write_image(stem.with_suffix(".png" if index % 2 else ".jpg"))
            written[str(stem.with_suffix(".pts"))] = points
    return written


# --- .pts format -----------------------------------------------------------------------------


def test_pts_one_based_on_disk_zero_based_inside(tmp_path):
    path = tmp_path / "a.pts"
    path.write_text(pts_text(["1 1", "11.5 3"], 2))
    np.testing.assert_array_equal(read_pts(path), [[0.0, 0.0], [10.5, 2.0]])
    path.write_text(pts_text(["743.224 1.1"]))
    np.testing.assert_array_equal(read_pts(path), [[742.224, 0.1]])  # one rounding only
    write_pts(path, np.array([[0.0, 0.0], [4.25, 7.0]]))
    text = path.read_text()
    assert "{\n1.0 1.0\n5.25 8.0\n}" in text and "n_points: 2" in text


def test_pts_write_read_round_trip_is_exact(tmp_path):
    dyadic = np.random.default_rng(1).integers(0, 4096, size=(68, 2)) / 16.0
    write_pts(tmp_path / "d.pts", dyadic)
    np.testing.assert_array_equal(read_pts(tmp_path / "d.pts"), dyadic)
    rng = np.random.default_rng(2)
    generic = np.concatenate(
        [
            rng.uniform(-5, 3, size=(40, 2)),
            rng.uniform(0, 5000, (40, 2)),
            [[0.1 + 0.2, 1e-300], [511.75, 1023.999999999], [-0.5, 2.0**60]],
        ]
    )
    write_pts(tmp_path / "g.pts", generic)
    np.testing.assert_array_equal(read_pts(tmp_path / "g.pts"), generic)  # bit-exact


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(-1e7, 1e7, allow_nan=False), min_size=2, max_size=40).filter(
        lambda values: len(values) % 2 == 0
    )
)
def test_pts_text_round_trip_is_bit_exact_for_any_float(values):
    points = np.array(values).reshape(-1, 2)
    np.testing.assert_array_equal(parse_pts(format_pts(points), "p.pts"), points)


def test_pts_accepts_header_variants_and_blank_lines():
    text = "version: 1\nn_points:  3\n\n{\n 1 2 \n\n3 4\n5 6\n}\n\n"
    np.testing.assert_array_equal(parse_pts(text, "x.pts"), [[0, 1], [2, 3], [4, 5]])
    assert parse_pts("{\n1 1\n}", "y.pts").shape == (1, 2)


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (pts_text(["1 2", "3 4", "5 6"], 2), 2, "n_points: 2"),
        (pts_text(["1 2", "nan 4"]), 4, "not finite"),
        (pts_text(["1 2", "3 abc"]), 4, "non-numeric"),
        (pts_text(["1 2 3"]), 3, "two numbers"),
        ("version: 1\nn_points: 2\n{\n1 2\n3 4\n", 5, "missing '}'"),
        ("version: 1\nn_points: 2\n1 2\n3 4\n}\n", 3, "header"),
        ("version: 1\nn_points: x\n{\n1 2\n}\n", 2, "not an integer"),
        (pts_text(["1 2"]) + "trailing\n", 5, "after '}'"),
    ],
)
def test_malformed_pts_names_file_and_line(tmp_path, text, line, reason):
    path = tmp_path / "bad.pts"
    path.write_text(text)
    with pytest.raises(DataError) as caught:
        read_pts(path)
    assert caught.value.path == path and caught.value.line == line
    assert reason in str(caught.value) and str(caught.value).startswith(f"{path}:{line}:")


def test_pts_missing_brace_wrong_count_and_missing_file(tmp_path):
    path = tmp_path / "x.pts"
    path.write_text("version: 1\nn_points: 2\n")
    with pytest.raises(DataError, match=r"x\.pts: missing '\{'"):
        read_pts(path)
    path.write_text(pts_text(["1 2", "3 4"]))
    with pytest.raises(DataError, match="expected 68 points, got 2"):
        read_pts(path, 68)
    with pytest.raises(DataError, match="not found"):
        read_pts(tmp_path / "absent.pts")


def test_pts_overflowing_coordinate_names_file_and_line(tmp_path):
    """1e400 overflows to inf: reported at its 1-based line, not as a 0-based point index."""
    rows = [f"{x:g} {y:g}" for x, y in face_points() + 1]
    for bad, text in (("1e400", "1e400 5"), ("long", "1" * 400 + " 5"), ("nan", "nan 5")):
        path = tmp_path / bad / "face.pts"
        path.parent.mkdir()
        path.write_text(pts_text([*rows[:9], text, *rows[10:]], 68))
        write_image(path.with_suffix(".jpg"))
        for read in (read_pts, read_300w):
            with pytest.raises(DataError) as caught:
                read(path)
            assert caught.value.path == path and caught.value.line == 13  # 3 header lines + 10
            assert "not finite" in str(caught.value) and str(caught.value).startswith(f"{path}:13:")


def test_sample_names_a_non_finite_point_one_based():
    from heatmark.data.sample import Sample

    points = face_points()
    points[2, 1] = np.inf
    with pytest.raises(DataError, match=r"x\.pts: point 3 \(1-based\) is not finite"):
        Sample(points=points, scheme=FACE_68, source="x.pts")


def test_pts_accepts_only_ascii_decimal_numbers():
    """float() takes '1_000' and other scripts' digits, numpy and .pts files do not."""
    for text in ("1_000 2", "\u0661 2", "0x10 2", "1e5e 2"):
        with pytest.raises(DataError, match="non-numeric") as caught:
            parse_pts(pts_text(["1 1", text]), "q.pts")
        assert caught.value.line == 4
    np.testing.assert_array_equal(
        parse_pts(pts_text(["1e1 +.5", "-2. 3E0"]), "e.pts"), [[9, -0.5], [-3, 2]]
    )
    # exponents beyond Decimal's range underflow to 0 like float() does (found by fuzzing)
    np.testing.assert_array_equal(
        parse_pts(pts_text(["6.6e-4499999999999999999999 1e-400"]), "u.pts"), [[-1, -1]]
    )


# --- 300-W trees -----------------------------------------------------------------------------


def test_300w_tree_subsets_order_and_conversion(tmp_path):
    root = tmp_path / "300W"
    written = face_tree(
        root, {"afw": 2, "helen/trainset": 1, "helen/testset": 1, "lfpw/testset": 2, "ibug": 1}
    )
    samples = read_300w(root)
    assert [s.source for s in samples] == sorted(written)  # deterministic, sorted paths
    for sample in samples:
        np.testing.assert_array_equal(sample.points, written[sample.source])
        assert sample.scheme is FACE_68 and sample.image_path.is_file()
        assert sample.image_path.stem == Path(sample.source).stem
    subsets = [s.subset for s in samples]
    assert subsets == [
        "afw",
        "afw",
        "helen/testset",
        "helen/trainset",
        "ibug",
        "lfpw/testset",
        "lfpw/testset",
    ]
    splits = [split_300w(s) for s in subsets]
    assert splits.count("common") == 3 and splits.count("challenge") == 1
    assert splits.count("train") == 3
    # pointing inside the tree keeps the part names
    assert {s.subset for s in read_300w(root / "helen")} == {"helen/testset", "helen/trainset"}


def test_split_300w_table():
    assert split_300w("lfpw/testset") == "common" and split_300w("helen/testset") == "common"
    assert split_300w("ibug") == "challenge" and split_300w("lfpw/trainset") == "train"
    assert split_300w("01_Indoor") == "" and split_300w("") == ""


def test_300w_missing_image_and_unreadable_image(tmp_path):
    write_pts(tmp_path / "afw" / "lonely.pts", face_points())
    with pytest.raises(DataError, match=r"lonely\.pts: no image beside it"):
        read_300w(tmp_path)
    garbage = tmp_path / "afw" / "lonely.jpg"
    garbage.write_bytes(b"not a jpeg at all")
    with pytest.raises(DataError) as caught:  # the header is read at read time: fails early
        read_300w(tmp_path)
    assert caught.value.path == garbage and "cannot read the image" in str(caught.value)
    assert "lonely.pts" in str(caught.value)  # and says which annotation uses it
    garbage.unlink()
    whole = write_image(tmp_path / "whole.png").read_bytes()
    (tmp_path / "afw" / "lonely.png").write_bytes(whole[: len(whole) // 2])  # header intact
    (sample,) = read_300w(tmp_path)  # the pixels are decoded lazily
    with pytest.raises(DataError, match=r"lonely\.png: cannot decode image"):
        sample.load_image()


def test_300w_mixed_point_counts_and_empty_tree(tmp_path):
    face_tree(tmp_path, {"afw": 1})
    write_pts(tmp_path / "afw" / "zz.pts", face_points(count=98))
    write_image(tmp_path / "afw" / "zz.jpg")
    with pytest.raises(DataError, match=r"zz\.pts: expected 68 points"):
        read_300w(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no \.pts files"):
        read_300w(tmp_path / "empty")
    wflw_tree = tmp_path / "wflw"
    write_pts(wflw_tree / "p.pts", face_points(count=98))
    write_image(wflw_tree / "p.jpg")
    assert read_300w(wflw_tree)[0].scheme is WFLW_98  # the scheme follows from the count


def physical_tree(root: Path, points: np.ndarray) -> Path:
    """One 68-point face on a 64 x 48 image; returns the .pts path."""
    path = write_pts(root / "afw" / "face.pts", points)
    write_image(path.with_suffix(".jpg"))  # 64 wide, 48 high: margin 32 px
    return path


@pytest.mark.parametrize(
    ("point", "accepted"),
    [
        ((64 - 0.5 + 32 - 0.01, 10.0), True),  # just inside the 50% margin
        ((64 - 0.5 + 32 + 0.01, 10.0), False),  # just past it, right
        ((10.0, -0.5 - 32 - 0.01), False),  # past it, top
        ((10.0, 48 - 0.5 + 32 + 0.01), False),  # past it, bottom
        ((1e30, 10.0), False),  # far beyond anything physical
        ((-1e30, 10.0), False),
    ],
)
def test_300w_point_outside_the_image_margin_names_the_line(tmp_path, point, accepted):
    points = face_points()
    points[20] = point
    path = physical_tree(tmp_path, points)
    if accepted:
        assert len(read_300w(tmp_path)) == 1
        return
    with pytest.raises(DataError) as caught:
        read_300w(tmp_path)
    message = str(caught.value)
    assert caught.value.path == path and caught.value.line == 24  # point 21 of the block
    assert "point 21 of 68" in message and "50% of the image's larger side" in message
    assert "64 x 48 image" in message


def test_300w_placeholder_and_zero_inter_ocular_are_refused(tmp_path):
    path = physical_tree(tmp_path / "zeros", np.zeros((68, 2)))
    with pytest.raises(DataError, match="all 68 points are identical") as caught:
        read_300w(path.parent)
    assert caught.value.path == path
    points = face_points()
    points[45] = points[36]  # outer eye corners on top of each other
    path = physical_tree(tmp_path / "eyes", points)
    with pytest.raises(DataError, match=r"inter-ocular distance \(points 37 and 46\) is 0"):
        read_300w(path.parent)
    points[45] += 0.25  # a small but real distance is fine
    write_pts(path, points)
    assert len(read_300w(path.parent)) == 1


# --- 300-VW clips ----------------------------------------------------------------------------

FRAME_COLOURS = [(0, 0, 255), (0, 255, 0), (255, 0, 0)]  # BGR: red, green, blue


def write_clip(clip: Path, numbers: list[int], video: bool = True) -> dict[int, np.ndarray]:
    clip.mkdir(parents=True)
    if video:
        writer = cv2.VideoWriter(
            str(clip / "vid.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48)
        )
        assert writer.isOpened()
        for colour in FRAME_COLOURS:
            writer.write(np.full((48, 64, 3), colour, np.uint8))
        writer.release()
    points = {}
    for number in numbers:
        points[number] = face_points(number)
        write_pts(clip / "annot" / f"{number:06d}.pts", points[number])
        if not video:
            write_image(clip / "imgs" / f"{number:06d}.jpg")
    return points


def test_300vw_video_frames_are_one_based_annotations(tmp_path):
    written = write_clip(tmp_path / "114", [1, 3])
    samples = read_300vw(tmp_path / "114")
    assert [s.frame_index for s in samples] == [0, 2]
    assert all(s.image_path == tmp_path / "114" / "vid.avi" for s in samples)
    assert {s.subset for s in samples} == {"category1"}
    np.testing.assert_array_equal(samples[1].points, written[3])
    first, third = samples[0].load_image(), samples[1].load_image()  # RGB
    assert first.shape == (48, 64, 3)
    assert first[..., 0].mean() > 200 and first[..., 2].mean() < 60  # red frame
    assert third[..., 2].mean() > 200 and third[..., 0].mean() < 60  # blue frame


def test_300vw_annotation_past_the_video_end(tmp_path):
    write_clip(tmp_path / "001", [1, 5])
    with pytest.raises(DataError, match=r"000005\.pts: frame 5 is past the end"):
        read_300vw(tmp_path / "001")


def test_300vw_frames_variant_and_root_of_clips(tmp_path):
    write_clip(tmp_path / "001", [2, 7], video=False)
    write_clip(tmp_path / "410", [1], video=True)
    samples = load_dataset(tmp_path)  # a 300-VW root: every clip, sorted
    assert [(s.image_path.name, s.frame_index, s.subset) for s in samples] == [
        ("000002.jpg", None, "train"),
        ("000007.jpg", None, "train"),
        ("vid.avi", 0, "category3"),
    ]
    (tmp_path / "001" / "imgs" / "000007.jpg").unlink()
    with pytest.raises(DataError, match=r"000007\.pts: no frame image"):
        read_300vw(tmp_path / "001")


def test_300vw_clip_without_frames_or_video(tmp_path):
    write_pts(tmp_path / "009" / "annot" / "000001.pts", face_points())
    with pytest.raises(DataError, match="expected imgs/ or exactly one video"):
        read_300vw(tmp_path / "009")


def test_300vw_points_are_checked_against_the_frame_size(tmp_path):
    write_clip(tmp_path / "vid" / "114", [1, 2])  # 64 x 48 video: size from its header
    write_clip(tmp_path / "frames" / "114", [1, 2], video=False)  # 64 x 48 frames
    for clip in (tmp_path / "vid" / "114", tmp_path / "frames" / "114"):
        assert len(read_300vw(clip)) == 2
        far = face_points()
        far[67] = (64 - 0.5 + 32 + 1, 0)
        path = write_pts(clip / "annot" / "000002.pts", far)
        with pytest.raises(DataError, match=r"point 68 of 68 .* 64 x 48 image") as caught:
            read_300vw(clip)
        assert caught.value.path == path and caught.value.line == 71


# --- auto-loader -----------------------------------------------------------------------------


def test_load_dataset_recognises_pts_trees_and_rejects_the_rest(tmp_path):
    face_tree(tmp_path / "tree", {"ibug": 2})
    assert [s.subset for s in load_dataset(tmp_path / "tree")] == ["ibug", "ibug"]
    one = sorted((tmp_path / "tree" / "ibug").glob("*.pts"))[0]
    assert len(load_dataset(one)) == 1
    (tmp_path / "notes.yaml").write_text("a: 1\n")
    with pytest.raises(DataError, match=r"notes\.yaml: unrecognised annotation format"):
        load_dataset(tmp_path / "notes.yaml")
    (tmp_path / "plain.txt").write_text("hello world\n")
    with pytest.raises(DataError, match="unrecognised"):
        load_dataset(tmp_path / "plain.txt")
    (tmp_path / "nothing").mkdir()
    with pytest.raises(DataError, match="no annotations found"):
        load_dataset(tmp_path / "nothing")
    with pytest.raises(DataError, match="no such file"):
        load_dataset(tmp_path / "missing")
    with pytest.raises(DataError, match="1-based"):
        load_dataset(tmp_path / "tree", origin="pixel-corner")
    with pytest.raises(ConfigError, match="origin must be one of one-based, zero-based"):
        load_dataset(tmp_path / "tree", origin="two-based")


# --- prediction trees ------------------------------------------------------------------------


def test_predictions_round_trip_through_pts_tree(tmp_path):
    face_tree(tmp_path / "gt", {"afw": 2, "ibug": 1})
    samples = read_300w(tmp_path / "gt")
    predictions = np.stack([s.points + 0.125 for s in samples])
    files = write_predictions(tmp_path / "pred", samples, predictions)
    assert [f.relative_to(tmp_path / "pred").as_posix() for f in files] == [
        "afw/face00.pts",
        "afw/face01.pts",
        "ibug/face00.pts",
    ]
    np.testing.assert_array_equal(read_predictions(tmp_path / "pred", samples), predictions)
    files[1].unlink()
    with pytest.raises(DataError, match=r"face01\.pts: no prediction"):
        read_predictions(tmp_path / "pred", samples)


def test_prediction_keys_are_unique_for_faces_sharing_an_image(tmp_path):
    image = write_image(tmp_path / "img" / "crowd.jpg")
    video = tmp_path / "001" / "vid.avi"
    from heatmark.data.sample import Sample

    samples = [
        Sample(points=face_points(), scheme=FACE_68, image_path=image),
        Sample(points=face_points(), scheme=FACE_68, image_path=image),
        Sample(points=face_points(), scheme=FACE_68, image_path=video, frame_index=5),
        Sample(points=face_points(), scheme=FACE_68, image=np.zeros((4, 4, 3), np.uint8)),
    ]
    assert prediction_keys(samples) == [
        "img/crowd_face1",
        "img/crowd_face2",
        "001/vid/000006",
        "sample_000004",
    ]


# --- the real data in ../shared/data ---------------------------------------------------------


def test_shared_300w_reads_all_faces_from_headers_only(shared, monkeypatch):
    """Invariants that hold however many faces ../shared/data/300w holds. Reading is fast
    because it opens each image's header once and decodes no pixels: counted here (the speed
    itself is benchmarks/bench_data_pipeline.py's business, not a wall-clock assert)."""
    root = shared("300w")
    pts_files = sorted(path.resolve() for path in root.rglob("*.pts"))
    opened: list[str] = []
    real_open = Image.open

    def counting_open(path, *args, **kwargs):
        opened.append(str(path))
        return real_open(path, *args, **kwargs)

    def no_decoding(*args, **kwargs):
        raise AssertionError("read_300w decoded pixels")

    monkeypatch.setattr(Image, "open", counting_open)
    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr(cv2, "imread", no_decoding)
    samples = read_300w(root)
    monkeypatch.undo()
    # every .pts on disk parses into one face, none twice
    assert len(samples) == len(pts_files) > 0
    assert sorted(Path(s.source).resolve() for s in samples) == pts_files
    # one header read per image file (faces of one photo share it)
    images = {str(s.image_path) for s in samples}
    assert sorted(opened) == sorted(images)
    for sample in samples:
        source = Path(sample.source)
        assert sample.subset == source.parent.relative_to(root).as_posix()  # named by folder
        assert sample.image_path.parent == source.parent
        assert sample.scheme is FACE_68 and sample.points.shape == (68, 2)
        with Image.open(sample.image_path) as image:
            width, height = image.size
        x, y = sample.points[:, 0], sample.points[:, 1]
        assert (x >= -0.5).all() and (x <= width - 0.5).all(), sample.source
        assert (y >= -0.5).all() and (y <= height - 0.5).all(), sample.source
    first = samples[0]
    assert first.source.endswith("afw/1051618982_1.pts")
    np.testing.assert_allclose(first.points[0], [135.217939, 174.879239])  # file: 136.2, 175.9
    assert first.load_image().shape[1::-1] == Image.open(first.image_path).size


def test_shared_lsp_reads_with_invisible_placeholders(shared):
    """The real LSP joints: invisible joints hold placeholders outside the image (-1, or an
    edge value) and must not be refused; the images' torso joints are all real."""
    path = shared("lsp/joints.mat")
    samples = read_lsp(path)
    assert len(samples) == 400 and all(s.image_path.is_file() for s in samples)
    outside = 0
    for sample in samples:
        with Image.open(sample.image_path) as image:
            width, height = image.size
        hidden = ~sample.visible
        x, y = sample.points[:, 0], sample.points[:, 1]
        off = (x < -0.5) | (y < -0.5) | (x > width - 0.5) | (y > height - 0.5)
        outside += int((off & hidden).sum())
    assert outside > 100  # many placeholders are off the image, and were accepted


def test_shared_300vw_fixture_pts_and_json_agree(shared):
    root = shared("fixtures/300vw")
    from_pts = {s.image_path: s for s in load_dataset(root)}
    assert len(from_pts) == 4 and {s.subset for s in from_pts.values()} == {"train", "category1"}
    from_json = load_dataset(root / "anno_300vw.json")
    assert len(from_json) == 3
    for sample in from_json:  # the json copies the 1-based .pts values: default origin matches
        np.testing.assert_array_equal(sample.points, from_pts[sample.image_path].points)
    assert from_json[0].load_image().shape == (720, 1280, 3)


@pytest.mark.parametrize(
    ("name", "count", "scheme_points"),
    [
        ("300w/test_300w.json", 2, 68),
        ("wflw/test_wflw.json", 4, 98),
        ("cofw/test_cofw.json", 2, 29),
        ("aflw/test_aflw.json", 2, 19),
        ("coco/test_coco_wholebody.json", 4, 68),
    ],
)
def test_shared_fixture_jsons(shared, name, count, scheme_points):
    samples = load_dataset(shared(f"fixtures/{name}"))
    assert len(samples) == count
    assert all(s.scheme.num_points == scheme_points and s.image_path.is_file() for s in samples)
    assert all(s.box is not None and s.box[2] > s.box[0] for s in samples)


def test_shared_fixture_jsons_without_a_scheme_are_refused(shared):
    with pytest.raises(DataError, match="106 points"):
        load_dataset(shared("fixtures/lapa/test_lapa.json"))
    with pytest.raises(DataError, match="not a COCO keypoint file"):
        load_dataset(shared("fixtures/coco/test_coco_det_AP_H_56.json"))
