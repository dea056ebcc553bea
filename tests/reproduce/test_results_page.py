"""The published results page: rebuilt from its records byte for byte, and the two-seed
numbers it states (mean ± sd, the within/beyond-the-seed-spread verdict) checked by hand."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from heatmark.reproduce.command import Request, _options, page_command
from heatmark.reproduce.grid import Run, row_named
from heatmark.reproduce.results import (
    Entry,
    RowRuns,
    difference_cell,
    mean_spread,
    page_entries,
    scale_timing,
    write_results,
)

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "results.md"


def _page_request(page: str) -> Request:
    """The ``heatmark reproduce`` arguments named in the page's first paragraph."""
    command = re.search(r"Built by `heatmark (reproduce [^`]*)`", page)
    assert command, "the page names the command that built it"
    words = command.group(1).split()[1:]
    flags = dict(zip(words[::2], words[1::2], strict=True))
    return Request(
        scale=flags.pop("--scale"),
        seeds=int(flags.pop("--seeds")),
        runs=Path(flags.pop("--runs")),
        out=Path(flags.pop("--out")),
        data=Path(flags.pop("--data")) if "--data" in flags else None,
        ledger=Path(flags.pop("--ledger")) if "--ledger" in flags else None,
        report_only=True,
    )


def test_the_published_page_is_rebuilt_from_its_records_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/results.md is exactly what its records give. The page names its records relative
    to the checkout and links them relative to itself, so it is rebuilt as docs/results.md of
    a temporary folder whose docs/results/records is the real one (the figures are drawn into
    the temporary folder, never over docs/)."""
    published = PAGE.read_text()
    (tmp_path / "docs" / "results").mkdir(parents=True)
    (tmp_path / "docs" / "results" / "records").symlink_to(ROOT / "docs" / "results" / "records")
    monkeypatch.chdir(tmp_path)
    request = _page_request(published)
    _, page, out = _options(request)
    assert out == Path("docs/results.md")
    timing, source = scale_timing(page.scale, page.ledger_dir)
    write_results(page, page_entries(page), out, page_command(page, out), timing, source)
    assert (tmp_path / out).read_text() == published
    assert sorted(p.name for p in (tmp_path / "docs" / "results").glob("*.png")) == sorted(
        p.name for p in (ROOT / "docs" / "results").glob("*.png")
    )
    assert "46 of 46 runs finished" in published and "± " in published


def _row(name: str, nmes: list[float]) -> RowRuns:
    row = row_named(name)
    entries = [
        Entry(
            Run(row, seed),
            {"evaluation": {"decodings": {row.decodings[0].value: {"nme": nme}}}},
            Path(f"{name}-seed{seed}.json"),
            epochs=1,
        )
        for seed, nme in enumerate(nmes)
    ]
    return RowRuns(row, entries)


def test_mean_and_sample_sd_of_two_seeds() -> None:
    # 4 % and 6 %: mean 5.00, sample sd |6 - 4| / sqrt(2) = 1.41 (population sd would be 1.00)
    assert mean_spread([0.04, 0.06]) == "5.00 ± 1.41"
    assert mean_spread([0.05]) == "5.00"
    assert mean_spread([]) == "-"
    assert mean_spread([0.01, 0.02, 0.06]) == f"3.00 ± {100 * np.sqrt(7e-4):.2f}"


def test_a_difference_within_and_beyond_the_seed_spread() -> None:
    reference = _row("t7-mse", [0.050, 0.054])  # spread 0.4
    noisy = _row("t7-awing", [0.040, 0.049])  # spread 0.9
    tight = _row("t7-awing", [0.040, 0.041])  # spread 0.1
    # mean 4.45 vs 5.20: -0.75; the larger spread of the two rows (0.90) decides
    assert difference_cell(noisy, reference) == ("-0.75 vs `t7-mse` (within the seed spread 0.90)")
    # mean 4.05 vs 5.20: -1.15, beyond the larger spread 0.40
    assert difference_cell(tight, reference) == ("-1.15 vs `t7-mse` (beyond the seed spread 0.40)")
    # a tight row next to a noisy one: the noisy row's spread (0.9) counts, not the tight one's
    close = _row("t7-mse", [0.0465, 0.0475])  # mean 4.70, spread 0.1; vs noisy: +0.25
    assert difference_cell(close, noisy) == "+0.25 vs `t7-awing` (within the seed spread 0.90)"
    assert difference_cell(_row("t7-awing", [0.04]), reference).endswith("(1 seed: spread unknown)")
    assert difference_cell(reference, None) == "(reference)"
