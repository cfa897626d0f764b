"""compare stage: optimized vs baseline per scenario, with effect sizes, confidence intervals and corrected tests.

For p50, p95, p99 and mean latency (from the scheduled time, ok requests) and ok throughput: the ratio
optimized / baseline with a bootstrap 95 % CI (resampling runs when there are repeats, requests otherwise; the
unit is recorded), the Hodges-Lehmann shift with its CI, Mann-Whitney U and two-sample KS p-values, Cliff's
delta, Holm's correction across every test of the stage, and a verdict against ``compare.practical_threshold``.
Also the between-repeat spread of each service's p50 and p99, and how many invalid runs were excluded.
``results/comparison.json`` (DVC metrics) holds the headline; ``results/comparison_detail.json`` everything.
"""

from __future__ import annotations

import numpy as np

from stages.common.artifacts import CAPACITY_JSON, LOADTEST_DIR, RESULTS_DIR, RUNS_INDEX
from stages.common.cli import run_stage, stage_parser
from stages.common.errors import ServebenchError
from stages.common.io import read_result, write_result
from stages.common.params import CompareParams, load_params
from stages.common.results import Capacity
from stages.stats.comparison import (
    Comparison,
    ComparisonDetail,
    Estimate,
    LatencyComparison,
    ScenarioComparison,
    ScenarioHeadline,
    Spread,
    ThroughputComparison,
)
from stages.stats.effects import Interval, cliffs_delta, hodges_lehmann, ratio_ci
from stages.stats.samples import ServiceRuns, read_scenario
from stages.stats.significance import holm, ks_p, mann_whitney_p, verdict

STATISTICS = {"p50": lambda x: float(np.percentile(x, 50)), "p95": lambda x: float(np.percentile(x, 95)),
              "p99": lambda x: float(np.percentile(x, 99)), "mean": lambda x: float(np.mean(x))}


def interval(value: Interval) -> Estimate:
    return Estimate(estimate=value.estimate, low=value.low, high=value.high)


def spread(runs: ServiceRuns) -> dict[str, Spread]:
    """Between-repeat spread of a service's p50 and p99: min, max and coefficient of variation."""
    result = {}
    for name in ("p50", "p99"):
        values = np.array([STATISTICS[name](latencies) for latencies in runs.latencies])
        result[name] = Spread(min=float(values.min()), max=float(values.max()),
                              cv=float(values.std(ddof=1) / values.mean()) if len(values) > 1 else 0.0)
    return result


def throughput_ratio(baseline: ServiceRuns, optimized: ServiceRuns, params: CompareParams) -> ThroughputComparison:
    """Ok throughput is one number per run: the ratio of means, bootstrapped over runs when there are repeats."""
    per_run = ([np.array([t]) for t in baseline.throughputs], [np.array([t]) for t in optimized.throughputs])
    ratio, unit = ratio_ci(*per_run, np.mean, params.bootstrap_resamples, seed=params.seed)
    return ThroughputComparison(ratio=interval(ratio), resampled=unit if unit == "runs" else "none (one run each)",
                                baseline_per_s=float(baseline.throughputs.mean()),
                                optimized_per_s=float(optimized.throughputs.mean()))


def compare_scenario(services: dict[str, ServiceRuns], params: CompareParams) -> ScenarioComparison:
    baseline, optimized = services.get("baseline"), services.get("optimized")
    excluded = {name: runs.excluded for name, runs in services.items()}
    if not baseline or not optimized or not baseline.latencies or not optimized.latencies:
        return ScenarioComparison(comparable=False, excluded_runs=excluded)
    base_all, opt_all = np.concatenate(baseline.latencies), np.concatenate(optimized.latencies)
    latency = {}
    for name, statistic in STATISTICS.items():
        ratio, unit = ratio_ci(baseline.latencies, optimized.latencies, statistic, params.bootstrap_resamples,
                               seed=params.seed)
        latency[name] = LatencyComparison(baseline_ms=statistic(base_all), optimized_ms=statistic(opt_all),
                                          ratio=interval(ratio), resampled=unit)
    outcomes = {name: {key: sum(s.outcomes[key] for s in runs.summaries) for key in runs.summaries[0].outcomes}
                for name, runs in services.items() if runs.summaries}
    return ScenarioComparison(
        comparable=True,
        excluded_runs=excluded,
        runs_used={name: len(runs.latencies) for name, runs in services.items()},
        requests_used={"baseline": len(base_all), "optimized": len(opt_all)},
        latency=latency,
        throughput=throughput_ratio(baseline, optimized, params),
        hodges_lehmann_shift_ms=interval(hodges_lehmann(base_all, opt_all, seed=params.seed)),
        cliffs_delta=cliffs_delta(base_all, opt_all),
        pvalues={"mann_whitney": mann_whitney_p(base_all, opt_all), "ks": ks_p(base_all, opt_all)},
        outcomes=outcomes,
        spread={name: spread(runs) for name, runs in services.items() if runs.latencies},
    )


def add_verdicts(scenarios: dict[str, ScenarioComparison], params: CompareParams) -> None:
    """Holm across every p-value of the stage, then a verdict per latency statistic and for throughput."""
    compared = [result for result in scenarios.values() if result.comparable]
    adjusted = iter(holm([p for result in compared for p in (result.pvalues or {}).values()]))
    for result in compared:
        result.pvalues_holm = {test: next(adjusted) for test in result.pvalues or {}}
        p = result.pvalues_holm.get("mann_whitney", 1.0)
        for stats in (result.latency or {}).values():
            stats.verdict = verdict(Interval(**stats.ratio.model_dump()), p, params.practical_threshold, params.alpha)
        if (throughput := result.throughput) is not None:
            throughput.verdict = verdict(Interval(**throughput.ratio.model_dump()),
                                         0.0 if throughput.resampled == "runs" else 1.0, params.practical_threshold,
                                         params.alpha, higher_is_better=True)


def headline(scenarios: dict[str, ScenarioComparison], capacity_ratio: float | None) -> Comparison:
    """What ``dvc exp show`` lists: per scenario the p50/p99 ratios with CIs, the throughput ratio, verdicts."""
    lines = {}
    for name, data in scenarios.items():
        excluded = sum(len(runs) for runs in data.excluded_runs.values())
        if not data.comparable or data.latency is None or data.throughput is None:
            lines[name] = ScenarioHeadline(comparable=False, excluded_runs=excluded)
            continue
        p50, p99 = data.latency["p50"].ratio, data.latency["p99"].ratio
        lines[name] = ScenarioHeadline(
            comparable=True, p50_ratio=p50.estimate, p99_ratio=p99.estimate, p50_ratio_ci=[p50.low, p50.high],
            p99_ratio_ci=[p99.low, p99.high], throughput_ratio=data.throughput.ratio.estimate,
            p50_verdict=data.latency["p50"].verdict, excluded_runs=excluded)
    return Comparison(scenarios=lines, capacity_ratio=capacity_ratio)


def main() -> None:
    parser = stage_parser(__doc__, loadtest=LOADTEST_DIR, capacity=CAPACITY_JSON,
                          out=RESULTS_DIR / "comparison.json", detail=RESULTS_DIR / "comparison_detail.json")
    args = parser.parse_args()
    params = load_params(args.params)
    missing = [name for name in params.loadtest.scenarios if not (args.loadtest / name / RUNS_INDEX).is_file()]
    if missing:
        raise ServebenchError(f"no load test results for {missing} under {args.loadtest}; run `dvc repro loadtest`")
    scenarios = {name: compare_scenario(read_scenario(args.loadtest / name), params.compare)
                 for name in params.loadtest.scenarios}
    add_verdicts(scenarios, params.compare)
    capacity = read_result(args.capacity, Capacity) if args.capacity.is_file() else None
    write_result(args.detail, ComparisonDetail(scenarios=scenarios, capacity=capacity,
                                               params=params.compare.model_dump()))
    write_result(args.out, headline(scenarios, capacity.ratio if capacity else None))
    for name, data in scenarios.items():
        if data.latency is not None:
            p50 = data.latency["p50"]
            print(f"compare: {name}: p50 {p50.baseline_ms:.1f} -> {p50.optimized_ms:.1f} ms, ratio "
                  f"{p50.ratio.estimate:.3f} [{p50.ratio.low:.3f}, {p50.ratio.high:.3f}] ({p50.verdict})")
    print(f"compare: {len(scenarios)} scenarios -> {args.out}")


if __name__ == "__main__":
    run_stage("compare", main)
