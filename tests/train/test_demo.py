"""`heatmark demo` writes its report, and a second demo in the same folder starts afresh."""

import json
from pathlib import Path

from rich.console import Console

from heatmark.demo import run_demo


def test_demo_writes_the_report_and_can_run_again(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    console = Console(quiet=True)
    for _ in range(2):  # the second run replaces the first instead of appending to its logs
        summary = run_demo(None, minutes=0.05, out=out, console=console, faces=64)
    for name in ("report.md", "metrics.json", "ced.png", "predictions.png", "config.yaml"):
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train_images"] == 64 and metrics["val_images"] == 64
    assert 0 < metrics["nme_after"] < 10 and metrics["nme_before"] > 0
    assert summary["epochs"] >= 1
    assert "Before training" in (out / "report.md").read_text()
