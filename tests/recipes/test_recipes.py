"""The bundled recipes: listed with their purpose and paper table, printed as editable configs,
trained by name (a file of that name wins), and referenced by name from the reproduction grid."""

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from heatmark import recipes
from heatmark.cli import app
from heatmark.errors import ConfigError
from heatmark.reproduce.grid import SCALES, Run, row_named, train_command
from heatmark.reproduce.ledger import canonical_layout, recorded_command
from heatmark.train.config import config_differences, load_config, load_recipe

FOLDER = Path(recipes.__file__).parent
FILES = sorted(FOLDER.glob("*.yaml"))


def test_every_yaml_file_is_a_recipe_with_its_purpose_and_paper_table() -> None:
    assert len(FILES) >= 13
    assert recipes.recipe_names() == [path.stem for path in FILES]
    for recipe in recipes.bundled_recipes():
        assert recipe.purpose and recipe.reproduces, f"{recipe.name}: header lines missing"
        lines = recipes.recipe_text(recipe.name).splitlines()
        assert lines[0] == f"# purpose: {recipe.purpose}"
        assert lines[1] == f"# reproduces: {recipe.reproduces}"
        config = load_config(recipe.name)  # validates
        assert config.name
    assert recipes.describe("lsp.yaml") == recipes.describe("lsp")
    assert "Table 8" in recipes.describe("lsp").reproduces


def test_a_name_resolves_with_or_without_yaml_and_a_file_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    bundled = load_config("cpu_300w")
    assert bundled.name == "cpu-300w"
    assert config_differences(bundled, load_config("cpu_300w.yaml")) == []
    assert config_differences(bundled, load_recipe("cpu_300w")) == []
    Path("cpu_300w.yaml").write_text("name: mine\n")
    assert load_config("cpu_300w.yaml").name == "mine"  # the file here wins
    assert load_config("cpu_300w").name == "cpu-300w"  # no file of that name: the recipe
    assert load_recipe("cpu_300w.yaml").name == "cpu-300w"  # the grid never reads files


def test_unknown_names_and_old_paths_say_what_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="no bundled recipe 'cpu_301w'; recipes: awing_300w, "):
        load_config("cpu_301w")
    with pytest.raises(ConfigError, match=r"recipes: .*cpu_shipped_300w"):
        load_recipe("nope")
    # where the recipes lived in a checkout: not found, with the name to use now
    with pytest.raises(
        ConfigError, match=r"configs/cpu_300w.yaml: config file not found .*-c cpu_300w"
    ):
        load_config("configs/cpu_300w.yaml")
    with pytest.raises(ConfigError, match=r"elsewhere/mine\.yaml: config file not found$"):
        load_config("elsewhere/mine.yaml")


def test_recipes_command_lists_every_recipe() -> None:
    result = CliRunner().invoke(app, ["recipes"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for recipe in recipes.bundled_recipes():
        assert recipe.name in result.output
        assert recipe.purpose in result.output
        assert recipe.reproduces in result.output


def test_shown_recipe_is_an_editable_config_that_train_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["recipes", "show", "cpu_shipped_300w"])
    assert shown.exit_code == 0
    assert shown.stdout == (FOLDER / "cpu_shipped_300w.yaml").read_text()
    assert yaml.safe_load(shown.stdout)["name"] == "cpu-shipped-300w"
    edited = tmp_path / "edited.yaml"
    edited.write_text(shown.stdout.replace("name: cpu-shipped-300w", "name: edited"))
    monkeypatch.chdir(tmp_path)
    tiny = [
        "data.train=synthetic",
        "data.synthetic_count=16",
        "data.synthetic_val_count=10",
        "data.input_size=32",
        "data.workers=0",
        "codec.heatmap_size=8",
        "model.width=8",
        "model.depth=1",
        "schedule.epochs=1",
        "train.batch_size=8",
        "train.max_minutes=null",
        "train.progress=false",
        "train.device=cpu",
    ]
    arguments = ["train", "-c", str(edited)]
    for item in tiny:
        arguments += ["--set", item]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / "edited" / "config.yaml").is_file()
    saved = load_config(tmp_path / "runs" / "edited" / "config.yaml")
    changed = {key for key, _, _ in config_differences(load_config("cpu_shipped_300w"), saved)}
    assert "name" in changed and "loss.name" not in changed  # the recipe's, edited


def test_unknown_recipe_in_the_cli_lists_the_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for arguments in (["recipes", "show", "cpu_3000w"], ["train", "-c", "cpu_3000w"]):
        result = runner.invoke(app, arguments, terminal_width=400)
        assert result.exit_code == 1
        assert "cpu_3000w" in result.output and "cpu_shipped_300w" in result.output
        assert "Traceback" not in result.output


def test_a_recipe_whose_data_is_elsewhere_says_how_to_point_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recipes read ../shared/data/300w: from another folder, the error says --set data.train."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["train", "-c", "cpu_300w"], terminal_width=400)
    assert result.exit_code == 1
    assert "data.train: ../shared/data/300w: no such file or folder" in result.output
    assert "--set data.train=PATH" in result.output
    assert not (tmp_path / "runs").exists()  # refused before anything is written


def test_the_grid_names_its_base_recipes_by_name() -> None:
    for scale in SCALES.values():
        for _, recipe in scale.recipes:
            assert recipe.config is None or recipe.config in recipes.recipe_names()
    study = SCALES["study"]
    run = Run(row_named("t7-mse"), 0)
    command = train_command(run, study, canonical_layout(study))
    assert command[:3] == ["train", "-c", "cpu_shipped_300w"]


def test_records_from_before_the_move_show_todays_command() -> None:
    """Records written while the recipes were in configs/ stay valid (configs are compared, not
    commands); the page shows their command with the recipe's name."""
    old = "heatmark train -c configs/cpu_shipped_300w.yaml --set seed=0 --set name=x"
    assert recorded_command({"command": old}) == (
        "heatmark train -c cpu_shipped_300w --set seed=0 --set name=x"
    )
    for kept in (
        "heatmark train -c cpu_shipped_300w --set seed=0",
        "heatmark train -c configs/not_a_recipe.yaml --set seed=0",
        "heatmark train --set data.train=configs/cpu_300w.yaml",
    ):
        assert recorded_command({"command": kept}) == kept
    assert recorded_command({}) is None
