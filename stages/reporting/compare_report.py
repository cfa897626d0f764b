"""Two or more experiments or commits on one self-contained page: ``python -m stages.reporting.compare_report REV
REV [...]`` (``make compare-report REVS="HEAD my-exp"``), written to ``reports/compare.html``.

A revision is anything DVC resolves (a commit, a branch, a tag, a ``dvc exp run`` experiment's name) or
``workspace``. Each revision's params as its ``dvc.lock`` recorded them, headline metrics, comparison and
load-test records are read through DVC's file system (``dvc.api.DVCFileSystem``: git-tracked results and
DVC-cached ones alike) and the page shows: the params in which they differ, the headline metrics and the
verdicts with their intervals side by side, and per scenario the latency distributions of every arm of every
revision overlaid. Not a pipeline stage: it reads what the stages wrote.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import yaml
from dvc.api import DVCFileSystem

from stages.common.artifacts import LOADTEST_DIR, RESULTS_DIR, RUNS_INDEX
from stages.common.errors import ServebenchError
from stages.reporting.html_report import PageFigure, render_page
from stages.reporting.interactive import axis_switch, colour, layout, log_ticks
from stages.reporting.markdown import table
from stages.reporting.series import served_fraction
from stages.stats.samples import group_by_arm, read_runs

WORKSPACE = "workspace"
DEFAULT_OUT = Path("reports") / "compare.html"
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


@dataclass(frozen=True)
class Revision:
    """One revision's results, copied to a local folder."""

    name: str
    folder: Path
    scenarios: list[str]
    params: dict[str, object]  # as dvc.lock recorded them, dotted keys
    metrics: dict[str, Any]
    comparison: dict[str, Any]


def fetch(name: str, into: Path, repo: Path) -> Revision:
    """Copy ``name``'s params, headline results and load-test folders into ``into`` through DVC's file system."""
    fs = DVCFileSystem(str(repo), rev=None if name == WORKSPACE else name)
    for path in ("params.yaml", "dvc.lock", f"{RESULTS_DIR}/metrics.json", f"{RESULTS_DIR}/comparison.json"):
        if not fs.exists(path):
            raise ServebenchError(f"{name}: no {path} there (a revision before the pipeline ran, or a typo?)")
        (into / path).parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(path, str(into / path))
    scenarios = yaml.safe_load((into / "params.yaml").read_text())["loadtest"]["scenarios"]
    for scenario in scenarios:
        source = f"{LOADTEST_DIR}/{scenario}"
        if fs.exists(f"{source}/{RUNS_INDEX}"):
            fs.get(source, str(into / source), recursive=True)
    return Revision(name, into, scenarios, locked_params(into / "dvc.lock"),
                    json.loads((into / RESULTS_DIR / "metrics.json").read_text()),
                    json.loads((into / RESULTS_DIR / "comparison.json").read_text()))


def locked_params(lock: Path) -> dict[str, object]:
    """The params the revision's results were made with, as ``dvc.lock`` recorded them per stage (``params.yaml``
    may differ: the committed results of ``make repro-offline`` ran with overrides the file does not keep). Where
    stages ran with different values (a ``dvc exp run -s`` reran some of them), each value names its stages."""
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    seen: dict[str, dict[str, list[str]]] = {}
    for stage, entry in stages.items():
        for key, value in flatten(entry.get("params", {}).get("params.yaml", {})).items():
            seen.setdefault(key, {}).setdefault(json.dumps(value, sort_keys=True), []).append(stage)
    return {key: (json.loads(next(iter(values))) if len(values) == 1 else
                  "; ".join(f"{format_value(json.loads(value))} ({', '.join(names)})"
                            for value, names in values.items()))
            for key, values in sorted(seen.items())}


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, object]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``: params and metrics as dotted keys, as ``dvc params diff`` names them."""
    flat: dict[str, object] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def side_by_side(revisions: list[Revision], trees: list[dict[str, Any]], only_differing: bool) -> str:
    flat = [flatten(tree) for tree in trees]
    keys = list(dict.fromkeys(key for tree in flat for key in tree))
    if only_differing:
        keys = [key for key in keys if len({json.dumps(tree.get(key), sort_keys=True) for tree in flat}) > 1]
    if not keys:
        return "No differences.\n"
    return table(["key", *(f"`{revision.name}`" for revision in revisions)],
                 [[f"`{key}`", *(format_value(tree.get(key)) for tree in flat)] for key in keys])


def format_value(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def verdict_cell(comparison: dict[str, Any], statistic: str) -> str:
    """``faster x0.180 [x0.154, x0.211]``: the verdict, the ratio and its interval as factors."""
    verdict, _, why = str(comparison.get(f"{statistic}_verdict") or "-").partition(": ")
    ratio, interval = comparison.get(f"{statistic}_ratio"), comparison.get(f"{statistic}_ratio_ci")
    bounds = f" [x{interval[0]:.3f}, x{interval[1]:.3f}]" if interval else ""
    figure = f" x{ratio:.3f}{bounds}" if ratio is not None else ""
    return f"**{verdict}**{figure}" + (f" ({why})" if why else "")


def verdicts(revisions: list[Revision]) -> str:
    compared = [revision.comparison["scenarios"] | ({"A/A": aa} if (aa := revision.comparison.get("aa")) else {})
                for revision in revisions]
    rows = []
    for scenario in dict.fromkeys(name for scenarios in compared for name in scenarios):
        for statistic in ("p50", "tail", "cost"):
            cells = [verdict_cell(scenarios.get(scenario, {}), statistic) for scenarios in compared]
            rows.append([scenario, statistic, *cells])
    return table(["scenario", "statistic", *(f"`{revision.name}`" for revision in revisions)], rows)


def overlaid_distributions(revisions: list[Revision], scenario: str) -> go.Figure | None:
    """Every arm of every revision that ran ``scenario``: its share answered ok within each latency; one colour
    per arm, one dash per revision."""
    figure = go.Figure()
    for number, revision in enumerate(revisions):
        folder = revision.folder / LOADTEST_DIR / scenario
        if not (folder / RUNS_INDEX).exists():
            continue
        served = served_fraction(group_by_arm(read_runs(folder)))
        for arm in served.columns.drop("latency_ms"):
            figure.add_scatter(x=served["latency_ms"], y=served[arm], mode="lines", name=f"{revision.name}: {arm}",
                               line={"color": colour(arm), "dash": DASHES[number % len(DASHES)]},
                               hovertemplate="%{x:.1f} ms: %{y:.1%} answered ok<extra>" + f"{revision.name}: {arm}"
                                             + "</extra>")
    if not figure.data:
        return None
    figure.update_xaxes(**log_ticks(), title="latency from scheduled time (ms)")
    figure.update_yaxes(range=[0, 1.02], tickformat=".0%", title="share of requests answered ok")
    figure.update_layout(updatemenus=[axis_switch("xaxis")])
    return layout(figure, f"{scenario}: latency distributions overlaid (colour: arm, dash: revision)")


def compare_page(revisions: list[Revision]) -> str:
    names = ", ".join(f"`{revision.name}`" for revision in revisions)
    scenarios = list(dict.fromkeys(name for revision in revisions for name in revision.scenarios))
    markdown = "\n".join([
        f"# servebench: {len(revisions)} experiments compared\n",
        f"Revisions: {names}. Each was measured on its own machine and day (see each report's environment): a "
        "difference between them is only a change where its verdicts and intervals say so.\n",
        "## Params that differ\n", "As each revision's `dvc.lock` recorded them: what its results were made with.\n",
        side_by_side(revisions, [revision.params for revision in revisions], True),
        "\n## Verdicts: optimized / baseline per scenario\n", verdicts(revisions),
        "\n## Headline metrics\n", side_by_side(revisions, [revision.metrics for revision in revisions], False),
        "\n## Latency distributions\n",
    ])
    figures = [PageFigure(
        "Share of all measured requests answered ok within each latency, pooled over the blocks used; a curve that "
        "ends below 100 % shows the failed share. Click a legend entry to hide it; drag to zoom.", figure)
        for scenario in scenarios if (figure := overlaid_distributions(revisions, scenario)) is not None]
    return render_page(f"servebench: {names.replace('`', '')}", markdown, {"Latency distributions": figures})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revisions", nargs="+", help="commits, branches, tags, experiment names, or 'workspace'")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--repo", type=Path, default=Path())
    args = parser.parse_args()
    if len(args.revisions) < 2:
        parser.error("name two revisions or more (e.g. HEAD workspace, or HEAD and a dvc exp run's name)")
    with tempfile.TemporaryDirectory() as scratch:
        revisions = []
        for number, name in enumerate(args.revisions, start=1):
            print(f"compare_report: {number}/{len(args.revisions)} reading {name}", flush=True)
            revisions.append(fetch(name, Path(scratch) / str(number), args.repo))
        page = compare_page(revisions)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(page)
    print(f"compare_report: {len(revisions)} revisions -> {args.out}")


if __name__ == "__main__":
    main()
