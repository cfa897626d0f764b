"""``results/report.md`` assembled from typed results: what the report stage writes, apart from reading files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stages.records.limits import Limits
from stages.records.resilience import Resilience
from stages.records.validation import Validation
from stages.reporting.cost import cost_section, machine_cores
from stages.reporting.figures import caption
from stages.reporting.headline import Metrics, headline_section
from stages.reporting.markdown import STANDIN_BANNER, variants_table
from stages.reporting.sections import (
    capacity_section,
    drift_caveat,
    environment_section,
    limits_section,
    resilience_section,
)
from stages.reporting.settings import ReportSettings
from stages.reporting.verdicts import (
    calibration_table,
    load_table,
    methods_section,
    quiet_lines,
    spread_table,
    verdict_table,
)
from stages.stats.comparison import Calibration, ComparisonDetail
from stages.stats.samples import ScenarioRuns


@dataclass(frozen=True)
class ReportInputs:
    """Everything the report shows, read from the results files by the stage."""

    params: ReportSettings
    validation: Validation
    detail: ComparisonDetail
    limits: Limits
    scenarios: dict[str, ScenarioRuns]
    resilience: Resilience | None = None
    calibration: Calibration | None = None


def render_report(inputs: ReportInputs, metrics: Metrics, figures: list[str], plots_link: Path) -> str:
    """The report's Markdown; ``figures`` are file names under ``plots_link`` (relative to the report)."""
    params, detail = inputs.params, inputs.detail
    comparisons = dict(detail.scenarios)
    if detail.aa is not None:
        comparisons[f"A/A ({detail.aa_scenario})"] = detail.aa
    first = inputs.scenarios[params.loadtest.scenarios[0]].index
    run_date = first.environment.get("measured_on") or "on an unrecorded date"
    offered = {name: runs.index.offered for name, runs in inputs.scenarios.items()}
    parts = [
        f"# servebench report: {inputs.validation.model}\n",
        STANDIN_BANNER if inputs.validation.standin else "",
        drift_caveat(run_date),
        "## Headline\n", headline_section(metrics),
        "\n## Environment\n",
        environment_section([runs.index for runs in inputs.scenarios.values()], inputs.limits),
        f"## Offline: accuracy, size and in-process latency ({inputs.validation.examples} examples)\n",
        variants_table(inputs.validation),
        "## Serving limits\n", limits_section(inputs.limits),
        "\n## Under load: baseline vs optimized (same seeded schedule and payloads, fresh servers per block)\n",
        "### Method\n", methods_section(params, detail, offered),
        "\n### Verdicts (ratios candidate / reference as factors, paired by block; primary intervals simultaneous "
        f"at {detail.verdict_level or params.compare.level:.2%}, secondary at {params.compare.level:.0%})\n",
        verdict_table(comparisons), quiet_lines(comparisons),
        "\n### Pooled figures per arm\n", load_table(comparisons),
        "\n### Run-to-run spread\n", spread_table(comparisons),
        "\n### Calibration: measured error rates of these verdicts\n", calibration_table(inputs.calibration),
        "\n## Cost per request\n", cost_section(inputs.scenarios, detail.capacity, inputs.limits, params.cost,
                                                 machine_cores(inputs.scenarios)),
        "\n## Capacity under the p99 objective\n", capacity_section(detail.capacity),
        "\n## Resilience: faults under load\n", resilience_section(inputs.resilience, params.resilience),
        "\n## Figures\n", *[f"![{name}]({plots_link / name})\n\n*{caption(name)}*\n" for name in figures],
    ]
    return "\n".join(part for part in parts if part)
