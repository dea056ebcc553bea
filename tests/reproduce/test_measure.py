"""``heatmark reproduce --measure``: seconds per epoch per row into the ledger's timing.json."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from heatmark.cli import app

runner = CliRunner()


def test_measure_writes_seconds_per_epoch_and_keeps_other_rows(tmp_path: Path) -> None:
    ledger = tmp_path / "records"
    ledger.mkdir()
    earlier = {"format": "heatmark-reproduce-timing", "seconds_per_epoch": {"t7-awing": 12.5}}
    (ledger / "timing.json").write_text(json.dumps(earlier))
    runs = tmp_path / "runs"
    args = ["reproduce", "--scale", "smoke", "--only", "t7-mse", "--measure"]
    result = runner.invoke(app, [*args, "--runs", str(runs), "--ledger", str(ledger)])
    assert result.exit_code == 0, result.output
    timing = json.loads((ledger / "timing.json").read_text())
    assert timing["format"] == "heatmark-reproduce-timing" and timing["threads"] == 1
    seconds = timing["seconds_per_epoch"]
    assert seconds["t7-awing"] == 12.5  # rows measured earlier are kept
    assert set(seconds) == {"t7-awing", "t7-mse"} and 0 < seconds["t7-mse"] < 600
    assert "seconds per epoch written to" in " ".join(result.output.split())
    # nothing trained: no run folder, no record
    assert not any(runs.glob("t7-mse-seed*")) and not any(ledger.glob("t7-mse-seed*.json"))
