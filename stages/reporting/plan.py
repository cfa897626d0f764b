"""Which stages ``dvc repro`` would run here, and why: ``python -m stages.reporting.plan`` (``make plan``).

``dvc repro --dry`` hashes every changed stage's dependencies, so on a clone without ``data/`` it stops at the
first stage that reads a missing output (``export`` reads ``data/model``; treeverse/dvc#9021, #9818). DVC's
status does not hash what is missing: it names the stages whose own code, data or params changed. Every stage
downstream of one of them reruns too, because its inputs will change; DVC's stage graph adds those, in the order
``dvc repro`` takes them. Not a pipeline stage: it reads ``dvc.yaml``, ``dvc.lock`` and the work tree.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from contextlib import chdir
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
from dvc.repo import Repo
from dvc.repo.reproduce import plan_repro

# DVC's status words for a dependency or an output, as a user would say them.
STATUS_WORDS = {"deleted": "missing", "not in cache": "not in the cache", "new": "new", "modified": "changed"}


@dataclass(frozen=True)
class PlannedStage:
    """A stage ``dvc repro`` would run: its own changes, and the upstream stages whose new outputs it reads."""

    name: str
    changes: tuple[str, ...]
    after: tuple[str, ...]


def describe_changes(entries: Iterable[str | dict[str, Any]]) -> tuple[str, ...]:
    """DVC's status entries of one stage as short phrases: ``params changed: model.source``, ``missing: data/model``."""
    phrases: list[str] = []
    for entry in entries:
        if isinstance(entry, str):
            phrases.append({"changed checksum": "its dvc.yaml entry changed",
                            "changed command": "its command changed"}.get(entry, entry))
            continue
        for kind, paths in entry.items():
            side = "output" if kind == "changed outs" else "input"
            grouped: dict[str, list[str]] = {}
            for path, status in paths.items():
                if isinstance(status, dict):  # a params file: {key: status}
                    grouped.setdefault("params changed", []).extend(sorted(status))
                else:
                    grouped.setdefault(f"{side} {STATUS_WORDS.get(status, status)}", []).append(path)
            phrases.extend(f"{what}: {', '.join(names)}" for what, names in grouped.items())
    return tuple(phrases)


def rerun_plan(root: Path = Path()) -> tuple[list[PlannedStage], int]:
    """The stages ``dvc repro`` would run in ``root``, in its order, and how many stages the pipeline has."""
    with chdir(root):  # stage addresses are relative to the working directory
        repo = Repo(".")
        status = repo.status()
        graph = repo.index.graph  # edges run from a stage to the stages it depends on
        by_name = {stage.addressing: stage for stage in graph.nodes}
        changed = {by_name[name] for name in status}
        reruns = changed.union(*(nx.ancestors(graph, stage) for stage in changed))
        plan = [
            PlannedStage(
                name=stage.addressing,
                changes=describe_changes(status.get(stage.addressing, [])),
                after=tuple(sorted(upstream.addressing for upstream in graph.successors(stage) if upstream in reruns)),
            )
            for stage in plan_repro(graph) if stage in reruns
        ]
    return plan, graph.number_of_nodes()


def render(plan: list[PlannedStage], stages: int) -> str:
    if not plan:
        return f"dvc repro would run nothing: all {stages} stages are up to date."
    width = max(len(stage.name) for stage in plan)
    lines = [f"dvc repro would run {len(plan)} of {stages} stages, in this order:"]
    for stage in plan:
        reasons = [*stage.changes, *([f"after {', '.join(stage.after)}"] if stage.after else [])]
        lines.append(f"  {stage.name:<{width}}  {'; '.join(reasons)}")
    return "\n".join(lines)


def repro_order(root: Path = Path()) -> list[str]:
    """Every stage, in the order ``dvc repro`` takes them (``dvc stage list`` keeps dvc.yaml's order instead)."""
    with chdir(root):
        return [stage.addressing for stage in plan_repro(Repo(".").index.graph)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(), help="the repository (default: here)")
    parser.add_argument("--order", action="store_true", help="only every stage's name, in dvc repro's order")
    args = parser.parse_args(argv)
    print("\n".join(repro_order(args.root)) if args.order else render(*rerun_plan(args.root)))


if __name__ == "__main__":
    main()
