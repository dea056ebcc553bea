"""The reproduction grid as plain data: tables of rows, each row a base recipe plus overrides.

A ``Row`` is one line of a paper's table (``t7-wmap``: "AWing + weighted loss map"), written as
``(key, value)`` overrides of the training config (the same keys as ``heatmark train --set``).
A ``Scale`` says which bundled recipe (``heatmark.recipes``) and common overrides each table
starts from (the CPU study,
the papers' own scale, a seconds-long smoke scale on synthetic faces) and the values of the few
settings that depend on the scale (``Param``: the paper's sigma 3 on 64x64 maps is sigma 1.5 on
the study's 32x32 maps). A ``Run`` is a row at a scale with one seed; ``run_overrides`` turns it
into the exact ``--set`` list its ``heatmark train`` command gets, ``run_config`` into the
validated ``Config``.

Decoding (GET_MAX / GET_BC) and the robustness protocols are evaluation choices: a row lists
them and every one is evaluated on the same trained run, never retrained.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heatmark.codec import Decoding
from heatmark.errors import ConfigError, HeatmarkError
from heatmark.train.config import Config, load_config, load_recipe, parse_yaml

CROSS_DOMAIN = "synthetic-faces"
"""The grid's cross-domain protocol: the clean hold-out protocol on rendered faces
(``heatmark.data.synthetic.cross_domain_faces``), a domain no grid run trains on."""
ROBUSTNESS = ("clean", "occlusion-medium", "occlusion-large", CROSS_DOMAIN)
"""The robustness protocols of the Wasserstein rows (``heatmark.robustness``)."""
BOTH = (Decoding.GET_MAX, Decoding.GET_BC)
BC_FIRST = (Decoding.GET_BC, Decoding.GET_MAX)
"""Decodings of rows trained on distributions: GET_BC is theirs, GET_MAX is evaluated too."""


@dataclass(frozen=True)
class Param:
    """An override value that depends on the scale, looked up in ``Scale.params`` by name."""

    name: str


Override = tuple[str, Any]


@dataclass(frozen=True)
class Recipe:
    """A base config, by its bundled recipe's name (``heatmark recipes``; ``None``: the built-in
    defaults), and overrides shared by a table's rows. A name, not a path: the grid works from
    any folder with an installed heatmark, and its commands (``heatmark train -c NAME``) too."""

    config: str | None
    overrides: tuple[Override, ...] = ()


@dataclass(frozen=True)
class Table:
    """One table of the results page: which paper table it reproduces, and how."""

    name: str
    title: str
    note: str = ""


@dataclass(frozen=True)
class Row:
    """One row of a table: what changes (``overrides``), what it is compared with, and how it
    is evaluated (``decodings``, the first one the row's own; robustness ``protocols``).

    ``priority``: lower trains first (the headline comparisons before the ablations)."""

    name: str
    table: str
    label: str
    overrides: tuple[Override, ...]
    compare_to: str | None = None
    decodings: tuple[Decoding, ...] = (Decoding.GET_MAX,)
    protocols: tuple[str, ...] = ()
    priority: int = 2


@dataclass(frozen=True)
class Scale:
    """Where every table starts from at one scale, and the scale's parameter values.

    ``seconds_per_epoch``: measured training seconds per epoch of each row at one CPU thread
    (``heatmark reproduce --measure``), for the budget estimate; ``jobs``: runs trained at once by
    default (one per core on the CPU study, one on a GPU)."""

    name: str
    summary: str
    recipes: tuple[tuple[str, Recipe], ...]
    params: tuple[tuple[str, Any], ...]
    synthetic: bool = False
    jobs: int = 1
    seconds_per_epoch: tuple[tuple[str, float], ...] = ()

    def recipe(self, table: str) -> Recipe | None:
        """The table's recipe at this scale (None: the table is not part of this scale)."""
        return dict(self.recipes).get(table)

    def param(self, name: str) -> Any:
        values = dict(self.params)
        if name not in values:
            raise HeatmarkError(f"scale {self.name}: no value for parameter {name!r}")
        return values[name]

    def epoch_seconds(self, row: str) -> float | None:
        return dict(self.seconds_per_epoch).get(row)


@dataclass(frozen=True)
class Run:
    """One training run: a row at a scale with one seed."""

    row: Row
    seed: int

    @property
    def name(self) -> str:
        return f"{self.row.name}-seed{self.seed}"


# ---------------------------------------------------------------------------------- tables

TABLES: tuple[Table, ...] = (
    Table(
        "awing-ablation",
        "AWing paper, Table 7: from MSE to the full AWing model",
        "Each row adds one component to the row above and is compared with it.",
    ),
    Table(
        "awing-hyper",
        "AWing paper, Tables 5 and 6: loss hyper-parameters",
        "One setting moved at a time from the defaults (alpha 2.1, omega 14, epsilon 1, "
        "theta 0.5) of the full model (`t7-bcoords`), which is the comparison row.",
    ),
    Table(
        "wasserstein",
        "Wasserstein paper, Tables 2, 6 and 10: losses, target width and decoding",
        "Every run is evaluated with both decodings (GET_MAX, GET_BC) and under the robustness "
        "protocols clean, occlusion-medium, occlusion-large and, across domains, synthetic-faces "
        "(rendered faces no run trains on); the network has CoordConv in "
        "every convolution (the paper's), except in `wass-s3-cc`. `wass-s3-div` is `wass-s3` "
        "with the debiased loss (Sinkhorn divergence: the transport cost minus half of each "
        "map's cost with itself).",
    ),
    Table(
        "other-models",
        "Wasserstein paper, section 6.6: the losses applied to other heatmap models",
        "SimpleBaselines (ResNet + three deconvolutions), heatmap L2 against the Wasserstein "
        "loss on the same wide targets: ResNet-18 at base width 32 in the CPU study (trained "
        "last), ResNet-50 at the paper scale; no ImageNet initialisation at either scale. In "
        "the CPU study neither seed of the plain Wasserstein row learned: their training loss "
        "is flat from epoch 2 (the records' `train_loss`) and their output does not depend on "
        "the image (the same NME under every occlusion). While a from-scratch network cannot "
        "yet tell faces apart, the transport cost is lowest with each map's mass on one spot "
        "(the median of that landmark's positions); the sharpened softmax there passes almost "
        "no gradient towards the image's own landmark, and training stalls "
        "(`tests/losses/test_wasserstein.py::"
        "test_shared_prediction_collapses_to_the_median_unless_debiased`). The hourglass rows "
        "learn with the same loss. The debiased loss (Sinkhorn divergence, `-div` row) keeps "
        "a broad map instead, and SimpleBaselines learns with it from scratch in both seeds; "
        "the paper started SimpleBaselines from ImageNet weights.",
    ),
    Table(
        "gpu-models",
        "The losses applied to CPN and HRNet-W18 (paper scale only)",
        "Too slow for the 7-hour CPU study: at study size CPN with the Wasserstein loss (on all "
        "five of its outputs) measured 224 s an epoch on one CPU thread and HRNet-W18 about 500 "
        "s. CPN is ResNet-50 GlobalNet + RefineNet; HRNet-W18 also with CoordConv in every "
        "convolution, the paper's CC rows.",
    ),
)

_AWING_LADDER = (
    ("codec.boundary", False),
    ("model.coordconv", False),
    ("model.boundary_coords", False),
)
"""The components Table 7 adds one by one, all off in its first row."""
_FULL_AWING = ("loss", {"name": "awing"})


def _awing(**settings: Any) -> Override:
    return ("loss", {"name": "awing", **settings})


def _ladder(*changes: Override) -> tuple[Override, ...]:
    """The Table 7 base (every component off) with ``changes`` applied."""
    table = dict(_AWING_LADDER)
    table.update(dict(changes))
    return tuple(table.items())


_FULL = _ladder(
    _FULL_AWING,
    ("codec.boundary", True),
    ("model.coordconv", True),
    ("model.boundary_coords", True),
)


def _hyper(name: str, label: str, **settings: float) -> Row:
    changes = dict(_FULL)
    changes["loss"] = _awing(**settings)[1]
    return Row(name, "awing-hyper", label, tuple(changes.items()), "t7-bcoords", priority=4)


def _wass(sigma: str, debiased: bool = False, **extra: Any) -> tuple[Override, ...]:
    """The Wasserstein loss rows; ``debiased``: the Sinkhorn divergence (the transport cost
    minus half its value for each map with itself), whose best image-independent answer is a
    broad map rather than a spike on the targets' median (``tests/losses/test_wasserstein.py``)."""
    loss = {
        "name": "wasserstein",
        "cost": "euclidean",
        "epsilon": 0.05,
        "temperature": Param("wasserstein_temperature"),
    }
    if debiased:
        loss["debiased"] = True
    return (("loss", loss), ("codec.sigma", Param(sigma)), ("eval.decoding", "barycenter")) + tuple(
        extra.items()
    )


CPN_SUPERVISION = {
    "sigma_scales": [1.0, 1.21, 1.43, 1.86, 1.0],
    "weights": [0.125, 0.125, 0.125, 0.125, 1.0],
    "hard_keypoints": 32,
}
"""CPN's released-code supervision (the cpn_300w recipe explains the numbers)."""


def _l2(sigma: str) -> tuple[Override, ...]:
    return (("loss", {"name": "mse"}), ("codec.sigma", Param(sigma)), ("eval.decoding", "max"))


def _barycentric(loss: str) -> tuple[Override, ...]:
    """A distribution loss without options on the wide targets, decoded by barycenter."""
    return (
        ("loss", {"name": loss}),
        ("codec.sigma", Param("sigma_wide")),
        ("eval.decoding", "barycenter"),
    )


_HRNET: Override = ("model", Param("hrnet_model"))


def _robust_rows(
    table: str, *rows: tuple[str, str, tuple[Override, ...], str | None, int]
) -> tuple[Row, ...]:
    """Rows of ``table`` scored under ``ROBUSTNESS``, one per (name, label, overrides,
    compare_to, priority), with both decodings: heatmap L2 (``_l2``) max first, the
    distribution losses barycenter first."""
    return tuple(
        Row(
            name,
            table,
            label,
            overrides,
            compare_to,
            decodings=BOTH if dict(overrides)["loss"] == {"name": "mse"} else BC_FIRST,
            protocols=ROBUSTNESS,
            priority=priority,
        )
        for name, label, overrides, compare_to, priority in rows
    )


def _other_model_rows(arch: str, label: str, table: str, *extra: Override) -> tuple[Row, ...]:
    """Heatmap L2, Wasserstein and Sinkhorn divergence on the wide targets for the network
    ``arch``, a scale parameter (``<arch>_model``) so that each scale sizes it to its budget."""
    model = ("model", Param(f"{arch}_model"))
    name = arch.replace("_", "-")
    return _robust_rows(
        table,
        (
            f"{name}-l2-s3",
            f"{label}, heatmap L2, sigma 3 (eq.)",
            (model, *_l2("sigma_wide"), *extra),
            None,
            6,
        ),
        (
            f"{name}-wass-s3",
            f"{label}, Wasserstein, sigma 3 (eq.)",
            (model, *_wass("sigma_wide"), *extra),
            f"{name}-l2-s3",
            6,
        ),
        (
            f"{name}-wass-s3-div",
            f"{label}, Sinkhorn divergence (debiased Wasserstein), sigma 3 (eq.)",
            (model, *_wass("sigma_wide", debiased=True), *extra),
            f"{name}-l2-s3",
            6,
        ),
    )


ROWS: tuple[Row, ...] = (
    # AWing Table 7: the ladder, each row compared with the one above
    Row("t7-mse", "awing-ablation", "MSE", _ladder(("loss", {"name": "mse"})), priority=1),
    Row(
        "t7-awing",
        "awing-ablation",
        "AWing",
        _ladder(_awing(weight_map={"kind": "none"})),
        "t7-mse",
        priority=2,
    ),
    Row("t7-wmap", "awing-ablation", "+ weighted loss map", _ladder(_FULL_AWING), "t7-awing"),
    Row(
        "t7-boundary",
        "awing-ablation",
        "+ boundary channel",
        _ladder(_FULL_AWING, ("codec.boundary", True)),
        "t7-wmap",
        priority=3,
    ),
    Row(
        "t7-coordconv",
        "awing-ablation",
        "+ CoordConv",
        _ladder(_FULL_AWING, ("codec.boundary", True), ("model.coordconv", True)),
        "t7-boundary",
        priority=3,
    ),
    Row(
        "t7-bcoords",
        "awing-ablation",
        "+ boundary coordinates (full AWing)",
        _FULL,
        "t7-coordconv",
        priority=1,
    ),
    # AWing Tables 5/6: a few settings around the defaults of the full model
    _hyper("hp-omega-10", "omega 10", omega=10.0),
    _hyper("hp-omega-18", "omega 18", omega=18.0),
    _hyper("hp-epsilon-0.5", "epsilon 0.5", epsilon=0.5),
    _hyper("hp-epsilon-2", "epsilon 2", epsilon=2.0),
    _hyper("hp-theta-0.3", "theta 0.3", theta=0.3),
    _hyper("hp-alpha-2.5", "alpha 2.5", alpha=2.5),
    # Wasserstein Tables 2/6/10: L2 vs Wasserstein at two target widths, other distribution
    # losses; every run evaluated with both decodings and under occlusion
    *_robust_rows(
        "wasserstein",
        ("l2-s1", "heatmap L2, sigma 1", _l2("sigma_narrow"), None, 1),
        ("l2-s3", "heatmap L2, sigma 3 (equivalent)", _l2("sigma_wide"), "l2-s1", 2),
        ("wass-s1", "Wasserstein, sigma 1", _wass("sigma_narrow"), "l2-s1", 2),
        ("wass-s3", "Wasserstein, sigma 3 (equivalent)", _wass("sigma_wide"), "l2-s3", 1),
        ("jsd-s3", "Jensen-Shannon, sigma 3 (equivalent)", _barycentric("jsd"), "l2-s3", 3),
        (
            "softargmax",
            "soft-argmax (integral regression)",
            _barycentric("soft-argmax"),
            "l2-s3",
            3,
        ),
        (
            "wass-s3-div",
            "Sinkhorn divergence (debiased Wasserstein), sigma 3 (eq.)",
            _wass("sigma_wide", debiased=True),
            "wass-s3",
            3,
        ),
        (
            "wass-s3-cc",
            "Wasserstein, sigma 3 (eq.), CoordConv at the input only",
            _wass("sigma_wide", **{"model.coordconv_everywhere": False}),
            "wass-s3",
            4,
        ),
    ),
    # ---- the losses applied to other heatmap models -------------------------------------
    # One pair of rows per architecture (L2 vs Wasserstein, same target); the network is a
    # scale parameter, so each scale sizes it to its budget.
    *_other_model_rows("simple_baselines", "SimpleBaselines", "other-models"),
    *_other_model_rows("cpn", "CPN", "gpu-models", ("train.supervision", CPN_SUPERVISION)),
    *_robust_rows(
        "gpu-models",
        (
            "hrnet-l2-s3",
            "HRNet-W18, heatmap L2, sigma 3 (eq.)",
            (_HRNET, *_l2("sigma_wide")),
            None,
            5,
        ),
        (
            "hrnet-wass-s3",
            "HRNet-W18, Wasserstein, sigma 3 (eq.)",
            (_HRNET, *_wass("sigma_wide")),
            "hrnet-l2-s3",
            5,
        ),
        (
            "hrnet-wass-s3-cc",
            "HRNet-W18, Wasserstein, sigma 3 (eq.), CoordConv in every convolution",
            (_HRNET, *_wass("sigma_wide", **{"model.coordconv_everywhere": True})),
            "hrnet-wass-s3",
            5,
        ),
    ),
)

# ---------------------------------------------------------------------------------- scales

STUDY_EPOCHS = 20
"""Epochs of every CPU-study run (the budget arithmetic in ``heatmark.reproduce``)."""
_STUDY_COMMON: tuple[Override, ...] = (
    ("model.width", 32),
    ("schedule.epochs", STUDY_EPOCHS),
    ("schedule.kind", "cosine"),
    ("schedule.warmup_epochs", 1),
    ("train.val_every", 5),
    ("train.max_minutes", None),  # the grid's --budget-minutes stops runs, not the recipe
    ("data.workers", 0),
)
_STUDY_BASE = "cpu_shipped_300w"
_STUDY_OTHER = tuple(o for o in _STUDY_COMMON if o[0] != "model.width")  # rows set the model

STUDY = Scale(
    name="study",
    summary=(
        "CPU study: the shipped model's recipe (cpu_shipped_300w: 128 px input, "
        f"32x32 maps, Adam 1e-3, cosine) at width 32 for {STUDY_EPOCHS} epochs; a 2-stack "
        "hourglass for the AWing tables (boundary coordinates need a second stack), 1 stack "
        "with CoordConv in every convolution for the Wasserstein table"
    ),
    recipes=(
        ("awing-ablation", Recipe(_STUDY_BASE, (*_STUDY_COMMON, ("model.stacks", 2)))),
        ("awing-hyper", Recipe(_STUDY_BASE, (*_STUDY_COMMON, ("model.stacks", 2)))),
        (
            "wasserstein",
            Recipe(
                _STUDY_BASE,
                (*_STUDY_COMMON, ("model.stacks", 1), ("model.coordconv_everywhere", True)),
            ),
        ),
        ("other-models", Recipe(_STUDY_BASE, _STUDY_OTHER)),
    ),
    params=(
        ("sigma_narrow", 1.0),
        ("sigma_wide", 1.5),
        ("wasserstein_temperature", 0.1),
        (
            "simple_baselines_model",
            {"architecture": "simple_baselines", "depth": 18, "width": 32, "deconv_channels": 128},
        ),
        ("cpn_model", {"architecture": "cpn", "depth": 18, "width": 32, "channels": 64}),
    ),
    jobs=2,
    # CPU seconds per epoch on one thread, `heatmark reproduce --measure` (10 steps after 2,
    # 120 steps an epoch), 2026-12-02 on this repository's 2-core machine
    seconds_per_epoch=(
        ("t7-mse", 38),
        ("t7-awing", 51),
        ("t7-wmap", 50),
        ("t7-boundary", 54),
        ("t7-coordconv", 56),
        ("t7-bcoords", 54),
        ("hp-omega-10", 55),
        ("hp-omega-18", 49),
        ("hp-epsilon-0.5", 58),
        ("hp-epsilon-2", 56),
        ("hp-theta-0.3", 57),
        ("hp-alpha-2.5", 53),
        ("l2-s1", 26),
        ("l2-s3", 26),
        ("wass-s1", 56),
        ("wass-s3", 51),
        ("jsd-s3", 24),
        ("softargmax", 22),
        ("wass-s3-cc", 51),
        ("simple-baselines-l2-s3", 43),
        ("simple-baselines-wass-s3", 74),
        # the Sinkhorn-divergence rows, measured the same way on 2026-12-06 while two grid runs
        # used both cores (CPU time, which that changes little)
        ("wass-s3-div", 89),
        ("simple-baselines-wass-s3-div", 117),
    ),
)

PAPER = Scale(
    name="paper",
    summary=(
        "the papers' scale (for a GPU): 256 px input, 64x64 maps, 4-stack hourglass of width "
        "256, RMSprop 1e-4 for 240 epochs (recipes awing_300w, wasserstein_300w), HRNet-W18 "
        "for 60 epochs (hrnet_300w)"
    ),
    recipes=(
        ("awing-ablation", Recipe("awing_300w")),
        ("awing-hyper", Recipe("awing_300w")),
        ("wasserstein", Recipe("wasserstein_300w")),
        ("other-models", Recipe("simple_baselines_300w")),
        ("gpu-models", Recipe("hrnet_300w")),
    ),
    params=(
        ("sigma_narrow", 1.0),
        ("sigma_wide", 3.0),
        ("wasserstein_temperature", 1.0),
        (
            "simple_baselines_model",
            {"architecture": "simple_baselines", "depth": 50, "width": 64, "deconv_channels": 256},
        ),
        ("cpn_model", {"architecture": "cpn", "depth": 50, "width": 64, "channels": 256}),
        ("hrnet_model", {"architecture": "hrnet", "width": 18}),
    ),
    jobs=1,
)

_NETWORK = ("model.width", "model.depth")  # hourglass keys; other-models rows set the model
_SMOKE_COMMON: tuple[Override, ...] = (
    ("data.train", "synthetic"),
    ("data.synthetic_count", 32),
    ("data.synthetic_val_count", 12),
    ("data.input_size", 64),
    ("data.workers", 0),
    ("codec.heatmap_size", 16),
    ("model.width", 16),
    ("model.depth", 2),
    ("optimizer.name", "adam"),
    ("optimizer.lr", 2e-3),
    ("optimizer.weight_decay", 0.0),
    ("schedule.epochs", 2),
    ("schedule.kind", "cosine"),
    ("train.batch_size", 8),
    ("train.val_every", 1),
    ("train.log_every", 1),
    ("train.device", "cpu"),
)

SMOKE = Scale(
    name="smoke",
    summary="seconds-long runs on synthetic faces (64 px, 16x16 maps, width 16): tests only",
    recipes=(
        ("awing-ablation", Recipe(None, (*_SMOKE_COMMON, ("model.stacks", 2)))),
        ("awing-hyper", Recipe(None, (*_SMOKE_COMMON, ("model.stacks", 2)))),
        (
            "wasserstein",
            Recipe(
                None, (*_SMOKE_COMMON, ("model.stacks", 1), ("model.coordconv_everywhere", True))
            ),
        ),
        ("other-models", Recipe(None, tuple(o for o in _SMOKE_COMMON if o[0] not in _NETWORK))),
        (
            "gpu-models",
            Recipe(None, tuple(o for o in _SMOKE_COMMON if o[0] not in _NETWORK)),
        ),
    ),
    params=(
        ("sigma_narrow", 1.0),
        ("sigma_wide", 1.5),
        ("wasserstein_temperature", 0.1),
        (
            "simple_baselines_model",
            {"architecture": "simple_baselines", "depth": 10, "width": 8, "deconv_channels": 16},
        ),
        ("cpn_model", {"architecture": "cpn", "depth": 10, "width": 8, "channels": 16}),
        ("hrnet_model", {"architecture": "hrnet", "width": 8}),
    ),
    synthetic=True,
)

SCALES: dict[str, Scale] = {scale.name: scale for scale in (STUDY, PAPER, SMOKE)}


# ---------------------------------------------------------------------------------- lookups


def table_named(name: str) -> Table:
    for table in TABLES:
        if table.name == name:
            return table
    raise HeatmarkError(f"unknown table {name!r}")


def row_named(name: str) -> Row:
    for row in ROWS:
        if row.name == name:
            return row
    raise HeatmarkError(f"unknown row {name!r}")


def scale_rows(scale: Scale) -> list[Row]:
    """The rows of every table this scale has a recipe for, in table order."""
    return [row for row in ROWS if scale.recipe(row.table) is not None]


def select_rows(scale: Scale, only: Sequence[str] | None) -> list[Row]:
    """The rows named in ``only`` (row or table names; None: all rows of the scale).

    An unknown name, or a row the scale has no recipe for, is a ``HeatmarkError`` listing the
    choices."""
    rows = scale_rows(scale)
    if not only:
        return rows
    chosen: list[str] = []
    for name in only:
        in_table = [row.name for row in rows if row.table == name]
        if in_table:
            chosen += in_table
        elif any(row.name == name for row in rows):
            chosen.append(name)
        else:
            tables = sorted({row.table for row in rows})
            unknown = f"--only {name!r}: no such row or table at scale {scale.name}"
            if any(row.name == name for row in ROWS):
                unknown = f"--only {name!r}: the {scale.name} scale has no recipe for its table"
            raise HeatmarkError(
                f"{unknown}; tables: {', '.join(tables)}; rows: "
                + ", ".join(row.name for row in rows)
            )
    return [row for row in rows if row.name in chosen]


def expand(rows: Sequence[Row], seeds: int) -> list[Run]:
    """Every (row, seed) run, most informative first: seed 0 of every row (by priority, then
    grid order) before seed 1 of any, and so on."""
    if seeds < 1:
        raise HeatmarkError(f"--seeds must be at least 1, got {seeds}")
    order = {row.name: index for index, row in enumerate(ROWS)}
    ranked = sorted(rows, key=lambda row: (row.priority, order[row.name]))
    return [Run(row, seed) for seed in range(seeds) for row in ranked]


# ---------------------------------------------------------------------------------- configs


@dataclass(frozen=True)
class Layout:
    """Where a grid's runs live: ``runs`` (one folder per run) and, for real data, the
    materialised hold-out (``train`` and ``val`` folders, ``heatmark.reproduce.holdout``)."""

    runs: Path
    train: Path | None = None
    val: Path | None = None
    device: str | None = None

    def run_dir(self, run: Run) -> Path:
        return self.runs / run.name


def _resolve(value: Any, scale: Scale) -> Any:
    if isinstance(value, Param):
        return scale.param(value.name)
    if isinstance(value, dict):
        return {key: _resolve(item, scale) for key, item in value.items()}
    return value


def format_value(value: Any) -> str:
    """``value`` as ``--set`` text that parses back to it (plain when unambiguous)."""
    if isinstance(value, str):
        try:
            plain = parse_yaml(value, "value", lines=False) == value
        except ConfigError:
            plain = False
        return value if plain and value.strip() == value else json.dumps(value)
    return json.dumps(value)


def run_overrides(run: Run, scale: Scale, layout: Layout) -> list[str]:
    """The ``--set key=value`` list of a run: the table's recipe, the row, then the run's own
    seed, name, output folder, data and device."""
    recipe = scale.recipe(run.row.table)
    if recipe is None:
        raise HeatmarkError(f"row {run.row.name}: the {scale.name} scale has no recipe for it")
    pairs: list[Override] = [*recipe.overrides, *run.row.overrides]
    pairs += [("seed", run.seed), ("name", run.name), ("output", str(layout.runs))]
    if not scale.synthetic:
        if layout.train is None or layout.val is None:
            raise HeatmarkError(f"scale {scale.name} trains on real data: the hold-out is missing")
        pairs += [("data.train", str(layout.train)), ("data.val", str(layout.val))]
    pairs.append(("train.progress", False))
    if layout.device is not None:
        pairs.append(("train.device", layout.device))
    return [f"{key}={format_value(_resolve(value, scale))}" for key, value in pairs]


def run_config(run: Run, scale: Scale, layout: Layout) -> Config:
    """The validated training config of a run (what its ``heatmark train`` command trains)."""
    recipe = scale.recipe(run.row.table)
    assert recipe is not None
    overrides = run_overrides(run, scale, layout)
    try:
        if recipe.config is None:
            return load_config(None, overrides)
        return load_recipe(recipe.config, overrides)
    except ConfigError as error:
        raise ConfigError(f"row {run.row.name} at scale {scale.name}: {error}") from None


def train_command(run: Run, scale: Scale, layout: Layout) -> list[str]:
    """``heatmark train`` arguments (without the program) that train ``run`` from scratch: the
    bundled recipe by name, then the run's overrides."""
    recipe = scale.recipe(run.row.table)
    assert recipe is not None
    command = ["train"] + (["-c", recipe.config] if recipe.config is not None else [])
    for item in run_overrides(run, scale, layout):
        command += ["--set", item]
    return command


def shell_command(arguments: Sequence[str]) -> str:
    """A ``heatmark ...`` command line for a person to paste."""
    return shlex.join(["heatmark", *arguments])
