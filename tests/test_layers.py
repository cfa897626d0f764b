"""The package graph of pyproject.toml's import-linter contracts holds (``lint-imports``, run by ``make lint`` too,
and able to fail), stage modules import packages (never another stage), and tests import packages, not stage
modules."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
STAGES = REPO_ROOT / "stages"


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


def stage_module_violations() -> list[str]:
    """Stage modules importing another stage module, or a package module importing one."""
    sources = {module_name(path): path for root in (STAGES, REPO_ROOT / "service") for path in root.rglob("*.py")}
    return [f"{module} imports the stage module {name}" for module, path in sorted(sources.items())
            for name in sorted(imported_modules(path)) if is_stage(name)]


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter's verdict on the packages under ``root`` against the contracts of its pyproject.toml."""
    return subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=root,
                          env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True, timeout=120)


def test_no_module_imports_a_stage_module() -> None:
    assert stage_module_violations() == []


@pytest.mark.integration
def test_the_package_graph_contracts_hold() -> None:
    result = lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout


@pytest.mark.integration
def test_a_package_importing_upwards_or_sideways_breaks_the_contract(tmp_path: Path) -> None:
    for part in ("stages", "service", "pyproject.toml"):
        copy = shutil.copytree if (REPO_ROOT / part).is_dir() else shutil.copy
        copy(REPO_ROOT / part, tmp_path / part)
    summary = tmp_path / "stages" / "loadgen" / "summary.py"
    summary.write_text(summary.read_text() + "\nfrom stages.model import metrics as _sideways  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0 and "stages.loadgen.summary -> stages.model.metrics" in result.stdout, result.stdout


@pytest.mark.parametrize("test_file", sorted((REPO_ROOT / "tests").glob("*.py")), ids=lambda path: path.name)
def test_tests_import_libraries_not_stage_modules(test_file: Path) -> None:
    assert [name for name in imported_modules(test_file) if is_stage(name)] == []


def test_the_distribution_lists_every_package() -> None:
    """pyproject.toml names the packages setuptools ships: a package missing there is missing from a
    non-editable install (the import graph above cannot tell)."""
    listed = set(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(path.parent.relative_to(REPO_ROOT).parts) for top in ("stages", "service")
             for path in (REPO_ROOT / top).rglob("__init__.py")}
    assert listed == found
