"""Readers of the single-file benchmark formats: WFLW lists, COFW / AFLW / LSP ``.mat`` files,
the HRNet AFLW csv and COCO-style json. Each test writes the original layout itself."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import scipy.io

from heatmark.data.readers import (
    WFLW_ATTRIBUTES,
    CoordinateOrigin,
    load_dataset,
    read_aflw_csv,
    read_aflw_mat,
    read_coco,
    read_cofw,
    read_lsp,
    read_predictions,
    read_wflw,
    write_predictions,
)
from heatmark.errors import DataError
from heatmark.schemes import AFLW_19, COFW_29, FACE_68, LSP_14, WFLW_98


def write_image(path: Path, height: int = 40, width: int = 60) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((height, width, 3), 90, np.uint8))
    return path


def grid_points(count: int, seed: int) -> np.ndarray:
    """Points on a 1/8-pixel grid, so every conversion below is exact in float64."""
    return np.random.default_rng(seed).integers(8, 400, size=(count, 2)) / 8.0


# --- WFLW ------------------------------------------------------------------------------------


def wflw_line(points: np.ndarray, box, flags, image: str) -> str:
    numbers = [*points.reshape(-1).tolist(), *box, *flags]
    return (
        " ".join(f"{value:g}" if isinstance(value, int) else repr(value) for value in numbers)
        + f" {image}"
    )


@pytest.fixture
def wflw_release(tmp_path):
    """The WFLW release layout: lists two folders below the root, images in WFLW_images/."""
    lists = tmp_path / "WFLW_annotations" / "list_98pt_rect_attr_train_test"
    lists.mkdir(parents=True)
    for name in ("12--Group/a.jpg", "12--Group/b.jpg"):
        write_image(tmp_path / "WFLW_images" / name)
    faces = [
        (grid_points(98, seed), [10, 20, 200, 220], flags, image)
        for seed, flags, image in (
            (1, [1, 0, 0, 0, 1, 0], "12--Group/a.jpg"),
            (2, [0, 0, 0, 0, 0, 0], "12--Group/a.jpg"),
            (3, [0, 1, 1, 1, 0, 1], "12--Group/b.jpg"),
        )
    ]
    path = lists / "list_98pt_rect_attr_test.txt"
    path.write_text("\n".join(wflw_line(*face) for face in faces) + "\n")
    return path, faces


def test_wflw_list_fields_and_image_root(wflw_release):
    path, faces = wflw_release
    samples = read_wflw(path)
    assert len(samples) == 3
    for number, (sample, (points, box, flags, image)) in enumerate(
        zip(samples, faces, strict=True), start=1
    ):
        assert sample.scheme is WFLW_98 and sample.subset == "test"
        assert sample.source == f"{path}:{number}"
        np.testing.assert_array_equal(sample.points, points)  # zero-based: taken as they are
        np.testing.assert_array_equal(sample.box, box)
        assert sample.attributes == dict(zip(WFLW_ATTRIBUTES, map(bool, flags), strict=True))
        assert sample.image_path == path.parents[2] / "WFLW_images" / image
    shifted = load_dataset(path, origin=CoordinateOrigin.ONE_BASED)
    np.testing.assert_array_equal(shifted[0].points, faces[0][0] - 1)


def test_wflw_predictions_round_trip_with_two_faces_per_image(wflw_release, tmp_path):
    samples = read_wflw(wflw_release[0])
    predictions = np.stack([s.points[list(WFLW_98.flip_permutation)] for s in samples])
    files = write_predictions(tmp_path / "pred", samples, predictions)
    assert [f.name for f in files] == ["a_face1.pts", "a_face2.pts", "b.pts"]
    np.testing.assert_array_equal(read_predictions(tmp_path / "pred", samples), predictions)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda fields: fields[:-2] + fields[-1:], "expected 207 fields"),
        (lambda fields: ["nan", *fields[1:]], "not finite"),
        (lambda fields: ["1,5", *fields[1:]], "not a number"),
        (lambda fields: fields[:200] + ["2"] + fields[201:], "flags must be 0 or 1"),
        (lambda fields: [*fields[:-1], "12--Group/missing.jpg"], "image file not found"),
    ],
)
def test_malformed_wflw_line_names_file_and_line(wflw_release, mutate, reason):
    path, _ = wflw_release
    lines = path.read_text().splitlines()
    lines[1] = " ".join(mutate(lines[1].split()))
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as caught:
        read_wflw(path)
    assert caught.value.path == path and caught.value.line == 2 and reason in str(caught.value)


def test_empty_wflw_list(tmp_path):
    path = tmp_path / "list_98pt_rect_attr_train.txt"
    path.write_text("\n\n")
    with pytest.raises(DataError, match="empty"):
        load_dataset(path)


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda values: values.__setitem__(7, 1e30), "point 4 of 98 (0, 1e+30) lies more than 50%"),
        (lambda values: values.__setitem__(slice(0, 196), [3.0] * 196), "all 98 points are"),
        (
            lambda values: values.__setitem__(slice(144, 146), values[120:122]),
            "inter-ocular distance (points 61 and 73) is 0",
        ),
    ],
)
def test_wflw_non_physical_annotation_names_file_and_line(wflw_release, edit, reason):
    path, _ = wflw_release
    lines = path.read_text().splitlines()
    fields = lines[1].split()
    values = [float(field) for field in fields[:-1]]
    values[6] = 0.0  # point 4 at x = 0
    edit(values)
    lines[1] = " ".join([*map(repr, values[:200]), *fields[200:]])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as caught:
        read_wflw(path)
    assert caught.value.path == path and caught.value.line == 2
    assert reason in str(caught.value) and "image 2" not in str(caught.value)


# --- COFW (MATLAB v7.3 = HDF5, and v5) -------------------------------------------------------


def cofw_faces():
    """Two faces (colour 40 x 56, grey 40 x 48) with points inside the images."""
    colour = np.zeros((40, 56, 3), np.uint8)
    colour[1, 4] = (250, 10, 20)  # R, G, B of one pixel at row 1, column 4
    colour[:, :, 1] = np.arange(56, dtype=np.uint8)[None, :] * 3  # green encodes the column
    grey = (np.arange(40 * 48) % 251).astype(np.uint8).reshape(40, 48)
    phis = np.zeros((2, 87))
    for row in range(2):
        points = grid_points(29, 10 + row) + 1  # MATLAB 1-based
        phis[row, :29], phis[row, 29:58] = points[:, 0], points[:, 1]
    phis[0, 58 + 3] = phis[1, 58 + 20] = 1  # occluded points
    boxes = np.array([[11.0, 21.0, 30.0, 40.0], [1.0, 2.0, 3.0, 4.0]])
    return [colour, grey], phis, boxes


def write_cofw_v73(path: Path, images, phis, boxes, names=("IsT", "phisT", "bboxesT")) -> Path:
    """A MATLAB v7.3 file as MATLAB writes it: column-major (transposed) datasets, the image
    cell as object references into #refs#, MATLAB_class attributes, a 512-byte user block."""
    images_key, phis_key, boxes_key = names
    with h5py.File(path, "w", userblock_size=512) as file:
        refs = file.create_group("#refs#")
        references = []
        for index, image in enumerate(images):
            dataset = refs.create_dataset(f"img{index}", data=np.asarray(image).T)
            dataset.attrs["MATLAB_class"] = np.bytes_("uint8")
            references.append(dataset.ref)
        cell = file.create_dataset(images_key, data=np.array([references], dtype=h5py.ref_dtype))
        cell.attrs["MATLAB_class"] = np.bytes_("cell")  # MATLAB N x 1 -> HDF5 1 x N
        for key, matrix in ((phis_key, phis), (boxes_key, boxes)):
            file.create_dataset(key, data=np.asarray(matrix).T).attrs["MATLAB_class"] = np.bytes_(
                "double"
            )
    with path.open("r+b") as handle:
        handle.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: heatmark test")
    return path


def write_cofw_v5(path: Path, images, phis, boxes) -> Path:
    cell = np.empty((len(images), 1), dtype=object)
    for index, image in enumerate(images):
        cell[index, 0] = image
    scipy.io.savemat(str(path), {"IsT": cell, "phisT": phis, "bboxesT": boxes})
    return path


def test_cofw_v73_layout_transposition_and_conversion(tmp_path):
    images, phis, boxes = cofw_faces()
    path = write_cofw_v73(tmp_path / "COFW_test_color.mat", images, phis, boxes)
    assert h5py.is_hdf5(str(path))
    samples = load_dataset(path)
    assert len(samples) == 2 and all(s.scheme is COFW_29 and s.subset == "test" for s in samples)
    colour = samples[0].load_image()
    assert colour.shape == (40, 56, 3) and colour.dtype == np.uint8
    assert colour[1, 4, 0] == 250 and colour[1, 4, 2] == 20  # RGB order kept
    np.testing.assert_array_equal(colour[3, :, 1], np.arange(56) * 3)  # columns not transposed
    grey = samples[1].image
    assert grey.shape == (40, 48, 3) and (grey[..., 0] == grey[..., 2]).all()
    assert grey[2, 5, 1] == (2 * 48 + 5) % 251
    np.testing.assert_array_equal(samples[0].points[:, 0], phis[0, :29] - 1)
    np.testing.assert_array_equal(samples[0].points[:, 1], phis[0, 29:58] - 1)
    assert np.flatnonzero(~samples[0].visible).tolist() == [3]
    assert np.flatnonzero(~samples[1].visible).tolist() == [20]
    np.testing.assert_array_equal(samples[0].box, [10, 20, 40, 60])  # x y w h, 1-based
    assert samples[1].source == f"{path}:phisT[2]"


def test_cofw_v5_and_v73_files_read_the_same(tmp_path):
    images, phis, boxes = cofw_faces()
    v73 = read_cofw(write_cofw_v73(tmp_path / "a.mat", images, phis, boxes))
    v5 = read_cofw(write_cofw_v5(tmp_path / "b.mat", images, phis, boxes))
    for left, right in zip(v73, v5, strict=True):
        np.testing.assert_array_equal(left.points, right.points)
        np.testing.assert_array_equal(left.image, right.image)
        np.testing.assert_array_equal(left.visible, right.visible)
        np.testing.assert_array_equal(left.box, right.box)


def test_cofw_train_variables_and_origin_override(tmp_path):
    images, phis, boxes = cofw_faces()
    path = write_cofw_v73(
        tmp_path / "COFW_train_color.mat", images, phis, boxes, names=("IsTr", "phisTr", "bboxesTr")
    )
    samples = read_cofw(path, origin=CoordinateOrigin.ZERO_BASED)
    assert {s.subset for s in samples} == {"train"}
    np.testing.assert_array_equal(samples[0].points[:, 0], phis[0, :29])


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda phis: phis[:, :80], "80 columns"),
        (lambda phis: np.where(np.arange(87) == 5, np.nan, phis), "phisT row 1: a coordinate"),
        (lambda phis: np.where(np.arange(87) == 70, 2.0, phis), "occlusion flags"),
        (lambda phis: phis[:1], "1 rows but IsT holds 2 images"),
    ],
)
def test_malformed_cofw_names_the_file(tmp_path, edit, reason):
    images, phis, boxes = cofw_faces()
    path = write_cofw_v73(tmp_path / "bad.mat", images, edit(phis), boxes[: len(edit(phis))])
    with pytest.raises(DataError) as caught:
        read_cofw(path)
    assert caught.value.path == path and reason in str(caught.value)


def test_cofw_occluded_points_may_lie_outside_but_not_absurdly(tmp_path):
    """Occluded points are checked only against 10 image sizes; visible ones against 50%."""
    images, phis, boxes = cofw_faces()
    path = tmp_path / "c.mat"
    phis[0, 3] = -150.0  # point 4 of the 56 x 40 image, occluded: far out but a placeholder
    assert len(read_cofw(write_cofw_v5(path, images, phis, boxes))) == 2
    phis[0, 58 + 3] = 0  # the same point, visible: refused
    with pytest.raises(DataError, match=r"phisT row 1: point 4 of 29 \(-151, .*50%") as caught:
        read_cofw(write_cofw_v5(path, images, phis, boxes))
    assert caught.value.path == path
    phis[0, 58 + 3], phis[0, 3] = 1, 1e30  # occluded at 1e30: refused all the same
    with pytest.raises(DataError, match=r"phisT row 1: point 4 of 29 \(1e\+30, .*10 times"):
        read_cofw(write_cofw_v73(path, images, phis, boxes))
    phis[0, 3] = phis[0, 8] = phis[0, 9]  # eye corners 9 and 10 coincide (x and y)
    phis[0, 29 + 8] = phis[0, 29 + 9]
    with pytest.raises(DataError, match=r"phisT row 1: the inter-ocular distance"):
        read_cofw(write_cofw_v5(path, images, phis, boxes))


def test_unreadable_and_truncated_mat_files(tmp_path):
    garbage = tmp_path / "garbage.mat"
    garbage.write_bytes(b"this is not a MATLAB file" * 10)
    with pytest.raises(DataError, match=r"garbage\.mat: cannot read MATLAB file"):
        load_dataset(garbage)
    images, phis, boxes = cofw_faces()
    full = write_cofw_v73(tmp_path / "full.mat", images, phis, boxes).read_bytes()
    truncated = tmp_path / "truncated.mat"
    truncated.write_bytes(full[: len(full) // 2])
    with pytest.raises(DataError, match=r"truncated\.mat: cannot read MATLAB file"):
        read_cofw(truncated)
    other = tmp_path / "other.mat"
    scipy.io.savemat(str(other), {"something": np.eye(2)})
    with pytest.raises(DataError, match=r"unrecognised \.mat file"):
        load_dataset(other)


# --- AFLW ------------------------------------------------------------------------------------


def write_aflw_mat(root: Path, count: int = 5) -> tuple[Path, dict]:
    data = np.zeros((count, 38))
    masks = np.ones((count, 19))
    masks[1, [0, 7]] = 0
    names = np.empty((count, 1), dtype=object)
    for row in range(count):
        points = grid_points(19, 20 + row)
        data[row, :19], data[row, 19:] = points[:, 0], points[:, 1]
        names[row, 0] = f"{row % 3}/image{row:05d}.jpg"
        write_image(root / "data" / "flickr" / names[row, 0])
    boxes = np.array([[5.0 + row, 105.0, 15.0, 135.0] for row in range(count)])  # l r t b
    ra = np.array([[3, 1, 5, 2, 4]], dtype=np.float64)
    contents = {"data": data, "bbox": boxes, "mask_new": masks, "nameList": names, "ra": ra}
    path = root / "AFLWinfo_release.mat"
    scipy.io.savemat(str(path), contents)
    return path, contents


def test_aflw_mat_fields_subsets_and_images(tmp_path):
    path, contents = write_aflw_mat(tmp_path)
    samples = read_aflw_mat(path, train_size=3)  # ra = 3 1 5 2 4: faces 3, 1, 5 train
    assert [s.subset for s in samples] == ["train", "test", "train", "test", "train"]
    assert all(s.scheme is AFLW_19 for s in samples)
    np.testing.assert_array_equal(samples[2].points[:, 0], contents["data"][2, :19])
    np.testing.assert_array_equal(samples[2].points[:, 1], contents["data"][2, 19:])
    np.testing.assert_array_equal(samples[0].box, [5, 15, 105, 135])  # x_min y_min x_max y_max
    assert np.flatnonzero(~samples[1].visible).tolist() == [0, 7]
    assert samples[1].attributes == {"frontal": False} and samples[0].attributes["frontal"]
    assert samples[4].image_path == tmp_path / "data" / "flickr" / "1" / "image00004.jpg"
    assert [s.subset for s in load_dataset(path)] == ["train"] * 5  # 20,000 training faces


def test_aflw_mat_missing_variable_and_image(tmp_path):
    path, contents = write_aflw_mat(tmp_path)
    (tmp_path / "data" / "flickr" / "0" / "image00003.jpg").unlink()
    with pytest.raises(DataError, match=r"AFLWinfo_release\.mat: image file not found: .*00003"):
        read_aflw_mat(path)
    del contents["nameList"]
    scipy.io.savemat(str(path), contents)
    with pytest.raises(DataError, match="'nameList' is missing"):
        read_aflw_mat(path)


def test_aflw_mat_non_physical_rows_name_row_and_image(tmp_path):
    path, contents = write_aflw_mat(tmp_path)
    contents["data"][2, 19 + 5] = -1e6  # y of point 6, row 3
    scipy.io.savemat(str(path), contents)
    with pytest.raises(DataError) as caught:
        read_aflw_mat(path)
    assert caught.value.path == path
    assert "data row 3 (2/image00002.jpg): point 6 of 19" in str(caught.value)
    contents["data"][2, 19 + 5] = 10.0
    contents["bbox"][4] = [30.0, 30.0, 15.0, 135.0]  # left == right: zero box size
    scipy.io.savemat(str(path), contents)
    with pytest.raises(DataError, match=r"data row 5 \(1/image00004\.jpg\): the box size is 0"):
        read_aflw_mat(path)


def write_aflw_csv(root: Path) -> tuple[Path, list]:
    header = "image_name,scale,box_size,center_w,center_h," + ",".join(
        f"original_{i}_x,original_{i}_y" for i in range(19)
    )
    rows = []
    for row in range(2):
        image = f"flickr/3/image{row:05d}.jpg"
        write_image(root / "images" / image)
        points = grid_points(19, 30 + row)
        rows.append((image, 1.5, 300.0, 150.0 + row, 160.0, points))
    path = root / "face_landmarks_aflw_test.csv"
    path.write_text(
        "\n".join(
            [header]
            + [
                ",".join(
                    [
                        image,
                        str(scale),
                        str(size),
                        str(cx),
                        str(cy),
                        *map(repr, points.reshape(-1).tolist()),
                    ]
                )
                for image, scale, size, cx, cy, points in rows
            ]
        )
        + "\n"
    )
    return path, rows


def test_aflw_csv_box_size_and_points(tmp_path):
    path, rows = write_aflw_csv(tmp_path)
    samples = load_dataset(path)
    assert [s.subset for s in samples] == ["test", "test"]
    np.testing.assert_array_equal(samples[1].points, rows[1][5])
    box = samples[1].box
    np.testing.assert_array_equal(box, [1.0, 10.0, 301.0, 310.0])
    assert np.sqrt((box[2] - box[0]) * (box[3] - box[1])) == 300.0  # the AFLW normaliser
    assert samples[0].source == f"{path}:2"


@pytest.mark.parametrize(
    ("mutate", "line", "reason"),
    [
        (lambda fields: fields[:-1], 3, "expected 43 columns"),
        (lambda fields: [*fields[:7], "nan", *fields[8:]], 3, "not finite"),
        (lambda fields: [*fields[:7], "x", *fields[8:]], 3, "not a number"),
        (lambda fields: ["flickr/none.jpg", *fields[1:]], 3, "image file not found"),
    ],
)
def test_malformed_aflw_csv_names_file_and_line(tmp_path, mutate, line, reason):
    path, _ = write_aflw_csv(tmp_path)
    lines = path.read_text().splitlines()
    lines[line - 1] = ",".join(mutate(lines[line - 1].split(",")))
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as caught:
        read_aflw_csv(path)
    assert caught.value.path == path and caught.value.line == line
    assert reason in str(caught.value)


def test_aflw_csv_far_point_names_the_line(tmp_path):
    path, _ = write_aflw_csv(tmp_path)
    lines = path.read_text().splitlines()
    fields = lines[2].split(",")
    fields[5 + 2 * 7] = "1e30"  # x of point 8
    lines[2] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="point 8 of 19") as caught:
        read_aflw_csv(path)
    assert caught.value.path == path and caught.value.line == 3


# --- LSP -------------------------------------------------------------------------------------


def lsp_annotations(count: int) -> np.ndarray:
    """(count, 14, 3) x, y, flag with 1-based coordinates."""
    joints = np.zeros((count, 14, 3))
    for index in range(count):
        joints[index, :, :2] = grid_points(14, 40 + index) + 1
    joints[0, [2, 9], 2] = 1
    return joints


def test_lsp_original_and_extended_flags_mean_opposite_things(tmp_path):
    joints = lsp_annotations(3)
    original, extended = tmp_path / "lsp", tmp_path / "lspet"
    for index in range(1, 4):
        write_image(original / "images" / f"im{index:04d}.jpg")
        write_image(extended / "images" / f"im{index:05d}.jpg")
    scipy.io.savemat(str(original / "joints.mat"), {"joints": np.transpose(joints, (2, 1, 0))})
    scipy.io.savemat(str(extended / "joints.mat"), {"joints": np.transpose(joints, (1, 2, 0))})

    lsp = load_dataset(original / "joints.mat")  # 3 x 14 x N, flag 1 = occluded
    lspet = read_lsp(extended / "joints.mat")  # 14 x 3 x N, flag 1 = visible
    assert [s.image_path.name for s in lsp] == ["im0001.jpg", "im0002.jpg", "im0003.jpg"]
    assert [s.image_path.name for s in lspet] == ["im00001.jpg", "im00002.jpg", "im00003.jpg"]
    assert all(s.scheme is LSP_14 and s.subset == "train" for s in lsp + lspet)
    assert np.flatnonzero(~lsp[0].visible).tolist() == [2, 9] and lsp[1].visible.all()
    assert np.flatnonzero(lspet[0].visible).tolist() == [2, 9] and not lspet[1].visible.any()
    for sample, extended_sample, annotation in zip(lsp, lspet, joints, strict=True):
        np.testing.assert_array_equal(sample.points, annotation[:, :2] - 1)
        np.testing.assert_array_equal(sample.points, extended_sample.points)


def test_lsp_bad_shape_and_missing_image(tmp_path):
    joints = lsp_annotations(2)
    scipy.io.savemat(str(tmp_path / "joints.mat"), {"joints": np.transpose(joints, (2, 1, 0))})
    write_image(tmp_path / "images" / "im0001.jpg")
    with pytest.raises(DataError, match=r"joints\.mat: image file not found: .*im0002\.jpg"):
        read_lsp(tmp_path / "joints.mat")
    scipy.io.savemat(str(tmp_path / "joints.mat"), {"joints": np.zeros((4, 14, 2))})
    with pytest.raises(DataError, match="expected 3 x 14 x N"):
        read_lsp(tmp_path / "joints.mat")


def test_lsp_invisible_placeholders_pass_visible_outliers_do_not(tmp_path):
    joints = lsp_annotations(2)  # images 60 x 40: margin 30 px
    joints[1, 5, :] = (-60.0, -1.0, 1)  # image 2, joint 6: occluded placeholder far left
    joints[1, 2, :] = joints[1, 9, :] = (-1.0, -1.0, 1)  # placeholders on top of each other
    for index in (1, 2):
        write_image(tmp_path / "images" / f"im{index:04d}.jpg")

    def read(annotations: np.ndarray) -> list:
        scipy.io.savemat(str(tmp_path / "joints.mat"), {"joints": annotations.T})
        return read_lsp(tmp_path / "joints.mat")

    assert [s.visible[5] for s in read(joints)] == [True, False]
    joints[1, 5, 2] = 0  # the same joint visible: refused, naming the image
    with pytest.raises(DataError) as caught:
        read(joints)
    assert caught.value.path == tmp_path / "joints.mat"
    assert "joints of im0002.jpg: point 6 of 14 (-61, -2)" in str(caught.value)
    joints[1, 5] = joints[1, 4]
    joints[1, 2, :] = joints[1, 9, :] = (20.0, 20.0, 1)  # torso joints invisible: accepted
    assert len(read(joints)) == 2
    joints[1, 2, 2] = joints[1, 9, 2] = 0  # visible and coincident: zero torso size
    with pytest.raises(DataError, match=r"im0002\.jpg: the torso size \(points 10 and 3\) is 0"):
        read(joints)


# --- COCO-style json -------------------------------------------------------------------------


def coco_document(root: Path, count: int = 19) -> dict:
    images = [
        {"id": 7, "file_name": "faces/a.jpg", "height": 40, "width": 60},
        {"id": 9, "file_name": "faces/b.png", "height": 40, "width": 60},
    ]
    for image in images:
        write_image(root / image["file_name"])
    annotations = []
    for index, image_id in enumerate((7, 7, 9)):
        points = grid_points(count, 50 + index)
        flat = np.concatenate([points, np.ones((count, 1))], axis=1).reshape(-1).tolist()
        annotations.append(
            {
                "id": 100 + index,
                "image_id": image_id,
                "keypoints": flat,
                "bbox": [4.0, 6.0, 30.0, 20.0],
                "num_keypoints": count,
            }
        )
    return {"images": images, "annotations": annotations, "categories": [{"id": 1}]}


def write_json(path: Path, document: dict) -> Path:
    path.write_text(json.dumps(document, indent=1))
    return path


def test_coco_json_origin_parameter_and_box(tmp_path):
    document = coco_document(tmp_path)
    path = write_json(tmp_path / "faces.json", document)
    file_points = np.array(document["annotations"][2]["keypoints"]).reshape(-1, 3)[:, :2]
    default = read_coco(path)  # mmpose face jsons: 1-based like the .pts they came from
    assert [s.scheme for s in default] == [AFLW_19] * 3
    assert [s.image_path.name for s in default] == ["a.jpg", "a.jpg", "b.png"]
    np.testing.assert_array_equal(default[2].points, file_points - 1)
    np.testing.assert_array_equal(default[2].box, [3.0, 5.0, 33.0, 25.0])
    corner = read_coco(path, origin=CoordinateOrigin.PIXEL_CORNER)
    np.testing.assert_array_equal(corner[2].points, file_points - 0.5)
    np.testing.assert_array_equal(corner[2].box, [3.5, 5.5, 33.5, 25.5])
    zero = load_dataset(path, origin="zero-based")
    np.testing.assert_array_equal(zero[2].points, file_points)
    assert all(s.visible.all() for s in default)  # v = 1 everywhere: "labelled"
    assert default[1].source == f"{path}:annotation id 101"


def test_coco_visibility_semantics(tmp_path):
    document = coco_document(tmp_path)
    flags = document["annotations"][0]["keypoints"]
    flags[2], flags[5], flags[8] = 2, 1, 0  # visible, occluded, unlabelled; the rest 1
    path = write_json(tmp_path / "v.json", document)
    first = read_coco(path)[0]  # a 2 in the file: COCO meaning, only 2 is visible
    assert first.visible.tolist() == [True] + [False] * 18


def test_coco_wholebody_face_keypoints(tmp_path):
    document = coco_document(tmp_path, count=17)  # body joints: no heatmark scheme
    for index, annotation in enumerate(document["annotations"]):
        face = np.concatenate([grid_points(68, index), np.ones((68, 1))], axis=1)
        annotation["face_kpts"] = face.reshape(-1).tolist()
        annotation["face_box"] = [1.0, 2.0, 10.0, 10.0]
        annotation["face_valid"] = index != 1
    samples = read_coco(write_json(tmp_path / "wb.json", document))
    assert [s.scheme for s in samples] == [FACE_68, FACE_68]  # the face-less one is left out
    assert samples[1].source.endswith("annotation id 102")
    np.testing.assert_array_equal(samples[0].box, [0.0, 1.0, 10.0, 11.0])


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (
            lambda doc: doc["annotations"][1]["keypoints"].__setitem__(4, float("nan")),
            "annotation id 101: 'keypoints' holds NaN",
        ),
        (
            lambda doc: doc["annotations"][1]["keypoints"].__setitem__(4, "7"),
            "annotation id 101: 'keypoints' holds a value that is not a number",
        ),
        (lambda doc: doc["annotations"][1].__setitem__("keypoints", [1.0] * 58), "flat list"),
        (
            lambda doc: doc["annotations"][1]["keypoints"].extend([1.0, 1.0, 1.0]),
            "disagree on the number of keypoints",
        ),
        (lambda doc: doc["annotations"][0].__setitem__("image_id", 8), "image_id 8 is not"),
        (
            lambda doc: doc["images"][1].__setitem__("file_name", "faces/none.png"),
            "image file not found",
        ),
        (lambda doc: doc.__setitem__("annotations", []), "no annotations"),
        (lambda doc: doc["annotations"][2].__setitem__("bbox", [1, 2, 3]), "'bbox' must be"),
    ],
)
def test_malformed_coco_json_names_file_and_annotation(tmp_path, edit, reason):
    document = coco_document(tmp_path)
    edit(document)
    path = write_json(tmp_path / "bad.json", document)
    with pytest.raises(DataError) as caught:
        read_coco(path)
    assert caught.value.path == path and reason in str(caught.value)


def test_coco_unlabelled_points_may_be_placeholders(tmp_path):
    document = coco_document(tmp_path)  # images 60 x 40: margin 30 px
    keypoints = document["annotations"][1]["keypoints"]
    keypoints[9:12] = [-100.0, 0.0, 0]  # point 4 unlabelled (v = 0), far left: accepted
    assert len(read_coco(write_json(tmp_path / "a.json", document))) == 3
    keypoints[11] = 1  # labelled: refused
    with pytest.raises(DataError, match=r"annotation id 101: point 4 of 19 \(-101, -1\)"):
        read_coco(write_json(tmp_path / "a.json", document))
    keypoints[9:12] = [1e30, 0.0, 0]  # unlabelled at 1e30: refused all the same
    with pytest.raises(DataError, match=r"annotation id 101: point 4 of 19 \(1e\+30"):
        read_coco(write_json(tmp_path / "a.json", document))
    document["annotations"][2]["keypoints"] = [0.0, 0.0, 0] * 19  # nothing labelled
    keypoints[9:12] = [10.0, 10.0, 1]
    with pytest.raises(DataError, match="annotation id 102: all 19 points are identical"):
        read_coco(write_json(tmp_path / "a.json", document))


def test_coco_huge_integers_and_unhashable_ids_are_data_errors(tmp_path):
    document = coco_document(tmp_path)
    document["annotations"][0]["keypoints"][0] = 10**400  # json allows it, float() does not
    path = tmp_path / "h.json"
    path.write_text(json.dumps(document))
    with pytest.raises(DataError, match="annotation id 100: 'keypoints' holds a value"):
        read_coco(path)
    document = coco_document(tmp_path)
    document["annotations"][1]["image_id"] = [7]
    with pytest.raises(DataError, match=r"annotation id 101: image_id \[7\] is not in"):
        read_coco(write_json(path, document))
    document["images"][0]["id"] = {"a": 1}
    with pytest.raises(DataError, match="image entry without id"):
        read_coco(write_json(path, document))
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DataError, match="nested too deeply"):
        read_coco(path)
    path.write_text('{"images": [], "annotations": [' + "7" * 5000 + "]}")
    with pytest.raises(DataError, match="not valid JSON"):
        read_coco(path)


def test_coco_unknown_point_count_and_invalid_json(tmp_path):
    path = write_json(tmp_path / "k20.json", coco_document(tmp_path, count=20))
    with pytest.raises(DataError, match="20 points per annotation"):
        read_coco(path)
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "images": [],\n  "annotations": [\n    {"id": 1,,}\n  ]\n}\n')
    with pytest.raises(DataError) as caught:
        load_dataset(broken)
    assert caught.value.path == broken and caught.value.line == 4
    assert "not valid JSON" in str(caught.value)
