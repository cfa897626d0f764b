"""README blocks rendered from the committed results, so that what the README quotes cannot go stale.

A block sits between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->`` in the README or a document under
``docs/``. ``python -m stages.reporting.readme`` rewrites every block from ``results/`` (run it after committing a
repro's results); ``tests/test_readme.py`` fails when a block differs from what the results say.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

from stages.common.artifacts import RESULTS_DIR, RUNS_INDEX
from stages.common.cpu_steal import stolen_summary
from stages.common.environment import speed_summary
from stages.common.io import read_optional_result, read_result
from stages.records.capacity import Capacity
from stages.records.limits import Limits
from stages.records.loadtest import LoadtestIndex
from stages.records.resilience import Resilience
from stages.records.validation import Validation
from stages.reporting.headline import headline_section
from stages.reporting.markdown import fmt
from stages.reporting.verdicts import design_line, verdict_table
from stages.stats.comparison import Calibration, ComparisonDetail


def headline_block(results: Path) -> str:
    return headline_section(json.loads((results / "metrics.json").read_text()))


def verdicts_block(results: Path) -> str:
    detail = read_result(results / "comparison_detail.json", ComparisonDetail)
    comparisons = dict(detail.scenarios)
    if detail.aa is not None:
        comparisons[f"A/A ({detail.aa_scenario})"] = detail.aa
    return verdict_table(comparisons)


def calibration_block(results: Path) -> str:
    calibration = read_result(results / "calibration.json", Calibration)
    rows = [f"| {name.replace('_', ' ')} | {check.value:.3f} | {check.target} | {'pass' if check.passed else 'FAIL'} "
            f"| {check.over} |" for name, check in calibration.checks.items() if check.value is not None]
    return (f"{calibration.trials} synthetic experiments per case, {design_line(calibration)} "
            f"(`results/calibration.json`):\n\n| check | worst value | target | | where |\n|---|---|---|---|---|\n"
            + "\n".join(rows) + "\n")


def load_block(results: Path) -> str:
    """What each scenario offered on the machine that ran it, against each service's capacity, and that
    machine's speed: the figures needed to read the verdicts (and to set them beside another machine's)."""
    indexes = [read_result(path, LoadtestIndex) for path in sorted((results / "loadtest").glob(f"*/{RUNS_INDEX}"))]
    rows = []
    for index in indexes:
        load = index.offered
        stated = "-" if load is None else (f"{load.fraction:g} x {load.relative_to}'s {load.basis}" if load.relative_to
                                           else "req/s")
        multiples = "-" if load is None else ", ".join(f"{multiple:.2f}x {service}"
                                                       for service, multiple in load.multiple_of_capacity.items())
        rows.append(f"| {index.scenario} | {fmt(load.rate_per_s if load else None, 2)} | {stated} | {multiples} | "
                    f"{len({run.repeat for run in index.runs})} | {len(index.runs)} |")
    speeds = [speed for index in indexes if isinstance(speed := index.environment.get("speed"), dict)]
    stolen = stolen_summary([run.cpu_stolen for index in indexes for run in index.runs])
    machine = ""
    if speeds:  # one fingerprint per load test: their spread says how steady the machine was
        machine = (f"Measured on {indexes[0].environment.get('cpu_model')}, {indexes[0].environment.get('cores')} "
                   f"cores; speed fingerprint at the end of each load test (median, range): {speed_summary(speeds)}."
                   + (f" CPU time a hypervisor took during the runs: {stolen}." if stolen else "") + "\n\n")
    return (machine + "| scenario | offered req/s | stated as | against each capacity | blocks | runs |\n"
            "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")


def _served_row(figure: str, source: str, values: dict[str, str]) -> str:
    return f"| {figure} | {values.get('baseline', '-')} | {values.get('optimized', '-')} | `{source}` |"


def reference_block(results: Path) -> str:
    """The figures a reader quotes, per service, each with the file it comes from; the faults beneath."""
    validation = read_result(results / "validation.json", Validation)
    limits = read_result(results / "limits.json", Limits)
    capacity = read_optional_result(results / "capacity.json", Capacity)
    services = limits.services
    variant = {name: service.variant for name, service in services.items()}

    def per_service(value: Callable[[str], str]) -> dict[str, str]:
        return {name: value(name) for name in services}

    rows = [
        _served_row("variant served", "results/limits.json", variant),
        _served_row("accuracy / macro-F1 (validate)", "results/validation.json", per_service(
            lambda name: f"{validation.variants[variant[name]].accuracy:.3f} / "
                         f"{validation.variants[variant[name]].f1_macro:.3f}")),
        _served_row("in-process p50 at batch 1, ms (validate)", "results/validation.json", per_service(
            lambda name: fmt(validation.variants[variant[name]].latency_ms["bs1"].p50))),
        _served_row("cold start, s", "results/limits.json", per_service(lambda name: fmt(services[name].cold_start_s))),
        _served_row("served p50 at low load, ms", "results/limits.json", per_service(
            lambda name: fmt(services[name].served.low_load_latency_ms.p50))),
        _served_row("saturation throughput, req/s", "results/limits.json", per_service(
            lambda name: fmt(services[name].served.saturation.throughput_per_s))),
        _served_row("capacity at p99 <= objective, req/s", "results/capacity.json", per_service(
            lambda name: fmt(capacity.services[name].capacity_per_s, 2)
            if capacity is not None and name in capacity.services else "-")),
    ]
    resilience = read_optional_result(results / "resilience.json", Resilience)
    faults = "" if resilience is None else (
        f"\nFaults under load (`results/resilience.json`, {resilience.target}, service {resilience.service}): "
        + "; ".join(f"{key} {fault.verdict}" + (f", {fmt(100 * fault.availability.median, 1)} % available"
                                               if fault.availability and fault.availability.median is not None
                                               else "")
                    for key, fault in resilience.faults.items()) + ".\n")
    return ("| figure | baseline | optimized | from |\n|---|---|---|---|\n" + "\n".join(rows) + "\n" + faults)


BLOCKS: dict[str, Callable[[Path], str]] = {"headline": headline_block, "load": load_block,
                                            "verdicts": verdicts_block, "calibration": calibration_block,
                                            "reference": reference_block}
def documents(root: Path = Path()) -> list[Path]:
    """The files whose results blocks are rendered, relative to ``root``: the README and the documents it links."""
    return [Path("README.md"), *sorted(path.relative_to(root) for path in (root / "docs").glob("*.md"))]


def refresh(text: str, results: Path = RESULTS_DIR) -> str:
    """``text`` with every results block rendered anew from ``results``."""
    def render(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in BLOCKS:
            raise ValueError(f"unknown README block {name!r}; known: {sorted(BLOCKS)}")
        return f"<!-- results:{name} -->\n{BLOCKS[name](results)}<!-- /results:{name} -->"
    return re.sub(r"<!-- results:([\w-]+) -->\n.*?<!-- /results:\1 -->", render, text, flags=re.DOTALL)


def main() -> None:
    for document in documents():
        text = document.read_text()
        updated = refresh(text)
        document.write_text(updated)
        print(f"readme: {document}: {'rewrote' if updated != text else 'unchanged'} from {RESULTS_DIR}",
              file=sys.stderr)


if __name__ == "__main__":
    main()
