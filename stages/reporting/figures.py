"""The report's figures (PNG) and, for those DVC plots, their data series (CSV), drawn from the same frames."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from stages.common.figures import plot_gap_cdfs
from stages.loadgen.latency_parts import PARTS, latency_parts
from stages.reporting.cost import arm_costs
from stages.reporting.cost_figure import plot_cost
from stages.reporting.plots import (
    plot_latency_vs_load,
    plot_percentiles,
    plot_served_fraction,
    plot_timelines,
)
from stages.reporting.series import latency_vs_load, served_fraction
from stages.stats.comparison import ComparisonDetail, Estimate
from stages.stats.samples import ScenarioRuns, group_by_arm


def pooled_percentiles(detail: ComparisonDetail) -> dict[str, dict[str, dict[str, Estimate | None]]]:
    """p50/p95/p99 with their confidence intervals per scenario and arm over the blocks used (the load table's
    figures, from compare), the A/A arm beside its scenario's."""
    table = {name: dict(data.quantiles) for name, data in detail.scenarios.items() if data.quantiles is not None}
    if detail.aa is not None and detail.aa.quantiles is not None and detail.aa_scenario in table:
        table[detail.aa_scenario] |= {arm: by_stat for arm, by_stat in detail.aa.quantiles.items()
                                      if arm not in table[detail.aa_scenario]}
    return table


CAPTIONS = {
    "latency-vs-load.png": "Capacity search steps: p50 and p99 latency from the schedule against offered load, "
                           "with the p99 objective (left); goodput, requests answered ok within the objective per "
                           "second, against offered load (right). Each point is one fresh-server run.",
    "percentiles.png": "p50, p95 and p99 per scenario and arm, pooled over the blocks used (failures censored at "
                       "the timeout), each with its 95 % order-statistic confidence interval; the A/A arm beside its "
                       "scenario; a percentile with too few requests behind it is marked, not drawn.",
    "cdf": "Share of all measured requests answered ok within each latency, pooled over blocks (left; a curve that "
           "ends below 1 shows the failed share), and the share slower than each latency or failed, on a log axis "
           "where the p99 and p99.9 regions are readable (right).",
    "timeline": "Every run of the scenario as thin lines of its service's colour (a run that failed the generator's "
                "audit, and was rerun, dashed): latency per request by scheduled time, ok responses and failed "
                "requests per second (empty seconds are zeros; the failed panel only when something failed), and the "
                "dispatcher's mean batch size; the warm-up shaded.",
    "cost.png": "Server CPU time per request by scenario and arm, mean over valid runs with a 95 % interval, on "
                "a log axis (left); the mean latency of ok requests split into send lag, the path outside the "
                "service's app, the time in the app outside the model (an unbatched service's queue for its worker "
                "thread, parsing, validation), the batcher's wait and compute, as shares, from the answers' "
                "Server-Timing headers (right).",
    "interarrival": "Empirical CDF of the gaps between consecutive sends of every run (thin lines, one colour per "
                    "service) against the scenario's target distribution, on a log time axis; the fidelity audit's "
                    "KS test decides.",
}


def caption(name: str) -> str:
    return CAPTIONS.get(name) or CAPTIONS[name.split("-")[0]]


def write_series_csv(frame: pd.DataFrame, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False, float_format="%.6g")


def draw_figures(loadtest: Path, scenarios: dict[str, ScenarioRuns], detail: ComparisonDetail,
                 plots: Path, series: Path) -> list[str]:
    """The figures (PNG) and, for the ones DVC plots, their data series (CSV) from the same frames."""
    plots.mkdir(parents=True, exist_ok=True)
    names = []
    if detail.capacity is not None:
        steps = latency_vs_load(detail.capacity)
        for service, rows in steps.groupby("service"):
            write_series_csv(rows.drop(columns="service"), series / f"latency-vs-load-{service}.csv")
        plot_latency_vs_load(steps, plots / "latency-vs-load.png")
        names.append("latency-vs-load.png")
    for scenario, scenario_runs in scenarios.items():
        served = served_fraction(group_by_arm(scenario_runs))
        write_series_csv(served, series / f"cdf-{scenario}.csv")
        plot_served_fraction(served, f"latency, {scenario}", plots / f"cdf-{scenario}.png")
        runs, curves = [], []
        for run in scenario_runs.index.runs:
            folder = loadtest / scenario / run.path
            label = f"{run.service} #{run.repeat}"
            runs.append({"label": label, "records": scenario_runs.records[run.path], "excluded": not run.valid,
                         "timeline": pd.read_csv(folder / "batch_timeline.csv")})
            curves.append((label, pd.read_csv(folder / "interarrival.csv")))
        plot_timelines(runs, f"runs over time, {scenario}", plots / f"timeline-{scenario}.png")
        plot_gap_cdfs(curves, f"Do sends follow the schedule? {scenario}", plots / f"interarrival-{scenario}.png")
        names += [f"cdf-{scenario}.png", f"timeline-{scenario}.png", f"interarrival-{scenario}.png"]
    plot_percentiles(pooled_percentiles(detail), plots / "percentiles.png")
    costs = {scenario: found for scenario, runs in scenarios.items() if (found := arm_costs(runs))}
    if costs:
        plot_cost(costs, mean_parts(scenarios), plots / "cost.png")
        names.append("cost.png")
    return ["percentiles.png", *names]


def mean_parts(scenarios: dict[str, ScenarioRuns]) -> dict[str, dict[str, dict[str, float]]]:
    """Scenario -> arm -> the mean of each latency part over its valid runs' ok requests that carried the header."""
    found: dict[str, dict[str, dict[str, float]]] = {}
    for scenario, runs in scenarios.items():
        by_arm: dict[str, list[pd.DataFrame]] = {}
        for run in runs.index.runs:
            parts = latency_parts(runs.records[run.path]) if run.valid else None
            if parts is not None and len(parts):
                by_arm.setdefault(run.service, []).append(parts)
        if by_arm:
            found[scenario] = {arm: {str(part): float(value) for part, value in
                                     pd.concat(frames)[list(PARTS)].mean().items()}
                               for arm, frames in sorted(by_arm.items())}
    return found
