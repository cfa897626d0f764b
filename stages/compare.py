"""compare stage: optimized vs baseline per scenario, the run as the unit, and the A/A check.

Each scenario's blocks (repeats) hold one run of each arm under the same seeded schedule. Primary verdicts (the
p50 and the tail percentile of each run, :mod:`stages.stats.arms`) form one Holm family across the scenarios;
error and SLO-miss shares (methods for counts), the pooled p99 and throughput are secondary. A scenario in which
an arm's queue grows is reported as overloaded, not as a ratio. Every verdict carries its minimum detectable
effect. When the audit excluded runs, the primary verdicts are also computed from every block's first run and
shown beside. The A/A check (``loadtest.aa``) compares a service with itself in one scenario the same way; it must
not come out "faster" or "slower". ``results/comparison.json`` holds the headline; ``comparison_detail.json``
everything.
"""

from __future__ import annotations

from stages.common.artifacts import CAPACITY_JSON, LOADTEST_DIR, RESULTS_DIR, RUNS_INDEX
from stages.common.cli import run_stage, stage_parser
from stages.common.errors import ServebenchError
from stages.common.io import read_result, write_result
from stages.common.params import load_params
from stages.common.results import Capacity
from stages.stats.arms import compare_all
from stages.stats.comparison import (
    Comparison,
    ComparisonDetail,
    ScenarioComparison,
    ScenarioHeadline,
    StatisticComparison,
)
from stages.stats.samples import read_scenario

REFERENCE, CANDIDATE = "baseline", "optimized"


def _interval(stat: StatisticComparison) -> list[float] | None:
    return [stat.ratio.low, stat.ratio.high] if stat.ratio else None


def headline_of(data: ScenarioComparison) -> ScenarioHeadline:
    """What ``dvc exp show`` lists for one comparison: the primary ratios with CIs, verdicts and MDEs."""
    excluded = sum(len(runs) for runs in data.excluded_runs.values())
    if not data.comparable or data.primary is None or data.secondary is None:
        return ScenarioHeadline(comparable=False, excluded_runs=excluded)
    p50, tail = data.primary["p50"], data.primary["tail"]
    return ScenarioHeadline(
        comparable=True, blocks=len(data.blocks), excluded_runs=excluded,
        overloaded=[arm for arm, state in (data.overload or {}).items() if state.overloaded],
        p50_ratio=p50.ratio.estimate if p50.ratio else None, p50_ratio_ci=_interval(p50), p50_verdict=p50.verdict,
        p50_mde=p50.mde, tail=tail.name.split(" ")[0] if tail.ratio else None,
        tail_ratio=tail.ratio.estimate if tail.ratio else None, tail_ratio_ci=_interval(tail),
        tail_verdict=tail.verdict, tail_mde=tail.mde, error_rate_verdict=data.secondary["error_rate"].verdict)


def one_line(name: str, data: ScenarioComparison) -> str:
    if not data.comparable or data.primary is None:
        return f"compare: {name}: {data.reason}"
    p50 = data.primary["p50"]
    if p50.ratio is None:
        return f"compare: {name}: p50 {p50.verdict}"
    mde = f", detects >= {p50.mde:.0%}" if p50.mde is not None else ""
    return (f"compare: {name}: {data.candidate} / {data.reference} p50 {p50.reference:.1f} -> {p50.candidate:.1f} ms, "
            f"ratio {p50.ratio.estimate:.3f} [{p50.ratio.low:.3f}, {p50.ratio.high:.3f}] over {len(data.blocks)} "
            f"blocks{mde}: {p50.verdict}")


def main() -> None:
    parser = stage_parser(__doc__, loadtest=LOADTEST_DIR, capacity=CAPACITY_JSON,
                          out=RESULTS_DIR / "comparison.json", detail=RESULTS_DIR / "comparison_detail.json")
    args = parser.parse_args()
    params = load_params(args.params)
    missing = [name for name in params.loadtest.scenarios if not (args.loadtest / name / RUNS_INDEX).is_file()]
    if missing:
        raise ServebenchError(f"no load test results for {missing} under {args.loadtest}; run `dvc repro loadtest`")
    arms = {name: read_scenario(args.loadtest / name) for name in params.loadtest.scenarios}
    aa_service, aa_scenario = params.loadtest.aa.service, params.loadtest.aa_scenario
    aa_pair = (aa_service, aa_scenario) if aa_service is not None and aa_scenario is not None else None
    scenarios, aa, family = compare_all(arms, (REFERENCE, CANDIDATE), aa_pair, params.compare)
    if any(arm.excluded for runs in arms.values() for arm in runs.values()):
        again, aa_again, _ = compare_all(arms, (REFERENCE, CANDIDATE), aa_pair, params.compare,
                                         as_scheduled=True)
        for result, sensitivity in [*zip(scenarios.values(), again.values(), strict=True), (aa, aa_again)]:
            if result is not None and sensitivity is not None:
                result.verdicts_with_excluded_runs = (
                    {key: stat.verdict for key, stat in sensitivity.primary.items()} if sensitivity.primary
                    else {"all": sensitivity.reason or "not comparable"})
    capacity = read_result(args.capacity, Capacity) if args.capacity.is_file() else None
    write_result(args.detail, ComparisonDetail(scenarios=scenarios, aa=aa, aa_scenario=aa_scenario,
                                               capacity=capacity, params=params.compare.model_dump(),
                                               primary_family=family))
    write_result(args.out, Comparison(scenarios={name: headline_of(data) for name, data in scenarios.items()},
                                      aa=headline_of(aa) if aa else None,
                                      capacity_ratio=capacity.ratio if capacity else None))
    for name, data in scenarios.items():
        print(one_line(name, data))
    if aa is not None:
        print(one_line(f"A/A ({aa_scenario})", aa))
    print(f"compare: {len(scenarios)} scenarios, {family} primary verdicts under one Holm correction"
          f"{' and the A/A check' if aa else ''} -> {args.out}")


if __name__ == "__main__":
    run_stage("compare", main)
