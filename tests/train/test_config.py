"""The typed config: unknown keys and bad values are errors naming the key; recipes validate."""

from pathlib import Path

import pytest

from heatmark.errors import ConfigError
from heatmark.train.config import HRNetConfig, WassersteinConfig, load_config

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


def test_defaults_are_the_awing_paper() -> None:
    config = load_config(None)
    assert config.loss.name == "awing"
    assert (config.loss.alpha, config.loss.omega, config.loss.epsilon, config.loss.theta) == (
        2.1,
        14.0,
        1.0,
        0.5,
    )
    assert config.loss.weight_map.kind == "dilated" and config.loss.weight_map.weight == 10
    assert config.optimizer.name == "rmsprop" and config.optimizer.lr == 1e-4
    assert config.schedule.epochs == 240 and config.schedule.milestones == (80, 160)
    assert config.augment.rotation_deg == 50 and config.augment.flip_probability == 0.5


def test_unknown_key_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  stacks: 2\n  stackz: 3\n")
    with pytest.raises(ConfigError, match=r"c.yaml: model.stackz: unknown key"):
        load_config(path)
    path.write_text("optimiser:\n  lr: 0.1\n")
    with pytest.raises(ConfigError, match="optimiser: unknown key"):
        load_config(path)


def test_bad_values_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"optimizer\.lr"):
        load_config(None, ["optimizer.lr=-1"])
    with pytest.raises(ConfigError, match=r"schedule\.epochs"):
        load_config(None, ["schedule.epochs=many"])
    with pytest.raises(ConfigError, match="unknown choice 'l3'"):
        load_config(None, ["loss.name=l3"])
    with pytest.raises(ConfigError, match="expected key=value"):
        load_config(None, ["loss.name"])
    path = tmp_path / "bad.yaml"
    path.write_text("model: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_overrides_select_implementations() -> None:
    config = load_config(
        None,
        [
            "model.architecture=hrnet",
            "loss.name=wasserstein",
            "loss.cost=sqeuclidean",
            "codec.sigma=3",
        ],
    )
    assert isinstance(config.model, HRNetConfig)
    assert isinstance(config.loss, WassersteinConfig) and config.loss.cost == "sqeuclidean"
    assert config.codec.sigma == 3.0
    assert config.softmax_decoding()


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_recipes_validate(path: Path) -> None:
    config = load_config(path)
    assert config.name
    assert config.data.input_size % config.codec.heatmap_size == 0


def test_recipes_exist() -> None:
    names = {p.stem for p in CONFIGS}
    assert {"awing_300w", "hrnet_300w", "cpu_300w", "wasserstein_300w"} <= names
