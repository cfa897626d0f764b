"""report stage: ``results/report.md``, its figures, their data series and the headline metrics, from results
files only.

Headline metrics (``results/metrics.json``, DVC's only ``metrics:``), environment fingerprint, the study's offline
table, serving limits, the method, paired verdicts, capacity under the p99 objective and resilience; figures
(share of requests served ok by latency, latency and goodput vs offered load, percentiles across scenarios,
per-run timelines, realised vs target inter-arrival density) in ``results/plots/``, and the data series DVC plots
and ``dvc plots diff`` overlays in ``results/series/``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from stages.common.artifacts import LIMITS_JSON, LOADTEST_DIR, RESILIENCE_JSON, RESULTS_DIR, VALIDATION_JSON
from stages.common.cli import run_stage, stage_parser
from stages.common.io import read_result, write_result
from stages.common.params import Params, load_params
from stages.common.results import Capacity, Limits, LoadtestIndex, Resilience, Spread, Validation
from stages.reporting.headline import MEANINGS, Metrics, headline_metrics
from stages.reporting.markdown import STANDIN_BANNER, fmt, table, variants_table
from stages.reporting.plots import (
    plot_density_runs,
    plot_latency_vs_load,
    plot_percentiles,
    plot_served_fraction,
    plot_timelines,
)
from stages.reporting.series import latency_vs_load, served_fraction
from stages.serving.startup import PHASES
from stages.stats.comparison import (
    Calibration,
    ComparisonDetail,
    Estimate,
    ScenarioComparison,
    StatisticComparison,
)
from stages.stats.samples import ScenarioRuns, group_by_arm, read_runs


def environment_section(runs_index: LoadtestIndex) -> str:
    env = runs_index.environment
    flags = ", ".join(f"{flag} {'yes' if present else 'no'}" for flag, present in env["cpu_flags"].items())
    libraries = ", ".join(f"{name} {version}" for name, version in env["libraries"].items() if version)
    return (f"- CPU: {env['cpu_model']}, {env['cores']} cores, generator affinity {env['affinity']}\n"
            f"- ISA: {flags}\n- Python {env['python']} on {env['platform']}\n- Libraries: {libraries}\n"
            f"- git revision {env['git_revision']}, params.yaml sha256 {env['params_sha256']}\n"
            f"- served variants: {runs_index.variants}; stand-in model: {runs_index.standin}\n")


def ci(value: Estimate | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value.estimate:.{digits}f} [{value.low:.{digits}f}, {value.high:.{digits}f}]"


def cell(stat: StatisticComparison | None, digits: int = 3) -> str:
    """A verdict cell: the ratio (or difference) with its CI and the verdict, or why there is none."""
    if stat is None:
        return "n/a"
    if stat.ratio is None:
        return stat.verdict
    return f"{ci(stat.ratio, digits)} **{stat.verdict.split(':')[0]}**"


def mde_cell(stat: StatisticComparison | None) -> str:
    """The smallest change the verdict could detect (80 % power), and the same at the spread's upper bound."""
    if stat is None or stat.mde is None:
        return "n/a"
    upper = f" ({stat.mde_at_sd_upper:.0%})" if stat.mde_at_sd_upper is not None else ""
    return f"{stat.mde:.0%}{upper}"


def growth(slope: float) -> str:
    """A backlog slope (s per s) in ms per s, with the sign of noise around zero dropped."""
    value = slope * 1e3
    return f"{value:.0f}" if abs(value) >= 0.5 else "0"


def load_table(comparisons: dict[str, ScenarioComparison]) -> str:
    """Pooled figures per arm over the blocks used: failures counted at the timeout in every percentile."""
    header = ["scenario", "arm", "blocks", "requests", "p50 ms", "p95 ms", "p99 ms", "ok/s of schedule",
              "failed share", "queue growth ms/s", "outcomes"]
    rows = []
    for name, data in comparisons.items():
        if not data.comparable or data.quantiles is None or data.secondary is None or data.overload is None:
            rows.append([name, "-", len(data.blocks), "", *[""] * 6, data.reason])
            continue
        for side, arm in (("reference", data.reference), ("candidate", data.candidate)):
            outcomes = ", ".join(f"{k} {v}" for k, v in (data.outcomes or {})[arm].items() if v)
            pooled = data.quantiles[arm]
            load = data.overload[arm]
            rows.append([name, arm, len(data.blocks), (data.requests_used or {})[arm],
                         *[fmt(pooled[s].estimate if pooled[s] else None) for s in ("p50", "p95", "p99")],
                         fmt(getattr(data.secondary["throughput"], side), 2),
                         f"{getattr(data.secondary['error_rate'], side):.2%}",
                         growth(load.median_backlog_slope) + (" **overloaded**" if load.overloaded else ""),
                         outcomes])
    return table(header, rows)


def verdict_table(comparisons: dict[str, ScenarioComparison]) -> str:
    """Per scenario: the primary verdicts with CIs and MDEs, then the secondary (descriptive) ones."""
    header = ["scenario", "candidate / reference", "blocks", "p50 of runs", "p50 MDE", "tail of runs", "tail MDE",
              "failed share diff.", "SLO-miss share diff.", "pooled p99 (bootstrap)", "with excluded runs"]
    rows = []
    for name, data in comparisons.items():
        if not data.comparable or data.primary is None or data.secondary is None:
            rows.append([name, f"{data.candidate} / {data.reference}", len(data.blocks), data.reason, *[""] * 7])
            continue
        tail = data.primary["tail"]
        overloaded = data.primary["p50"].verdict if data.primary["p50"].verdict.startswith("overloaded") else None
        sensitivity = ", ".join(f"{k} {v.split(':')[0]}" for k, v in (data.verdicts_with_excluded_runs or {}).items())
        rows.append([name, f"{data.candidate} / {data.reference}", len(data.blocks),
                     overloaded or cell(data.primary["p50"]), mde_cell(data.primary["p50"]),
                     (f"{tail.name.split(' ')[0]}: {cell(tail)}" if tail.ratio else cell(tail)) if not overloaded
                     else "overloaded", mde_cell(tail),
                     cell(data.secondary["error_rate"], 4), cell(data.secondary["slo_miss"], 4),
                     cell(data.secondary.get("p99")), sensitivity or "none excluded"])
    return table(header, rows)


def spread_table(comparisons: dict[str, ScenarioComparison]) -> str:
    header = ["scenario", "arm", "p50 min-max ms (CV)", "p95 min-max ms (CV)", "excluded runs", "unpaired blocks"]
    rows = []
    for name, data in comparisons.items():
        for arm, spread in (data.spread or {}).items():
            rows.append([name, arm, *[f"{spread[s].min:.1f}-{spread[s].max:.1f} ({spread[s].cv:.2f})"
                                      for s in ("p50", "p95")],
                         len(data.excluded_runs.get(arm, [])), data.unpaired_blocks.get(arm, []) or "-"])
    return table(header, rows)


def methods_section(params: Params, detail: ComparisonDetail) -> str:
    """How the verdicts were made, from the params the stage ran with: checkable in one paragraph."""
    compare, loadtest, loadgen = params.compare, params.loadtest, params.loadgen
    scenarios = "; ".join(
        f"`{name}` {s.process} {s.rate:g} req/s" + (f" (gamma shape {s.shape:g})" if s.process == "gamma" else "")
        + (f", {s.duration_s:g} s" if s.duration_s else f", {s.requests} requests")
        + f" of which {s.warmup_s:g} s warm-up, timeout {s.timeout_s:g} s"
        for name in loadtest.scenarios if (s := params.loadgen.scenarios[name]))
    aa = (f" The A/A check serves `{loadtest.aa.service}` as both arms of `{detail.aa_scenario}` (arm "
          f"`aa-{loadtest.aa.service}`, a fresh server of the same Bento), its own family: identical services, so "
          "it must come out equivalent or inconclusive." if detail.aa is not None else
          f" The A/A check is off: loadtest.aa.service is {loadtest.aa.service} and loadtest.aa.scenario "
          f"{loadtest.aa.scenario!r} is {'' if loadtest.aa.scenario in loadtest.scenarios else 'not '}one of "
          "loadtest.scenarios.")
    blocks = (f"**{loadtest.repeats} blocks**" if loadtest.repeats != "auto" else
              f"**{loadtest.auto.min_repeats}-{loadtest.auto.max_repeats} blocks** (auto: until a "
              f"{loadtest.auto.target_p50_change:.0%} p50 change and a {loadtest.auto.target_tail_ratio:g}x tail "
              f"change are detectable, or {loadtest.auto.budget_minutes:g} min)")
    return (
        f"Scenarios: {scenarios}; sent open loop through the `{loadgen.client}` HTTP client (loadgen.client). "
        f"Each runs {blocks}; a block serves every arm once, in a seeded random order (loadtest.seed "
        f"{loadtest.seed}), each on a fresh server after {loadtest.warmup_requests} unmeasured requests, all with "
        "the same seeded schedule and payloads. The run is the unit. **Primary** verdicts, one Holm family of "
        f"{detail.primary_family} across the scenarios at alpha {compare.alpha:g}: the p50 of each run and its "
        "tail percentile, the highest of p99/p95/p90 that each run's own requests back (MLPerf LoadGen's rule "
        f"1 - q^n >= {compare.tail_confidence:g}: p99 459, p95 90, p90 44 requests), each as the ratio candidate / "
        f"reference per block with a Student t {compare.level:.0%} interval and test on the log ratios over "
        "blocks. Failed requests count at the timeout. **Secondary** (descriptive, unadjusted): failed and SLO-miss "
        f"(> {compare.slo_ms:g} ms) shares by methods for counts (Mantel-Haenszel difference over blocks, Newcombe "
        "score interval, Fisher exact test, overdispersion between blocks), the pooled p99 with a paired "
        "block-bootstrap interval (where 459 requests per arm back it), ok throughput over the schedule's window. "
        f"Verdicts: **equivalent** when the whole CI lies within 1 +- {compare.equivalence:g} (shares: +- "
        f"{compare.error_rate_equivalence:g}); else **faster/slower** when the corrected test rejects and the whole "
        "CI lies on one side of 1; **inconclusive** otherwise. An arm whose latency grows by more than "
        f"{compare.overload_slope * 1e3:g} ms per s of schedule (Theil-Sen) in half its runs is **overloaded**: "
        "its latency depends on the run's length, so no ratio is claimed. MDE: the smallest change each verdict "
        "detects with 80 % power at the family's Bonferroni level, from the spread of its per-block log ratios (in "
        "brackets: at the spread's 95 % upper bound). Exclusions judge the generator only, with bounds from the "
        f"arrival process (send lag at the highest percentile the sends back <= max({loadgen.lag_bound_ms:g} ms, "
        f"{loadgen.lag_gap_share:g} x the mean gap), achieved rate, gap distance, stalls); a run that fails is "
        f"rerun in its block (up to {loadtest.max_reruns} times), and the verdicts from every block's first run "
        "are shown beside.{aa} Measured error rates of this procedure are in the calibration section below.\n"
    ).replace("{aa}", aa)


def calibration_table(calibration: Calibration | None) -> str:
    if calibration is None:
        return "No calibration results.\n"
    checks = [[name.replace("_", " "), fmt(check.value, 3), check.target, "pass" if check.passed else "**FAIL**",
               check.over] for name, check in calibration.checks.items()]
    rows = []
    for key, case in calibration.cases.items():
        for scenario, by_stat in case.verdicts.items():
            rows.append([key, scenario, *[", ".join(f"{word} {share:.1%}" for word, share in by_stat[stat].items())
                                          for stat in ("p50", "tail", "error_rate")],
                         *[fmt(case.coverage[scenario][stat], 3) for stat in ("p50", "tail")],
                         *[fmt(case.mde[scenario][stat], 2) for stat in ("p50", "tail")], f"{case.joint_change:.1%}"])
    noise = [[name, *[fmt(values[key], 3) for key in ("block_sd", "run_sd", "within_run_sd", "autocorrelation")],
              int(values["requests_per_run"])] for name, values in calibration.noise.items()]
    return (f"{calibration.trials} seeded synthetic experiments per case, {calibration.blocks} blocks, every scenario "
            "on its own schedule, through the compare stage's reader, audit, reruns and one Holm family; noise "
            "from this experiment's runs (log scale) below. Monte-Carlo error of a 5 % rate "
            f"+-{calibration.monte_carlo_error_at_5pct:.1%}. Overloaded here (no power target): "
            f"{', '.join(calibration.overloaded) or 'none'}.\n\n"
            + table(["check", "worst value", "target", "", "where"], checks) + "\n"
            + table(["scenario", "block level SD", "run level SD", "request SD", "autocorrelation",
                     "requests per run"], noise) + "\n"
            + table(["case", "scenario", "p50 verdicts", "tail verdicts", "failed-share verdicts", "p50 coverage",
                     "tail coverage", "p50 MDE", "tail MDE", "joint change"], rows))


def limits_section(limits: Limits) -> str:
    """What one server costs and sustains: cold start, overhead over the in-process classifier, saturation, and
    the latency of lone requests right after a saturation burst (the dispatcher's learned wait)."""
    rows = []
    for name, service in limits.services.items():
        served = service.served
        before, after = served.low_load_latency_ms.p50, served.low_load_after_saturation_latency_ms.p50
        rows.append([name, service.variant, fmt(service.cold_start_s, 1), fmt(service.raw.bs1_latency_ms.p50),
                     fmt(before), fmt(service.overhead_ms), fmt(served.saturation.throughput_per_s),
                     f"{service.saturation_efficiency:.0%} of raw bs{service.raw.batch_size}",
                     fmt(after), f"{after / before:.1f}x" if after and before else "n/a"])
    return ("One fresh server per service; raw = the same classifier in-process, measured in rounds alternating "
            "with the served measurements. Cold start: `bentoml serve` launched to the first 200 of `/readyz`.\n\n"
            + table(["service", "variant", "cold start s", "raw bs1 p50 ms", "served p50 ms", "overhead ms",
                     "saturation req/s", "saturation efficiency", "p50 after saturation ms", "after / before"],
                    rows)
            + "\nAt saturation every core is busy, so the CPU that each request costs outside inference (the "
            "server's event loop: HTTP, validation, batching; the load generator on the same machine) is taken "
            "from inference: the efficiency it allows is inference / (inference + event loop + generator). Back: "
            "from the end of saturation until single requests are within 2x the low-load p50, 5 in a row.\n\n"
            + table(["service", "inference ms / request", "event loop CPU ms / request",
                     "generator CPU ms / request", "CPU-share bound", "saturation efficiency", "back after s"],
                    [[name, fmt(1e3 / service.raw.batch_throughput_per_s, 2),
                      fmt(service.served.saturation.event_loop_cpu_ms_per_request, 2),
                      fmt(service.served.saturation.generator_cpu_ms_per_request, 2),
                      "n/a" if service.cpu_share_bound is None else f"{service.cpu_share_bound:.0%}",
                      f"{service.saturation_efficiency:.0%}", fmt(service.served.after_saturation_back_s, 2)]
                     for name, service in limits.services.items()])
            + "\nWhere the cold start went (s; the first worker's own log lines, `stages/serving/startup.py`):\n\n"
            + table(["service", *(phase.removesuffix("_s").replace("_", " ") for phase, _, _ in PHASES)],
                    [[name, *(fmt((service.start_breakdown_s or {}).get(phase), 2) for phase, _, _ in PHASES)]
                     for name, service in limits.services.items()]))


def capacity_section(capacity: Capacity | None) -> str:
    if capacity is None:
        return "No capacity results.\n"
    rows = [[name, s.variant, fmt(s.capacity_per_s, 2), f"[{', '.join(fmt(rate, 2) for rate in s.bracket)}]",
             fmt(s.start_rate, 2), len(s.steps), s.short_steps]
            for name, s in capacity.services.items()]
    ratio = f"{capacity.ratio:.2f}x" if capacity.ratio else "n/a"
    return (f"Objective: p99 from the scheduled time <= {capacity.slo_p99_ms} ms, failed requests <= "
            f"{capacity.max_error_rate:.0%}. Capacity ratio optimized / baseline: **{ratio}**.\n\n"
            + table(["service", "variant", "capacity req/s", "bracket [pass, fail]", "first step req/s", "steps",
                     "steps < 459 req"],
                    rows))


def spread_cell(spread: Spread, digits: int = 1) -> str:
    """Median [low, high] over the repeats."""
    if spread.median is None:
        return "-"
    return f"{spread.median:.{digits}f} [{spread.low:.{digits}f}, {spread.high:.{digits}f}]"


def resilience_section(resilience: Resilience | None, params: Params) -> str:
    if resilience is None:
        return "No resilience results.\n"
    rows = [[key, fault.workers or "as built", fault.repeats, f"**{fault.verdict}** ({', '.join(fault.verdicts)})",
             spread_cell(fault.failed, 0), spread_cell(fault.outage_s), spread_cell(fault.time_to_first_success_s),
             spread_cell(fault.time_to_recovery_s), "yes" if fault.recorded_equals_scheduled else "**no**",
             " ".join(f"[{number}]({run.timeline})" for number, run in enumerate(fault.runs, start=1))]
            for key, fault in resilience.faults.items()]
    settings = params.resilience
    return (f"Target: {resilience.target}, service: {resilience.service}, load: scenario "
            f"`{resilience.scenario}`. Each fault runs {settings.repeats} times on a fresh server, striking at a "
            f"seeded busy instant between {settings.fault_window_s[0]:g} and {settings.fault_window_s[1]:g} s into "
            "the run (weighted by the sends in the second before it); figures are medians [range] over the repeats, "
            "in seconds from the fault. Steady-state hypothesis: every request in a "
            f"{settings.window_s:g} s window (a grid from the fault on) succeeds within {settings.slo_ms:g} ms. "
            "Outage: first failure or breach after the fault "
            "to the start of the first window after which every window holds; first success: the first ok "
            "response of a request scheduled in the outage. Verdict: held, recovered (within "
            f"{settings.max_recovery_s:g} s) or not recovered; a fault's verdict is its worst repeat's.\n\n"
            + table(["fault", "workers", "repeats", "verdict (per repeat)", "failed requests", "outage s",
                     "first success s", "recovered s", "recorded = scheduled", "timelines"], rows))


def headline_section(metrics: Metrics) -> str:
    """The headline metrics as a table: the same numbers ``dvc exp show`` and ``dvc metrics diff`` show."""
    rows = [[group, key, "n/a" if value is None else value, MEANINGS[group]]
            for group, values in metrics.items() for key, value in values.items()]
    return ("From `results/metrics.json` (`dvc metrics show`; ratios optimized / baseline, verdicts on p99).\n\n"
            + table(["metric", "of", "value", "meaning"], rows))


def drift_caveat(run_date: str) -> str:
    return (f"Measured {run_date} on the machine described below. Absolute figures, and ratios between services, "
            "move between machines and between days on a shared one: compare experiments run on the same machine, "
            "and trust a change only with its verdict, its MDE and the calibration.\n")


def pooled_percentiles(detail: ComparisonDetail) -> dict[str, dict[str, dict[str, float]]]:
    """p50/p95/p99 per scenario and arm over the blocks used: the load table's figures, from compare."""
    return {name: {arm: {stat: estimate.estimate for stat, estimate in by_stat.items() if estimate is not None}
                   for arm, by_stat in data.quantiles.items()}
            for name, data in detail.scenarios.items() if data.quantiles is not None}


CAPTIONS = {
    "latency-vs-load.png": "Capacity search steps: p50 and p99 latency from the schedule against offered load, "
                           "with the p99 objective (left); goodput, requests answered ok within the objective per "
                           "second, against offered load (right). Each point is one fresh-server run.",
    "percentiles.png": "p50, p95 and p99 per scenario and arm, pooled over the blocks used (failures at the "
                       "timeout).",
    "cdf": "Share of all measured requests answered ok within each latency, pooled over blocks; a curve that ends "
           "below 1 shows the failed share.",
    "timeline": "Every run of the scenario: latency per request by scheduled time, ok responses and failed requests "
                "per second (empty seconds are zeros), and the dispatcher's mean batch size.",
    "interarrival": "Realised inter-arrival density of every run (kernel estimate of the send gaps) against the "
                    "scenario's target density; the fidelity audit's KS test, not this smoothed curve, decides.",
}


def caption(name: str) -> str:
    return CAPTIONS.get(name) or CAPTIONS[name.split("-")[0]]


def write_series(frame: pd.DataFrame, out: Path) -> None:
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
            write_series(rows.drop(columns="service"), series / f"latency-vs-load-{service}.csv")
        plot_latency_vs_load(steps, plots / "latency-vs-load.png")
        names.append("latency-vs-load.png")
    for scenario, scenario_runs in scenarios.items():
        served = served_fraction(group_by_arm(scenario_runs))
        write_series(served, series / f"cdf-{scenario}.csv")
        plot_served_fraction(served, f"latency, {scenario}", plots / f"cdf-{scenario}.png")
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
                          calibration=RESULTS_DIR / "calibration.json", limits=LIMITS_JSON,
                          plots=RESULTS_DIR / "plots", series=RESULTS_DIR / "series",
                          metrics=RESULTS_DIR / "metrics.json", out=RESULTS_DIR / "report.md")
    args = parser.parse_args()
    params = load_params(args.params)
    validation = read_result(args.validation, Validation)
    detail = read_result(args.detail, ComparisonDetail)
    resilience = read_result(args.resilience, Resilience) if args.resilience.is_file() else None
    calibration = read_result(args.calibration, Calibration) if args.calibration.is_file() else None
    limits = read_result(args.limits, Limits)
    comparisons = dict(detail.scenarios)
    if detail.aa is not None:
        comparisons[f"A/A ({detail.aa_scenario})"] = detail.aa
    scenarios = {name: read_runs(args.loadtest / name) for name in params.loadtest.scenarios}
    figures = draw_figures(args.loadtest, scenarios, detail, args.plots, args.series)
    metrics = headline_metrics(validation, limits, detail, resilience)
    write_result(args.metrics, metrics)
    first = scenarios[params.loadtest.scenarios[0]].index
    relative = Path("plots") if args.plots.parent == args.out.parent else args.plots
    run_date = first.environment.get("measured_on") or "on an unrecorded date"
    parts = [
        f"# servebench report: {validation.model}\n",
        STANDIN_BANNER if validation.standin else "",
        drift_caveat(run_date),
        "## Headline\n", headline_section(metrics),
        "\n## Environment\n", environment_section(first),
        f"## Offline: accuracy, size and in-process latency ({validation.examples} examples)\n",
        variants_table(validation),
        "## Serving limits\n", limits_section(limits),
        "\n## Under load: baseline vs optimized (same seeded schedule and payloads, fresh server per run)\n",
        "### Method\n", methods_section(params, detail),
        f"\n### Verdicts (ratios candidate / reference, paired by block, {params.compare.level:.0%} CI)\n",
        verdict_table(comparisons),
        "\n### Pooled figures per arm\n", load_table(comparisons),
        "\n### Run-to-run spread\n", spread_table(comparisons),
        "\n### Calibration: measured error rates of these verdicts\n", calibration_table(calibration),
        "\n## Capacity under the p99 objective\n", capacity_section(detail.capacity),
        "\n## Resilience: faults under load\n", resilience_section(resilience, params),
        "\n## Figures\n", *[f"![{name}]({relative / name})\n\n*{caption(name)}*\n" for name in figures],
    ]
    args.out.write_text("\n".join(part for part in parts if part))
    print(f"report: {len(figures)} figures, {len(detail.scenarios)} scenarios -> {args.out}")


if __name__ == "__main__":
    run_stage("report", main)
