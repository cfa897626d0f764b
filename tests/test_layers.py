"""The package layers the README draws are the ones the code has: every module of a package (its ``python -m``
tools included) imports only its own package and those below it, stage modules import packages (never another
stage), and tests import packages, not stage modules."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
STAGES = REPO_ROOT / "stages"


def drawn_layers(readme: str) -> list[str]:
    """The layer line of the README's code-layout diagram, lowest first (``common ← model ← ...``)."""
    line = re.search(r"^layers: (.+)$", readme, re.MULTILINE)
    if line is None:
        raise AssertionError("README.md has no 'layers: a ← b ← ...' line")
    return [name.strip().strip("`") for name in line.group(1).split("←")]


def imported_modules(path: Path) -> set[str]:
    """Every ``stages.*`` or ``service.*`` module a file imports, at any depth of the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] in ("stages", "service")}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)


def is_stage(module: str) -> bool:
    return module.count(".") == 1 and module.startswith("stages.") and (STAGES / f"{module[7:]}.py").is_file()


def package_of(module: str) -> str:
    """``stages.loadgen.client`` -> ``loadgen``; ``service.service`` -> ``service``."""
    parts = module.split(".")
    return parts[0] if parts[0] == "service" else parts[1]


def layer_violations(layers: list[str]) -> list[str]:
    sources = {module_name(path): path for root in (STAGES, REPO_ROOT / "service") for path in root.rglob("*.py")}
    rank = {name: index for index, name in enumerate(layers)}
    problems = []
    for module, path in sorted(sources.items()):
        targets = {name for name in imported_modules(path)
                   if name in sources or f"{name}.__init__" in sources or name.rsplit(".", 1)[0] in sources}
        if is_stage(module):
            problems += [f"{module} imports the stage module {name}" for name in targets if is_stage(name)]
            continue
        if module == "stages.__init__":
            continue
        own = package_of(module)
        if own not in rank:
            problems.append(f"{module}: package {own!r} is not in the README's layers")
            continue
        for name in sorted(targets):
            if is_stage(name):
                problems.append(f"{module} imports the stage module {name}")
            elif (target := package_of(name)) != own and rank.get(target, len(layers)) > rank[own]:
                problems.append(f"{module} ({own}) imports {name} ({target}), a layer above it")
    return problems


def test_the_readme_layers_hold_for_every_module() -> None:
    layers = drawn_layers((REPO_ROOT / "README.md").read_text())
    packages = {path.parent.name for path in STAGES.glob("*/__init__.py")} | {"service"}
    assert sorted(layers) == sorted(packages)
    assert layer_violations(layers) == []


def test_a_package_importing_upwards_is_caught() -> None:
    layers = drawn_layers((REPO_ROOT / "README.md").read_text())
    swapped = layers.copy()
    low, high = swapped.index("loadgen"), swapped.index("serving")
    swapped[low], swapped[high] = swapped[high], swapped[low]  # serving imports loadgen: now an upward import
    assert any("(serving) imports stages.loadgen" in problem for problem in layer_violations(swapped))


@pytest.mark.parametrize("test_file", sorted((REPO_ROOT / "tests").glob("*.py")), ids=lambda path: path.name)
def test_tests_import_libraries_not_stage_modules(test_file: Path) -> None:
    assert [name for name in imported_modules(test_file) if is_stage(name)] == []
