"""gate stage: the conditions of ``params.yaml``'s ``gate`` section on the calibrated verdicts; exits 1 when one
fails, so that ``dvc repro`` (and a CI job running it) fails when a change makes serving worse.

Writes ``results/gate.json`` (every condition, passed or not) before deciding, and prints one line per condition.
"""

from __future__ import annotations

import sys

from stages.common.artifacts import RESULTS_DIR
from stages.common.cli import run_stage, stage_parser
from stages.common.io import read_result, write_result
from stages.params.base import StageParams, load_params
from stages.params.gate import GateParams
from stages.stats.comparison import ComparisonDetail
from stages.stats.gate import check


class Settings(StageParams):
    gate: GateParams = GateParams()


def main() -> None:
    parser = stage_parser(__doc__, detail=RESULTS_DIR / "comparison_detail.json", out=RESULTS_DIR / "gate.json")
    args = parser.parse_args()
    result = check(read_result(args.detail, ComparisonDetail), load_params(Settings, args.params).gate)
    write_result(args.out, result)
    for condition in result.conditions:
        print(f"gate: {'pass' if condition.passed else 'FAIL'}: {condition.name}: {condition.detail}",
              file=sys.stderr if not condition.passed else sys.stdout)
    failed = sum(not condition.passed for condition in result.conditions)
    print(f"gate: {'passed' if result.passed else f'{failed} condition(s) failed'} -> {args.out}")
    if not result.passed:
        sys.exit(1)


if __name__ == "__main__":
    run_stage("gate", main)
