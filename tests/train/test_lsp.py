"""LSP end to end: invisible joints masked out of every loss family, a flip that swaps left and
right joints, a tiny train + ``heatmark eval`` on synthetic LSP-like data, and the real 400
images of ../shared/data/lsp (skipped when absent)."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
import torch
from conftest import tiny_config
from typer.testing import CliRunner

from heatmark.cli import app
from heatmark.codec import HeatmapCodec, dilated_weight_map
from heatmark.data.augment import AugmentConfig
from heatmark.data.dataset import LandmarkDataset
from heatmark.data.readers.lsp import read_lsp
from heatmark.data.sample import Sample
from heatmark.errors import ConfigError
from heatmark.evaluate.evaluation import evaluate_samples
from heatmark.losses import (
    AdaptiveWingLoss,
    JensenShannonLoss,
    L1Loss,
    MSELoss,
    SoftArgmaxLoss,
    WassersteinLoss,
    WingLoss,
)
from heatmark.schemes import LSP_14
from heatmark.train.trainer import Trainer

SHARED_LSP = Path(__file__).parents[2] / ".." / "shared" / "data" / "lsp"
NAMES = LSP_14.point_names
INDEX = {name: i for i, name in enumerate(NAMES)}
runner = CliRunner()

LOSSES = [
    MSELoss(),
    L1Loss(),
    WingLoss(),
    AdaptiveWingLoss(weight_map=dilated_weight_map),
    JensenShannonLoss(),
    SoftArgmaxLoss(),
    WassersteinLoss(empty_target="error", max_iterations=20),
]


@pytest.mark.parametrize("boundary", [False, True], ids=["landmarks", "with-boundary"])
@pytest.mark.parametrize("loss", LOSSES, ids=lambda m: type(m).__name__)
def test_a_masked_joint_gets_exactly_zero_gradient(loss: torch.nn.Module, boundary: bool) -> None:
    """Joint 2 of image 0 is invisible with a placeholder far outside the map (an all-zero
    target, which Wasserstein with ``empty_target='error'`` would refuse unmasked)."""
    torch.manual_seed(0)
    codec = HeatmapCodec(input_size=64, heatmap_size=16, sigma=1.0)
    points = torch.rand(2, 4, 2) * 50 + 5
    points[0, 2] = torch.tensor([-500.0, -500.0])
    target = codec.encode(points)
    if boundary:  # an extra channel past the landmarks always weighs 1
        target = torch.cat([target, torch.rand(2, 1, 16, 16)], dim=1)
    mask = torch.ones(2, 4)
    mask[0, 2] = 0
    pred = (torch.randn(*target.shape) * 0.5).requires_grad_()
    value = loss(pred, target, codec.to_heatmap(points), mask=mask)
    value.backward()
    assert torch.isfinite(value)
    assert torch.equal(pred.grad[0, 2], torch.zeros(16, 16))
    others = [(b, c) for b in range(2) for c in range(4) if (b, c) != (0, 2)]
    assert all(pred.grad[b, c].abs().sum() > 0 for b, c in others)
    if boundary and not isinstance(loss, SoftArgmaxLoss):  # soft-argmax: landmark maps only
        assert pred.grad[:, 4].abs().sum() > 0


@pytest.mark.parametrize(
    "loss",
    [m for m in LOSSES if not isinstance(m, WassersteinLoss)],
    ids=lambda m: type(m).__name__,
)
def test_an_all_ones_mask_is_the_unmasked_loss_and_zeros_drop_maps(loss: torch.nn.Module) -> None:
    torch.manual_seed(1)
    pred, target = torch.randn(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    points = torch.rand(2, 3, 2) * 7
    plain = loss(pred, target, points)
    assert torch.allclose(loss(pred, target, points, mask=torch.ones(2, 3)), plain)
    # leaving image 1 out entirely is the loss of image 0 alone
    mask = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    alone = loss(pred[:1], target[:1], points[:1])
    assert torch.allclose(loss(pred, target, points, mask=mask), alone)
    assert loss(pred, target, points, mask=torch.zeros(2, 3)).item() == 0.0


def test_wasserstein_mask_keeps_the_mean_over_the_kept_maps() -> None:
    loss = WassersteinLoss(max_iterations=20)
    torch.manual_seed(2)
    pred, target = torch.randn(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    per_map = loss.per_map(pred, target)
    mask = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    expected = per_map[mask > 0].mean()
    assert torch.allclose(loss(pred, target, mask=mask), expected, rtol=1e-5)


def body(scale: float = 1.0) -> np.ndarray:
    """(14, 2) joints of a standing figure in a 120 x 160 (h x w) image, 0-based."""
    y = {"head_top": 12, "neck": 28, "shoulder": 32, "elbow": 52, "wrist": 70, "hip": 70}
    y |= {"knee": 92, "ankle": 112}
    points = np.zeros((14, 2))
    for name, i in INDEX.items():
        side, _, part = name.partition("_")
        if part in y:
            points[i] = [80 + (-14 if side == "right" else 14) * scale, y[part]]
        else:
            points[i] = [80, y[name]]
    return points


def test_flip_swaps_left_and_right_joints() -> None:
    image = np.zeros((120, 160, 3), np.uint8)
    points = body()
    points[INDEX["right_wrist"]] += [-10, 5]  # break the symmetry
    visible = np.ones(14, bool)
    visible[INDEX["left_ankle"]] = False
    sample = Sample(points=points, scheme=LSP_14, image=image, visible=visible)
    still = dict(rotation_deg=0, translation_px=0, scale=0, blur_probability=0, noise_probability=0)
    still |= dict(occlusion_probability=0, colour_probability=0)
    plain = LandmarkDataset([sample], 64, None)[0]
    flipped = LandmarkDataset([sample], 64, AugmentConfig(flip_probability=1, **still))[0]
    mirror = plain["points"].clone()
    mirror[:, 0] = 63 - mirror[:, 0]
    for name in ("wrist", "ankle", "shoulder"):
        right, left = INDEX[f"right_{name}"], INDEX[f"left_{name}"]
        # the person's right wrist, mirrored, is now where a left wrist would be
        assert torch.allclose(flipped["points"][left], mirror[right], atol=1e-4)
        assert torch.allclose(flipped["points"][right], mirror[left], atol=1e-4)
    assert torch.allclose(flipped["points"][INDEX["neck"]], mirror[INDEX["neck"]], atol=1e-4)
    assert not flipped["visible"][INDEX["right_ankle"]] and flipped["visible"][INDEX["left_ankle"]]


def write_lsp(root: Path, count: int, seed: int = 0) -> Path:
    """A synthetic LSP-extended folder (joints.mat 14 x 3 x N, 1-based, flag 1 = visible):
    jittered figures on noise; every third image has its left hip invisible (placeholder)."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    joints = np.zeros((14, 3, count))
    for n in range(count):
        image = rng.integers(0, 60, size=(120, 160, 3), dtype=np.uint8)
        points = body(rng.uniform(0.8, 1.2)) + rng.normal(0, 2, size=(14, 2))
        for x, y in points:
            cv2.circle(image, (round(x), round(y)), 3, (255, 255, 255), -1)
        cv2.imwrite(str(root / "images" / f"im{n + 1:05d}.jpg"), image)
        joints[:, :2, n] = points + 1
        joints[:, 2, n] = 1
        if n % 3 == 0:
            joints[INDEX["left_hip"], :, n] = [0, 0, 0]  # placeholder, invisible
    scipy.io.savemat(str(root / "joints.mat"), {"joints": joints})
    return root / "joints.mat"


def test_tiny_lsp_train_then_eval_end_to_end(tmp_path: Path) -> None:
    data = write_lsp(tmp_path / "lsp", 30)
    config = tiny_config(
        tmp_path,
        data={"train": str(data), "val_subset": None, "val_fraction": 0.2},
        loss={"name": "mse"},
        schedule={"epochs": 1},
        eval={"normaliser": "torso", "threshold": 0.2},
    )
    trainer = Trainer(config)
    assert trainer.mask_invisible  # body scheme: on by default
    seen = []
    original = trainer.supervision.loss.forward

    def spy(pred, target, points=None, mask=None):
        seen.append(mask)
        return original(pred, target, points, mask=mask)

    trainer.supervision.loss.forward = spy
    result = trainer.fit()
    assert seen and all(m is not None and m.shape == (8, 14) for m in seen)
    assert any((m == 0).any() for m in seen)  # the invisible hips weigh 0
    assert result.last is not None and result.last.has_pck

    run = config.run_dir
    args = ["eval", "--checkpoint", str(run / "best"), "--gt", str(data), "--split", "val"]
    out = runner.invoke(app, [*args, "--json"])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    val = trainer.val_samples
    without_torso = sum(not s.visible[list(LSP_14.torso)].all() for s in val)
    assert payload["normaliser"] == "torso"  # the scheme's default
    assert payload["left_out"] == without_torso
    assert payload["images"] == len(val) - without_torso
    assert set(payload["pck"]["parts"]) == {
        "head",
        "shoulder",
        "elbow",
        "wrist",
        "hip",
        "knee",
        "ankle",
    }
    # one epoch: best is the last epoch, so eval scores what the trainer validated
    assert payload["pck"]["mean"] == pytest.approx(result.last.pck, abs=1e-9)
    assert payload["pck"]["parts"] == pytest.approx(result.last.pck_parts, abs=1e-9)
    text = runner.invoke(app, args)
    assert text.exit_code == 0 and "PCK@0.2" in " ".join(text.output.split())


def test_a_face_normaliser_on_a_body_scheme_is_a_config_error(tmp_path: Path) -> None:
    gt = body()
    samples = [Sample(points=gt, scheme=LSP_14, image=np.zeros((120, 160, 3), np.uint8))]
    config = tiny_config(tmp_path)  # eval.normaliser: inter-ocular (the default)
    with pytest.raises(ConfigError, match=r"eval\.normaliser: the inter-ocular normaliser"):
        Trainer(config, (samples, samples))
    masked = Trainer(tiny_config(tmp_path, eval={"normaliser": "torso"}), (samples, samples))
    assert masked.mask_invisible
    off = tiny_config(tmp_path, eval={"normaliser": "torso"}, train={"mask_invisible": False})
    assert not Trainer(off, (samples, samples)).mask_invisible


@pytest.mark.skipif(not SHARED_LSP.is_dir(), reason="../shared/data/lsp is not present")
def test_real_lsp_ground_truth_scores_perfectly_and_crops_stay_on_the_person() -> None:
    samples = read_lsp(SHARED_LSP / "joints.mat")
    assert len(samples) == 400
    gt = np.stack([s.points for s in samples])
    evaluation = evaluate_samples(gt, samples)
    torso = np.stack([s.visible[list(LSP_14.torso)].all() for s in samples])
    assert evaluation.left_out == int((~torso).sum()) > 0
    assert evaluation.count + evaluation.left_out == 400
    assert evaluation.pck == 1.0 and all(v == 1.0 for v in evaluation.pck_parts.values())
    for s in samples[:50]:  # the crop box spans the visible joints only, inside the image
        box = s.landmark_box()
        width, height = s.load_image().shape[1::-1]
        assert box[0] >= -0.5 - 0.5 * width and box[2] <= width - 0.5 + 0.5 * width
        assert box[1] >= -0.5 - 0.5 * height and box[3] <= height - 0.5 + 0.5 * height
