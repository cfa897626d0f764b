"""dvc.yaml tells the truth: every stage lists the code it runs (and no other) and every path it reads.

For each stage, the code is the transitive closure of ``stages.*`` / ``service.*`` imports of the module its
command runs (parsed with ``ast``, so imports inside functions count too; the one-line package ``__init__``
files are left out); the paths are every ``Path`` argument its command line resolves to, defaults included
(captured by running the stage's own argument parser on its command). A path that is not an output must be
covered by a dependency (the path itself or a folder above it).
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from stages.common.artifacts import LOGS_DIR
from stages.serving.imports import REPO_ROOT, import_closure, imported_modules, module_file

# The build stage copies the service into each Bento: what the service imports is part of what it builds.
EXTRA_ROOTS = {"build": ["service.service"]}


def code_closure(roots: list[str]) -> set[str]:
    """Repository-relative source files reachable by import from ``roots``, package ``__init__`` files left out."""
    return {str(path.relative_to(REPO_ROOT)) for path in import_closure(roots) if path.name != "__init__.py"}


class Parsed(Exception):
    def __init__(self, namespace: argparse.Namespace) -> None:
        self.namespace = namespace


def command_paths(module: str, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Every Path the stage's own parser yields for this command line, defaults included."""
    original = argparse.ArgumentParser.parse_args

    def capture(self: argparse.ArgumentParser, args: list[str] | None = None,
                namespace: argparse.Namespace | None = None) -> None:
        raise Parsed(original(self, args, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    monkeypatch.setattr(sys, "argv", [module, *argv])
    source = module_file(module)
    assert source is not None, module
    entry = importlib.import_module(module if source.name != "__main__.py" else f"{module}.__main__")
    with pytest.raises(Parsed) as parsed:
        entry.main()
    return {str(value) for value in vars(parsed.value.namespace).values() if isinstance(value, Path)}


def covered(path: str, entries: list[str]) -> bool:
    return any(path == entry or path.startswith(entry.rstrip("/") + "/") for entry in entries)


def holds_outputs(path: str, outs: list[str]) -> bool:
    """An output folder argument (``--results results``): the stage writes declared outputs below it."""
    return any(out.startswith(path.rstrip("/") + "/") for out in outs)


def stage_entries(stage: dict[str, Any], key: str) -> list[str]:
    return [next(iter(item)) if isinstance(item, dict) else item for item in stage.get(key, [])]


def resolve(reference: object, params: dict[str, Any]) -> object:
    """``${a.b}`` -> params["a"]["b"], as DVC resolves a ``foreach`` over a params list."""
    if isinstance(reference, str) and reference.startswith("${") and reference.endswith("}"):
        value: object = params
        for part in reference[2:-1].split("."):
            value = value[part]  # type: ignore[index]
        return value
    return reference


def expand(stages: dict[str, Any], params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``foreach`` stages become one stage per item, as DVC expands them (``${item}``, ``${key}``)."""
    flat = {}
    for name, stage in stages.items():
        if "foreach" not in stage:
            flat[name] = stage
            continue
        items = resolve(stage["foreach"], params)
        for key in items if isinstance(items, list) else list(items):  # type: ignore[call-overload]
            text = yaml.safe_dump(stage["do"]).replace("${item}", str(key)).replace("${key}", str(key))
            flat[f"{name}@{key}"] = yaml.safe_load(text)
    return flat


def check_stages(dvc_yaml: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every way ``dvc_yaml`` fails to cover what its stages run and read."""
    problems = []
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    for name, stage in expand(yaml.safe_load(dvc_yaml.read_text())["stages"], params).items():
        words = shlex.split(stage["cmd"])
        assert words[:2] == ["python", "-m"], f"{name}: stage commands run `python -m stages.<module>`"
        module, argv = words[2], words[3:]
        deps, outs = stage_entries(stage, "deps"), stage_entries(stage, "outs") + stage_entries(stage, "metrics")
        outs += stage_entries(stage, "plots")
        code = code_closure([module, *EXTRA_ROOTS.get(name.split("@")[0], [])])
        problems += [f"{name}: runs {file} but does not depend on it" for file in sorted(code)
                     if not covered(file, deps)]
        problems += [f"{name}: depends on {file} but does not run it" for file in deps
                     if file.startswith("stages/") and file not in code]
        for path in sorted(command_paths(module, argv, monkeypatch)):
            written_only = covered(path, [str(LOGS_DIR)])  # server logs: diagnostics the stage writes, never reads
            if not (covered(path, outs) or holds_outputs(path, outs) or covered(path, deps) or written_only
                    or path == "params.yaml"):
                problems.append(f"{name}: reads {path} but does not depend on it")
    return problems


def test_every_stage_depends_on_the_code_it_runs_and_the_paths_it_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT)
    assert check_stages(REPO_ROOT / "dvc.yaml", monkeypatch) == []


@pytest.mark.parametrize(("stage", "dependency"), [
    ("limits", "stages/model/classifier.py"),
    ("limits", "data/variants"),
    ("validate", "stages/params/base.py"),
])
def test_the_check_fails_when_a_dependency_is_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str,
                                                      dependency: str) -> None:
    monkeypatch.chdir(REPO_ROOT)
    pipeline = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())
    deps = pipeline["stages"][stage]["deps"]
    assert dependency in deps
    deps.remove(dependency)
    doctored = tmp_path / "dvc.yaml"
    doctored.write_text(yaml.safe_dump(pipeline))
    problems = check_stages(doctored, monkeypatch)
    assert any(problem.startswith(f"{stage}: ") and dependency in problem for problem in problems), problems


def test_no_stage_module_imports_another_stage_module() -> None:
    stage_modules = {f"stages.{path.stem}" for path in (REPO_ROOT / "stages").glob("*.py") if path.stem != "__init__"}
    for path in (REPO_ROOT / "stages").rglob("*.py"):
        imported = imported_modules(path) & stage_modules
        assert not imported, f"{path.relative_to(REPO_ROOT)} imports stage module(s) {sorted(imported)}"


def test_the_check_fails_when_a_stage_depends_on_code_it_does_not_run(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A stale dependency reruns a stage for nothing: validate does not read the resilience schema."""
    monkeypatch.chdir(REPO_ROOT)
    pipeline = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())
    pipeline["stages"]["validate"]["deps"].append("stages/params/resilience.py")
    doctored = tmp_path / "dvc.yaml"
    doctored.write_text(yaml.safe_dump(pipeline))
    assert "validate: depends on stages/params/resilience.py but does not run it" in check_stages(doctored, monkeypatch)
