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
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError

from heatmark.codec import Decoding
from heatmark.data.augment import AugmentConfig
from heatmark.errors import ConfigError
from heatmark.evaluate.metrics import Normaliser


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(Section):
    """Where samples come from and how they are cropped."""

    train: str = Field(
        "synthetic", description="dataset path (any supported format) or 'synthetic'"
    )
    val: str | None = Field(None, description="validation dataset; None: hold out from train")
    val_fraction: float = Field(0.1, gt=0, lt=1)
    val_subset: str | None = Field("helen/trainset", description="hold out only from this subset")
    synthetic_count: int = Field(2000, ge=10)
    synthetic_val_count: int = Field(200, ge=10)
    input_size: int = Field(256, ge=32)
    enlarge: float = Field(1.25, gt=0.5, le=4)
    use_dataset_box: bool = False
    workers: int = Field(2, ge=0)


class CodecConfig(Section):
    heatmap_size: int = Field(64, ge=4)
    sigma: float = Field(1.0, gt=0)
    boundary: bool = False
    boundary_sigma: float = Field(1.0, gt=0)


class HourglassConfig(Section):
    architecture: Literal["hourglass"] = "hourglass"
    stacks: int = Field(4, ge=1, le=8)
    width: int = Field(256, ge=8)
    depth: int = Field(4, ge=1)
    coordconv: bool = True
    boundary_coords: bool = False
    coordconv_everywhere: bool = False


class HRNetConfig(Section):
    architecture: Literal["hrnet"] = "hrnet"
    width: int = Field(18, ge=4)


def _tag(field: str, default: str):
    """Discriminator reading ``field`` from a dict or model, ``default`` when it is absent."""

    def read(value: Any) -> str | None:
        if isinstance(value, dict):
            return value.get(field, default)
        return getattr(value, field, None)

    return Discriminator(read)


ModelConfig = Annotated[
    Annotated[HourglassConfig, Tag("hourglass")] | Annotated[HRNetConfig, Tag("hrnet")],
    _tag("architecture", "hourglass"),
]


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
    _tag("name", "awing"),
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
    log_every: int = Field(10, ge=1, description="steps between CSV/TensorBoard log rows")
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: all cores)")
    max_minutes: float | None = Field(None, gt=0, description="stop after the epoch past this")
    progress: bool = True


class EvalConfig(Section):
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

    @property
    def run_dir(self) -> Path:
        return Path(self.output) / self.name

    def softmax_decoding(self) -> bool:
        """Whether GET_BC treats outputs as logits (losses on softmax distributions)."""
        if self.eval.softmax is not None:
            return self.eval.softmax
        return self.loss.name in ("wasserstein", "jsd", "soft-argmax")

    def softmax_temperature(self) -> float:
        """The temperature of the loss's softmax, which GET_BC must use too (1 if none)."""
        return getattr(self.loss, "temperature", 1.0)


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
        elif item["type"] == "union_tag_invalid":
            message = message.replace(" found using read()", "").replace(
                "Input tag", "unknown choice"
            )
        lines.append(f"{source}: {key}: {message}")
    return "\n".join(lines)


def _parse_value(text: str) -> Any:
    return yaml.safe_load(text) if text != "" else ""


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) to a raw config dict."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value")
        node = raw
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {item!r}: {part} is not a section")
            node = child
        node[parts[-1]] = _parse_value(value)
    return raw


def config_from_dict(raw: dict[str, Any], source: str = "config") -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_format_errors(error, source)) from None


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Read a YAML config (or start from defaults when ``path`` is None) and apply overrides."""
    raw: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            loaded = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        raw = loaded or {}
    raw = apply_overrides(raw, overrides or [])
    return config_from_dict(raw, source)


def config_to_yaml(config: Config) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
