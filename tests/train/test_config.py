"""The typed config: unknown keys and bad values are errors naming the key; recipes validate."""

import dataclasses
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from heatmark import recipes
from heatmark.cli import app
from heatmark.data.synthetic import synthetic_faces
from heatmark.errors import ConfigError
from heatmark.models.config import HRNetConfig
from heatmark.train.config import WassersteinConfig, load_config
from heatmark.train.data import validation_split

CONFIGS = sorted(Path(recipes.__file__).parent.glob("*.yaml"))  # the bundled recipes


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
    assert config.description("300w-68").softmax


@pytest.mark.parametrize(
    ("loss", "temperature"),
    [
        ('{"name": "wasserstein", "temperature": 0.1}', 0.1),
        ('{"name": "soft-argmax", "beta": 4}', 0.25),
        ('{"name": "soft-argmax"}', 1.0),
        ('{"name": "jsd"}', 1.0),
    ],
)
def test_get_bc_decodes_the_distribution_the_loss_trained(loss: str, temperature: float) -> None:
    """Soft-argmax trains softmax(beta * map): GET_BC must decode it at temperature 1 / beta."""
    config = load_config(None, [f"loss={loss}", "eval.decoding=barycenter"])
    description = config.description("300w-68")
    assert description.softmax and description.temperature == pytest.approx(temperature)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_recipes_validate(path: Path) -> None:
    config = load_config(path)
    assert config.name
    assert config.data.input_size % config.codec.heatmap_size == 0


def test_recipes_exist() -> None:
    names = {p.stem for p in CONFIGS}
    assert {"awing_300w", "hrnet_300w", "cpu_300w", "wasserstein_300w"} <= names


def test_empty_dataset_path_is_refused(tmp_path: Path, monkeypatch) -> None:
    """``--set data.train=`` would read the current folder as a dataset."""
    for key in ("data.train", "data.val", "data.val_subset", "name", "output"):
        with pytest.raises(ConfigError, match=rf"{re.escape(key)}: empty"):
            load_config(None, [f"{key}="])
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["train", "--set", "data.train="])
    assert result.exit_code == 1 and "data.train: empty" in result.output


def _subset_samples() -> list:
    faces = synthetic_faces(20, seed=3, size=64)
    names = ["helen/trainset", "lfpw/trainset"]
    return [dataclasses.replace(f, subset=names[i % 2]) for i, f in enumerate(faces)]


def test_val_subset_auto_named_or_refused() -> None:
    samples = _subset_samples()
    _, val = validation_split(samples, load_config(None))  # auto: helen/trainset when present
    assert len(val) == 1 and val[0].subset == "helen/trainset"
    lfpw = load_config(None, ["data.val_subset=lfpw/trainset", "data.val_fraction=0.3"])
    _, val = validation_split(samples, lfpw)
    assert len(val) == 3 and {s.subset for s in val} == {"lfpw/trainset"}
    whole = load_config(None, ["data.val_subset=null", "data.val_fraction=0.5"])
    _, val = validation_split(samples, whole)
    assert len(val) == 10 and {s.subset for s in val} == {"helen/trainset", "lfpw/trainset"}
    without_helen = [s for s in samples if s.subset != "helen/trainset"]
    _, val = validation_split(without_helen, load_config(None, ["data.val_fraction=0.5"]))
    assert len(val) == 5  # auto without helen: the whole dataset, as before
    typo = load_config(None, ["data.val_subset=helen/trainst"])
    with pytest.raises(ConfigError, match=r"data\.val_subset: .*'helen/trainst'") as caught:
        validation_split(samples, typo)
    assert "'helen/trainset', 'lfpw/trainset'" in str(caught.value)


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("optimizer:\n  lr: 0.1\n  name: adam\n  lr: 0.2\n")
    with pytest.raises(
        ConfigError, match=r"c\.yaml:4: .*duplicate key 'lr' \(first given at line 2"
    ):
        load_config(path)
    path.write_text("model:\n  stacks: 1\nloss:\n  name: mse\nmodel:\n  stacks: 2\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:5: .*duplicate key 'model'"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"--set 'optimizer=\{lr: 1, lr: 2\}'.*duplicate key"):
        load_config(None, ["optimizer={lr: 1, lr: 2}"])
    # a merge key may be overridden: that is not a duplicate
    merged = "optimizer:\n  <<: {lr: 0.1, name: adam}\n  lr: 0.2\n"
    path.write_text(merged)
    assert load_config(path).optimizer.lr == 0.2


@pytest.mark.parametrize(
    "override",
    [
        "name=[unclosed",
        "name={a: 1",
        "name=!!python/object:os.system x",
        "name=!!python/object/apply:os.system [echo hi]",
        "name=!!binary aGVsbG8=",
        "name=!!set {a}",
        "name=!local x",
        "name=*undefined",
        "name=a: b: c",
    ],
)
def test_bad_override_values_name_the_override(override: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, [override])
    assert str(caught.value).startswith(f"--set {override!r}: not valid YAML: ")
    assert "\n" not in str(caught.value)


def test_override_values_are_plain_data() -> None:
    config = load_config(None, ["name=2020-01-01", "output=="])
    assert (config.name, config.output) == ("2020-01-01", "=")  # strings, not a date or a tag
    result = CliRunner().invoke(app, ["train", "--set", "name=[unclosed"])
    assert result.exit_code == 1 and "--set 'name=[unclosed'" in result.output
