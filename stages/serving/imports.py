"""The source files a module needs at run time: the transitive ``stages`` / ``service`` imports it makes.

Read from the code (``ast``: imports inside functions count too), never listed by hand: the build stage ships a
Bento exactly the files its service imports, and ``tests/test_dvc_deps.py`` checks that ``dvc.yaml`` lists
exactly the files each stage runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
OWN_PACKAGES = ("stages", "service")


def module_file(module: str, root: Path = REPO_ROOT) -> Path | None:
    """The source file of a ``stages``/``service`` module or package (its ``__main__`` for ``-m package``)."""
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__main__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path) -> set[str]:
    """The own-package modules (and, for ``from a import b``, the candidates ``a.b``) a file imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] in OWN_PACKAGES}


def import_closure(roots: list[str], root: Path = REPO_ROOT) -> set[Path]:
    """Every source file reachable by import from the modules ``roots``."""
    files: set[Path] = set()
    pending = list(roots)
    while pending:
        path = module_file(pending.pop(), root)
        if path is None or path in files:
            continue
        files.add(path)
        pending.extend(imported_modules(path))
    return files


def with_packages(files: set[Path], root: Path = REPO_ROOT) -> set[Path]:
    """``files`` and the ``__init__.py`` of every package above them, which an import runs first."""
    inits = {folder / "__init__.py" for path in files for folder in path.relative_to(root).parents
             if folder != Path(".")}
    return files | {root / init for init in inits if (root / init).is_file()}
