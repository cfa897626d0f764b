"""Which figure goes under which heading of ``results/report.html``: the interactive figures built from the same
results the Markdown report reads, and the PNGs that have no interactive twin."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from stages.common.artifacts import RECORDS_FILE
from stages.records.resilience import Resilience
from stages.reporting import interactive
from stages.reporting.cost import arm_costs
from stages.reporting.document import ReportInputs
from stages.reporting.figures import caption, mean_parts
from stages.reporting.html_report import PageFigure
from stages.reporting.series import latency_vs_load, served_fraction
from stages.stats.samples import group_by_arm

HOW_TO_READ = "Hover a point for its value; drag to zoom (double-click resets)."
SWITCH = " The buttons switch the latency axis between log and linear."
INTERACTIVE_TWINS = ("cdf-", "timeline-", "latency-vs-load", "cost")  # PNGs the page shows interactively instead


def fault_figures(resilience: Resilience, results_dir: Path) -> list[PageFigure]:
    """One timeline per fault, its repeats overlaid, from each run's records beside its PNG timeline."""
    placed = []
    for key, fault in resilience.faults.items():
        runs = [(run, pd.read_parquet(results_dir / Path(run.timeline).parent / RECORDS_FILE)) for run in fault.runs]
        placed.append(PageFigure(
            f"{key}: every request of every repeat by its scheduled time from the fault (failed ones marked x at the "
            f"good-request bound), the fault's window shaded, each repeat's recovery dashed. {HOW_TO_READ}{SWITCH}",
            interactive.fault_timeline(key, runs)))
    return placed


def page_figures(inputs: ReportInputs, figure_names: list[str], plots: Path,
                 results_dir: Path) -> dict[str, list[PageFigure]]:
    """Heading (its start) -> the figures shown after that section."""
    distributions, timelines = [], []
    for scenario, runs in inputs.scenarios.items():
        distributions.append(PageFigure(
            "Share of all measured requests answered ok within each latency, pooled over the blocks used (a curve "
            f"that ends below 100 % shows the failed share; dashed: the A/A twin). {HOW_TO_READ}{SWITCH}",
            interactive.latency_distribution(
            served_fraction(group_by_arm(runs)), scenario)))
        timelines.append(PageFigure(
            "Every request of every run by scheduled time, one colour per service (click a legend entry to hide "
            "it), failures marked x; grey dashes: the share of CPU the machine probe, which the arms cannot "
            f"influence, had stolen in each slot. At most {interactive.MAX_POINTS} points per figure (every k-th "
            f"request of a run). {HOW_TO_READ}{SWITCH}", interactive.run_timelines(runs, scenario)))
    placed: dict[str, list[PageFigure]] = {"Pooled figures per arm": distributions, "Run-to-run spread": timelines}
    costs = {scenario: found for scenario, runs in inputs.scenarios.items() if (found := arm_costs(runs))}
    if costs:
        placed["Cost per request"] = [PageFigure(
            "Server CPU time per request by scenario and arm, mean over valid runs with a 95 % interval, on a log "
            f"axis; the hover splits it into event loop, inference and the rest. {HOW_TO_READ}",
            interactive.cost_per_request(costs))]
        if parts := mean_parts(inputs.scenarios):
            placed["Cost per request"].append(PageFigure(
                "Each arm's mean latency of ok requests split into send lag, the path outside the service's app, the "
                "time in the app outside the model, the batcher's wait and compute, as shares, from the answers' "
                f"Server-Timing headers; the hover gives milliseconds. {HOW_TO_READ}",
                interactive.latency_split(parts)))
    if inputs.detail.capacity is not None:
        placed["Capacity under the p99 objective"] = [PageFigure(
            "The capacity search's steps: p99 (solid) and p50 (dotted) latency from the schedule against offered load, "
            f"the p99 objective; the hover says whether the step passed, its failed share and goodput. {HOW_TO_READ}"
            f"{SWITCH}",
            interactive.capacity_steps(latency_vs_load(inputs.detail.capacity)))]
    if inputs.resilience is not None:
        placed["Resilience"] = fault_figures(inputs.resilience, results_dir)
    placed["Figures"] = [PageFigure(caption(name), png=plots / name) for name in figure_names
                         if not name.startswith(INTERACTIVE_TWINS)]
    return placed
