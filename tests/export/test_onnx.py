"""ONNX export: onnxruntime against torch + codec.decode, the sidecar, the runner.

Measured (2-core CPU, onnxruntime 1.32, torch 2.13, TorchScript exporter, opset 17): on the tiny
models below heatmaps differ by at most 4e-6 and points by at most 4e-5 px (GET_BC; GET_MAX is
exact), so the 1e-4 / 0.01 px tolerances hold with margins of ~25x and ~250x; the tests assert
a fifth and a tenth of them. The shipped CPU model (HG-1 w64, input 128) shows 8e-7 / 4e-5 px.
"""

from __future__ import annotations

import json
import shutil
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from heatmark.codec import Decoding, HeatmapCodec
from heatmark.errors import DataError
from heatmark.export import (
    HEATMAP_TOLERANCE,
    POINT_TOLERANCE,
    GraphDecoder,
    OnnxLandmarkModel,
    check_parity,
    export_checkpoint,
    export_onnx,
    read_sidecar,
    sidecar_path,
)
from heatmark.models import HRNetW18, StackedHourglass
from heatmark.schemes import Scheme
from model_weights import make_non_trivial

K = 5
SIZE = 64
SCHEME = Scheme(
    "toy-5",
    K,
    flip_permutation=(1, 0, 2, 4, 3),
    point_names=("left eye", "right eye", "nose", "left mouth", "right mouth"),
)
CODEC = HeatmapCodec(input_size=SIZE, heatmap_size=16, sigma=1.5)
TEMPERATURE = 0.7


_make_non_trivial = partial(make_non_trivial, size=SIZE)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def models() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    hourglass = StackedHourglass(
        K,
        num_stacks=2,
        width=16,
        depth=1,
        boundary=True,
        coordconv=True,
        boundary_coords=True,
    )
    # the full topology (4 branches, up/down fusion) with fewer modules and blocks: fast tests
    hrnet = HRNetW18(K, width=8, stem_channels=16, num_modules=(1, 1, 1), num_blocks=2)
    return {"hourglass": _make_non_trivial(hourglass), "hrnet": _make_non_trivial(hrnet, 1)}


# name -> (model, in-graph decoding, softmax)
CASES = {
    "hourglass-max": ("hourglass", Decoding.GET_MAX, False),
    "hourglass-bc-softmax": ("hourglass", Decoding.GET_BC, True),
    "hourglass-bc-window": ("hourglass", Decoding.GET_BC, False),
    "hrnet-none": ("hrnet", None, False),
    "hrnet-bc-softmax": ("hrnet", Decoding.GET_BC, True),
}


@pytest.fixture(scope="module")
def exported(models, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("onnx")
    paths = {}
    for name, (model, decode, softmax) in CASES.items():
        paths[name] = export_onnx(
            models[model],
            CODEC,
            SCHEME,
            folder / f"{name}.onnx",
            enlarge=1.25,
            decode=decode,
            softmax=softmax,
            temperature=TEMPERATURE,
            host_decoding=Decoding.GET_BC if decode is None else Decoding.GET_MAX,
            terms="research use only" if name == "hourglass-max" else None,
        )
    return paths


def _crops(batch: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, 3, SIZE, SIZE), dtype=torch.uint8, generator=generator)


@torch.no_grad()
def _torch_maps(model: nn.Module, crops: torch.Tensor) -> torch.Tensor:
    return model(crops.float() / 255)[-1][:, :K]


# ---------------------------------------------------------------- parity


@pytest.mark.parametrize("name", list(CASES))
def test_onnxruntime_matches_torch_and_codec(name, models, exported):
    model_name, decode, softmax = CASES[name]
    model = models[model_name]
    runner = OnnxLandmarkModel(exported[name], threads=1)
    decoding = decode or runner.decoding  # heatmaps-only files decode on the host
    worst_maps = worst_points = 0.0
    for batch in (1, 3):
        crops = _crops(batch, seed=batch)
        expected_maps = _torch_maps(model, crops)
        expected_points, expected_scores = CODEC.decode(
            expected_maps, K, decoding, softmax=softmax, temperature=TEMPERATURE
        )
        maps = runner.run(crops.numpy())
        points, scores = runner.points(crops.numpy())
        assert maps.shape == (batch, K, 16, 16) and maps.dtype == np.float32
        assert points.shape == (batch, K, 2) and scores.shape == (batch, K)
        worst_maps = max(worst_maps, float(np.abs(maps - expected_maps.numpy()).max()))
        worst_points = max(worst_points, float(np.abs(points - expected_points.numpy()).max()))
        np.testing.assert_allclose(scores, expected_scores.numpy(), atol=HEATMAP_TOLERANCE)
    print(f"{name}: heatmaps {worst_maps:.2e}, points {worst_points:.2e} px")
    assert worst_maps <= HEATMAP_TOLERANCE / 5
    assert worst_points <= POINT_TOLERANCE / 10


@pytest.mark.parametrize("name", ["hourglass-max", "hourglass-bc-window", "hrnet-none"])
def test_check_parity_reports_per_batch_size(name, models, exported):
    model_name, decode, softmax = CASES[name]
    runner = OnnxLandmarkModel(exported[name])
    report = check_parity(
        models[model_name],
        CODEC,
        K,
        exported[name],
        decode or runner.decoding,
        softmax,
        TEMPERATURE,
        threads=1,
    )
    assert set(report["batches"]) == {1, 3}
    assert report["passed"] and report["ambiguous"] == 0
    assert report["heatmap_max_abs"] <= HEATMAP_TOLERANCE / 5
    assert report["point_max_abs"] <= POINT_TOLERANCE / 10
    assert report["decoder_max_abs"] <= POINT_TOLERANCE / 10


def test_check_parity_fails_for_another_model(models, exported):
    other = _make_non_trivial(
        StackedHourglass(K, 2, 16, 1, boundary=True, coordconv=True, boundary_coords=True), 7
    )
    report = check_parity(
        other, CODEC, K, exported["hourglass-max"], Decoding.GET_MAX, False, 1.0, threads=1
    )
    assert not report["passed"] and report["heatmap_max_abs"] > 0.1


def test_batch_axis_is_dynamic(models, exported):
    graph = onnx.load(str(exported["hourglass-max"])).graph
    for value in [*graph.input, *graph.output]:
        assert value.type.tensor_type.shape.dim[0].dim_param == "batch"
    runner = OnnxLandmarkModel(exported["hourglass-max"], threads=1)
    crops = _crops(7, seed=11)  # neither the traced batch (2) nor a checked one
    points, _ = runner.points(crops.numpy())
    expected, _ = CODEC.decode(_torch_maps(models["hourglass"], crops), K, Decoding.GET_MAX)
    assert np.abs(points - expected.numpy()).max() <= POINT_TOLERANCE


def test_uint8_and_float_inputs_agree(models, exported, tmp_path):
    path = export_onnx(
        models["hourglass"],
        CODEC,
        SCHEME,
        tmp_path / "float.onnx",
        enlarge=1.25,
        decode=Decoding.GET_MAX,
        softmax=False,
        temperature=1.0,
        input_dtype="float32",
    )
    as_float = OnnxLandmarkModel(path, threads=1)
    as_uint8 = OnnxLandmarkModel(exported["hourglass-max"], threads=1)
    assert as_float.session.get_inputs()[0].type == "tensor(float)"
    assert read_sidecar(sidecar_path(path))["normalisation"].startswith("none")
    crops = _crops(3, seed=5).numpy()
    scaled = crops.astype(np.float32) / np.float32(255)
    reference = as_uint8.outputs(crops)
    for feed in (scaled, crops):  # uint8 crops given to a float model are scaled on the host
        out = as_float.outputs(feed)
        for key in ("heatmaps", "points", "scores"):
            np.testing.assert_allclose(out[key], reference[key], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="uint8"):
        as_uint8.run(scaled)


def test_flip_averages_mirrored_maps(models, exported):
    runner = OnnxLandmarkModel(exported["hourglass-max"], threads=1)
    crops = _crops(2, seed=3)
    model = models["hourglass"]
    mirrored = _torch_maps(model, crops.flip(-1))[:, list(SCHEME.flip_permutation)].flip(-1)
    expected = 0.5 * (_torch_maps(model, crops) + mirrored)
    maps = runner.run(crops.numpy(), flip=True)
    assert np.abs(maps - expected.numpy()).max() <= HEATMAP_TOLERANCE
    points, _ = runner.points(crops.numpy(), flip=True)  # decoded on the host
    want, _ = CODEC.decode(expected, K, Decoding.GET_MAX)
    assert np.abs(points - want.numpy()).max() <= POINT_TOLERANCE


# ---------------------------------------------------------------- the decoder alone


def _decoder_maps() -> torch.Tensor:
    """Maps that exercise every branch: Gaussians at and beyond the border, logits, negative
    maps (no barycenter), exact ties, random noise."""
    points = torch.tensor(
        [[0.0, 0.0], [63.0, 63.0], [0.3, 40.0], [62.8, 5.0], [30.0, 31.7], [-1.2, 64.5]]
    )
    maps = CODEC.encode(points.expand(4, -1, -1)).clone()
    maps[1] = maps[1] * 3 - 0.5
    maps[2] = torch.randn(6, 16, 16, generator=torch.Generator().manual_seed(0))
    maps[3, 0] = -1.0  # all negative: the windowed barycenter falls back to uniform
    maps[3, 1] = 0.0  # all tied
    maps[3, 2] = 0.0
    maps[3, 2, 4, 7] = maps[3, 2, 4, 8] = 1.0  # a two-way tie
    maps[3, 3] = 0.0
    maps[3, 3, 0, 15] = 1.0  # a lone peak in a corner
    return maps


DECODINGS = [(Decoding.GET_MAX, False), (Decoding.GET_BC, True), (Decoding.GET_BC, False)]


class _AllDecoders(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.decoders = nn.ModuleList(
            GraphDecoder(CODEC, decoding, softmax, TEMPERATURE) for decoding, softmax in DECODINGS
        )

    def forward(self, maps: torch.Tensor) -> list[torch.Tensor]:
        return [out for decoder in self.decoders for out in decoder(maps)]


def test_graph_decoder_matches_codec(tmp_path):
    maps = _decoder_maps()
    decoders = _AllDecoders().eval()
    path = tmp_path / "decoder.onnx"
    names = [f"{kind}{i}" for i in range(len(DECODINGS)) for kind in ("points", "scores")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            decoders,
            (maps[:2],),
            str(path),
            input_names=["maps"],
            output_names=names,
            dynamic_axes={name: {0: "b"} for name in ["maps", *names]},
            opset_version=17,
            dynamo=False,
        )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"maps": maps.numpy()})
    in_torch = decoders(maps)
    for index, (decoding, softmax) in enumerate(DECODINGS):
        expected_points, expected_scores = CODEC.decode(
            maps, 6, decoding, softmax=softmax, temperature=TEMPERATURE
        )
        points, scores = in_torch[2 * index], in_torch[2 * index + 1]
        # The graph sums the window as a gathered patch, the codec as a masked map: float
        # rounding (measured 4.6e-5 px on points near 70 px). The lone corner peak has no
        # finite border-pull solution; Newton's 8th step amplifies that rounding to 0.027 px.
        lone = torch.zeros_like(points, dtype=torch.bool)
        lone[3, 3] = not softmax
        for got in (points, torch.from_numpy(outputs[2 * index])):
            torch.testing.assert_close(got[~lone], expected_points[~lone], rtol=0, atol=5e-3)
            torch.testing.assert_close(got[lone], expected_points[lone], rtol=0, atol=0.1)
        torch.testing.assert_close(points[~lone], expected_points[~lone], rtol=0, atol=2e-4)
        torch.testing.assert_close(scores, expected_scores, rtol=0, atol=0)
        got_points, got_scores = outputs[2 * index], outputs[2 * index + 1]
        np.testing.assert_array_equal(got_scores, expected_scores.numpy())
        if decoding is Decoding.GET_MAX:  # exact: same argmax, same quarter step
            np.testing.assert_array_equal(got_points, expected_points.numpy())


# ---------------------------------------------------------------- sidecar


def test_sidecar_round_trips(exported):
    path = exported["hourglass-max"]
    assert sidecar_path(path) == path.with_name("hourglass-max.onnx.json")
    sidecar = read_sidecar(sidecar_path(path))
    assert json.loads(sidecar_path(path).read_text()) == sidecar
    expected = {
        "format": "heatmark-onnx",
        "format_version": 1,
        "onnx_file": "hourglass-max.onnx",
        "opset": 17,
        "input_name": "image",
        "input_dtype": "uint8",
        "normalisation": "rgb / 255",
        "input_size": 64,
        "enlarge": 1.25,
        "stride": 4,
        "heatmap_size": 16,
        "sigma": 1.5,
        "scheme": "toy-5",
        "num_points": 5,
        "point_names": list(SCHEME.point_names),
        "flip_permutation": [1, 0, 2, 4, 3],
        "decoding": "max",
        "softmax": False,
        "temperature": TEMPERATURE,
        "decoded_in_graph": True,
        "outputs": ["heatmaps", "points", "scores"],
        "terms": "research use only",
    }
    assert {key: sidecar[key] for key in expected} == expected
    runner = OnnxLandmarkModel(path)
    assert runner.input_size == 64 and runner.enlarge == 1.25 and runner.num_points == K
    assert runner.flip_permutation == SCHEME.flip_permutation
    assert runner.point_names == SCHEME.point_names and runner.terms == "research use only"
    assert runner.decoding is Decoding.GET_MAX and runner.decoded_in_graph

    plain = read_sidecar(sidecar_path(exported["hrnet-none"]))
    assert plain["outputs"] == ["heatmaps"] and not plain["decoded_in_graph"]
    assert plain["decoding"] == "barycenter" and plain["border_correction"] == "host"
    assert plain["terms"] is None


def _edit(sidecar: dict) -> None:
    del sidecar["flip_permutation"]


BAD_SIDECARS = {
    "missing key": (_edit, "lacks flip_permutation"),
    "wrong type": (lambda s: s.update(input_size="64"), "input_size must be int"),
    "bool for int": (lambda s: s.update(num_points=True), "num_points must be int"),
    "other format": (lambda s: s.update(format="x"), "not a heatmark ONNX sidecar"),
    "future version": (lambda s: s.update(format_version=2), "format_version 2"),
    "bad decoding": (lambda s: s.update(decoding="mean"), "decoding must be"),
    "bad stride": (lambda s: s.update(stride=2), "stride"),
    "bad permutation": (lambda s: s.update(flip_permutation=[0, 0, 1, 2, 3]), "permutation"),
    "bad names": (lambda s: s.update(point_names=["a"]), "point_names"),
    "bad outputs": (lambda s: s.update(outputs=["heatmaps"]), "outputs must be"),
    "bad normalisation": (lambda s: s.update(normalisation="imagenet"), "normalisation"),
    "graph points": (
        lambda s: s.update(num_points=4, flip_permutation=[0, 1, 2, 3], point_names=[]),
        "do not match the graph",
    ),
    "graph input size": (
        lambda s: s.update(input_size=128, stride=8),
        "does not match the graph's input",
    ),
    "graph dtype": (
        lambda s: s.update(
            input_dtype="float32",
            normalisation="none (float input is taken as rgb already in 0..1)",
        ),
        "does not match the graph's tensor",
    ),
    "graph input name": (lambda s: s.update(input_name="x"), "input_name 'x'"),
}


@pytest.mark.parametrize("case", list(BAD_SIDECARS))
def test_bad_sidecar_is_a_data_error_naming_it(case, exported, tmp_path):
    edit, message = BAD_SIDECARS[case]
    path = tmp_path / "model.onnx"
    shutil.copy(exported["hourglass-max"], path)
    sidecar = json.loads(sidecar_path(exported["hourglass-max"]).read_text())
    edit(sidecar)
    sidecar_path(path).write_text(json.dumps(sidecar))
    with pytest.raises(DataError, match=message) as error:
        OnnxLandmarkModel(path)
    assert error.value.path == sidecar_path(path)


def test_missing_or_broken_files_are_data_errors(exported, tmp_path):
    path = tmp_path / "model.onnx"
    with pytest.raises(DataError, match="no such ONNX file") as error:
        OnnxLandmarkModel(path)
    assert error.value.path == path
    shutil.copy(exported["hourglass-max"], path)
    with pytest.raises(DataError, match="missing export sidecar") as error:
        OnnxLandmarkModel(path)
    assert error.value.path == sidecar_path(path)
    sidecar_path(path).write_text("{not json")
    with pytest.raises(DataError, match="unreadable") as error:
        OnnxLandmarkModel(path)
    assert error.value.path == sidecar_path(path)
    shutil.copy(sidecar_path(exported["hourglass-max"]), sidecar_path(path))
    path.write_bytes(b"not an onnx file")
    with pytest.raises(DataError, match="onnxruntime cannot load") as error:
        OnnxLandmarkModel(path)
    assert error.value.path == path


def test_export_refuses_a_model_the_codec_does_not_describe(models, tmp_path):
    codec = HeatmapCodec(input_size=SIZE, heatmap_size=32)
    with pytest.raises(ValueError, match="heatmap_size is 32"):
        export_onnx(
            models["hourglass"],
            codec,
            SCHEME,
            tmp_path / "x.onnx",
            enlarge=1.25,
            decode=None,
            softmax=False,
            temperature=1.0,
        )


# ---------------------------------------------------------------- checkpoints


def test_export_checkpoint(tmp_path):
    from heatmark.models.checkpoint import save_checkpoint
    from heatmark.schemes import FACE_68
    from heatmark.train.build import build_model
    from heatmark.train.config import config_from_dict

    config = config_from_dict(
        {
            "data": {"input_size": 64, "enlarge": 1.3},
            "codec": {"heatmap_size": 16, "sigma": 1.0, "boundary": True},
            "model": {"stacks": 1, "width": 16, "depth": 2},
            "loss": {"name": "wasserstein", "temperature": 0.5},
            "eval": {"decoding": "barycenter"},
        },
        "test",
    )
    model = _make_non_trivial(build_model(config.model, FACE_68.num_points, True))
    meta = {"config": config.model_dump(mode="json"), "scheme": FACE_68.name, "terms": "T"}
    save_checkpoint(tmp_path / "best", model, meta)

    out = tmp_path / "out" / "m.onnx"
    path, report = export_checkpoint(tmp_path / "best", out, decode="none", check=True)
    assert path == out and path.is_file()
    sidecar = read_sidecar(sidecar_path(path))
    assert sidecar["scheme"] == "300w-68" and sidecar["enlarge"] == 1.3
    assert sidecar["outputs"] == ["heatmaps"] and sidecar["decoding"] == "barycenter"
    assert sidecar["softmax"] and sidecar["temperature"] == 0.5 and sidecar["terms"] == "T"
    assert report is not None and report["passed"], report
    assert report["decoding"] == "barycenter" and report["softmax"]
    with pytest.raises(ValueError, match="decode must be"):
        export_checkpoint(tmp_path / "best", out, decode="mean")  # type: ignore[arg-type]
