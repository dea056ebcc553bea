"""The reproduction grid's rows expand to the configs they claim (no training here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from heatmark.codec import Decoding
from heatmark.data.readers.auto import load_dataset
from heatmark.data.split import run_holdout
from heatmark.errors import HeatmarkError
from heatmark.reproduce.grid import (
    PAPER,
    ROWS,
    SMOKE,
    STUDY,
    STUDY_EPOCHS,
    Layout,
    Run,
    expand,
    row_named,
    run_config,
    scale_rows,
    select_rows,
    train_command,
)
from heatmark.reproduce.holdout import materialise_holdout
from heatmark.train.config import config_differences, load_config

REPOSITORY = Path(__file__).resolve().parents[2]
DATA = REPOSITORY / ".." / "shared" / "data" / "300w"


def _layout(tmp_path: Path, device: str | None = None) -> Layout:
    split = tmp_path / "runs" / "split"
    return Layout(tmp_path / "runs", split / "train", split / "val", device)


def _config(name: str, tmp_path: Path, scale=STUDY, seed: int = 0, device: str | None = None):
    return run_config(Run(row_named(name), seed), scale, _layout(tmp_path, device))


def _changed(a: str, b: str, tmp_path: Path, scale=STUDY) -> set[str]:
    """Config keys (besides the run name) in which row ``a`` differs from row ``b``."""
    found = config_differences(_config(b, tmp_path, scale), _config(a, tmp_path, scale))
    return {key for key, _, _ in found} - {"name"}


def test_every_row_validates_at_every_scale(tmp_path: Path) -> None:
    for scale in (STUDY, PAPER, SMOKE):
        layout = _layout(tmp_path)
        for row in scale_rows(scale):
            config = run_config(Run(row, 1), scale, layout)
            assert config.seed == 1 and config.name == f"{row.name}-seed1"
            assert config.eval.decoding is row.decodings[0]
    names = [row.name for row in ROWS]
    assert len(names) == len(set(names))
    for scale in (STUDY, PAPER, SMOKE):  # a comparison row trains from the same recipe
        for row in scale_rows(scale):
            if row.compare_to is not None:
                other = row_named(row.compare_to)
                assert scale.recipe(other.table) == scale.recipe(row.table), row.name
    # HRNet is too slow for the CPU study: its table is left out there, kept for the GPU
    assert "hrnet-wass-s3" not in [row.name for row in scale_rows(STUDY)]
    assert "hrnet-wass-s3" in [row.name for row in scale_rows(PAPER)]
    # SimpleBaselines fits the CPU study; CPN (Wasserstein on five outputs) does not
    study = [row.name for row in scale_rows(STUDY)]
    assert "simple-baselines-wass-s3" in study and "cpn-wass-s3" not in study
    assert "cpn-wass-s3" in [row.name for row in scale_rows(PAPER)]


def test_overrides_land_where_they_should(tmp_path: Path) -> None:
    mse = _config("t7-mse", tmp_path)
    assert mse.loss.name == "mse"
    assert (mse.codec.boundary, mse.model.coordconv, mse.model.boundary_coords) == (
        False,
        False,
        False,
    )
    # the study recipe: the shipped model's config, narrower, 2 stacks for the AWing tables
    shipped = load_config("cpu_shipped_300w")
    assert (mse.model.width, mse.model.stacks, mse.schedule.epochs) == (32, 2, STUDY_EPOCHS)
    assert mse.data.input_size == shipped.data.input_size == 128
    assert mse.codec.heatmap_size == 32 and mse.optimizer == shipped.optimizer
    assert mse.train.max_minutes is None  # the grid's budget stops runs, not the recipe
    assert mse.data.train == str(tmp_path / "runs" / "split" / "train")
    assert mse.data.val == str(tmp_path / "runs" / "split" / "val")
    assert mse.output == str(tmp_path / "runs")

    assert _config("t7-awing", tmp_path).loss.weight_map.kind == "none"
    full = _config("t7-bcoords", tmp_path)
    assert full.loss.name == "awing" and full.loss.weight_map.kind == "dilated"
    assert (full.codec.boundary, full.model.coordconv, full.model.boundary_coords) == (
        True,
        True,
        True,
    )
    # Table 7: each row adds exactly one component to the row above it
    assert _changed("t7-wmap", "t7-awing", tmp_path) == {"loss.weight_map.kind"}
    assert _changed("t7-boundary", "t7-wmap", tmp_path) == {"codec.boundary"}
    assert _changed("t7-coordconv", "t7-boundary", tmp_path) == {"model.coordconv"}
    assert _changed("t7-bcoords", "t7-coordconv", tmp_path) == {"model.boundary_coords"}
    # Tables 5/6: one loss setting moved from the full model's defaults
    assert _changed("hp-omega-10", "t7-bcoords", tmp_path) == {"loss.omega"}
    assert _config("hp-omega-10", tmp_path).loss.omega == 10
    assert _changed("hp-alpha-2.5", "t7-bcoords", tmp_path) == {"loss.alpha"}

    wass = _config("wass-s3", tmp_path)
    assert wass.loss.name == "wasserstein" and wass.loss.temperature == 0.1
    assert wass.codec.sigma == 1.5  # sigma 3 at 64x64 is sigma 1.5 on the study's 32x32 maps
    assert wass.model.stacks == 1 and wass.model.coordconv_everywhere
    assert wass.eval.decoding is Decoding.GET_BC
    assert _config("wass-s1", tmp_path).codec.sigma == 1.0
    changed = _changed("wass-s3", "l2-s3", tmp_path)  # the loss (and its decoding) only
    assert {"loss.name", "loss.temperature", "eval.decoding"} <= changed
    assert all(key.startswith("loss.") or key == "eval.decoding" for key in changed), changed
    assert _changed("wass-s3-cc", "wass-s3", tmp_path) == {"model.coordconv_everywhere"}


def test_paper_scale_is_the_papers_and_passes_the_device(tmp_path: Path) -> None:
    wass = _config("wass-s3", tmp_path, PAPER, device="cuda")
    assert wass.codec.sigma == 3.0 and wass.loss.temperature == 1.0
    assert (wass.data.input_size, wass.codec.heatmap_size) == (256, 64)
    assert (wass.model.stacks, wass.model.width, wass.schedule.epochs) == (4, 256, 240)
    assert wass.train.device == "cuda"
    full = _config("t7-bcoords", tmp_path, PAPER)
    assert (full.model.stacks, full.schedule.epochs, full.train.device) == (4, 240, "auto")
    command = train_command(Run(row_named("wass-s3"), 0), PAPER, _layout(tmp_path, "cuda"))
    assert command[:2] == ["train", "-c"]
    assert command[2] == "wasserstein_300w"  # the bundled recipe by name: any folder
    assert "train.device=cuda" in command


def test_seeds_differ_and_decodings_share_a_run(tmp_path: Path) -> None:
    rows = select_rows(STUDY, ["wasserstein", "t7-mse"])
    assert [row.table for row in rows].count("wasserstein") == 8
    runs = expand(rows, seeds=2)
    assert len(runs) == 2 * len(rows)  # one run per (row, seed): decodings are not runs
    seeds = [run.seed for run in runs]
    assert seeds == sorted(seeds)  # every seed 0 before any seed 1
    assert runs[0].row.priority == 1 and runs[-1].seed == 1
    layout = _layout(tmp_path)
    zero, one = (run_config(Run(row_named("wass-s3"), s), STUDY, layout) for s in (0, 1))
    assert (zero.seed, one.seed) == (0, 1)
    assert layout.run_dir(Run(row_named("wass-s3"), 0)) != layout.run_dir(
        Run(row_named("wass-s3"), 1)
    )
    assert zero.data.val == one.data.val  # the same hold-out for every seed
    assert {key for key, _, _ in config_differences(zero, one)} == {"seed", "name"}
    assert row_named("wass-s3").decodings == (Decoding.GET_BC, Decoding.GET_MAX)
    plain, divergence = (
        run_config(Run(row_named(name), 0), STUDY, layout)
        for name in ("simple-baselines-wass-s3", "simple-baselines-wass-s3-div")
    )
    assert {key for key, _, _ in config_differences(plain, divergence)} == {
        "name",
        "loss.debiased",
    }
    assert divergence.loss.debiased and not plain.loss.debiased


def test_unknown_rows_are_named(tmp_path: Path) -> None:
    with pytest.raises(HeatmarkError, match=r"'nope'.*tables: awing-ablation"):
        select_rows(STUDY, ["nope"])
    with pytest.raises(HeatmarkError, match="no recipe"):
        select_rows(STUDY, ["hrnet-l2-s3"])
    with pytest.raises(HeatmarkError, match="at least 1"):
        expand(scale_rows(STUDY), 0)


@pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data/300w")
def test_holdout_folders_are_the_cpu_recipes_split(tmp_path: Path) -> None:
    samples = load_dataset(DATA)
    train, val = run_holdout(samples, 0.1, 0, "helen/trainset")
    assert len(val) == 87
    train_dir, val_dir = materialise_holdout(DATA, tmp_path / "split")
    root = Path(os.path.abspath(DATA))

    def relative(found, base):
        return [Path(os.path.abspath(s.source)).relative_to(base) for s in found]

    assert relative(load_dataset(val_dir), val_dir.absolute()) == relative(val, root)
    split_train = load_dataset(train_dir)
    assert relative(split_train, train_dir.absolute()) == relative(train, root)  # same order
    assert {s.subset for s in split_train} == {"afw", "helen/trainset", "lfpw/trainset"}
    stamp = (tmp_path / "split" / "split.json").stat().st_mtime_ns
    materialise_holdout(DATA, tmp_path / "split")  # reused, not rebuilt
    assert (tmp_path / "split" / "split.json").stat().st_mtime_ns == stamp
