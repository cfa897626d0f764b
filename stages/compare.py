"""compare stage: optimized vs baseline per scenario, the run as the unit, and the A/A check.

Each scenario's blocks (repeats) hold one run of each arm under the same seeded schedule. Per run: p50, p95, p99
and mean latency from the scheduled time over every measured request (failures censored at the timeout), ok
throughput and error rate. Per block: the ratio optimized / baseline (the difference, for error rates). Over
blocks: a t interval and test on the log ratios, Holm's correction across scenarios per statistic, and one of
four verdicts (stages/stats/paired.py). Percentiles only where enough requests back them (p99: 459 per arm).
The A/A check (``loadtest.aa``) compares a service with itself in one scenario the same way; it must not come
out "faster" or "slower". ``results/comparison.json`` (DVC metrics) holds the headline; ``comparison_detail.json``
everything.
"""

from __future__ import annotations

from stages.common.artifacts import CAPACITY_JSON, LOADTEST_DIR, RESULTS_DIR, RUNS_INDEX, aa_arm
from stages.common.cli import run_stage, stage_parser
from stages.common.errors import ServebenchError
from stages.common.io import read_result, write_result
from stages.common.params import load_params
from stages.common.results import Capacity
from stages.stats.arms import add_verdicts, compare_arms
from stages.stats.comparison import Comparison, ComparisonDetail, ScenarioComparison, ScenarioHeadline
from stages.stats.samples import read_scenario

REFERENCE, CANDIDATE = "baseline", "optimized"


def headline_of(data: ScenarioComparison) -> ScenarioHeadline:
    """What ``dvc exp show`` lists for one comparison: p50/p99 ratios with CIs and verdicts, throughput, errors."""
    excluded = sum(len(runs) for runs in data.excluded_runs.values())
    if not data.comparable or data.latency is None or data.throughput is None or data.error_rate is None:
        return ScenarioHeadline(comparable=False, excluded_runs=excluded)
    p50, p99 = data.latency["p50"], data.latency["p99"]
    return ScenarioHeadline(
        comparable=True, blocks=len(data.blocks), excluded_runs=excluded,
        p50_ratio=p50.ratio.estimate if p50.ratio else None,
        p50_ratio_ci=[p50.ratio.low, p50.ratio.high] if p50.ratio else None, p50_verdict=p50.verdict,
        p99_ratio=p99.ratio.estimate if p99.ratio else None,
        p99_ratio_ci=[p99.ratio.low, p99.ratio.high] if p99.ratio else None, p99_verdict=p99.verdict,
        throughput_ratio=data.throughput.ratio.estimate if data.throughput.ratio else None,
        throughput_verdict=data.throughput.verdict, error_rate_verdict=data.error_rate.verdict)


def one_line(name: str, data: ScenarioComparison) -> str:
    if not data.comparable or data.latency is None:
        return f"compare: {name}: {data.reason}"
    p50 = data.latency["p50"]
    if p50.ratio is None:
        return f"compare: {name}: p50 {p50.verdict}"
    return (f"compare: {name}: {data.candidate} / {data.reference} p50 {p50.reference:.1f} -> {p50.candidate:.1f} ms, "
            f"ratio {p50.ratio.estimate:.3f} [{p50.ratio.low:.3f}, {p50.ratio.high:.3f}] over {len(data.blocks)} "
            f"blocks: {p50.verdict}")


def main() -> None:
    parser = stage_parser(__doc__, loadtest=LOADTEST_DIR, capacity=CAPACITY_JSON,
                          out=RESULTS_DIR / "comparison.json", detail=RESULTS_DIR / "comparison_detail.json")
    args = parser.parse_args()
    params = load_params(args.params)
    missing = [name for name in params.loadtest.scenarios if not (args.loadtest / name / RUNS_INDEX).is_file()]
    if missing:
        raise ServebenchError(f"no load test results for {missing} under {args.loadtest}; run `dvc repro loadtest`")
    arms = {name: read_scenario(args.loadtest / name) for name in params.loadtest.scenarios}
    scenarios = {name: compare_arms(arms[name], REFERENCE, CANDIDATE, params.compare)
                 for name in params.loadtest.scenarios}
    add_verdicts(list(scenarios.values()), params.compare)
    aa_service, aa_scenario = params.loadtest.aa.service, params.loadtest.aa_scenario
    aa = None
    if aa_service is not None and aa_scenario is not None:
        aa = compare_arms(arms[aa_scenario], aa_service, aa_arm(aa_service), params.compare)
        add_verdicts([aa], params.compare)
    capacity = read_result(args.capacity, Capacity) if args.capacity.is_file() else None
    write_result(args.detail, ComparisonDetail(scenarios=scenarios, aa=aa,
                                               aa_scenario=aa_scenario,
                                               capacity=capacity, params=params.compare.model_dump()))
    write_result(args.out, Comparison(scenarios={name: headline_of(data) for name, data in scenarios.items()},
                                      aa=headline_of(aa) if aa else None,
                                      capacity_ratio=capacity.ratio if capacity else None))
    for name, data in scenarios.items():
        print(one_line(name, data))
    if aa is not None:
        print(one_line(f"A/A ({aa_scenario})", aa))
    print(f"compare: {len(scenarios)} scenarios{' and the A/A check' if aa else ''} -> {args.out}")


if __name__ == "__main__":
    run_stage("compare", main)
