"""Mutation check: every deliberate bug of ``mutants.yaml`` must make its tests fail.

For each mutant: copy ``src/heatmark`` to a temporary folder, apply the mutant's exact text
replacements (each must match exactly once, else the anchor moved and the run fails), run the
mutant's tests with ``PYTHONPATH`` pointing at the copy (checked: ``heatmark.__file__`` must lie
in the copy, not in the editable install) and require pytest to report failures.

    python tests/mutants/run.py            # all mutants (`make mutants`)
    python tests/mutants/run.py --fast     # the quick subset (`make test`)
    python tests/mutants/run.py --only codec-half-pixel --tests-root /path/to/old/checkout

``--tests-root`` runs the tests of another checkout (e.g. the suite before issue 24) against
the mutated source of this one; tests missing there count as "no test". Exit status 0 only
when every selected mutant was caught. Not a pytest module (pytest collects ``test_*.py``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MUTANTS = Path(__file__).with_name("mutants.yaml")


@dataclass(frozen=True)
class Replacement:
    file: str
    old: str
    new: str


@dataclass(frozen=True)
class Mutant:
    name: str
    why: str
    replace: tuple[Replacement, ...]
    tests: tuple[str, ...]
    fast: bool = False


@dataclass
class Outcome:
    mutant: Mutant
    status: str  # caught, SURVIVED, ANCHOR, ERROR, no test
    detail: str
    seconds: float


def load_mutants(path: Path = MUTANTS) -> list[Mutant]:
    """The mutants of ``path``; a malformed entry is an error naming it."""
    raw = yaml.safe_load(path.read_text())
    mutants = []
    for index, entry in enumerate(raw):
        try:
            mutants.append(
                Mutant(
                    name=entry["name"],
                    why=entry["why"],
                    replace=tuple(Replacement(**r) for r in entry["replace"]),
                    tests=tuple(entry["tests"]),
                    fast=bool(entry.get("fast", False)),
                )
            )
        except (KeyError, TypeError) as error:
            raise SystemExit(f"{path}: entry {index + 1} is malformed: {error}") from None
    names = [m.name for m in mutants]
    if len(set(names)) != len(names):
        raise SystemExit(f"{path}: repeated mutant names")
    return mutants


def mirror_checkout(folder: Path) -> Path:
    """A copy of ``src/heatmark`` in ``folder/src`` beside links to everything else of the
    checkout (configs/, docs/...: code that finds files next to the package finds the real
    ones); returns the folder to put on ``PYTHONPATH``."""
    for entry in ROOT.iterdir():
        if entry.name not in ("src", ".git", ".venv"):
            (folder / entry.name).symlink_to(entry)
    package_root = folder / "src"
    shutil.copytree(
        ROOT / "src" / "heatmark",
        package_root / "heatmark",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return package_root


def apply(mutant: Mutant, package_root: Path) -> str | None:
    """Apply ``mutant`` to the copy under ``package_root`` (holding ``heatmark/``); the error
    when an ``old`` text is not found exactly once."""
    for replacement in mutant.replace:
        relative = Path(replacement.file)
        if relative.parts[0] != "src":
            return f"{replacement.file}: mutants change files under src/ only"
        path = package_root.joinpath(*relative.parts[1:])
        if not path.is_file():
            return f"{replacement.file}: no such file"
        text = path.read_text()
        count = text.count(replacement.old)
        if count != 1:
            return f"{replacement.file}: the text to replace occurs {count} times, not once"
        path.write_text(text.replace(replacement.old, replacement.new))
    return None


def _env(package_root: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(package_root), "OMP_WAIT_POLICY": "PASSIVE"}
    env.pop("PYTEST_ADDOPTS", None)
    return env


def _imported_from(package_root: Path, tests_root: Path) -> Path:
    out = subprocess.run(
        [sys.executable, "-c", "import heatmark; print(heatmark.__file__)"],
        cwd=tests_root,
        env=_env(package_root),
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip()).resolve()


def _existing(tests: tuple[str, ...], tests_root: Path) -> list[str]:
    return [t for t in tests if (tests_root / t.split("::")[0]).exists()]


def run_pytest(tests: list[str], package_root: Path, tests_root: Path) -> tuple[int, str]:
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-rf"]
    result = subprocess.run(
        [*command, *tests],
        cwd=tests_root,
        env=_env(package_root),
        capture_output=True,
        text=True,
    )
    return result.returncode, result.stdout + result.stderr


def check(mutant: Mutant, tests_root: Path) -> Outcome:
    started = time.monotonic()
    tests = _existing(mutant.tests, tests_root)
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.name}-") as folder:
        package_root = mirror_checkout(Path(folder))
        error = apply(mutant, package_root)
        if error is not None:
            return Outcome(mutant, "ANCHOR", error, time.monotonic() - started)
        origin = _imported_from(package_root, tests_root)
        if package_root.resolve() not in origin.parents:  # the editable install won
            return Outcome(
                mutant, "ERROR", f"heatmark imported from {origin}", time.monotonic() - started
            )
        if not tests:
            return Outcome(mutant, "no test", "", time.monotonic() - started)
        code, output = run_pytest(tests, package_root, tests_root)
    seconds = time.monotonic() - started
    failed = re.findall(r"^FAILED (\S+)", output, flags=re.MULTILINE)
    if code == 0:
        return Outcome(mutant, "SURVIVED", "all listed tests pass", seconds)
    if code == 1 and failed:
        return Outcome(mutant, "caught", failed[0], seconds)
    tail = output.strip().splitlines()[-1] if output.strip() else ""
    return Outcome(mutant, "ERROR", f"pytest exit {code}: {tail}", seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="these mutants only")
    parser.add_argument("--fast", action="store_true", help="the quick subset (fast: true)")
    parser.add_argument("--tests-root", type=Path, default=ROOT, help="checkout whose tests run")
    parser.add_argument("--mutants", type=Path, default=MUTANTS, help="the mutants' yaml file")
    parser.add_argument(
        "--check-clean",
        action="store_true",
        help="first run every listed test on the unmutated copy: they must pass (else a broken "
        "test would 'catch' every mutant)",
    )
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    args = parser.parse_args(argv)
    mutants = load_mutants(args.mutants)
    if args.only:
        unknown = sorted(set(args.only) - {m.name for m in mutants})
        if unknown:
            parser.error(f"unknown mutant(s): {', '.join(unknown)}")
        mutants = [m for m in mutants if m.name in args.only]
    if args.fast:
        mutants = [m for m in mutants if m.fast]
    if args.list:
        for mutant in mutants:
            print(f"{mutant.name:30} {mutant.why}")
        return 0
    tests_root = args.tests_root.resolve()
    if args.check_clean:
        tests = tuple(dict.fromkeys(t for m in mutants for t in m.tests))
        clean = check(Mutant("unmutated", "the source as it is", (), tests), tests_root)
        print(f"unmutated: {clean.status} in {clean.seconds:.0f} s {clean.detail}", flush=True)
        if clean.status != "SURVIVED":  # "survived": every listed test passes
            print("the listed tests fail without any mutant: fix them first")
            return 1
    outcomes = []
    for mutant in mutants:
        outcome = check(mutant, tests_root)
        outcomes.append(outcome)
        print(
            f"{outcome.status:9} {mutant.name:30} {outcome.seconds:6.1f} s  {outcome.detail}",
            flush=True,
        )
    caught = sum(o.status == "caught" for o in outcomes)
    total = sum(o.seconds for o in outcomes)
    print(f"{caught} of {len(outcomes)} mutants caught in {total:.0f} s")
    return 0 if caught == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
