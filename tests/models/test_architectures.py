"""SimpleBaselines, CPN and CoordConv HRNet: shapes, structure, sizes, configs, training,
checkpoints and ONNX export."""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import pytest
import torch
from pydantic import TypeAdapter, ValidationError
from torch import Tensor, nn

from heatmark import recipes
from heatmark.codec import Decoding, HeatmapCodec
from heatmark.errors import ConfigError
from heatmark.export import check_parity, export_checkpoint, export_onnx, read_sidecar, sidecar_path
from heatmark.models import (
    CascadedPyramidNetwork,
    CoordConv2d,
    HRNetW18,
    ResNet,
    SimpleBaselines,
    count_multiply_adds,
    count_parameters,
)
from heatmark.models.checkpoint import load_landmark_model, save_checkpoint
from heatmark.models.config import (
    CPNConfig,
    HRNetConfig,
    ModelConfig,
    NetworkConfig,
    SimpleBaselinesConfig,
    build_network,
    heatmap_shape,
)
from heatmark.schemes import FACE_68, Scheme
from heatmark.train.build import build_loss, describe
from heatmark.train.config import (
    AdaptiveWingConfig,
    WassersteinConfig,
    config_from_dict,
    load_config,
)
from model_weights import make_non_trivial

CONFIGS = Path(recipes.__file__).parent  # the bundled recipes
K = 5
SIZE = 64
SCHEME = Scheme(
    "toy-5",
    K,
    flip_permutation=(1, 0, 2, 4, 3),
    point_names=("left eye", "right eye", "nose", "left mouth", "right mouth"),
)
CODEC = HeatmapCodec(input_size=SIZE, heatmap_size=SIZE // 4, sigma=1.5)

TINY: dict[str, NetworkConfig] = {
    "simple_baselines": SimpleBaselinesConfig(depth=18, width=8, deconv_channels=16),
    "cpn": CPNConfig(depth=18, width=8, channels=16),
    "hrnet_coordconv": HRNetConfig(width=4, coordconv_everywhere=True),
}
"""Narrow versions of the new networks (the same topology as the real ones), as configs."""
NAMES = list(TINY)


def _tiny(name: str, outputs: int = K) -> nn.Module:
    """A network of ``TINY[name]``'s kind that runs in CPU seconds: CoordConv HRNet keeps its
    four branches and all fusions but with one module per stage and one block per branch (its
    full depth of ~400 CoordConvs takes a minute to export to ONNX)."""
    if name == "hrnet_coordconv":
        return HRNetW18(
            outputs,
            width=4,
            stem_channels=8,
            num_modules=(1, 1, 1),
            num_blocks=1,
            coordconv_everywhere=True,
        )
    return build_network(TINY[name], outputs, boundary=False)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _validate(section: dict) -> NetworkConfig:
    return TypeAdapter(ModelConfig).validate_python(section)


_make_non_trivial = partial(make_non_trivial, size=SIZE, convs=(nn.Conv2d, nn.ConvTranspose2d))


# ---------------------------------------------------------------- ResNet backbone


@pytest.mark.parametrize(("depth", "expansion"), [(10, 1), (18, 1), (34, 1), (50, 4)])
@pytest.mark.parametrize("size", [32, 96, 128])
def test_resnet_gives_c2_to_c5_at_strides_4_to_32(depth, expansion, size):
    model = ResNet(depth, width=4).eval()
    with torch.no_grad():
        features = model(torch.randn(2, 3, size, size))
    assert len(features) == 4
    for index, feature in enumerate(features):
        stride = 4 * 2**index
        channels = 4 * 2**index * expansion
        assert feature.shape == (2, channels, size // stride, size // stride)
    assert model.out_channels == tuple(f.shape[1] for f in features)


def test_resnet_parameter_counts_are_torchvisions_without_the_classifier():
    # torchvision's resnet18/34/50/101 minus their 1000-class fc layer (512 or 2048 -> 1000)
    assert count_parameters(ResNet(18)) == 11_689_512 - 513_000
    assert count_parameters(ResNet(34)) == 21_797_672 - 513_000
    assert count_parameters(ResNet(50)) == 25_557_032 - 2_049_000


def test_resnet_rejects_an_unknown_depth_and_a_size_off_the_stride():
    with pytest.raises(ValueError, match="depth must be one of"):
        ResNet(42)
    with pytest.raises(ValueError, match="divisible by 32"):
        ResNet(18, width=4)(torch.zeros(1, 3, 80, 80))


# ---------------------------------------------------------------- SimpleBaselines


@pytest.mark.parametrize("size", [32, 64, 96, 160])
def test_simple_baselines_gives_one_map_per_point_at_a_quarter_of_the_input(size):
    model = SimpleBaselines(K, depth=18, width=8, deconv_channels=16).eval()
    with torch.no_grad():
        outputs = model(torch.randn(2, 3, size, size))
    assert isinstance(outputs, list) and len(outputs) == 1
    assert outputs[0].shape == (2, K, size // 4, size // 4)


def test_simple_baselines_resnet50_has_the_papers_size():
    model = SimpleBaselines(17)  # COCO's 17 keypoints, the paper's setting
    deconvs = 2048 * 256 * 16 + 2 * 256 * 256 * 16 + 3 * 2 * 256  # weights + BN affines
    assert count_parameters(model) == count_parameters(ResNet(50)) + deconvs + 256 * 17 + 17
    assert abs(count_parameters(model) / 34.0e6 - 1) < 0.005  # paper, Table 1: 34.0 M


def test_multiply_adds_count_the_deconvolutions():
    model = SimpleBaselines(K, depth=18, width=8, deconv_channels=16)
    # C5 is 64 channels at 2x2 for a 64 px input; a transposed conv costs in*out*k*k per input px
    deconvs = 64 * 16 * 16 * 2 * 2 + 16 * 16 * 16 * 4 * 4 + 16 * 16 * 16 * 8 * 8
    head = 16 * K * 16 * 16
    expected = count_multiply_adds(model.backbone, SIZE) + deconvs + head
    assert count_multiply_adds(model, SIZE) == expected


# ---------------------------------------------------------------- CPN


@pytest.mark.parametrize("size", [32, 64, 128, 160])
def test_cpn_returns_four_global_maps_then_the_refined_map_all_the_same_shape(size):
    model = CascadedPyramidNetwork(K, depth=18, width=8, channels=16).eval()
    with torch.no_grad():
        outputs = model(torch.randn(2, 3, size, size))
    assert isinstance(outputs, list) and len(outputs) == 5
    assert all(o.shape == (2, K, size // 4, size // 4) for o in outputs)


def test_cpn_global_heads_run_at_each_pyramid_level_and_refine_net_comes_last():
    torch.manual_seed(0)
    model = _make_non_trivial(CascadedPyramidNetwork(K, depth=18, width=8, channels=16))
    heads, refined = [], []
    hooks = [
        h.register_forward_hook(lambda m, i, o: heads.append(o)) for h in model.global_net.heads
    ]
    hooks.append(model.refine_net.register_forward_hook(lambda m, i, o: refined.append(o)))
    with torch.no_grad():
        outputs = model(torch.randn(1, 3, SIZE, SIZE))
    for hook in hooks:
        hook.remove()
    # coarsest (C5, stride 32) first, finest (C2, stride 4) last
    assert [h.shape[-1] for h in heads] == [SIZE // 32, SIZE // 16, SIZE // 8, SIZE // 4]
    for head, output in zip(heads, outputs[:4], strict=True):
        upsampled = nn.functional.interpolate(
            head, size=output.shape[-2:], mode="bilinear", align_corners=False
        )
        assert torch.equal(output, upsampled)
    assert torch.equal(outputs[-1], refined[0])
    assert min(o.std().item() for o in outputs) > 0.05  # not trivially equal near-zero maps
    assert not torch.allclose(outputs[-1], outputs[-2], atol=0.05)
    # RefineNet: 3, 2, 1, 0 bottlenecks from the coarsest level to the finest
    assert [len(c) for c in model.refine_net.cascades] == [3, 2, 1, 0]


def test_cpn_resnet50_size_is_stable():
    model = CascadedPyramidNetwork(68)
    assert count_parameters(model) == 27_598_228
    assert count_parameters(model) - count_parameters(model.backbone) == 4_090_196


@pytest.mark.parametrize("name", NAMES)
def test_heads_start_near_zero_and_gradients_reach_every_parameter(name):
    torch.manual_seed(0)
    model = _tiny(name)
    with torch.no_grad():  # training mode: what the first steps see
        outputs = model.train()(torch.randn(2, 3, SIZE, SIZE))
    assert max(o.abs().max().item() for o in outputs) < 0.1
    outputs = model.train()(torch.randn(2, 3, SIZE, SIZE))
    loss = sum((o - torch.rand_like(o)).square().mean() for o in outputs)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)


# ---------------------------------------------------------------- CoordConv HRNet


def _plain_convs(model: nn.Module) -> list[nn.Conv2d]:
    """The model's convolutions that are not parts of a CoordConv2d."""
    inside = {id(p) for m in model.modules() if isinstance(m, CoordConv2d) for p in m.parts()}
    return [m for m in model.modules() if isinstance(m, nn.Conv2d) and id(m) not in inside]


def test_hrnet_coordconv_everywhere_turns_every_convolution_into_a_coordconv():
    plain = HRNetW18(K, width=4, stem_channels=8)
    everywhere = HRNetW18(K, width=4, stem_channels=8, coordconv_everywhere=True)
    coordconvs = [m for m in everywhere.modules() if isinstance(m, CoordConv2d)]
    assert not _plain_convs(everywhere)
    assert len(coordconvs) == len(_plain_convs(plain)) > 100  # the same convs, each with x, y, r
    assert all(c.coord_conv is not None and c.coord_conv.in_channels == 3 for c in coordconvs)
    assert not any(isinstance(m, CoordConv2d) for m in plain.modules())
    extra = sum(c.coord_conv.weight.numel() for c in coordconvs)
    assert count_parameters(everywhere) == count_parameters(plain) + extra
    with torch.no_grad():
        (out,) = everywhere.eval()(torch.randn(1, 3, SIZE, SIZE))
    assert out.shape == (1, K, SIZE // 4, SIZE // 4)


def test_hrnet_coordconv_adds_coordinates_to_the_first_convolution_only():
    model = HRNetW18(K, width=4, stem_channels=8, coordconv=True)
    coordconvs = [m for m in model.modules() if isinstance(m, CoordConv2d)]
    assert coordconvs == [model.stem[0].conv]
    seen = []
    hook = coordconvs[0].coord_conv.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, SIZE, SIZE))
    hook.remove()
    assert seen[0].shape == (1, 3, SIZE, SIZE)  # x, y, radius at the input resolution


def test_hrnet_config_defaults_build_the_published_network_so_old_checkpoints_load():
    old = _validate({"architecture": "hrnet", "width": 4})  # a sidecar written before CoordConv
    assert isinstance(old, HRNetConfig)
    assert not old.coordconv and not old.coordconv_everywhere
    built = build_network(old, K, boundary=False).state_dict()
    reference = HRNetW18(K, width=4).state_dict()
    assert built.keys() == reference.keys()
    assert all(built[key].shape == tensor.shape for key, tensor in reference.items())


def test_model_config_validation_accepts_and_rejects_as_documented():
    accepted = _validate({"architecture": "hrnet", "coordconv": True, "coordconv_everywhere": True})
    assert isinstance(accepted, HRNetConfig) and accepted.coordconv_everywhere
    built = build_network(accepted, K, boundary=False)
    assert isinstance(built, HRNetW18) and built.coordconv_everywhere
    sb = _validate({"architecture": "simple_baselines", "depth": 34, "width": 16})
    assert isinstance(sb, SimpleBaselinesConfig) and sb.deconv_channels == 256
    cpn = _validate({"architecture": "cpn", "depth": 101, "channels": 64})
    assert isinstance(cpn, CPNConfig) and cpn.width == 64
    rejected = [
        {"architecture": "hrnet", "boundary_coords": True},  # HRNet has no stack to feed
        {"architecture": "simple_baselines", "coordconv_everywhere": True},
        {"architecture": "simple_baselines", "depth": 42},
        {"architecture": "cpn", "channels": 65},  # RefineNet's bottlenecks halve it
        {"architecture": "cpn", "width": 2},
        {"architecture": "resnet"},
    ]
    for section in rejected:
        with pytest.raises(ValidationError):
            _validate(section)


def test_training_config_overrides_select_the_new_architectures():
    config = load_config(None, ["model.architecture=cpn", "model.depth=18"])
    assert isinstance(config.model, CPNConfig) and config.model.depth == 18
    assert describe(config).startswith("CPN-ResNet18")
    config = load_config(None, ["model={architecture: hrnet, coordconv_everywhere: true}"])
    assert describe(config).startswith("HRNetV2-W18 (CoordConv everywhere)")
    with pytest.raises(ConfigError, match=r"model\.depth"):
        load_config(None, ["model.architecture=simple_baselines", "model.depth=42"])
    with pytest.raises(ConfigError, match=r"model\.boundary_coords: unknown key"):
        load_config(None, ["model={architecture: hrnet, boundary_coords: true}"])


@pytest.mark.parametrize("name", NAMES)
def test_a_boundary_map_is_one_more_last_channel(name):
    model = build_network(TINY[name], K, boundary=True).eval()
    with torch.no_grad():
        outputs = model(torch.zeros(1, 3, SIZE, SIZE))
    assert {o.shape for o in outputs} == {(1, K + 1, SIZE // 4, SIZE // 4)}
    assert heatmap_shape(model, 96) == (K + 1, 24, 24)


# ---------------------------------------------------------------- training


def _batch(seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """A fixed batch: images, Gaussian targets, target points on the map."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand((4, 3, SIZE, SIZE), generator=generator)
    points = torch.rand((4, K, 2), generator=generator) * (SIZE - 16) + 8
    return images, CODEC.encode(points), CODEC.to_heatmap(points)


LOSSES = {
    "awing": AdaptiveWingConfig(),
    "wasserstein": WassersteinConfig(epsilon=0.05, temperature=0.1),
}


@pytest.mark.parametrize("loss_name", list(LOSSES))
@pytest.mark.parametrize("name", NAMES)
def test_a_few_training_steps_reduce_the_loss(name, loss_name):
    """What the trainer does (the loss summed over every output), on one fixed batch."""
    torch.manual_seed(0)
    model = _tiny(name).train()
    loss_fn = build_loss(LOSSES[loss_name])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images, targets, points = _batch()
    losses = []
    for _ in range(15):
        loss = sum(loss_fn(out, targets, points) for out in model(images))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    # measured: the last three are 42-70 % of the first three (seeds 0-2, every case)
    assert sum(losses[-3:]) / 3 < 0.8 * sum(losses[:3]) / 3, losses


# ---------------------------------------------------------------- checkpoints and ONNX


def _training_config(name: str, boundary: bool = False):
    return config_from_dict(
        {
            "data": {"input_size": SIZE, "enlarge": 1.3},
            "codec": {"heatmap_size": SIZE // 4, "sigma": 1.0, "boundary": boundary},
            "model": TINY[name].model_dump(mode="json"),
            "loss": {"name": "wasserstein", "temperature": 0.5},
            "eval": {"decoding": "barycenter"},
        },
        "test",
    )


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_round_trip_gives_the_same_network(name, tmp_path):
    config = _training_config(name, boundary=True)
    torch.manual_seed(0)
    model = _make_non_trivial(build_network(config.model, FACE_68.num_points, True))
    meta = {"config": config.model_dump(mode="json"), "scheme": FACE_68.name}
    save_checkpoint(tmp_path / "best", model, meta)
    loaded = load_landmark_model(tmp_path)
    assert type(loaded.network) is type(model)
    saved, restored = model.state_dict(), loaded.network.state_dict()
    assert saved.keys() == restored.keys()
    assert all(torch.equal(saved[key], restored[key]) for key in saved)
    crops = torch.randint(0, 256, (2, 3, SIZE, SIZE), dtype=torch.uint8)
    with torch.no_grad():
        expected = model(crops.float() / 255)[-1][:, : FACE_68.num_points]
    assert expected.std() > 0.05
    assert torch.equal(loaded.heatmaps(crops), expected)
    assert loaded.description.softmax and loaded.description.decoding is Decoding.GET_BC


@pytest.mark.parametrize(
    ("name", "decode", "softmax"),
    [
        ("simple_baselines", Decoding.GET_MAX, False),
        ("cpn", Decoding.GET_BC, True),
        ("hrnet_coordconv", None, False),  # heatmaps only, GET_BC on the host
    ],
)
def test_onnx_export_matches_torch(name, decode, softmax, tmp_path):
    torch.manual_seed(0)
    model = _make_non_trivial(_tiny(name), seed=1)
    decoding = decode or Decoding.GET_BC
    path = export_onnx(
        model,
        CODEC,
        SCHEME,
        tmp_path / f"{name}.onnx",
        enlarge=1.25,
        decode=decode,
        softmax=softmax,
        temperature=0.7,
        host_decoding=decoding,
    )
    report = check_parity(model, CODEC, K, path, decoding, softmax, 0.7, threads=1)
    assert report["passed"], report
    assert report["decoded_in_graph"] == (decode is not None)


def test_export_checkpoint_of_a_cpn_with_a_boundary_channel(tmp_path):
    config = _training_config("cpn", boundary=True)
    torch.manual_seed(0)
    model = _make_non_trivial(build_network(config.model, FACE_68.num_points, True))
    meta = {"config": config.model_dump(mode="json"), "scheme": FACE_68.name}
    save_checkpoint(tmp_path / "best", model, meta)
    path, report = export_checkpoint(tmp_path / "best", tmp_path / "m.onnx", check=True)
    assert report is not None and report["passed"], report
    sidecar = read_sidecar(sidecar_path(path))
    assert sidecar["num_points"] == 68 and sidecar["decoded_in_graph"]


def test_the_trainer_trains_and_saves_a_cpn_that_loads_for_inference(tmp_path):
    """End to end: the trainer's size check, loss over the five outputs, checkpoint, loading."""
    from heatmark.data.synthetic import synthetic_faces
    from heatmark.train.trainer import Trainer

    config = config_from_dict(
        {
            "name": "tiny-cpn",
            "output": str(tmp_path / "runs"),
            "data": {"input_size": SIZE, "workers": 0},
            "codec": {"heatmap_size": SIZE // 4, "sigma": 1.0, "boundary": True},
            "model": TINY["cpn"].model_dump(mode="json"),
            "optimizer": {"name": "adam", "lr": 1e-3, "weight_decay": 0.0},
            "schedule": {"epochs": 2, "milestones": [1]},
            "train": {"batch_size": 8, "val_every": 1, "progress": False, "threads": 1},
        },
        "test",
    )
    faces = synthetic_faces(32, seed=0, size=SIZE), synthetic_faces(16, seed=99, size=SIZE)
    result = Trainer(config, faces).fit()
    assert all(math.isfinite(v) for v in result.losses)
    assert sum(result.losses[-2:]) < sum(result.losses[:2])
    model = load_landmark_model(config.run_dir)
    assert isinstance(model.network, CascadedPyramidNetwork)
    assert model.network.num_outputs == FACE_68.num_points + 1  # the boundary channel
    points, scores = model(torch.zeros(1, 3, SIZE, SIZE, dtype=torch.uint8))
    assert points.shape == (1, FACE_68.num_points, 2) and scores.shape == (1, FACE_68.num_points)


# ---------------------------------------------------------------- recipes


@pytest.mark.parametrize(
    ("file", "kind", "depth"),
    [
        ("cpu_simple_baselines_300w.yaml", SimpleBaselinesConfig, 18),
        ("cpu_cpn_300w.yaml", CPNConfig, 18),
        ("simple_baselines_300w.yaml", SimpleBaselinesConfig, 50),
        ("cpn_300w.yaml", CPNConfig, 50),
    ],
)
def test_recipes_parse_and_their_heatmap_size_matches_the_network(file, kind, depth):
    config = load_config(CONFIGS / file)
    assert isinstance(config.model, kind) and config.model.depth == depth
    size = config.data.input_size
    assert config.codec.heatmap_size == size // 4
    assert describe(config).startswith(kind.__name__.removesuffix("Config"))
    # the same topology at width 4: the output size does not depend on the width
    narrow = config.model.model_copy(update={"width": 4})
    network = build_network(narrow, FACE_68.num_points, config.codec.boundary)
    assert heatmap_shape(network, size)[1:] == (config.codec.heatmap_size,) * 2
