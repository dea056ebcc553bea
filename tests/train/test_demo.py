"""`heatmark demo` writes its report, and a second demo in the same folder starts afresh."""

import json
from pathlib import Path

import pytest
from rich.console import Console

from heatmark.data.dataset import LandmarkDataset
from heatmark.data.synthetic import synthetic_faces
from heatmark.demo import run_demo
from heatmark.evaluate.evaluation import evaluate_samples
from heatmark.evaluate.inference import predict_dataset
from heatmark.models.checkpoint import load_landmark_model


def test_demo_writes_the_report_and_can_run_again(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    console = Console(quiet=True)
    for _ in range(2):  # the second run replaces the first instead of appending to its logs
        summary = run_demo(None, minutes=0.05, out=out, console=console, faces=64)
    for name in ("report.md", "metrics.json", "ced.png", "predictions.png", "config.yaml"):
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train_images"] == 64 and metrics["val_images"] == 64
    # the reported NME after training is the saved model's on the demo's validation faces
    model = load_landmark_model(out / "demo" / "last")
    val = synthetic_faces(64, seed=10_000, size=64)
    dataset = LandmarkDataset(val, model.description.input_size, None, model.description.enlarge)
    pred, _ = predict_dataset(model, dataset)
    # the demo scores the in-memory network (channels-last, batch 32), this the loaded one
    # (batch 16): float summation order differs, measured up to 3e-5 relative
    assert metrics["nme_after"] == pytest.approx(evaluate_samples(pred, val).nme, rel=2e-4)
    assert metrics["after"]["nme"] == metrics["nme_after"]
    assert metrics["nme_before"] != pytest.approx(metrics["nme_after"], rel=1e-3)
    report = (out / "report.md").read_text()
    assert f"{100 * metrics['nme_after']:.2f}" in report.split("## After training")[1]
    assert summary["epochs"] >= 1
    assert "Before training" in (out / "report.md").read_text()
