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
from stages.common.cpu_steal import stolen_summary
from stages.common.environment import speed_summary
from stages.common.io import read_result, write_result
from stages.common.params import Params, load_params
from stages.common.percentiles import min_requests
from stages.common.results import Capacity, Limits, LoadtestIndex, Resilience, Spread, Validation
from stages.reporting.headline import headline_metrics, headline_section
from stages.reporting.markdown import STANDIN_BANNER, fmt, table, variants_table
from stages.reporting.plots import (
    plot_gap_cdfs,
    plot_latency_vs_load,
    plot_percentiles,
    plot_served_fraction,
    plot_timelines,
)
from stages.reporting.series import latency_vs_load, served_fraction
from stages.reporting.verdicts import calibration_table, load_table, methods_section, spread_table, verdict_table
from stages.serving.startup import PHASES
from stages.stats.comparison import Calibration, ComparisonDetail, Estimate
from stages.stats.samples import ScenarioRuns, group_by_arm, read_runs


def speed_line(speeds: list[dict[str, float]], limits: Limits) -> str:
    """The machine's speed fingerprints (one per load test) against the README's reference machine, with the raw
    in-process bs1 p50 of each served variant (limits): the figures to check before setting results from two
    machines side by side."""
    raw = ", ".join(f"{service.variant} {fmt(service.raw.bs1_latency_ms.p50)} ms"
                    for service in limits.services.values())
    if not speeds:
        return f"- Speed: not recorded (results from before the fingerprint); raw in-process bs1 p50: {raw}\n"
    return (f"- Speed at the end of each of the {len(speeds)} load tests (median, range; a slowdown above 1 is "
            f"slower): {speed_summary(speeds)}; raw in-process bs1 p50: {raw}\n")


def environment_section(indexes: list[LoadtestIndex], limits: Limits) -> str:
    runs_index = indexes[0]
    env = runs_index.environment
    flags = ", ".join(f"{flag} {'yes' if present else 'no'}" for flag, present in env["cpu_flags"].items())
    libraries = ", ".join(f"{name} {version}" for name, version in env["libraries"].items() if version)
    speeds = [speed for index in indexes if isinstance(speed := index.environment.get("speed"), dict)]
    stolen = stolen_summary([run.cpu_stolen for index in indexes for run in index.runs])
    return (f"- CPU: {env['cpu_model']}, {env['cores']} cores, generator affinity {env['affinity']}\n"
            + speed_line(speeds, limits)
            + (f"- CPU time a hypervisor took from the machine during the load tests' runs: {stolen}\n" if stolen
               else "")
            + f"- ISA: {flags}\n- Python {env['python']} on {env['platform']}\n- Libraries: {libraries}\n"
            f"- git revision {env['git_revision']}, params.yaml sha256 {env['params_sha256']}\n"
            f"- served variants: {runs_index.variants}; stand-in model: {runs_index.standin}\n")


def ramp_table(limits: Limits) -> str:
    """Served req/s (shed / failed) at every step of each service's saturation ramp."""
    ramps = {name: service.served.saturation.ramp for name, service in limits.services.items()}
    longest = max(ramps.values(), key=len)
    return table(["service", *(f"{step.concurrency} users" for step in longest)],
                 [[name, *(f"{step.throughput_per_s:.1f} ({step.shed}/{step.errors})" for step in ramp),
                   *["-"] * (len(longest) - len(ramp))] for name, ramp in ramps.items()])


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
            + "\nSaturation: the highest concurrency of a closed-loop ramp (1, 2, 4, ... users) whose failed share "
            "(503 shed or other) stays within `limits.max_shed_share`; served and shed requests are counted apart. "
            "At saturation every core is busy, so the CPU that each request costs outside inference (the "
            "server's event loop: HTTP, validation, batching; the load generator on the same machine) is taken "
            "from inference: the efficiency it allows is inference / (inference + event loop + generator), per "
            "request the server handled (per served request beside it). Back: from the end of saturation until "
            "single requests are within 2x the low-load p50, 5 in a row.\n\n"
            + table(["service", "users", "served", "shed", "failed", "inference ms / request",
                     "event loop CPU ms / handled (/ served)", "generator CPU ms / handled (/ served)",
                     "CPU-share bound", "saturation efficiency", "back after s"],
                    [[name, (sat := service.served.saturation).concurrency, sat.ok, sat.shed, sat.errors,
                      fmt(1e3 / service.raw.batch_throughput_per_s, 2),
                      f"{fmt(sat.event_loop_cpu_ms_per_request, 2)} ({fmt(sat.event_loop_cpu_ms_per_served, 2)})",
                      f"{fmt(sat.generator_cpu_ms_per_request, 2)} ({fmt(sat.generator_cpu_ms_per_served, 2)})",
                      "n/a" if service.cpu_share_bound is None else f"{service.cpu_share_bound:.0%}",
                      f"{service.saturation_efficiency:.0%}", fmt(service.served.after_saturation_back_s, 2)]
                     for name, service in limits.services.items()])
            + "\nThe ramp (served req/s, shed / failed at each step):\n\n" + ramp_table(limits)
            + "\nWhere the cold start went (s; the first worker's own log lines, `stages/serving/startup.py`):\n\n"
            + table(["service", *(phase.removesuffix("_s").replace("_", " ") for phase, _, _ in PHASES)],
                    [[name, *(fmt((service.start_breakdown_s or {}).get(phase), 2) for phase, _, _ in PHASES)]
                     for name, service in limits.services.items()]))


P99_CLAIM = min_requests(0.99, 0.99)  # the capacity stage's rule for a p99 claim (MLPerf LoadGen's)


def capacity_section(capacity: Capacity | None) -> str:
    if capacity is None:
        return "No capacity results.\n"
    rows = [[name, s.variant, fmt(s.capacity_per_s, 2) + ("" if s.claim_holds or s.capacity_per_s is None
                                                           else f" (bracket: step < {P99_CLAIM} requests)"),
             f"[{', '.join(fmt(rate, 2) for rate in s.bracket)}]", fmt(s.start_rate, 2), len(s.steps),
             s.short_steps, sum(step.unsent > 0 for step in s.steps),
             stolen_summary([step.cpu_stolen for step in s.steps]) or "-"]
            for name, s in capacity.services.items()]
    ratio = f"{capacity.ratio:.2f}x" if capacity.ratio else "n/a"
    return (f"Objective: p99 from the scheduled time <= {capacity.slo_p99_ms} ms, failed requests <= "
            f"{capacity.max_error_rate:.0%}, failures censored above every served latency. Capacity: the offered "
            f"rate the highest passing step's schedule realised. A failing step stops sending once its failure is "
            f"certain. Capacity ratio optimized / baseline: **{ratio}**."
            "\n\n"
            + table(["service", "variant", "capacity req/s", "bracket [pass, fail] nominal req/s",
                     "first step req/s", "steps", f"steps < {P99_CLAIM} req", "failures decided early",
                     "CPU stolen by a hypervisor"],
                    rows))


def spread_cell(spread: Spread, repeats: int, digits: int = 1) -> str:
    """Median [low, high] over the repeats that had the figure, with their count when not all did."""
    if spread.median is None:
        return "-"
    count = "" if spread.n == repeats else f" (n={spread.n})"
    return f"{spread.median:.{digits}f} [{spread.low:.{digits}f}, {spread.high:.{digits}f}]{count}"


def resilience_section(resilience: Resilience | None, params: Params) -> str:
    if resilience is None:
        return "No resilience results.\n"
    rows = []
    for key, fault in resilience.faults.items():
        counted = fault.steady_before or fault.repeats
        rows.append([key, fault.workers or "as built", f"{fault.steady_before}/{fault.repeats}",
                     f"**{fault.verdict}** ({', '.join(fault.verdicts)})",
                     *(spread_cell(figure, counted, digits) for figure, digits in (
                         (fault.failed, 0), (fault.outage_s, 2), (fault.time_to_first_success_s, 2),
                         (fault.time_to_recovery_s, 2))),
                     sum(run.relapses for run in fault.runs),
                     "yes" if fault.recorded_equals_scheduled else "**no**",
                     " ".join(f"[{number}]({run.timeline})" for number, run in enumerate(fault.runs, start=1))])
    settings = params.resilience
    notes = "".join(f"\n\nSkipped `{key}`: {reason}." for key, reason in resilience.skipped.items())
    stolen = stolen_summary([run.cpu_stolen for fault in resilience.faults.values() for run in fault.runs])
    if stolen:
        notes += f"\n\nCPU time a hypervisor took from the machine during the fault runs: {stolen}."
    return (f"Target: {resilience.target}, service: {resilience.service}, load: scenario "
            f"`{resilience.scenario}`. Each fault runs {settings.repeats} times on a fresh server, each repeat with "
            "its own seeded schedule, striking at a seeded busy instant between "
            f"{settings.fault_window_s[0]:g} and {settings.fault_window_s[1]:g} s into the run. A good request: "
            f"ok within {settings.slo_ms:g} ms of its scheduled time (the steady-state hypothesis), checked on the "
            "requests answered before the fault (steady before: the repeats where it held; the figures are "
            "medians [range] over those, n where fewer had the figure). Outage: first breaching request after the "
            "fault to the end of the last breach before the recovery; recovered: the answer of the first good "
            f"request that starts {settings.healthy_s:g} s of good requests only; first success: the first ok "
            "answer of a request scheduled in the outage; relapses: breaches after the recovery. Seconds from the "
            "fault, at the requests' resolution. Verdict: held, recovered (within "
            f"{settings.max_recovery_s:g} s), not recovered, or not observed long enough; a fault's verdict is "
            "its worst repeat's.\n\n"
            + table(["fault", "workers", "steady before", "verdict (per repeat)", "failed requests", "outage s",
                     "first success s", "recovered s", "relapses", "recorded = scheduled", "timelines"], rows)
            + notes)


def drift_caveat(run_date: str) -> str:
    return (f"Measured {run_date} on the machine described below. Absolute figures, and ratios between services, "
            "move between machines and between days on a shared one: compare experiments run on the same machine, "
            "and trust a change only with its verdict, its MDE and the calibration.\n")


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
    "interarrival": "Empirical CDF of the gaps between consecutive sends of every run (thin lines, one colour per "
                    "service) against the scenario's target distribution, on a log time axis; the fidelity audit's "
                    "KS test decides.",
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
            runs.append({"label": label, "records": scenario_runs.records[run.path], "excluded": not run.valid,
                         "timeline": pd.read_csv(folder / "batch_timeline.csv")})
            curves.append((label, pd.read_csv(folder / "interarrival.csv")))
        plot_timelines(runs, f"runs over time, {scenario}", plots / f"timeline-{scenario}.png")
        plot_gap_cdfs(curves, f"Do sends follow the schedule? {scenario}", plots / f"interarrival-{scenario}.png")
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
        "\n## Environment\n", environment_section([runs.index for runs in scenarios.values()], limits),
        f"## Offline: accuracy, size and in-process latency ({validation.examples} examples)\n",
        variants_table(validation),
        "## Serving limits\n", limits_section(limits),
        "\n## Under load: baseline vs optimized (same seeded schedule and payloads, fresh server per run)\n",
        "### Method\n", methods_section(params, detail, {name: runs.index.offered for name, runs in scenarios.items()}),
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
