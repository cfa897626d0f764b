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
from stages.common.io import read_optional_result, write_result
from stages.params.base import load_params
from stages.records.capacity import Capacity
from stages.stats.design import AnalysisSettings
from stages.stats.experiment import compare_experiment, one_line
from stages.stats.samples import read_scenario


def main() -> None:
    parser = stage_parser(__doc__, loadtest=LOADTEST_DIR, capacity=CAPACITY_JSON,
                          out=RESULTS_DIR / "comparison.json", detail=RESULTS_DIR / "comparison_detail.json")
    args = parser.parse_args()
    params = load_params(AnalysisSettings, args.params)
    missing = [name for name in params.loadtest.scenarios if not (args.loadtest / name / RUNS_INDEX).is_file()]
    if missing:
        raise ServebenchError(f"no load test results for {missing} under {args.loadtest}; run `dvc repro loadtest`")
    arms = {name: read_scenario(args.loadtest / name) for name in params.loadtest.scenarios}
    detail, headline = compare_experiment(arms, params, read_optional_result(args.capacity, Capacity))
    write_result(args.detail, detail)
    write_result(args.out, headline)
    scenarios, aa, aa_scenario, family = detail.scenarios, detail.aa, detail.aa_scenario, detail.primary_family
    for name, data in scenarios.items():
        print(one_line(name, data))
    if aa is not None:
        print(one_line(f"A/A ({aa_scenario})", aa))
    print(f"compare: {len(scenarios)} scenarios, a family of {family} primary verdicts under one Holm correction, "
          f"{detail.looks} look(s), intervals simultaneous at {detail.verdict_level:.2%}"
          f"{', and the A/A check' if aa else ''} -> {args.out}")


if __name__ == "__main__":
    run_stage("compare", main)
