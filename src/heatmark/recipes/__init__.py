"""The training recipes heatmark ships: YAML configs inside the package, read by name.

Every ``NAME.yaml`` in this folder is a recipe (``heatmark recipes`` lists them,
``heatmark recipes show NAME`` prints one, ``heatmark train -c NAME`` trains it), so a pip
install has them all, the papers' recipes and the shipped model's included. A recipe is a plain
training config whose first comment lines say what it is for::

    # purpose: one line: what the recipe trains, and on what
    # reproduces: one line: the paper table it reproduces (or "no paper table: ...")

Comments are not config keys, so a printed recipe stays a valid config to copy and edit. Adding
a recipe is dropping a YAML file with those two lines here (``tests/test_recipes.py`` checks
that each has them and validates).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import PurePath

from heatmark.errors import ConfigError

SUFFIX = ".yaml"
_CARD_KEYS = ("purpose", "reproduces")


@dataclass(frozen=True)
class BundledRecipe:
    """A recipe's name (its file name without ``.yaml``) and its two header lines."""

    name: str
    purpose: str
    reproduces: str


def recipe_names() -> list[str]:
    """The bundled recipes' names, sorted."""
    folder = resources.files(__name__)
    return sorted(
        entry.name.removesuffix(SUFFIX)
        for entry in folder.iterdir()
        if entry.name.endswith(SUFFIX) and entry.is_file()
    )


def bundled_name(value: str) -> str | None:
    """The recipe ``value`` names (``cpu_300w`` or ``cpu_300w.yaml``), None when it names none
    (a value with a folder in it is a path, never a recipe name)."""
    if not value or PurePath(value).name != value:
        return None
    name = value.removesuffix(SUFFIX)
    return name if name in recipe_names() else None


def unknown_recipe(value: str) -> ConfigError:
    """The error for a name that is no recipe, listing the recipes."""
    return ConfigError(
        f"{value}: no bundled recipe of that name; recipes: {', '.join(recipe_names())} "
        "(heatmark recipes lists them)"
    )


def recipe_text(name: str) -> str:
    """The YAML text of recipe ``name`` (``.yaml`` optional); a ``ConfigError`` listing the
    recipes when there is none."""
    found = bundled_name(name)
    if found is None:
        raise unknown_recipe(name)
    return resources.files(__name__).joinpath(found + SUFFIX).read_text(encoding="utf-8")


def describe(name: str) -> BundledRecipe:
    """Recipe ``name`` with its ``# purpose:`` and ``# reproduces:`` lines ("" when missing)."""
    card = dict.fromkeys(_CARD_KEYS, "")
    for line in recipe_text(name).splitlines():
        if not line.startswith("#"):
            break  # the header is the comment block before the first key
        key, sep, text = line.removeprefix("#").strip().partition(":")
        if sep and key in card and not card[key]:
            card[key] = text.strip()
    return BundledRecipe(bundled_name(name) or name, card["purpose"], card["reproduces"])


def bundled_recipes() -> list[BundledRecipe]:
    """Every recipe, sorted by name."""
    return [describe(name) for name in recipe_names()]
