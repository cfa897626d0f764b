"""The comparison's sections of the report, from ``comparison_detail.json`` and ``calibration.json``: the method
as the params set it, the verdict table with MDEs, pooled figures, run-to-run spread, and the calibration. The
README quotes the verdict table from here too (:mod:`stages.reporting.readme`), so both say the same."""

from __future__ import annotations

from stages.common.percentiles import TAIL_CANDIDATES, min_requests
from stages.loadgen.relative import describe
from stages.params.loadtest import LoadtestParams
from stages.records.load import OfferedLoad
from stages.reporting.markdown import fmt, table
from stages.reporting.settings import ReportSettings
from stages.stats.comparison import (
    Calibration,
    ComparisonDetail,
    Estimate,
    ScenarioComparison,
    StatisticComparison,
    Verdict,
)
from stages.stats.design import UNDERPOWERED_BELOW, design_of, factor


def ci(value: Estimate | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value.estimate:.{digits}f} [{value.low:.{digits}f}, {value.high:.{digits}f}]"


def factors(value: Estimate) -> str:
    """A ratio and its interval as factors: "x0.153 [x0.143, x0.164]"."""
    return f"x{value.estimate:.3g} [x{value.low:.3g}, x{value.high:.3g}]"


def cell(stat: StatisticComparison | None, digits: int = 3) -> str:
    """A verdict cell: the ratio (as factors) or the difference with its CI and the verdict's first words, or
    why there is none. "insufficient data" and "underpowered" keep the ratio beside them, as a description."""
    if stat is None:
        return "n/a"
    if stat.ratio is None:
        return stat.said
    value = factors(stat.ratio) if stat.role == "primary" else ci(stat.ratio, digits)
    return f"{value} **{stat.verdict}**"


def mde_cell(stat: StatisticComparison | None) -> str:
    """The factor either way the verdict detects (80 % power), at the spread's upper bound in brackets, and its
    power for the design's target."""
    if stat is None or stat.mde_factor is None:
        return "n/a"
    upper = f" (x{stat.mde_factor_at_sd_upper:.3g})" if stat.mde_factor_at_sd_upper is not None else ""
    power = (f"; power {stat.power:.2f} for x{stat.target_factor:.3g}" if stat.power is not None
             and stat.target_factor is not None else "")
    return f"x{stat.mde_factor:.3g}{upper}{power}"


def growth(slope: float) -> str:
    """A backlog slope (s per s) in ms per s, with the sign of noise around zero dropped."""
    value = slope * 1e3
    return f"{value:.0f}" if abs(value) >= 0.5 else "0"


def load_table(comparisons: dict[str, ScenarioComparison]) -> str:
    """Pooled figures per arm over the blocks used: failures counted at the timeout in every percentile."""
    header = ["scenario", "arm", "blocks", "requests", "realised req/s", "p50 ms", "p95 ms", "p99 ms",
              "ok/s of schedule", "failed share", "queue growth ms/s", "outcomes"]
    rows = []
    for name, data in comparisons.items():
        if not data.comparable or data.quantiles is None or data.secondary is None or data.overload is None:
            rows.append([name, "-", len(data.blocks), "", *[""] * 7, data.reason])
            continue
        for side, arm in (("reference", data.reference), ("candidate", data.candidate)):
            outcomes = ", ".join(f"{k} {v}" for k, v in (data.outcomes or {})[arm].items() if v)
            pooled = data.quantiles[arm]
            load = data.overload[arm]
            rows.append([name, arm, len(data.blocks), (data.requests_used or {})[arm],
                         fmt((data.realised_rate_per_s or {}).get(arm), 2),
                         *[fmt(e.estimate if (e := pooled[s]) else None) for s in ("p50", "p95", "p99")],
                         fmt(getattr(data.secondary["throughput"], side), 2),
                         f"{getattr(data.secondary['error_rate'], side):.2%}",
                         growth(load.median_backlog_slope) + (" **overloaded**" if load.overloaded else ""),
                         outcomes])
    return table(header, rows)


def verdict_table(comparisons: dict[str, ScenarioComparison]) -> str:
    """Per scenario: the primary verdicts with CIs and MDEs, then the secondary (descriptive) ones."""
    header = ["scenario", "candidate / reference", "blocks", "p50 of runs", "p50 detects", "tail of runs",
              "tail detects", "CPU per request", "CPU detects",
              "failed share diff.", "SLO-miss share diff.", "pooled p99 (bootstrap)", "with excluded runs"]
    rows = []
    for name, data in comparisons.items():
        if not data.comparable or data.primary is None or data.secondary is None:
            rows.append([name, f"{data.candidate} / {data.reference}", len(data.blocks), data.reason, *[""] * 9])
            continue
        tail = data.primary["tail"]
        p50 = data.primary["p50"]
        overloaded = p50.said if p50.verdict == Verdict.OVERLOADED else None
        sensitivity = ", ".join(f"{k} {v}" for k, v in (data.verdicts_with_excluded_runs or {}).items())
        rows.append([name, f"{data.candidate} / {data.reference}", len(data.blocks),
                     overloaded or cell(data.primary["p50"]), mde_cell(data.primary["p50"]),
                     (f"{tail.name.split(' ')[0]}: {cell(tail)}" if tail.ratio else cell(tail)) if not overloaded
                     else "overloaded", mde_cell(tail),
                     cell(data.primary.get("cost")), mde_cell(data.primary.get("cost")),
                     cell(data.secondary["error_rate"], 4), cell(data.secondary["slo_miss"], 4),
                     cell(data.secondary.get("p99")), sensitivity or "none excluded"])
    return table(header, rows)


def quiet_lines(comparisons: dict[str, ScenarioComparison]) -> str:
    """Each primary ratio adjusted to a machine that lost nothing to steal (the probe as covariate), beside the
    verdict, or why there was nothing to adjust."""
    lines = []
    for name, data in comparisons.items():
        for key, stat in (data.primary or {}).items():
            if stat.ratio is None:
                continue
            quiet = stat.quiet
            lines.append(f"{name} {key}: " + (
                f"{factors(quiet.ratio)} at a quiet machine, moved x{quiet.moved:.3g} by the adjustment (the ratio "
                f"changes x{quiet.slope_per_10_points:.3g} per 10 points of steal; blocks at "
                f"{quiet.stolen_range[0]:.1%}-{quiet.stolen_range[1]:.1%} stolen)" if quiet else
                "no adjustment (the blocks' stolen shares span less than 2 points, or the probe read too few)"))
    return ("\nAdjusted for the machine (the probe's stolen share per block as covariate, the ratio at 0 %; "
            "descriptive): " + "; ".join(lines) + ".\n") if lines else ""


def spread_table(comparisons: dict[str, ScenarioComparison]) -> str:
    header = ["scenario", "arm", "p50 min-max ms (CV)", "p95 min-max ms (CV)", "excluded runs", "unpaired blocks"]
    rows = []
    for name, data in comparisons.items():
        for arm, spread in (data.spread or {}).items():
            rows.append([name, arm, *[f"{spread[s].min:.1f}-{spread[s].max:.1f} ({spread[s].cv:.2f})"
                                      for s in ("p50", "p95")],
                         len(data.excluded_runs.get(arm, [])), data.unpaired_blocks.get(arm, []) or "-"])
    return table(header, rows)


def protocol_sentence(loadtest: LoadtestParams) -> str:
    """How a block runs its arms: alternating slots on warm servers (switchback), or one fresh server per run."""
    fresh = (f"a block serves every arm once, in a seeded random order (loadtest.seed {loadtest.seed}), each on a "
             f"fresh server after {loadtest.warmup_requests} unmeasured requests, all with the same seeded schedule "
             "and payloads.")
    switch = loadtest.switchback
    if not switch.enabled or loadtest.target != "local":
        return fresh
    except_ = (f" (scenarios {', '.join(f'`{name}`' for name in switch.fresh_per_run)} run the study's protocol "
               f"instead: {fresh})" if switch.fresh_per_run else "")
    return (f"a block starts a fresh server per arm, warms each up with {loadtest.warmup_requests} unmeasured "
            f"requests, then sends the seeded schedule cut into {switch.slot_s:g}-s slots, each segment to every arm "
            "in a seeded order with the same payloads, a slot starting only after the previous one drained "
            f"(**switchback**: every arm sees the same machine state){except_}. A probe the arms cannot influence "
            "records the machine's steal and wake-up delay per slot.")


def methods_section(params: ReportSettings, detail: ComparisonDetail, offered: dict[str, OfferedLoad | None]) -> str:
    """How the verdicts were made, from the params the stage ran with and the rates each load test recorded
    (a rate relative to capacity becomes req/s there): checkable in one paragraph."""
    compare, loadtest, loadgen = params.compare, params.loadtest, params.loadgen
    scenarios = "; ".join(
        f"`{name}` {s.process} {describe(load) if (load := offered.get(name)) else f'{s.rate} req/s'}"
        + (f" (gamma shape {s.shape:g})" if s.process == "gamma" else "")
        + (f", {s.duration_s:g} s" if s.duration_s else
           f", {load.requests_per_run if load and load.requests_per_run else s.requests} requests")
        + f" of which {s.warmup_s:g} s warm-up, timeout {s.timeout_s:g} s"
        for name in loadtest.scenarios if (s := params.loadgen.scenarios[name]))
    aa = (f" The A/A check serves `{loadtest.aa.service}` as both arms of `{detail.aa_scenario}` (arm "
          f"`aa-{loadtest.aa.service}`, a fresh server of the same Bento), its own family: identical services, so "
          "it must come out equivalent or inconclusive." if detail.aa is not None else
          f" The A/A check is off: loadtest.aa.service is {loadtest.aa.service} and loadtest.aa.scenario "
          f"{loadtest.aa.scenario!r} is {'' if loadtest.aa.scenario in loadtest.scenarios else 'not '}one of "
          "loadtest.scenarios.")
    design = design_of(params)
    blocks = (f"**{loadtest.repeats} blocks**" if loadtest.repeats != "auto" else
              f"**{loadtest.auto.min_repeats}-{loadtest.auto.max_repeats} blocks** (auto: a look after "
              f"{loadtest.auto.min_repeats} blocks and after each further one, stopping once every primary verdict "
              f"is decided, or after {loadtest.auto.budget_minutes:g} min; each of the {design.looks} looks spends "
              f"alpha / {design.looks})")
    needed = ", ".join(f"{name} {min_requests(quantile, compare.tail_confidence)}"
                       for name, quantile in TAIL_CANDIDATES.items())
    return (
        f"Scenarios: {scenarios}; sent open loop through the `{loadgen.client}` HTTP client (loadgen.client). "
        f"Each runs {blocks}; {protocol_sentence(loadtest)} The block is the unit: a ratio verdict needs "
        f"{design.min_units} (fewer: **insufficient data**, the ratio shown as a description). **Primary** verdicts, "
        f"one Holm family of {design.family} declared across the scenarios at alpha {compare.alpha:g}"
        f"{f' / {design.looks} looks' if design.looks > 1 else ''}: the p50 of each run "
        "and its tail percentile, the highest of p99/p95/p90 that each run's own requests back (MLPerf LoadGen's rule "
        f"1 - q^n >= {compare.tail_confidence:g}: {needed}), each as the ratio candidate / "
        "reference per block (a factor: x0.5 is twice as fast) with a Student t test on the log ratios over blocks "
        f"and an interval simultaneous over the family and the looks ({1 - design.verdict_alpha:.2%}, Bonferroni). "
        "Failed requests count at the timeout. **Secondary** (descriptive, unadjusted): failed and SLO-miss "
        f"(> {compare.slo_ms:g} ms) shares by methods for counts (Mantel-Haenszel difference over blocks, Newcombe "
        "score interval, Fisher exact test, overdispersion between blocks), the pooled p99 with a paired "
        f"block-bootstrap interval (where {min_requests(0.99, compare.tail_confidence)} requests per arm back it), "
        "ok throughput over the schedule's window. "
        f"Verdicts: **equivalent** when the whole CI lies within 1 +- {compare.equivalence:g} (shares: +- "
        f"{compare.error_rate_equivalence:g}); else **faster/slower** when the corrected test rejects and the whole "
        "CI lies on one side of 1; **inconclusive** otherwise. An arm whose latency grows by more than "
        f"{compare.overload_slope * 1e3:g} ms per s of schedule (Theil-Sen), and by {compare.overload_min_growth_ms:g} "
        f"ms over the run, or whose backlog grew over {compare.overload_windows} 5-s windows in a row and passed "
        f"{compare.overload_backlog_s:g} s of its offered rate (saturated mid-run, even if it drained), in half its "
        "runs is **overloaded**: "
        "its latency depends on the run's length, so no ratio is claimed. Detects: the smallest factor either way "
        "each verdict detects with 80 % power at its interval's level, from the spread of its per-block log ratios "
        "(in brackets: at the spread's 95 % upper bound), and its power for the targets "
        f"{factor(design.targets['p50'])} (p50) and {factor(design.targets['tail'])} (tail): below "
        f"{UNDERPOWERED_BELOW:g} the verdict reads **underpowered**, whatever its p (a significant result at low "
        "power exaggerates the effect). Exclusions judge the generator only, with bounds from the "
        f"arrival process (send lag at the highest percentile the sends back <= max({loadgen.lag_bound_ms:g} ms, "
        f"{loadgen.lag_gap_share:g} x the mean gap), achieved rate, gap distance, stalls); a run that fails is "
        f"rerun in its block (up to {loadtest.max_reruns} times), and the verdicts from every block's first run "
        "are shown beside.{aa} Measured error rates of this procedure are in the calibration section below.\n"
    ).replace("{aa}", aa)


def design_line(calibration: Calibration) -> str:
    """"blocks 8-12 by the stopping rule (5 looks), a family of 9": the design the calibration replayed."""
    blocks = (f"blocks {calibration.blocks_range[0]}-{calibration.blocks_range[1]} by the stopping rule "
              f"({calibration.looks} looks)" if calibration.blocks_range else f"{calibration.blocks} blocks")
    return blocks + (f", a family of {calibration.family}" if calibration.family else "")


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
                         *[fmt(case.mde[scenario][stat], 3) for stat in ("p50", "tail")], f"{case.joint_change:.1%}"])
    noise = [[name, *[fmt(values[key], 3) for key in ("block_sd", "run_sd", "within_run_sd", "autocorrelation")],
              int(values["requests_per_run"])] for name, values in calibration.noise.items()]
    return (f"{calibration.trials} seeded synthetic experiments per case, {design_line(calibration)}, every scenario "
            "on its own schedule, through the compare stage's reader, audit, reruns, one Holm family, the A/A and the "
            "gate; noise from this experiment's runs (log scale) below; targets are the design's own rates widened "
            "by chance alone at this many trials. Monte-Carlo error of a 5 % rate "
            f"+-{calibration.monte_carlo_error_at_5pct:.1%}. Overloaded here (no power target): "
            f"{', '.join(calibration.overloaded) or 'none'}.\n\n"
            + table(["check", "worst value", "target", "", "where"], checks) + "\n"
            + table(["scenario", "block level SD", "run level SD", "request SD", "autocorrelation",
                     "requests per run"], noise) + "\n"
            + table(["case", "scenario", "p50 verdicts", "tail verdicts", "failed-share verdicts", "p50 coverage",
                     "tail coverage", "p50 MDE", "tail MDE", "joint change"], rows))
