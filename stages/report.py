"""report stage: ``results/report.md`` and its figures, generated from results files only.

Environment fingerprint, the study's offline table, the per-scenario load table (baseline vs optimized
percentiles, throughput, errors by outcome, ratio with CI, verdict), capacity under the p99 objective, and
figures (latency CDFs, percentiles across scenarios, per-run timelines with the dispatcher's batch size,
realised vs target inter-arrival density) written to ``results/plots/`` and declared as DVC plots.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from stages.common.artifacts import LOADTEST_DIR, RESILIENCE_JSON, RESULTS_DIR, VALIDATION_JSON
from stages.common.cli import run_stage, stage_parser
from stages.common.io import read_result
from stages.common.params import load_params
from stages.common.results import Capacity, LoadtestIndex, Resilience, Validation
from stages.reporting.markdown import STANDIN_BANNER, fmt, table, variants_table
from stages.reporting.plots import plot_cdfs, plot_density_runs, plot_percentiles, plot_timelines
from stages.stats.comparison import ComparisonDetail, Estimate
from stages.stats.samples import ScenarioRuns, group_by_service, read_runs


def environment_section(runs_index: LoadtestIndex) -> str:
    env = runs_index.environment
    flags = ", ".join(f"{flag} {'yes' if present else 'no'}" for flag, present in env["cpu_flags"].items())
    libraries = ", ".join(f"{name} {version}" for name, version in env["libraries"].items() if version)
    return (f"- CPU: {env['cpu_model']}, {env['cores']} cores, generator affinity {env['affinity']}\n"
            f"- ISA: {flags}\n- Python {env['python']} on {env['platform']}\n- Libraries: {libraries}\n"
            f"- git revision {env['git_revision']}, params.yaml sha256 {env['params_sha256']}\n"
            f"- served variants: {runs_index.variants}; stand-in model: {runs_index.standin}\n")


def ci(ratio: Estimate) -> str:
    return f"{ratio.estimate:.3f} [{ratio.low:.3f}, {ratio.high:.3f}]"


def load_table(detail: ComparisonDetail) -> str:
    header = ["scenario", "service", "runs", "p50 ms", "p95 ms", "p99 ms", "mean ms", "ok/s", "outcomes"]
    rows = []
    for name, data in detail.scenarios.items():
        lat, throughput = data.latency, data.throughput
        if lat is None or throughput is None:
            rows.append([name, "-", "not comparable (no valid runs)", *[""] * 6])
            continue
        for service in ("baseline", "optimized"):
            outcomes = ", ".join(f"{k} {v}" for k, v in (data.outcomes or {})[service].items() if v)
            rows.append([name, service, (data.runs_used or {})[service],
                         *[fmt(getattr(lat[s], f"{service}_ms")) for s in ("p50", "p95", "p99", "mean")],
                         fmt(getattr(throughput, f"{service}_per_s"), 2), outcomes])
        rows.append([name, "**ratio opt/base [95 % CI]**", f"resampled: {lat['p50'].resampled}",
                     *[f"{ci(lat[s].ratio)} {lat[s].verdict}" for s in ("p50", "p95", "p99", "mean")],
                     f"{ci(throughput.ratio)} {throughput.verdict}", ""])
    return table(header, rows)


def tests_table(detail: ComparisonDetail) -> str:
    header = ["scenario", "HL shift ms [95 % CI]", "Cliff's delta", "MWU p (Holm)", "KS p (Holm)", "excluded runs",
              "p50 spread base / opt (CV)", "p99 spread base / opt (CV)"]
    rows = []
    for name, data in detail.scenarios.items():
        shift, spread, holm = data.hodges_lehmann_shift_ms, data.spread, data.pvalues_holm
        if shift is None or spread is None or holm is None:
            continue
        rows.append([name, f"{shift.estimate:.1f} [{shift.low:.1f}, {shift.high:.1f}]",
                     f"{data.cliffs_delta:.3f}", f"{holm['mann_whitney']:.2g}", f"{holm['ks']:.2g}",
                     sum(len(v) for v in data.excluded_runs.values()),
                     *[" / ".join(f"{spread[s][stat].min:.1f}-{spread[s][stat].max:.1f} ({spread[s][stat].cv:.2f})"
                                  for s in ("baseline", "optimized"))
                       for stat in ("p50", "p99")]])
    return table(header, rows)


def capacity_section(capacity: Capacity | None) -> str:
    if capacity is None:
        return "No capacity results.\n"
    rows = [[name, s.variant, fmt(s.capacity_per_s, 2), f"{s.bracket}", fmt(s.start_rate, 2), len(s.steps),
             s.short_steps]
            for name, s in capacity.services.items()]
    ratio = f"{capacity.ratio:.2f}x" if capacity.ratio else "n/a"
    return (f"Objective: p99 from the scheduled time <= {capacity.slo_p99_ms} ms, failed requests <= "
            f"{capacity.max_error_rate:.0%}. Capacity ratio optimized / baseline: **{ratio}**.\n\n"
            + table(["service", "variant", "capacity req/s", "bracket [pass, fail]", "first step req/s", "steps",
                     "steps < 459 req"],
                    rows))


def resilience_section(resilience: Resilience | None) -> str:
    if resilience is None:
        return "No resilience results.\n"
    rows = []
    for name, run in resilience.runs.items():
        failed = ", ".join(f"{k} {v}" for k, v in run.failed_by_outcome.items() if v) or "none"
        window, in_flight = run.error_window_s, run.in_flight_at_fault
        fates = ", ".join(f"{k} {v}" for k, v in in_flight.outcomes.items() if v) or "-"
        rows.append([name, f"{run.failed} / {run.measured}", failed,
                     f"{window.length:.2f}" if window else "-", fmt(run.time_to_first_success_s, 2),
                     fmt(run.time_to_p99_recovery_s, 1), f"{in_flight.count}: {fates}",
                     f"{run.recorded} / {run.scheduled}", f"[figure]({run.timeline})"])
    return (f"Target: {resilience.target}, service: {resilience.service}, load: scenario "
            f"`{resilience.scenario}`. Times in seconds from the fault.\n\n"
            + table(["fault", "failed / measured", "failed by outcome", "error window s", "first success s",
                     "p99 recovered s", "in flight at fault: fates", "recorded / scheduled", "timeline"], rows))


def pooled_percentiles(detail: ComparisonDetail) -> dict[str, dict[str, dict[str, float]]]:
    """p50/p95/p99 per scenario and service over all valid runs: the load table's figures, from compare."""
    return {name: {service: {stat: getattr(data.latency[stat], f"{service}_ms") for stat in ("p50", "p95", "p99")}
                   for service in ("baseline", "optimized")}
            for name, data in detail.scenarios.items() if data.latency is not None}


def draw_figures(loadtest: Path, scenarios: dict[str, ScenarioRuns], detail: ComparisonDetail,
                 plots: Path) -> list[str]:
    plots.mkdir(parents=True, exist_ok=True)
    names = []
    for scenario, scenario_runs in scenarios.items():
        services = group_by_service(loadtest / scenario, scenario_runs)
        plot_cdfs({s: r.latencies for s, r in services.items()}, f"latency CDF, {scenario}",
                  plots / f"cdf-{scenario}.png")
        runs, curves = [], []
        for run in scenario_runs.index.runs:
            folder = loadtest / scenario / run.path
            label = f"{run.service} #{run.repeat}"
            runs.append({"label": label, "records": scenario_runs.records[run.path],
                         "timeline": pd.read_csv(folder / "batch_timeline.csv")})
            curves.append((label, pd.read_csv(folder / "interarrival.csv")))
        plot_timelines(runs, f"runs over time, {scenario}", plots / f"timeline-{scenario}.png")
        plot_density_runs(curves, f"inter-arrival density, {scenario}", plots / f"interarrival-{scenario}.png")
        names += [f"cdf-{scenario}.png", f"timeline-{scenario}.png", f"interarrival-{scenario}.png"]
    plot_percentiles(pooled_percentiles(detail), plots / "percentiles.png")
    return ["percentiles.png", *names]


def main() -> None:
    parser = stage_parser(__doc__, validation=VALIDATION_JSON, resilience=RESILIENCE_JSON, loadtest=LOADTEST_DIR,
                          detail=RESULTS_DIR / "comparison_detail.json",
                          plots=RESULTS_DIR / "plots", out=RESULTS_DIR / "report.md")
    args = parser.parse_args()
    params = load_params(args.params)
    validation = read_result(args.validation, Validation)
    detail = read_result(args.detail, ComparisonDetail)
    resilience = read_result(args.resilience, Resilience) if args.resilience.is_file() else None
    scenarios = {name: read_runs(args.loadtest / name) for name in params.loadtest.scenarios}
    figures = draw_figures(args.loadtest, scenarios, detail, args.plots)
    first = scenarios[params.loadtest.scenarios[0]].index
    relative = Path("plots") if args.plots.parent == args.out.parent else args.plots
    parts = [
        f"# servebench report: {validation.model}\n",
        STANDIN_BANNER if validation.standin else "",
        "## Environment\n", environment_section(first),
        f"## Offline: accuracy, size and in-process latency ({validation.examples} examples)\n",
        variants_table(validation),
        "## Under load: baseline vs optimized (same seeded schedule and payloads, fresh server per run)\n",
        "Latency is measured from each request's scheduled time (open loop, coordinated-omission safe), ok "
        "requests only; failures are counted by outcome. Ratios are optimized / baseline with bootstrap 95 % CIs.\n",
        load_table(detail),
        "\n### Tests and run-to-run noise\n", tests_table(detail),
        "\n## Capacity under the p99 objective\n", capacity_section(detail.capacity),
        "\n## Resilience: faults under load\n", resilience_section(resilience),
        "\n## Figures\n", *[f"![{name}]({relative / name})\n" for name in figures],
    ]
    args.out.write_text("\n".join(part for part in parts if part))
    print(f"report: {len(figures)} figures, {len(detail.scenarios)} scenarios -> {args.out}")


if __name__ == "__main__":
    run_stage("report", main)
