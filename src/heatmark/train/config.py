"""The one typed training configuration (YAML in, validated; an unknown key or a bad value is an
error naming the key).

Each section is a pydantic model with ``extra="forbid"``. Choices between implementations (model
architecture, loss, optimiser) are tagged unions: the ``name``/``architecture`` field selects the
model class, whose fields are that implementation's parameters; the builders in
``heatmark.train.build`` turn each into its object with plain code, no string registry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Tag,
    ValidationError,
    field_validator,
)

from heatmark import recipes
from heatmark.codec import Decoding
from heatmark.data.augment import AugmentConfig
from heatmark.data.split import AUTO_SUBSET
from heatmark.errors import ConfigError
from heatmark.evaluate.metrics import Normaliser
from heatmark.models.config import HourglassConfig, ModelConfig, tag_reader
from heatmark.models.landmark_model import ModelDescription, description_from_training_config

"""``data.val_subset`` default: helen/trainset when the dataset has it, else the whole dataset."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabelNoiseConfig(Section):
    """Synthetic annotation noise on the training samples (AWing supplementary, Table 11).

    A seeded ``fraction`` (P) of all training points, chosen uniformly over samples x points, is
    moved by ``shift`` (S) times its face's inter-ocular distance in a uniformly random
    direction. The paper's settings 10/10, 20/20 and 30/30 are ``fraction: 0.1, shift: 0.1``
    and so on. Applied after the hold-out split, never to validation; 0 (the default) is off.
    """

    fraction: float = Field(0.0, ge=0, le=1, description="P: fraction of training points moved")
    shift: float = Field(0.0, ge=0, le=1, description="S: the move, times the inter-ocular dist.")


class DataConfig(Section):
    """Where samples come from and how they are cropped."""

    train: str = Field(
        "synthetic", description="dataset path (any supported format) or 'synthetic'"
    )
    val: str | None = Field(None, description="validation dataset; None: hold out from train")
    val_fraction: float = Field(0.1, gt=0, lt=1)
    val_subset: str | None = Field(
        AUTO_SUBSET,
        description="hold out only from this subset of train; 'auto': helen/trainset when the "
        "dataset has it (300-W), else all of it; None: all of it",
    )
    synthetic_count: int = Field(2000, ge=10)
    synthetic_val_count: int = Field(200, ge=10)
    input_size: int = Field(256, ge=32)
    enlarge: float = Field(1.25, gt=0.5, le=4)
    use_dataset_box: bool = False
    workers: int = Field(2, ge=0)
    label_noise: LabelNoiseConfig = LabelNoiseConfig()

    @field_validator("train", "val")
    @classmethod
    def _path_not_blank(cls, value: str | None) -> str | None:
        # an empty path would read the current directory as a dataset
        if value is not None and not value.strip():
            raise ValueError("empty; give a dataset path")
        return value

    @field_validator("val_subset")
    @classmethod
    def _subset_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("empty; name a subset, or auto, or null for the whole dataset")
        return value


class CodecConfig(Section):
    heatmap_size: int = Field(64, ge=4)
    sigma: float = Field(1.0, gt=0)
    boundary: bool = False
    boundary_sigma: float = Field(1.0, gt=0)


class WeightMapConfig(Section):
    """AWing loss weighting: ``dilated`` = W*M+1 (paper), ``heatmap`` = W*H+1 (baseline)."""

    kind: Literal["dilated", "heatmap", "none"] = "dilated"
    weight: float = Field(10.0, ge=0)
    threshold: float = Field(0.2, gt=0, lt=1)
    kernel: int = Field(3, ge=1)


class MSEConfig(Section):
    name: Literal["mse"] = "mse"
    weight_map: WeightMapConfig = WeightMapConfig(kind="none")


class L1Config(Section):
    name: Literal["l1"] = "l1"
    weight_map: WeightMapConfig = WeightMapConfig(kind="none")


class WingConfig(Section):
    name: Literal["wing"] = "wing"
    omega: float = Field(10.0, gt=0)
    epsilon: float = Field(2.0, gt=0)
    weight_map: WeightMapConfig = WeightMapConfig(kind="none")


class AdaptiveWingConfig(Section):
    name: Literal["awing"] = "awing"
    alpha: float = Field(2.1, gt=1)
    omega: float = Field(14.0, gt=0)
    epsilon: float = Field(1.0, gt=0)
    theta: float = Field(0.5, gt=0)
    weight_map: WeightMapConfig = WeightMapConfig()


class JensenShannonConfig(Section):
    name: Literal["jsd"] = "jsd"


class SoftArgmaxConfig(Section):
    name: Literal["soft-argmax"] = "soft-argmax"
    beta: float = Field(1.0, gt=0)


class WassersteinConfig(Section):
    name: Literal["wasserstein"] = "wasserstein"
    cost: Literal["euclidean", "sqeuclidean", "l1"] = "euclidean"
    epsilon: float = Field(0.05, gt=0, description="entropic regularisation, map side = 1")
    max_iterations: int = Field(100, ge=1, description="Sinkhorn iterations per level, at most")
    tolerance: float = Field(1e-2, ge=0, description="stop at this L1 marginal violation")
    debiased: bool = False
    temperature: float = Field(1.0, gt=0, description="softmax temperature of the prediction")


LossConfig = Annotated[
    Annotated[MSEConfig, Tag("mse")]
    | Annotated[L1Config, Tag("l1")]
    | Annotated[WingConfig, Tag("wing")]
    | Annotated[AdaptiveWingConfig, Tag("awing")]
    | Annotated[JensenShannonConfig, Tag("jsd")]
    | Annotated[SoftArgmaxConfig, Tag("soft-argmax")]
    | Annotated[WassersteinConfig, Tag("wasserstein")],
    tag_reader("name", "awing"),
]


class OptimizerConfig(Section):
    name: Literal["rmsprop", "adam", "adamw", "sgd"] = "rmsprop"
    lr: float = Field(1e-4, gt=0)
    momentum: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(1e-5, ge=0)


class ScheduleConfig(Section):
    """Epoch-based multi-step decay (AWing: x0.1 at 80 and 160 of 240) or cosine, with warm-up."""

    epochs: int = Field(240, ge=1)
    kind: Literal["multistep", "cosine"] = "multistep"
    milestones: tuple[int, ...] = (80, 160)
    gamma: float = Field(0.1, gt=0, le=1)
    warmup_epochs: int = Field(0, ge=0)


class SupervisionConfig(Section):
    """How each of the network's outputs is supervised (``heatmark.train.supervision``).

    Defaults: every output (stack) gets the run's loss and target with weight 1. CPN's released
    code instead gives its four GlobalNet outputs wider targets and weight 1/8 each and trains
    RefineNet on its hardest keypoints only (the cpn_300w recipe)."""

    sigma_scales: tuple[float, ...] = Field(
        (), description="per output, codec.sigma times this; empty: 1 for every output"
    )
    weights: tuple[float, ...] = Field((), description="per output loss weight; empty: all 1")
    hard_keypoints: int | None = Field(
        None,
        ge=1,
        description="online hard keypoint mining: the last output's loss is the mean over "
        "each image's this many largest landmark losses; None: all landmarks",
    )

    @field_validator("sigma_scales")
    @classmethod
    def _positive_scales(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not scale > 0 for scale in value):
            raise ValueError(f"every sigma scale must be > 0, got {list(value)}")
        return value

    @field_validator("weights")
    @classmethod
    def _non_negative_weights(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not weight >= 0 for weight in value) or (value and not any(value)):
            raise ValueError(f"weights must be >= 0 and not all 0, got {list(value)}")
        return value


class DistillConfig(Section):
    """Learn from a trained teacher's heatmaps too (``heatmark.train.distill``)."""

    teacher: str = Field(description="shipped, shipped:NAME (a shipped model) or a checkpoint path")
    weight: float = Field(
        0.5, gt=0, le=1, description="share of the teacher's loss; the ground truth has the rest"
    )


class TrainConfig(Section):
    batch_size: int = Field(16, ge=1)
    val_every: int = Field(5, ge=1, description="validate every N epochs (and after the last)")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = Field(True, description="mixed precision (CUDA only)")
    channels_last: bool = Field(
        True,
        description="NHWC memory format: faster convolutions on CUDA and for small/thin "
        "networks on CPU (benchmarks/bench_models.py)",
    )
    grad_clip: float | None = Field(None, gt=0)
    ema_decay: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="validate, keep as best and ship a moving average of the weights with "
        "this decay per step (e.g. 0.999); None: the live weights",
    )
    log_every: int = Field(10, ge=1, description="steps between CSV/TensorBoard log rows")
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: all cores)")
    max_minutes: float | None = Field(None, gt=0, description="stop after the epoch past this")
    progress: bool = True
    mask_invisible: bool | None = Field(
        None,
        description="leave points annotated invisible out of the loss (weight 0); None: for "
        "body schemes (LSP, whose invisible joints may be placeholders), not for faces",
    )
    supervision: SupervisionConfig = SupervisionConfig()
    distill: DistillConfig | None = None


class EvalConfig(Section):
    """Validation during training; ``normaliser`` must exist for the scheme (``torso`` for
    bodies: LSP has no eyes), which the trainer checks before the first step."""

    decoding: Decoding = Decoding.GET_MAX
    softmax: bool | None = Field(None, description="GET_BC distribution; None: from the loss")
    normaliser: Normaliser = Normaliser.INTER_OCULAR
    threshold: float = Field(0.1, gt=0)


class Config(Section):
    """A complete training run."""

    name: str = "run"
    seed: int = 0
    output: str = "runs"
    data: DataConfig = DataConfig()
    augment: AugmentConfig = AugmentConfig()
    codec: CodecConfig = CodecConfig()
    model: ModelConfig = HourglassConfig()
    loss: LossConfig = AdaptiveWingConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()

    @field_validator("name", "output")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("empty; the run directory is output/name")
        return value

    @property
    def run_dir(self) -> Path:
        return Path(self.output) / self.name

    def description(self, scheme: str) -> ModelDescription:
        """How a network trained with this config on ``scheme`` is cropped for and decoded."""
        return description_from_training_config(
            self.model_dump(mode="json"), scheme, f"config {self.name}"
        )


_TAGGED = ("model", "loss")


def _format_errors(error: ValidationError, source: str) -> str:
    lines = []
    for item in error.errors():
        parts = [str(part) for part in item["loc"]]
        # drop the union tag pydantic inserts after a tagged section ("model.hourglass.x")
        parts = [p for i, p in enumerate(parts) if not (i and parts[i - 1] in _TAGGED)]
        key = ".".join(parts) or "<root>"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        elif item["type"] == "value_error":
            message = message.removeprefix("Value error, ")
        elif item["type"] == "union_tag_invalid":
            message = message.replace(" found using read()", "").replace(
                "Input tag", "unknown choice"
            )
        lines.append(f"{source}: {key}: {message}")
    return "\n".join(lines)


class _ConfigLoader(yaml.SafeLoader):
    """Safe YAML restricted to plain data: a key given twice in a mapping is an error (YAML
    would keep the last silently), tags (``!!binary``, ``!!python/...``) are refused, and
    dates and ``=`` stay strings."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        if node.tag not in _PLAIN_TAGS:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"tag {tag} is not allowed (a config holds plain values)",
                node.start_mark,
            )
        return super().construct_object(node, deep)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                seen = first.get(key)
            except TypeError:  # unhashable: the base class reports it
                continue
            line = key_node.start_mark.line + 1
            if seen is not None:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first given at line {seen})",
                    key_node.start_mark,
                )
            first[key] = line
        return super().construct_mapping(node, deep)


_PLAIN_TAGS = {
    f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "str", "seq", "map")
}
_ConfigLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_yaml(text: str, source: str, lines: bool = True) -> Any:
    """Parse config YAML; any problem is a ``ConfigError`` naming ``source`` (and the line
    when ``lines``)."""
    try:
        return yaml.load(text, Loader=_ConfigLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{source}:{mark.line + 1}" if lines and mark is not None else source
        problem = error.problem or error.context or "syntax error"
        raise ConfigError(f"{where}: not valid YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML: {error}") from None
    except RecursionError:
        raise ConfigError(f"{source}: not valid YAML: nested too deeply") from None


def _parse_value(text: str, item: str) -> Any:
    return parse_yaml(text, f"--set {item!r}", lines=False) if text != "" else ""


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) to a raw config dict."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value")
        node = raw
        parts = key.split(".")
        if not all(parts):
            raise ConfigError(f"--set {item!r}: empty key name in {key!r}")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {item!r}: {part} is not a section")
            node = child
        node[parts[-1]] = _parse_value(value, item)
    return raw


def config_from_dict(raw: dict[str, Any], source: str = "config") -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_format_errors(error, source)) from None


def read_config_text(config: str | Path) -> tuple[str, str]:
    """``(YAML text, source name)`` of ``config``: the file at that path when there is one, else
    the bundled recipe of that name (``heatmark.recipes``: ``cpu_300w`` or ``cpu_300w.yaml``).

    When there is neither: a ``ConfigError`` naming it, which lists the recipes for a bare name
    and names the recipe for a missing path whose file name is a recipe's
    (``configs/cpu_300w.yaml``: where the recipes lived before they moved into the package)."""
    path = Path(config)
    if path.is_file():
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"{path}: cannot read the config ({error})") from None
    name = recipes.bundled_name(str(config))
    if name is not None:
        return recipes.recipe_text(name), f"recipe {name}"
    if path.exists():
        raise ConfigError(f"{path}: not a config file")
    if path.name == str(config):  # a bare name: neither a file here nor a recipe
        raise ConfigError(
            f"{config}: no config file of that name here, and no bundled recipe {path.stem!r}; "
            f"recipes: {', '.join(recipes.recipe_names())} (heatmark recipes lists them)"
        )
    named = recipes.bundled_name(path.name)
    hint = f" (the bundled recipe {named} has its name: -c {named})" if named else ""
    raise ConfigError(f"{path}: config file not found{hint}")


def config_from_yaml(text: str, source: str, overrides: list[str] | None = None) -> Config:
    """Validate YAML config text (errors name ``source``) with ``key=value`` overrides."""
    loaded = parse_yaml(text, source)
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    raw = apply_overrides(loaded or {}, overrides or [])
    return config_from_dict(raw, source)


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Read a YAML config, a file or a bundled recipe's name (``read_config_text``), or start
    from the defaults when ``path`` is None; then apply overrides."""
    if path is None:
        return config_from_dict(apply_overrides({}, overrides or []), "defaults")
    return config_from_yaml(*read_config_text(path), overrides)


def load_recipe(name: str, overrides: list[str] | None = None) -> Config:
    """Bundled recipe ``name`` (never a file of that name) with overrides."""
    return config_from_yaml(recipes.recipe_text(name), f"recipe {name}", overrides)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: value}


ABSENT = "(absent)"


def config_differences(old: Config, new: Config) -> list[tuple[str, Any, Any]]:
    """``(key, old value, new value)`` for every dotted key whose value differs (``ABSENT`` for
    a key that only one of them has, e.g. after switching the loss)."""
    before = _flatten(old.model_dump(mode="json"))
    after = _flatten(new.model_dump(mode="json"))
    keys = list(before) + [key for key in after if key not in before]
    return [
        (key, before.get(key, ABSENT), after.get(key, ABSENT))
        for key in keys
        if before.get(key, ABSENT) != after.get(key, ABSENT)
    ]


def config_to_yaml(config: Config) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
